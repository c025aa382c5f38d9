"""Gate families for the LSTM recurrence: deterministic baselines and Gamma-ratio gates."""

from probgates.gates.base import GAMMA_EPS, GAMMA_REPARAMS, GammaRatioFamily, GateFamily
from probgates.gates.bbeta3 import OlkinLiuGates
from probgates.gates.bbeta5 import FlexibleGates
from probgates.gates.beta import BetaGates
from probgates.gates.cifg import CoupledGates
from probgates.gates.g2 import G2Gates
from probgates.gates.sigmoid import SigmoidGates

FAMILIES = {
    cls.name: cls for cls in (SigmoidGates, CoupledGates, G2Gates, BetaGates, OlkinLiuGates, FlexibleGates)
}


def make_family(name: str, **options) -> GateFamily:
    """The gate family called ``name``; options go to its constructor (``g2``: ``p``, ``t``,
    ``temperature``; Gamma-ratio families: ``reparam``)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown gate family {name!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[name](**options)


__all__ = [
    "FAMILIES",
    "GAMMA_EPS",
    "GAMMA_REPARAMS",
    "BetaGates",
    "CoupledGates",
    "FlexibleGates",
    "G2Gates",
    "GammaRatioFamily",
    "GateFamily",
    "OlkinLiuGates",
    "SigmoidGates",
    "make_family",
]
