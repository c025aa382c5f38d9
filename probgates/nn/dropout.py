"""Locked (variational) dropout: one dropout mask per sequence, shared over time steps."""

from __future__ import annotations

import torch
from torch import nn


class LockedDropout(nn.Module):
    """Drop the same features at every time step of a ``[B, T, H]`` sequence (Gal & Ghahramani, 2016)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)
