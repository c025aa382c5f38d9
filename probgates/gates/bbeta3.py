"""Olkin-Liu bivariate Beta gates (the BetaLSTM code's ``bbetalstm``), 3 Gammas per unit.

With Gammas ordered (G_i, G_f, G_s): i = G_i / (G_i + G_s), f = G_f / (G_f + G_s); the shared
G_s makes the correlation positive. Marginals Beta(a_i, a_s) and Beta(a_f, a_s); the pair follows
:class:`probgates.distributions.BivariateBeta` (a_i, a_f, a_s) (see ``olkin_liu_gates``).
"""

from __future__ import annotations

from probgates.gates.base import GammaRatioFamily


class OlkinLiuGates(GammaRatioFamily):
    name = "bbeta3"
    num_gammas = 3
    MIXING = (
        (1, 0, 0),  # numerator of i: G_i
        (1, 0, 1),  # denominator of i: G_i + G_s
        (0, 1, 0),  # numerator of f: G_f
        (0, 1, 1),  # denominator of f: G_f + G_s
    )
