"""Conditions on an epoch record that decide which epochs may become the best checkpoint.

``train.best_if`` in a spec is a list such as ``["hidden_kept <= 16", "compression >= 100"]``:
the best-validation checkpoint (``best.pt``, ``best_epoch``, ``reload_best``) is then the best
epoch among those whose record meets every condition, e.g. the most accurate model within a size
budget. Each condition is ``KEY OP NUMBER`` with ``KEY`` a key of the epoch records
(``metrics.jsonl``) and ``OP`` one of ``<=``, ``>=``, ``<``, ``>``, ``==``.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class RecordCondition:
    """``key op value`` on one epoch record, e.g. ``hidden_kept <= 16``."""

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> RecordCondition:
        match = _CONDITION.match(text)
        number = None
        if match:
            try:
                number = float(match.group(3))
            except ValueError:
                pass
        if number is None or not math.isfinite(number):
            raise ValueError(
                f"train.best_if: cannot read {text!r}; write KEY OP NUMBER, e.g. 'hidden_kept <= 16', "
                f"with OP one of {', '.join(OPERATORS)}"
            )
        return cls(match.group(1), match.group(2), number)

    def holds(self, record: dict) -> bool:
        return bool(OPERATORS[self.op](record[self.key], self.value))

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value:g}"


def parse_conditions(texts: list[str], record_keys: set[str]) -> list[RecordCondition]:
    """Parse ``train.best_if``; a key that the epoch records will not have is an error that lists
    the keys they do have."""
    conditions = [RecordCondition.parse(t) for t in texts]
    unknown = sorted({c.key for c in conditions} - record_keys)
    if unknown:
        raise ValueError(
            f"train.best_if: unknown key(s) {', '.join(unknown)}; the epoch records of this model "
            f"have: {', '.join(sorted(record_keys))}"
        )
    return conditions
