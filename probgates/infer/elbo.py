"""ELBO estimators that also report the likelihood and KL parts of the loss.

The loss of one particle is ``-ELBO = NLL + KL`` where ``NLL = -sum log p(y | z)`` over the
observed sites and ``KL`` is everything else: the (scaled) analytic KL of
``TraceMeanField_ELBO``, or the Monte-Carlo ``log q(z) - log p(z)`` of ``Trace_ELBO``.
Both parts are averaged over particles and kept in :attr:`last_parts` after every call.

:class:`MeanFieldELBO` is Pyro's ``TraceMeanField_ELBO`` estimator, computed without the
log-densities it does not use (see :class:`_AnalyticKLMeanField`).
"""

from __future__ import annotations

import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.trace_mean_field_elbo import _check_mean_field_requirement
from pyro.infer.util import is_validation_enabled, torch_item
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_if_enumerated, check_model_guide_match, check_site_shape
from torch.distributions import kl_divergence


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

    def differentiable_loss(self, model, guide, *args, **kwargs):
        self._reset_parts()
        return super().differentiable_loss(model, guide, *args, **kwargs)


def _analytic_kl(guide_site, model_site):
    """KL(q || p) of one latent site, scaled and masked like the site; None when none is registered."""
    try:
        kl = kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        return None
    return scale_and_mask(kl, scale=guide_site["scale"], mask=guide_site["mask"])


def _is_latent(site) -> bool:
    return site["type"] == "sample" and not site["is_observed"]


class _AnalyticKLMeanField(TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` that evaluates log-densities only where the loss reads them.

    Pyro's version computes ``log_prob`` at every site of the model and the guide, then uses the
    analytic KL instead at latent sites that have one. With 100 Gamma sites per sequence, or
    millions of sparsified weights, those unused densities are a large part of an SVI step. Here
    each latent site's KL is computed once while the traces are built (``site["analytic_kl"]``),
    and log-densities only for observed sites and latent sites without a registered KL. The
    estimator is the same (tested equal to Pyro's, value and gradients).
    """

    def _get_trace(self, model, guide, args, kwargs):
        guide_trace = poutine.trace(guide, graph_type="flat").get_trace(*args, **kwargs)
        replayed = poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed, graph_type="flat").get_trace(*args, **kwargs)
        validate = is_validation_enabled()
        if validate:
            check_model_guide_match(model_trace, guide_trace, self.max_plate_nesting)
            check_if_enumerated(guide_trace)
            _check_mean_field_requirement(model_trace, guide_trace)
        guide_trace = prune_subsample_sites(guide_trace)
        model_trace = prune_subsample_sites(model_trace)
        for name, site in model_trace.nodes.items():
            if _is_latent(site):
                site["analytic_kl"] = _analytic_kl(guide_trace.nodes[name], site)
        model_trace.compute_log_prob(site_filter=lambda name, site: site.get("analytic_kl") is None)
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and model_trace.nodes.get(name, {}).get("analytic_kl") is None:
                parts = site["fn"].score_parts(site["value"], *site["args"], **site["kwargs"])
                site["score_parts"] = parts.scale_and_mask(site["scale"], site["mask"])
        if validate:
            for site in model_trace.nodes.values():
                if site["type"] == "sample":
                    kl = site.get("analytic_kl")
                    check_site_shape(site if kl is None else {**site, "log_prob": kl}, self.max_plate_nesting)
        return model_trace, guide_trace

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                elbo = elbo + site["log_prob_sum"]
                continue
            guide_site = guide_trace.nodes[name]
            if is_validation_enabled() and not guide_site["fn"].has_rsample:
                raise NotImplementedError(
                    f"the mean-field ELBO needs a reparameterized guide at site {name!r}"
                )
            kl = site["analytic_kl"]
            if kl is None:
                elbo = elbo + site["log_prob_sum"] - guide_site["score_parts"].entropy_term.sum()
            elif torch.is_tensor(kl):
                elbo = elbo - kl.sum()
            else:
                elbo = elbo - kl * torch.Size(guide_site["fn"].batch_shape).numel()
        for name, guide_site in guide_trace.nodes.items():
            if guide_site["type"] == "sample" and name not in model_trace.nodes:
                assert guide_site["infer"].get("is_auxiliary")
                elbo = elbo - guide_site["score_parts"].entropy_term.sum()
        return -torch_item(elbo), -elbo


class MeanFieldELBO(_RecordsParts, _AnalyticKLMeanField):
    """Mean-field ELBO (analytic KL where registered) with likelihood/KL reporting."""


class TraceELBO(_RecordsParts, Trace_ELBO):
    """``Trace_ELBO`` (Monte-Carlo KL) with likelihood/KL reporting."""


ELBOS = {"mean_field": MeanFieldELBO, "trace": TraceELBO}


def make_elbo(name: str, num_particles: int = 1):
    """The ELBO called ``name`` (``"mean_field"`` or ``"trace"``)."""
    if name not in ELBOS:
        raise ValueError(f"unknown ELBO {name!r}; valid: {', '.join(ELBOS)}")
    return ELBOS[name](num_particles=num_particles)
