"""Coupled input and forget gates (CIFG): i = sigmoid(z), f = 1 - i (the BetaLSTM code's ``flstm``)."""

from __future__ import annotations

import torch

from probgates.gates.base import GateFamily


class CoupledGates(GateFamily):
    name = "cifg"
    num_gate_inputs = 1

    def gates(self, z, training):
        i = torch.sigmoid(z[..., 0, :])
        return i, 1 - i
