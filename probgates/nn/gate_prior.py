"""The prior concentration alpha0 of the latent gate Gammas, as a PyroModule.

Fixed: a buffer. Learned: a positive PyroParam per Gamma component. Hierarchical: a latent
site ``gate_prior_concentration`` of shape ``[layers, units, K]`` under a Gamma or LogNormal
hyperprior, with a mean-field LogNormal guide (its median starts at ``prior.concentration``).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints

from probgates.priors import GammaGatePrior

HYPER_SITE = "gate_prior_concentration"


class GatePrior(PyroModule):
    """alpha0 for ``num_layers`` layers of ``hidden_size`` units with ``num_gammas`` Gammas each."""

    def __init__(self, prior: GammaGatePrior, num_layers: int, hidden_size: int, num_gammas: int):
        super().__init__()
        self.spec = prior
        self.shape = (num_layers, hidden_size, num_gammas)
        values = torch.tensor(prior.components(num_gammas), dtype=torch.get_default_dtype())
        if prior.kind == "fixed":
            self.register_buffer("fixed_concentration", values)
        elif prior.kind == "learned":
            self.learned_concentration = PyroParam(values, constraint=constraints.positive)
        else:
            self.guide_loc = PyroParam(values.log().expand(self.shape).clone())
            self.guide_scale = PyroParam(torch.full(self.shape, 0.1), constraint=constraints.positive)
            # a buffer, so that the hyperprior follows the module to its device
            self.register_buffer(
                "hyper_parameters", torch.tensor([prior.hyper_a, prior.hyper_b]), persistent=False
            )

    @property
    def latent(self) -> bool:
        return self.spec.kind == "hierarchical"

    def hyperprior(self) -> dist.Distribution:
        a, b = self.hyper_parameters
        if self.spec.hyperprior == "gamma":
            base = dist.Gamma(a, b)
        else:
            base = dist.LogNormal(a, b)
        return base.expand(self.shape).to_event(3)

    def model(self) -> torch.Tensor:
        """alpha0, broadcastable to ``[layers, units, K]`` (samples the hyperprior site if latent)."""
        if self.spec.kind == "fixed":
            return self.fixed_concentration
        if self.spec.kind == "learned":
            return self.learned_concentration
        return pyro.sample(HYPER_SITE, self.hyperprior())

    def guide(self) -> torch.Tensor | None:
        """The mean-field guide of the hierarchical site (nothing to do otherwise)."""
        if not self.latent:
            return None
        return pyro.sample(HYPER_SITE, dist.LogNormal(self.guide_loc, self.guide_scale).to_event(3))

    def describe(self) -> str:
        p = self.spec
        if p.kind == "hierarchical":
            hyper = (
                f"Gamma({p.hyper_a}, {p.hyper_b})"
                if p.hyperprior == "gamma"
                else (f"LogNormal({p.hyper_a}, {p.hyper_b})")
            )
            return f"Gamma(alpha0, 1), alpha0 ~ {hyper} per layer, unit and component"
        values = ", ".join(f"{v:g}" for v in p.concentration)
        return f"Gamma(alpha0, 1), alpha0 = [{values}] ({p.kind})"


def hyperprior_mean(prior: GammaGatePrior) -> float:
    """The hyperprior's mean (for reports)."""
    if prior.hyperprior == "gamma":
        return prior.hyper_a / prior.hyper_b
    return math.exp(prior.hyper_a + prior.hyper_b**2 / 2)
