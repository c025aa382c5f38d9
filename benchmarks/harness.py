"""Measure two implementations of the same work in one process and print their ratio.

Every benchmark prints exactly one line::

    name: ratio=X (A=... ms, B=... ms; paired q1-q3 ...-...)

where A is the implementation under test and B the reference, ``ratio = median(A) / median(B)``.
Threads are pinned, both sides are warmed up, and the repeats alternate A and B so that a
change in machine load hits both sides alike. The line ends with the quartiles of the paired
ratios ``A_k / B_k`` of the repeats: how far the machine's noise moves the ratio. Quote ratios,
not absolute times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Comparison:
    name: str
    a_ms: float
    b_ms: float
    #: Lower and upper quartile of the per-repeat ratios ``A_k / B_k``.
    paired_quartiles: tuple[float, float]

    @property
    def ratio(self) -> float:
        return self.a_ms / self.b_ms

    def line(self) -> str:
        q1, q3 = self.paired_quartiles
        return (
            f"{self.name}: ratio={self.ratio:.3f} (A={self.a_ms:.3f} ms, B={self.b_ms:.3f} ms; "
            f"paired q1-q3 {q1:.3f}-{q3:.3f})"
        )


def _time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def compare(
    name: str,
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    warmup: int = 3,
    repeats: int = 15,
    threads: int = 1,
) -> Comparison:
    """Median wall time of ``a`` and ``b`` over ``repeats`` alternating runs after ``warmup`` runs each."""
    torch.set_num_threads(threads)
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(_time_ms(a))
        times_b.append(_time_ms(b))
    paired = [a_ms / b_ms for a_ms, b_ms in zip(times_a, times_b, strict=True)]
    q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
    result = Comparison(name, statistics.median(times_a), statistics.median(times_b), (q1, q3))
    print(result.line(), flush=True)
    return result


def no_grad_call(module: Callable[[torch.Tensor], object], x: torch.Tensor) -> Callable[[], None]:
    """A callable for :func:`compare` that runs ``module(x)`` without gradients (an inference pass)."""

    def fn():
        with torch.no_grad():
            module(x)

    return fn
