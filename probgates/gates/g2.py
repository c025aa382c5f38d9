"""G2-LSTM gates (Li et al. 2018, "Towards binary-valued gates"), as in the BetaLSTM code.

During training the i and f preactivations get logistic noise L = log(U + 1e-3) - log(1 + 1e-3 - U),
U ~ Uniform(0, 1), masked by B ~ Bernoulli(p); then gate = sigmoid((z + B L) / t / tau).
At evaluation there is no noise: gate = sigmoid(z / t / tau). Fresh noise at every step.
"""

from __future__ import annotations

import torch

from probgates.gates.base import GateFamily


class G2Gates(GateFamily):
    name = "g2"
    num_gate_inputs = 2

    def __init__(self, p: float = 0.2, t: float = 1.0, temperature: float = 0.9):
        if not 0 <= p <= 1:
            raise ValueError(f"g2 noise probability p must lie in [0, 1], got {p}")
        if not (t > 0 and temperature > 0):
            raise ValueError(f"g2 t and temperature must be > 0, got t={t}, temperature={temperature}")
        self.p, self.t, self.temperature = p, t, temperature

    def gates(self, z, training):
        if training and self.p > 0:
            u = torch.rand_like(z)
            logistic = torch.log(u + 1e-3) - torch.log(1 + 1e-3 - u)
            z = z + torch.bernoulli(torch.full_like(z, self.p)) * logistic
        i, f = torch.sigmoid(z / self.t / self.temperature).unbind(-2)
        return i, f

    def __repr__(self):
        return f"G2Gates(p={self.p}, t={self.t}, temperature={self.temperature})"
