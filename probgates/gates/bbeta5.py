"""Flexible bivariate Beta gates (the BetaLSTM code's ``gbetalstm``, "bBeta-5"), 5 Gammas per unit.

i = (G1 + G3) / (G1 + G3 + G4 + G5),  f = (G2 + G4) / (G2 + G3 + G4 + G5): marginals
Beta(a1 + a3, a4 + a5) and Beta(a2 + a4, a3 + a5), correlation of either sign; the pair follows
:class:`probgates.distributions.FlexibleBivariateBeta` (see ``flexible_gates``).
"""

from __future__ import annotations

from probgates.gates.base import GammaRatioFamily


class FlexibleGates(GammaRatioFamily):
    name = "bbeta5"
    num_gammas = 5
    MIXING = (
        (1, 0, 1, 0, 0),  # numerator of i: G1 + G3
        (1, 0, 1, 1, 1),  # denominator of i: G1 + G3 + G4 + G5
        (0, 1, 0, 1, 0),  # numerator of f: G2 + G4
        (0, 1, 1, 1, 1),  # denominator of f: G2 + G3 + G4 + G5
    )
