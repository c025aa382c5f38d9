"""Independent Beta gates (the BetaLSTM code's ``ibetalstm``), 4 Gammas per unit.

i = G1 / (G1 + G2) ~ Beta(a1, a2),  f = G3 / (G3 + G4) ~ Beta(a3, a4), independent.
"""

from __future__ import annotations

from probgates.gates.base import GammaRatioFamily


class BetaGates(GammaRatioFamily):
    name = "beta"
    num_gammas = 4
    MIXING = (
        (1, 0, 0, 0),  # numerator of i: G1
        (1, 1, 0, 0),  # denominator of i: G1 + G2
        (0, 0, 1, 0),  # numerator of f: G3
        (0, 0, 1, 1),  # denominator of f: G3 + G4
    )
