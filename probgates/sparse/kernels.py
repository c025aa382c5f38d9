r"""The LSTM with gate (G) and neuron (N) variables: the fused-kernel path and the reference loop.

Reference §6.2, in torch's layout (``weight_ih`` is ``[4H, D]``, gate blocks i, f, g, o):

.. math::

    \tilde x_t = x_t \odot z^x,\quad
    a^k_t = (W^k_x \tilde x_t + W^k_h h_{t-1}) \odot \hat z^k + b^k,\quad
    c_t = f_t c_{t-1} + i_t g_t,\quad h_t = o_t \tanh(c_t) \odot z^h .

A group variable is either one vector for the minibatch (``[n]``) or one per sequence (``[B, n]``).
:func:`lstm_fused` folds minibatch-level variables into the weights,
``W_x <- diag(z_gate) W_x diag(z_x)`` and ``W_h <- diag(z_gate) W_h diag(z_h)``, runs
``torch._VF.lstm`` (the kernel behind ``nn.LSTM``) and multiplies the output states by ``z_h``;
:func:`lstm_loop` is the step-by-step reference that also takes per-sequence variables and the hard
sigmoid; :func:`lstm_loop_folded` is the same loop for minibatch-level variables with fewer kernels
per step (what training runs where the fused kernel cannot: the hard sigmoid, one-hot inputs on
the CPU).

Both start from an initial state ``(h_0, c_0)`` (zeros when None) and return the final one, for
truncated BPTT with the state carried across windows (reference §7, word-PTB). The state is the
kernel's: ``h`` *before* ``z^h``. The next window multiplies the carried ``h`` by its own ``z^h``,
like every recurrent input of that window, which keeps the two kernels equal (the fused kernel sees
``z^h`` only inside ``W_h``). Where ``z^h`` is the same in both windows (evaluation: the clip-mode
means) this is exactly carrying ``h_t`` of §6.2; during training the carried state gets the new
window's noise draw [inferred; the reference does not say which draw the paper code uses there].
"""

from __future__ import annotations

import warnings

import torch
from torch.nn import functional as F

GATES = ("i", "f", "g", "o")

#: ``(h, c)``, each ``[B, H]``; ``h`` before the hidden-neuron variable ``z^h``.
LSTMState = tuple[torch.Tensor, torch.Tensor]


#: Theano's hard sigmoid is ``clip(HARD_SIGMOID_SLOPE x + HARD_SIGMOID_OFFSET, 0, 1)``.
HARD_SIGMOID_SLOPE, HARD_SIGMOID_OFFSET = 0.2, 0.5


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Theano's hard sigmoid ``clip(0.2 x + 0.5, 0, 1)`` (the paper code's classification gates)."""
    return (HARD_SIGMOID_SLOPE * x + HARD_SIGMOID_OFFSET).clamp(0.0, 1.0)


def gate_activation(name: str):
    return torch.sigmoid if name == "sigmoid" else hard_sigmoid


def constant_gate_values(bias: torch.Tensor, activation: str = "sigmoid") -> torch.Tensor:
    """``act(b)`` for every gate unit ``[4H]``: sigma (or hard sigma) for i, f, o and tanh for g."""
    act = gate_activation(activation)
    i, f, g, o = bias.chunk(4, -1)
    return torch.cat([act(i), act(f), torch.tanh(g), act(o)], -1)


def _per_row(z: torch.Tensor | None) -> torch.Tensor | None:
    """A minibatch-level variable ``[n]`` as one row ``[1, n]``; per-sequence ``[B, n]`` as is."""
    return None if z is None else (z.unsqueeze(0) if z.dim() == 1 else z)


def lstm_loop(
    xproj: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
    activation: str = "sigmoid",
    state: LSTMState | None = None,
) -> tuple[torch.Tensor, LSTMState]:
    """Reference recurrence. ``xproj`` ``[B, T, 4H]`` = ``(x * z_x) W_x^T`` (no bias, no z_gate).

    Returns the states ``h_t`` ``[B, T, H]`` (already multiplied by ``z_h``) and the final state
    (``h_T`` before ``z_h``, ``c_T``); ``state`` is the initial one (None: zeros).
    """
    B = xproj.shape[0]
    H = weight_hh.shape[1]
    act = gate_activation(activation)
    z_gate, z_h = _per_row(z_gate), _per_row(z_h)
    weight_hh_t = weight_hh.t()
    h_raw, c = (xproj.new_zeros(B, H), xproj.new_zeros(B, H)) if state is None else state
    h = h_raw if z_h is None else h_raw * z_h
    states = []
    for x_t in xproj.unbind(1):  # one backward node for all steps (not a full-size one per step)
        a = x_t + h @ weight_hh_t
        if z_gate is not None:
            a = a * z_gate
        i, f, g, o = (a + bias).chunk(4, 1)
        c = act(f) * c + act(i) * torch.tanh(g)
        h_raw = act(o) * torch.tanh(c)
        h = h_raw if z_h is None else h_raw * z_h
        states.append(h)
    return torch.stack(states, 1), (h_raw, c)


def _clamp_to_unit(a: torch.Tensor) -> torch.Tensor:
    return a.clamp(0.0, 1.0)


def lstm_loop_folded(
    xproj: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
    activation: str = "sigmoid",
    state: LSTMState | None = None,
) -> tuple[torch.Tensor, LSTMState]:
    """:func:`lstm_loop` for minibatch-level variables (``[n]``), with fewer kernels per step.

    The same recurrence (§6.2) rearranged: ``z_gate`` and ``z_h`` are folded into ``W_h`` (as in
    :func:`lstm_fused`) and the bias into the step's product (``addmm``); for the hard sigmoid its
    slope and offset are folded into the i, f, o rows too, so that the activation is one clamp to
    ``[0, 1]``; ``z^h`` multiplies the states once after the loop. A step is two fused kernels for
    the preactivation (``addmm``, ``addcmul``), the four gate activations, and four for ``c_t`` and
    ``h_t``; the reference takes 14 (sigmoid) or 20 (hard sigmoid).
    Same arguments and results as :func:`lstm_loop`.
    """
    for name, z in (("z_gate", z_gate), ("z_h", z_h)):
        if z is not None and z.dim() != 1:
            raise ValueError(f"lstm_loop_folded needs one {name} per minibatch; use lstm_loop")
    B, H = xproj.shape[0], weight_hh.shape[1]
    slope = torch.ones(4 * H, dtype=xproj.dtype, device=xproj.device)
    offset = torch.zeros_like(slope)
    if activation == "sigmoid":
        squash = torch.sigmoid
    else:  # hard sigmoid: clip(slope * a + offset, 0, 1) with slope and offset folded in
        for k in (0, 1, 3):  # i, f, o
            slope[k * H : (k + 1) * H], offset[k * H : (k + 1) * H] = HARD_SIGMOID_SLOPE, HARD_SIGMOID_OFFSET
        squash = _clamp_to_unit
    row_scale = slope if z_gate is None else z_gate * slope
    weight_hh = weight_hh * row_scale.unsqueeze(1)
    weight_hh_t = (weight_hh if z_h is None else weight_hh * z_h).t()
    bias_row = (bias * slope + offset).unsqueeze(0)
    h, c = (xproj.new_zeros(B, H), xproj.new_zeros(B, H)) if state is None else state
    states = []
    for x_t in xproj.unbind(1):
        i, f, g, o = torch.addcmul(torch.addmm(bias_row, h, weight_hh_t), x_t, row_scale).chunk(4, 1)
        c = torch.addcmul(squash(f) * c, squash(i), torch.tanh(g))
        h = squash(o) * torch.tanh(c)
        states.append(h)
    out = torch.stack(states, 1)
    return (out if z_h is None else out * z_h), (h, c)


def fold_weights(
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    z_x: torch.Tensor | None = None,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``diag(z_gate) W_ih diag(z_x)`` and ``diag(z_gate) W_hh diag(z_h)`` (1-D variables)."""
    if z_x is not None:
        weight_ih = weight_ih * z_x
    if z_h is not None:
        weight_hh = weight_hh * z_h
    if z_gate is not None:
        weight_ih = weight_ih * z_gate.unsqueeze(1)
        weight_hh = weight_hh * z_gate.unsqueeze(1)
    return weight_ih, weight_hh


