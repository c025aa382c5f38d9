"""ELBO estimators that also report the likelihood and KL parts of the loss.

The loss of one particle is ``-ELBO = NLL + KL`` where ``NLL = -sum log p(y | z)`` over the
observed sites and ``KL`` is everything else: the (scaled) analytic KL of
``TraceMeanField_ELBO``, or the Monte-Carlo ``log q(z) - log p(z)`` of ``Trace_ELBO``.
Both parts are averaged over particles and kept in :attr:`last_parts` after every call.
"""

from __future__ import annotations

import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.util import torch_item


def _observed_log_likelihood(model_trace) -> float:
    total = 0.0
    for site in model_trace.nodes.values():
        if site["type"] == "sample" and site["is_observed"] and not site["infer"].get("_deterministic"):
            total += torch_item(site["log_prob_sum"])
    return total


class _RecordsParts:
    """Mixin: after each loss evaluation, ``last_parts = {"nll": ..., "kl": ...}`` (floats)."""

    last_parts: dict[str, float]

    def _reset_parts(self):
        self.last_parts = {"nll": 0.0, "kl": 0.0}

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        loss, surrogate_loss = super()._differentiable_loss_particle(model_trace, guide_trace)
        nll = -_observed_log_likelihood(model_trace)
        self.last_parts["nll"] += nll / self.num_particles
        self.last_parts["kl"] += (torch_item(loss) - nll) / self.num_particles
        return loss, surrogate_loss

    def loss(self, model, guide, *args, **kwargs):
        """The loss estimate (no gradients), with :attr:`last_parts` filled like in training."""
        self._reset_parts()
        total = 0.0
        with torch.no_grad():
            for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                loss, _ = self._differentiable_loss_particle(model_trace, guide_trace)
                total += torch_item(loss) / self.num_particles
        return total

    def loss_and_grads(self, model, guide, *args, **kwargs):
        self._reset_parts()
        return super().loss_and_grads(model, guide, *args, **kwargs)


class MeanFieldELBO(_RecordsParts, TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` (analytic KL where registered) with likelihood/KL reporting."""


class TraceELBO(_RecordsParts, Trace_ELBO):
    """``Trace_ELBO`` (Monte-Carlo KL) with likelihood/KL reporting."""


ELBOS = {"mean_field": MeanFieldELBO, "trace": TraceELBO}


def make_elbo(name: str, num_particles: int = 1):
    """The ELBO called ``name`` (``"mean_field"`` or ``"trace"``)."""
    if name not in ELBOS:
        raise ValueError(f"unknown ELBO {name!r}; valid: {', '.join(ELBOS)}")
    return ELBOS[name](num_particles=num_particles)
