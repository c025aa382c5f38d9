"""Flexible bivariate Beta gates (the BetaLSTM code's ``gbetalstm``, "bBeta-5"), 5 Gammas per unit.

i = (G1 + G3) / (G1 + G3 + G4 + G5),  f = (G2 + G4) / (G2 + G3 + G4 + G5): marginals
Beta(a1 + a3, a4 + a5) and Beta(a2 + a4, a3 + a5), correlation of either sign; the pair follows
:class:`probgates.distributions.FlexibleBivariateBeta`.
"""

from __future__ import annotations

from probgates.distributions import flexible_gates
from probgates.gates.base import GammaRatioFamily


class FlexibleGates(GammaRatioFamily):
    name = "bbeta5"
    num_gammas = 5

    def gates_from_gammas(self, g):
        return flexible_gates(g)

    def marginal_concentrations(self, alpha):
        a1, a2, a3, a4, a5 = alpha.unbind(-1)
        return a1 + a3, a4 + a5, a2 + a4, a3 + a5
