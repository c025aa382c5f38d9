"""Likelihoods and evaluation sums of the sparse sequence model, from logits ``[B, T, O]``.

``label``: one class per sequence read at its last real step (classification); ``tokens``: a
class at every real step (language models). The sums follow :mod:`probgates.tasks.heads`.
"""

from __future__ import annotations

import pyro
import torch

from probgates.data.batching import SequenceBatch
from probgates.distributions import CrossEntropyCategorical
from probgates.tasks.heads import last_step

SPARSE_HEADS = ("label", "tokens")
MONITOR = {"label": "accuracy", "tokens": "nll"}
MONITOR_MODES = {"nll": "min", "accuracy": "max"}


def observe(kind: str, logits: torch.Tensor, batch: SequenceBatch) -> None:
    """The observation site ``obs`` (call inside the ``sequences`` plate)."""
    if kind == "label":
        pyro.sample("obs", CrossEntropyCategorical(last_step(logits, batch.lengths)), obs=batch.targets)
    else:
        pyro.sample("obs", CrossEntropyCategorical(logits).mask(batch.mask).to_event(1), obs=batch.targets)


def evaluate(kind: str, logits: torch.Tensor, batch: SequenceBatch) -> dict[str, torch.Tensor]:
    """Sums of nll and accuracy and the count (sequences or real tokens)."""
    if kind == "label":
        log_p = last_step(logits, batch.lengths).log_softmax(-1)
        nll = -log_p.gather(-1, batch.targets.unsqueeze(-1)).sum()
        correct = (log_p.argmax(-1) == batch.targets).sum()
        return {"nll": nll, "accuracy": correct, "count": torch.tensor(batch.batch_size)}
    log_p = logits.log_softmax(-1)
    nll = -log_p.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
    correct = (log_p.argmax(-1) == batch.targets) & batch.mask
    return {"nll": (nll * batch.mask).sum(), "accuracy": correct.sum(), "count": batch.mask.sum()}
