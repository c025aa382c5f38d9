"""The LSTM recurrence parameterized by a gate family (Song et al. 2020, Sec. 3; Python loop).

One step, with C gate inputs per unit (``family.num_gate_inputs``)::

    z_t = W x_t + U h_{t-1} + b                     ((C + 2) H outputs, W x_t hoisted out of the loop)
    (i_t, f_t) = family(z_t^gate)                    (sigmoid / cifg / g2, or ratios of Gammas)
    c_t = f_t * c_{t-1} + i_t * tanh(z_t^g)
    h_t = sigmoid(z_t^o) * tanh(c_t)

For Gamma-ratio families the Gammas of step t come from ``gammas``: a callable
``gammas(t, alpha) -> G`` taking and returning component-major ``[B, K, H]`` tensors (the Pyro
guide's sample site, or a replayed value), or one of the rules
``"sample"`` (pathwise draws, the training rule) and ``"mean"`` (G := alpha, the paper's
evaluation rule, which makes each gate the exact mean of its Beta marginal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from probgates.gates import GammaRatioFamily, GateFamily
from probgates.gates.base import GAMMA_EPS

GammaSource = str | Callable[[int, Tensor], Tensor]


@dataclass
class RecurrenceOutput:
    """What one layer computed over a sequence.

    Attributes:
        states: hidden states h_t, ``[B, T, H]``.
        input_gate, forget_gate: i_t and f_t, ``[B, T, H]`` (None when not recorded).
        concentration: the Gamma shapes alpha_t, ``[B, T, H, K]`` (Gamma-ratio families, when
            recorded).
    """

    states: Tensor
    input_gate: Tensor | None = None
    forget_gate: Tensor | None = None
    concentration: Tensor | None = None


class GatedLSTMLayer(nn.Module):
    """One LSTM layer whose input and forget gates come from ``family``.

    Parameters are initialised from Uniform(-1/sqrt(H), 1/sqrt(H)) as in the BetaLSTM code.
    """

    def __init__(self, input_size: int, hidden_size: int, family: GateFamily):
        super().__init__()
        self.input_size, self.hidden_size, self.family = input_size, hidden_size, family
        width = (family.num_gate_inputs + 2) * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(width, input_size))
        self.weight_hh = nn.Parameter(torch.empty(width, hidden_size))
        self.bias = nn.Parameter(torch.empty(width))
        bound = 1 / math.sqrt(hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, gammas: GammaSource = "sample", record: bool = True) -> RecurrenceOutput:
        """Run the recurrence over ``x`` of shape ``[B, T, input_size]`` from zero states.

        ``record=False`` keeps only the states (evaluation): the gates and Gamma shapes of every
        step are not stacked.
        """
        B = x.shape[0]
        H, C = self.hidden_size, self.family.num_gate_inputs
        family = self.family
        if isinstance(gammas, str) and gammas not in ("sample", "mean"):
            raise ValueError(f"gammas must be 'sample', 'mean' or a callable, got {gammas!r}")
        if isinstance(family, GammaRatioFamily):
            if gammas == "mean" and not record and not torch.is_grad_enabled():
                return RecurrenceOutput(self._mean_rule_states(x))
            if gammas == "mean":
                gate_step = self._mean_step
            elif gammas == "sample":
                gate_step = self._sample_step
            else:
                gate_step = self._gamma_step(gammas)
        else:
            training = self.training

            def gate_step(t, z_gate):
                i, f = family.gates(z_gate, training)
                return i, f, None

        x_proj = F.linear(x, self.weight_ih, self.bias)
        weight_hh_t = self.weight_hh.t()
        h = c = x.new_zeros(B, H)
        states, input_gates, forget_gates, alphas = [], [], [], []
        # unbind: one backward node for all steps (indexing x_proj[:, t] per step would make the
        # backward pass allocate and fill a full-size gradient for every step: quadratic in T).
        for t, x_t in enumerate(x_proj.unbind(1)):
            z = torch.addmm(x_t, h, weight_hh_t)
            z_gate, z_o, z_g = z.split([C * H, H, H], dim=1)
            i, f, alpha = gate_step(t, z_gate.view(B, C, H))
            c = torch.addcmul(f * c, i, torch.tanh(z_g))
            h = torch.sigmoid(z_o) * torch.tanh(c)
            states.append(h)
            if record:
                input_gates.append(i)
                forget_gates.append(f)
                alphas.append(alpha)
        if not record:
            return RecurrenceOutput(torch.stack(states, 1))
        return RecurrenceOutput(
            torch.stack(states, 1),
            torch.stack(input_gates, 1),
            torch.stack(forget_gates, 1),
            torch.stack(alphas, 1).transpose(2, 3) if alphas[0] is not None else None,
        )

    def _mean_rule_states(self, x: Tensor) -> Tensor:
        """States ``[B, T, H]`` under the mean rule, for evaluation without gradients.

        The same recurrence as :meth:`forward` with G := alpha, computed unit-major (states
        ``[H, B]``, preactivations ``[(K + 2) H, B]``) so that each component and gate is one
        contiguous block: the input projection of all steps is one batched product, the four
        Gamma sums of every unit are one ``[4, K] x [K, H B]`` product (plus the 1e-3 offsets of
        the shapes they add up), and the loop updates its buffers in place.
        """
        family, H = self.family, self.hidden_size
        KH = family.num_gammas * H
        B, T, D = x.shape
        # [T, (K + 2) H, B]: W x_t + b in one batched product (the bias as the weight of a row of
        # ones appended to the inputs); overwritten step by step.
        inputs = x.new_ones(T, D + 1, B)
        inputs[:, :D] = x.permute(1, 2, 0)
        weight = torch.cat([self.weight_ih, self.bias.unsqueeze(1)], 1)
        z_all = torch.bmm(weight.expand(T, -1, D + 1), inputs)
        mixing = family.mixing(x.dtype, x.device)  # [4, K]
        offsets = mixing.sum(1, keepdim=True) * GAMMA_EPS  # [4, 1]
        c = x.new_zeros(H, B)
        tanh_c = torch.empty_like(c)
        states = x.new_empty(T + 1, H, B)  # states[0] = h_0 = 0
        states[0].zero_()
        h = states.unbind(0)
        weight_hh = self.weight_hh  # a local: module attribute lookups cost per step
        for t, z in enumerate(z_all.unbind(0)):
            z.addmm_(weight_hh, h[t])
            alpha = F.softplus(z[:KH]).view(-1, H * B)  # [K, H B], without the offset
            sums = torch.mm(mixing, alpha).add_(offsets).view(4, H, B)
            i, f = sums[0].div_(sums[1]), sums[2].div_(sums[3])
            o, g = z[KH : KH + H].sigmoid_(), z[KH + H :].tanh_()
            c.mul_(f).addcmul_(i, g)
            torch.tanh(c, out=tanh_c)
            torch.mul(o, tanh_c, out=h[t + 1])
        return states[1:].permute(2, 0, 1)

    # Gate computations of one step for Gamma-ratio families; ``z_gate`` is ``[B, K, H]``.

    def _mean_step(self, t: int, z_gate: Tensor):
        alpha = self.family.concentration(z_gate)
        return (*self.family.step_gates(alpha), alpha)

    def _sample_step(self, t: int, z_gate: Tensor):
        alpha = self.family.concentration(z_gate)
        return (*self.family.step_gates(self.family.sample_gammas(alpha)), alpha)

    def _gamma_step(self, source: Callable[[int, Tensor], Tensor]):
        def step(t: int, z_gate: Tensor):
            alpha = self.family.concentration(z_gate)
            return (*self.family.step_gates(source(t, alpha)), alpha)

        return step


def from_torch_lstm(lstm: nn.LSTM) -> list[GatedLSTMLayer]:
    """Sigmoid-family layers computing exactly what a single-direction ``nn.LSTM`` computes.

    ``nn.LSTM`` keeps its rows in the order (i, f, g, o) and two biases; the gated layer keeps
    (i, f, o, g) and one bias. The fused kernel does not expose its gates;
    the converted layers do, for gate statistics and diagnostics of a trained ``"lstm"`` model.
    """
    from probgates.gates import SigmoidGates

    if lstm.bidirectional or lstm.proj_size or not lstm.bias:
        raise ValueError("only single-direction nn.LSTM with biases and no projection can be converted")
    H = lstm.hidden_size
    layers = []
    for k in range(lstm.num_layers):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
        bias = getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")

        def reorder(w):
            i, f, g, o = w.detach().split(H, 0)
            return torch.cat([i, f, o, g], 0)

        layer = GatedLSTMLayer(w_ih.shape[1], H, SigmoidGates())
        with torch.no_grad():
            layer.weight_ih.copy_(reorder(w_ih))
            layer.weight_hh.copy_(reorder(w_hh))
            layer.bias.copy_(reorder(bias))
        layers.append(layer.to(w_ih.dtype))
    return layers


__all__ = ["GatedLSTMLayer", "RecurrenceOutput", "from_torch_lstm"]
