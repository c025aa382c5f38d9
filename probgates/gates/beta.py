"""Independent Beta gates (the BetaLSTM code's ``ibetalstm``), 4 Gammas per unit.

i = G1 / (G1 + G2) ~ Beta(a1, a2),  f = G3 / (G3 + G4) ~ Beta(a3, a4), independent.
"""

from __future__ import annotations

from probgates.gates.base import GammaRatioFamily


class BetaGates(GammaRatioFamily):
    name = "beta"
    num_gammas = 4

    def gates_from_gammas(self, g):
        g1, g2, g3, g4 = g.unbind(-1)
        return g1 / (g1 + g2), g3 / (g3 + g4)

    def marginal_concentrations(self, alpha):
        a1, a2, a3, a4 = alpha.unbind(-1)
        return a1, a2, a3, a4