def lstm_fused(
    x: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    z_x: torch.Tensor | None = None,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
    state: LSTMState | None = None,
) -> tuple[torch.Tensor, LSTMState]:
    """The fused ``nn.LSTM`` kernel on ``x`` ``[B, T, D]`` with minibatch-level variables folded in.

    ``z_x`` may also be per sequence (``[B, D]``): it then scales the inputs instead. Returns the
    states ``[B, T, H]`` (times ``z_h``) and the final state, as :func:`lstm_loop`.
    """
    if z_x is not None and z_x.dim() == 2:
        x, z_x = x * z_x.unsqueeze(1), None
    for name, z in (("z_gate", z_gate), ("z_h", z_h)):
        if z is not None and z.dim() != 1:
            raise ValueError(f"the fused kernel needs one {name} per minibatch; use lstm_loop")
    w_ih, w_hh = fold_weights(weight_ih, weight_hh, z_x, z_gate, z_h)
    if state is None:
        h0 = c0 = x.new_zeros(1, x.shape[0], weight_hh.shape[1])
    else:
        h0, c0 = (s.unsqueeze(0) for s in state)
    flat = [w_ih, w_hh, bias, torch.zeros_like(bias)]
    with warnings.catch_warnings():
        # cuDNN copies weights that are not one flat buffer; these are new tensors at every call.
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
        train = torch.is_grad_enabled()  # cuDNN keeps what its backward needs only in training mode
        out, h_n, c_n = torch._VF.lstm(x, (h0, c0), flat, True, 1, 0.0, train, False, True)
    return (out if z_h is None else out * z_h), (h_n[0], c_n[0])


def input_projection(
    x: torch.Tensor, weight_ih: torch.Tensor, z_x: torch.Tensor | None, one_hot: bool
) -> torch.Tensor:
    """``(x * z_x) W_x^T`` ``[B, T, 4H]``; for one-hot token ids ``x`` ``[B, T]`` a column lookup.

    On the CPU the columns are gathered along ``W_x``'s dim 1, so that the gradient comes back in
    ``W_x``'s own layout: through ``F.embedding`` on ``W_x^T`` it comes back transposed, and every
    pass over the 4H x V matrix after it (the draw's and the KL's backward, the accumulation into
    theta) is strided. CUDA keeps ``F.embedding``: there the backward of ``index_select`` is an
    ``index_add``, which is not deterministic.
    """
    if one_hot:
        if weight_ih.is_cuda:
            proj = F.embedding(x, weight_ih.t())
        else:
            proj = weight_ih.index_select(1, x.reshape(-1)).t().reshape(*x.shape, -1)
        if z_x is not None:
            zx = z_x[x] if z_x.dim() == 1 else z_x.gather(1, x)
            proj = proj * zx.unsqueeze(-1)
        return proj
    if z_x is not None:
        x = x * (z_x if z_x.dim() == 1 else z_x.unsqueeze(1))
    return x @ weight_ih.t()
