"""Olkin-Liu bivariate Beta gates (the BetaLSTM code's ``bbetalstm``), 3 Gammas per unit.

With Gammas ordered (G_i, G_f, G_s): i = G_i / (G_i + G_s), f = G_f / (G_f + G_s); the shared
G_s makes the correlation positive. Marginals Beta(a_i, a_s) and Beta(a_f, a_s); the pair follows
:class:`probgates.distributions.BivariateBeta` (a_i, a_f, a_s).
"""

from __future__ import annotations

from probgates.distributions import olkin_liu_gates
from probgates.gates.base import GammaRatioFamily


class OlkinLiuGates(GammaRatioFamily):
    name = "bbeta3"
    num_gammas = 3

    def gates_from_gammas(self, g):
        return olkin_liu_gates(g)

    def marginal_concentrations(self, alpha):
        a_i, a_f, a_s = alpha.unbind(-1)
        return a_i, a_s, a_f, a_s
