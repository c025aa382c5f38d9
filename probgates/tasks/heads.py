"""Output heads: the likelihood of the targets given the recurrent states.

Each head maps hidden states ``[B, T, H]`` to the parameters of a likelihood, draws the
observation site of a Pyro model, and computes evaluation sums:

Evaluation scores the predictive distribution averaged over posterior draws (one draw under the
deterministic or ``mean`` rule).

* ``frames`` (Bernoulli over K labels per step, e.g. 88 piano keys): NLL per frame is the sum
  over keys of the Bernoulli NLL, averaged over real frames (the polyphonic-music metric);
* ``tokens`` (Categorical per step, e.g. next character/word or the copy task): NLL per token;
* ``label`` (Categorical from the last real step): NLL and accuracy per sequence;
* ``regression`` (Normal from the last real step, e.g. the adding problem): NLL and MSE.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam
from torch import nn
from torch.distributions import constraints

from probgates.data.batching import SequenceBatch
from probgates.distributions import CrossEntropyCategorical


def last_step(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The state at the last real step of each sequence: ``[B, T, H] -> [B, H]``."""
    return states[torch.arange(states.shape[0]), lengths - 1]


def _mixture_log(log_probs: list[torch.Tensor]) -> torch.Tensor:
    """``log mean_s exp(log_probs[s])``: the log of a predictive probability averaged over draws."""
    stacked = torch.stack(log_probs)
    return torch.logsumexp(stacked, 0) - math.log(len(log_probs))


class Head(PyroModule):
    """Base class; subclasses set ``monitor`` (the default validation metric) and its mode.

    ``evaluate(draws, batch)`` takes the top-layer states of one or more posterior draws and scores
    the predictive distribution averaged over them (one draw: the plain prediction).
    """

    monitor = "nll"
    monitor_modes = {"nll": "min"}

    def __init__(self, hidden_size: int, output_dim: int):
        super().__init__()
        self.linear = PyroModule[nn.Linear](hidden_size, output_dim)

    def distribution(self, states: torch.Tensor, batch: SequenceBatch) -> dist.Distribution:
        """The likelihood of ``batch.targets``, with batch shape ``[B]``."""
        raise NotImplementedError

    def observe(self, states: torch.Tensor, batch: SequenceBatch) -> None:
        pyro.sample("obs", self.distribution(states, batch), obs=batch.targets)

    def evaluate(self, draws: list[torch.Tensor], batch: SequenceBatch) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class FramesHead(Head):
    """Independent Bernoulli labels at every step (multi-label frames such as piano rolls)."""

    def distribution(self, states, batch):
        logits = self.linear(states)
        return dist.Bernoulli(logits=logits).mask(batch.mask.unsqueeze(-1)).to_event(2)

    def evaluate(self, draws, batch):
        logits = [self.linear(states) for states in draws]
        log_p = _mixture_log([nn.functional.logsigmoid(x) for x in logits])
        log_not_p = _mixture_log([nn.functional.logsigmoid(-x) for x in logits])
        nll = -(batch.targets * log_p + (1 - batch.targets) * log_not_p)
        return {"nll": (nll.sum(-1) * batch.mask).sum(), "count": batch.mask.sum()}


class TokensHead(Head):
    """A categorical target at every step (language models, the copy task)."""

    monitor_modes = {"nll": "min", "accuracy": "max"}

    def distribution(self, states, batch):
        return CrossEntropyCategorical(self.linear(states)).mask(batch.mask).to_event(1)

    def evaluate(self, draws, batch):
        log_probs = _mixture_log([self.linear(states).log_softmax(-1) for states in draws])
        nll = -log_probs.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
        correct = (log_probs.argmax(-1) == batch.targets) & batch.mask
        return {"nll": (nll * batch.mask).sum(), "accuracy": correct.sum(), "count": batch.mask.sum()}


class LabelHead(Head):
    """One categorical label per sequence, read from the last real step."""

    monitor = "accuracy"
    monitor_modes = {"nll": "min", "accuracy": "max"}

    def distribution(self, states, batch):
        return CrossEntropyCategorical(self.linear(last_step(states, batch.lengths)))

    def evaluate(self, draws, batch):
        log_probs = _mixture_log(
            [self.linear(last_step(states, batch.lengths)).log_softmax(-1) for states in draws]
        )
        nll = -log_probs.gather(-1, batch.targets.unsqueeze(-1)).sum()
        correct = (log_probs.argmax(-1) == batch.targets).sum()
        return {"nll": nll, "accuracy": correct, "count": torch.tensor(batch.batch_size)}


class RegressionHead(Head):
    """One real target per sequence, Normal with a learned noise scale."""

    monitor = "mse"
    monitor_modes = {"nll": "min", "mse": "min"}

    def __init__(self, hidden_size: int, output_dim: int = 1):
        super().__init__(hidden_size, output_dim)
        self.noise_scale = PyroParam(torch.tensor(1.0), constraint=constraints.positive)

    def _mean(self, states, batch):
        mean = self.linear(last_step(states, batch.lengths))
        return mean.squeeze(-1) if batch.targets.dim() == 1 else mean

    def distribution(self, states, batch):
        normal = dist.Normal(self._mean(states, batch), self.noise_scale)
        return normal if batch.targets.dim() == 1 else normal.to_event(1)

    def evaluate(self, draws, batch):
        means = [self._mean(states, batch) for states in draws]
        log_prob = _mixture_log([dist.Normal(m, self.noise_scale).log_prob(batch.targets) for m in means])
        squared = (torch.stack(means).mean(0) - batch.targets) ** 2
        if batch.targets.dim() > 1:
            log_prob, squared = log_prob.sum(-1), squared.sum(-1)
        return {"nll": -log_prob.sum(), "mse": squared.sum(), "count": torch.tensor(batch.batch_size)}


HEADS = {"frames": FramesHead, "tokens": TokensHead, "label": LabelHead, "regression": RegressionHead}
