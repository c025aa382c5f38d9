"""Priors on the latent gate Gammas: what a modeler says about gates before seeing data.

Every latent Gamma G_{t,k} of a Gamma-ratio gate family has the prior Gamma(alpha0_k, 1)
(Song et al. 2020, Sec. 3.4; the paper's runs use alpha0 = 0.5 for every component). alpha0 is

* ``"fixed"``: a scalar or one value per Gamma component (K values);
* ``"learned"``: a point estimate per component, initialised from ``concentration``;
* ``"hierarchical"``: latent, one per layer, unit and component, with a Gamma(hyper_a, hyper_b)
  (shape, rate) or LogNormal(hyper_a, hyper_b) (loc, scale) hyperprior and a mean-field
  LogNormal guide.

The object is plain data, so it round-trips through the ``[model.prior]`` table of a spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("fixed", "learned", "hierarchical")
HYPERPRIORS = ("gamma", "lognormal")


@dataclass(frozen=True)
class GammaGatePrior:
    """The prior Gamma(alpha0, 1) of the latent gate Gammas; see the module docstring.

    Attributes:
        kind: ``"fixed"``, ``"learned"`` or ``"hierarchical"``.
        concentration: alpha0 (fixed), its initial value (learned) or the guide's initial median
            (hierarchical); one value, or one per Gamma component.
        hyperprior: ``"gamma"`` or ``"lognormal"`` (hierarchical only).
        hyper_a, hyper_b: the hyperprior's shape and rate (gamma) or loc and scale (lognormal).
    """

    kind: str = "fixed"
    concentration: list[float] = field(default_factory=lambda: [0.5])
    hyperprior: str = "gamma"
    hyper_a: float = 2.0
    hyper_b: float = 4.0

    def __post_init__(self):
        if isinstance(self.concentration, int | float):
            object.__setattr__(self, "concentration", [float(self.concentration)])
        object.__setattr__(self, "concentration", [float(c) for c in self.concentration])
        if self.kind not in KINDS:
            raise ValueError(f"unknown model.prior.kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if not self.concentration or not all(c > 0 for c in self.concentration):
            raise ValueError(f"model.prior.concentration must be positive, got {self.concentration}")
        if self.hyperprior not in HYPERPRIORS:
            raise ValueError(
                f"unknown model.prior.hyperprior {self.hyperprior!r}; valid: {', '.join(HYPERPRIORS)}"
            )
        if self.hyperprior == "gamma" and not (self.hyper_a > 0 and self.hyper_b > 0):
            raise ValueError(
                f"model.prior.hyper_a and hyper_b (Gamma shape and rate) must be > 0, "
                f"got {self.hyper_a}, {self.hyper_b}"
            )
        if self.hyperprior == "lognormal" and not self.hyper_b > 0:
            raise ValueError(f"model.prior.hyper_b (LogNormal scale) must be > 0, got {self.hyper_b}")

    def components(self, num_gammas: int) -> list[float]:
        """alpha0 per Gamma component for a family with ``num_gammas`` Gammas per unit."""
        if len(self.concentration) == 1:
            return self.concentration * num_gammas
        if len(self.concentration) != num_gammas:
            raise ValueError(
                f"model.prior.concentration has {len(self.concentration)} values; the gate family "
                f"has {num_gammas} Gammas per unit (give 1 or {num_gammas})"
            )
        return list(self.concentration)
