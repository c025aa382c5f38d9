"""The standard LSTM gates: i = sigmoid(z^i), f = sigmoid(z^f)."""

from __future__ import annotations

import torch

from probgates.gates.base import GateFamily


class SigmoidGates(GateFamily):
    name = "sigmoid"
    num_gate_inputs = 2

    def gates(self, z, training):
        i, f = torch.sigmoid(z).unbind(-2)
        return i, f
