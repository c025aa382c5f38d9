"""Gradient flow through the cell state: ||dL/dc_t|| against t.

:class:`~probgates.nn.gated_lstm.GatedLSTMLayer` returns h_t but not the cell states c_t, so the
measurement re-runs the same recurrence (Song et al. 2020, Sec. 3; the layer's weights and gate
family)::

    z_t = W x_t + U h_{t-1} + b,   (i_t, f_t) = family(z_t^gate),
    c_t = f_t * c_{t-1} + i_t * tanh(z_t^g),   h_t = sigmoid(z_t^o) * tanh(c_t)

keeping every c_t with ``retain_grad``. The loss L is the head's negative log-likelihood of the
targets, summed over the batch; dL/dc_t is the total derivative (through c_{t+1} and h_t).
With a loss read at the end of the sequence (the adding problem, the copy task's recall), the
norm at early t shows how much signal reaches the distant past: the BetaLSTM paper's claim is that
Beta gates carry larger gradients there than sigmoid gates. A test checks that the re-run equals
the layer's own output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from probgates.data.batching import SequenceBatch
from probgates.gates import GammaRatioFamily
from probgates.nn.gated_lstm import GammaSource, GatedLSTMLayer, from_torch_lstm
from probgates.tasks import SequenceModel


def _gate_step(layer: GatedLSTMLayer, gammas: GammaSource):
    """The layer's own per-step gate computation ``(t, z_gate [B, C, H]) -> (i, f, alpha)``."""
    family = layer.family
    if isinstance(family, GammaRatioFamily):
        if gammas == "mean":
            return layer._mean_step
        if gammas == "sample":
            return layer._sample_step
        return layer._gamma_step(gammas)
    training = layer.training

    def step(t, z_gate):
        i, f = family.gates(z_gate, training)
        return i, f, None

    return step


def recurrence_with_cells(
    layer: GatedLSTMLayer, x: Tensor, gammas: GammaSource = "mean"
) -> tuple[Tensor, list[Tensor]]:
    """Hidden states ``[B, T, H]`` and the list of cell states c_t (each ``[B, H]``, grads retained).

    The arithmetic of ``GatedLSTMLayer.forward`` with the layer's own gate step (Gamma rules
    ``"mean"``, ``"sample"`` or a callable ``(t, alpha) -> G``); deterministic families use the
    layer's training flag as it does.
    """
    B = x.shape[0]
    H, C = layer.hidden_size, layer.family.num_gate_inputs
    gate_step = _gate_step(layer, gammas)
    x_proj = F.linear(x, layer.weight_ih, layer.bias)
    weight_hh_t = layer.weight_hh.t()
    h = c = x.new_zeros(B, H)
    states, cells = [], []
    for t, x_t in enumerate(x_proj.unbind(1)):
        z = torch.addmm(x_t, h, weight_hh_t)
        z_gate, z_o, z_g = z.split([C * H, H, H], dim=1)
        i, f, _ = gate_step(t, z_gate.view(B, C, H))
        c = torch.addcmul(f * c, i, torch.tanh(z_g))
        if c.requires_grad:
            c.retain_grad()
        h = torch.sigmoid(z_o) * torch.tanh(c)
        cells.append(c)
        states.append(h)
    return torch.stack(states, 1), cells


def _layers(module: SequenceModel) -> list[GatedLSTMLayer]:
    if module.family is None:  # fused nn.LSTM: equivalent loop layers
        return [converted for lstm in module.layers for converted in from_torch_lstm(lstm)]
    return list(module.layers)


@dataclass
class GradientFlow:
    """``norms[layer, t]``: the mean over sequences of ||dL/dc_t||_2 (norm over units), at the
    steps 0..T-1 of the batch (all steps: the recurrence runs through padding, the loss does not
    read it). ``family``: the model's family."""

    norms: np.ndarray
    family: str

    def summary(self) -> dict[str, float]:
        """Numbers for a table: the top layer's norm at the first, middle and last step, and the
        ratio first / last (how much of the end-of-sequence gradient reaches t = 0)."""
        top = self.norms[-1]
        T = len(top)
        first, last = float(top[0]), float(top[-1])
        return {
            "grad_c_first": first,
            "grad_c_middle": float(top[T // 2]),
            "grad_c_last": last,
            "ratio_first_last": first / last if last > 0 else float("nan"),
            "log10_ratio_first_last": float(np.log10(first / last))
            if first > 0 and last > 0
            else float("nan"),
        }


def cell_gradient_norms(
    module: SequenceModel, batch: SequenceBatch, *, rule: str = "sample", num_draws: int = 4
) -> GradientFlow:
    """||dL/dc_t|| per layer and step, averaged over ``num_draws`` draws of stochastic gates.

    Args:
        module: a trained or untrained model (eval mode is used: no dropout).
        batch: the sequences.
        rule: ``"sample"`` (pathwise Gamma draws, as in training) or ``"mean"`` (G := alpha);
            deterministic families ignore it (and use a single draw).
        num_draws: draws averaged for stochastic gates.
    """
    was_training = module.training
    module.eval()
    layers = _layers(module)
    stochastic = module.has_latent_gates and rule == "sample"
    draws = num_draws if stochastic else 1
    dtype = next(module.parameters()).dtype
    batch = batch.to(dtype=dtype)
    total = None
    try:
        for _ in range(draws):
            with torch.enable_grad():
                x = module.inputs(batch).detach()
                all_cells = []
                for layer in layers:
                    x, cells = recurrence_with_cells(layer, x, rule if module.has_latent_gates else "mean")
                    all_cells.append(cells)
                loss = -module.head.distribution(x, batch).log_prob(batch.targets).sum()
                loss.backward()
            norms = torch.stack(
                [torch.stack([c.grad.norm(dim=-1).mean() for c in cells]) for cells in all_cells]
            ).detach()
            total = norms if total is None else total + norms
    finally:
        module.zero_grad(set_to_none=True)
        module.train(was_training)
    return GradientFlow((total / draws).cpu().numpy(), module.family_name)
