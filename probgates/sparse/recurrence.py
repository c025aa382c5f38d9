r"""The step-by-step LSTM of the sparse models, with a hand-written backward pass (BPTT).

The recurrence of reference §6.2 in torch's layout (gate blocks i, f, g, o of ``4H`` rows), for
the cases the fused kernel cannot take (hard-sigmoid gates, per-sequence group variables, one-hot
inputs on the CPU):

.. math::

    s_t = x_t + W_h h_{t-1},\quad a_t = s_t \odot \hat z + b,\quad
    (i, f, o) = \sigma_g(a^{i,f,o}_t),\ g = \tanh(a^g_t),\\
    c_t = f c_{t-1} + i g,\quad h^{raw}_t = o \tanh(c_t),\quad h_t = h^{raw}_t \odot z^h,

where ``x_t`` is the input projection ``(x_t \odot z^x) W_x^T`` computed before the loop,
``\sigma_g`` the sigmoid or Theano's hard sigmoid ``clip(0.2 a + 0.5, 0, 1)``, and the group
variables ``\hat z`` (``z_gate``) and ``z^h`` are one vector per minibatch or one per sequence.

Autograd through a Python loop records every operation of every step and keeps its
intermediates (counted with ``torch.profiler``: 21 forward and 35 backward operations per step
with sigmoid gates, 33 and 62 with the hard sigmoid). :class:`_LSTMLoop` runs the forward loop
without autograd (13 operations per step), keeping the activated gates, the cells and their tanh,
the states and (with ``\hat z``) ``s_t``, and its backward runs the standard backpropagation
through time in place on small buffers (about 30 operations per step, one matrix product):

.. math::

    \partial h_t = \bar h_t + \partial s_{t+1} W_h,\quad
    \partial c_t \mathrel{+}= \partial h_t \odot z^h \odot o_t (1 - \tanh^2 c_t),\quad
    \partial o_t = \partial h_t \odot z^h \odot \tanh c_t,\\
    \partial i_t = \partial c_t\, g_t,\ \partial f_t = \partial c_t\, c_{t-1},\
    \partial g_t = \partial c_t\, i_t,\quad \partial c_{t-1} = \partial c_t\, f_t,\quad
    \partial s_t = \partial(i, f, g, o)_t \odot \sigma_g'(a_t) \odot \hat z,

(``\bar h_t`` is the gradient arriving at the output ``h_t``; ``\sigma_g'`` is read off the
activated values: ``y (1 - y)``, ``1 - g^2``, or 0.2 where the hard sigmoid is not clipped). The
gradients of ``b``, ``\hat z`` and ``z^h`` are accumulated step by step (and summed over the
batch for per-minibatch variables); ``\partial W_h = \sum_t \partial s_t^T h_{t-1}`` is one
matrix product over all steps after the loop. The tests check every gradient against autograd
through the same loop (:func:`lstm_loop_autograd`), in float64.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from probgates.sparse.kernels import HARD_SIGMOID_OFFSET, HARD_SIGMOID_SLOPE, LSTMState, gate_activation


def _per_minibatch(grad: torch.Tensor | None, z: torch.Tensor | None) -> torch.Tensor | None:
    """A ``[B, n]`` gradient, summed over the batch for a per-minibatch ``z`` (``[n]``)."""
    if z is None:
        return None
    return grad.sum(0) if z.dim() == 1 else grad


class _LSTMLoop(torch.autograd.Function):
    """``(xproj, W_h, b, z_gate, z_h, h_0, c_0, hard) -> (states [B, T, H], h_T, c_T)``.

    The loops work on one step's small tensors (``[B, 4H]``) while they are in the cache, and keep
    few large buffers (fresh pages of memory are not free either): the activated gates, the
    cells and their tanh, the states (time-major, so that ``W_h``'s gradient is one product over
    all steps) and, with ``z_gate``, the ``s_t``. The activation slopes and ``h^{raw}_t`` are
    recomputed in the backward loop, which also accumulates the gradients of ``b``, ``z_gate``
    and ``z_h`` step by step.
    """

    @staticmethod
    def forward(ctx, xproj, weight_hh, bias, z_gate, z_h, h0, c0, hard):
        B, T, G = xproj.shape
        H = G // 4
        # The affine map before the activations, a = s * scale + shift, with the hard sigmoid's
        # slope and offset folded into the i, f, o rows.
        scale, shift = z_gate, bias
        if hard:
            slope = torch.full((G,), HARD_SIGMOID_SLOPE, dtype=xproj.dtype, device=xproj.device)
            slope[2 * H : 3 * H] = 1.0
            scale = slope if z_gate is None else z_gate * slope
            shift = bias * slope + (slope != 1.0) * HARD_SIGMOID_OFFSET
        acts = xproj.new_empty(T, B, G)  # activated gates i, f, g, o
        # s_t: kept for z_gate's gradient, else one step's scratch
        pre = xproj.new_empty(T, B, G) if z_gate is not None else xproj.new_empty(1, B, G).expand(T, B, G)
        cells = xproj.new_empty(T + 1, B, H)
        cells[0] = c0
        tanh_c = xproj.new_empty(T, B, H)
        states = xproj.new_empty(T + 1, B, H)  # states[0] = h_0 z_h, the input of step 1
        torch.mul(h0, 1.0 if z_h is None else z_h, out=states[0])
        weight_hh_t = weight_hh.t()
        steps = zip(
            xproj.unbind(1),
            acts.unbind(0),
            pre.unbind(0),
            cells.unbind(0),
            tanh_c.unbind(0),
            states.unbind(0),
            strict=False,  # cells and states have T + 1 entries: the last is written, not read
        )
        for t, (x_t, a, s, c_prev, tc, h) in enumerate(steps):
            c, h_next = cells[t + 1], states[t + 1]
            if scale is None:
                torch.addmm(x_t, h, weight_hh_t, out=a)
                a.add_(shift)
            else:
                torch.addmm(x_t, h, weight_hh_t, out=s)
                torch.addcmul(shift, s, scale, out=a)
            i_f, g, o = a[:, : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            if hard:
                i_f.clamp_(0.0, 1.0)
                o.clamp_(0.0, 1.0)
            else:
                i_f.sigmoid_()
                o.sigmoid_()
            g.tanh_()
            torch.mul(a[:, H : 2 * H], c_prev, out=c)
            c.addcmul_(a[:, :H], g)
            torch.tanh(c, out=tc)
            torch.mul(o, tc, out=h_next)
            if z_h is not None:
                h_next.mul_(z_h)
        h_last = acts[-1, :, 3 * H :] * tanh_c[-1]
        c_last = cells[-1].clone()
        ctx.hard = hard
        ctx.save_for_backward(weight_hh, z_gate, z_h, h0, states, acts, pre, cells, tanh_c)
        return states[1:].transpose(0, 1), h_last, c_last

    @staticmethod
    @once_differentiable
    def backward(ctx, d_states, d_h_last, d_c_last):
        weight_hh, z_gate, z_h, h0, states, acts, pre, cells, tanh_c = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        d_pre = acts.new_empty(T, B, G)  # of s_t, which is also the gradient of xproj
        d_a = acts.new_empty(B, G) if z_gate is not None else None  # of a_t (scratch)
        slope = acts.new_empty(B, G)  # d act / d a of one step
        slope_g = slope[:, 2 * H : 3 * H]
        d_bias = acts.new_zeros(B, G)
        d_z_gate = acts.new_zeros(B, G) if z_gate is not None else None
        d_z_h = acts.new_zeros(B, H) if z_h is not None else None
        d_h = torch.empty_like(d_c_last)
        scratch = torch.empty_like(d_c_last)
        one = acts.new_tensor(1.0)
        d_c = d_c_last.clone()
        d_rec = torch.zeros_like(d_c)  # d s_{t+1} W_h
        steps = zip(
            d_states.unbind(1),
            d_pre.unbind(0),
            acts.unbind(0),
            pre.unbind(0),
            cells[:-1].unbind(0),
            tanh_c.unbind(0),
            strict=True,
        )
        for t, (d_state, ds, y, s, c_prev, tc) in reversed(list(enumerate(steps))):
            i, f, g, o = y.split(H, 1)
            torch.add(d_state, d_rec, out=d_h)
            if z_h is not None:
                torch.mul(o, tc, out=scratch)  # h^raw_t
                d_z_h.addcmul_(d_h, scratch)
                d_h.mul_(z_h)
            if t == T - 1:
                d_h.add_(d_h_last)  # h_T (before z_h) is an output too
            dy = ds if d_a is None else d_a
            torch.mul(d_h, tc, out=dy[:, 3 * H :])
            torch.mul(tc, tc, out=scratch)
            torch.sub(one, scratch, out=scratch).mul_(o)  # o (1 - tanh^2 c)
            d_c.addcmul_(d_h, scratch)
            torch.mul(d_c, g, out=dy[:, :H])
            torch.mul(d_c, c_prev, out=dy[:, H : 2 * H])
            torch.mul(d_c, i, out=dy[:, 2 * H : 3 * H])
            d_c.mul_(f)
            # Activation slopes: y (1 - y) for the sigmoid rows (hard sigmoid: 0.2 where
            # 0 < y < 1), then 1 - g^2 for the tanh rows.
            torch.mul(y, y, out=slope)
            torch.sub(y, slope, out=slope)
            if ctx.hard:
                slope.sign_().mul_(HARD_SIGMOID_SLOPE)
            torch.mul(g, g, out=slope_g)
            torch.sub(one, slope_g, out=slope_g)
            dy.mul_(slope)  # now the gradient of a_t
            d_bias.add_(dy)
            if d_a is not None:
                d_z_gate.addcmul_(dy, s)
                torch.mul(dy, z_gate, out=ds)
            d_rec = torch.mm(ds, weight_hh)

        d_weight_hh = d_pre.view(T * B, G).t() @ states[:-1].reshape(T * B, H)
        if z_h is not None:
            d_z_h.addcmul_(d_rec, h0)
            d_rec = d_rec * z_h
        return (
            d_pre.transpose(0, 1),
            d_weight_hh,
            d_bias.sum(0),
            _per_minibatch(d_z_gate, z_gate),
            _per_minibatch(d_z_h, z_h),
            d_rec,
            d_c,
            None,
        )


def lstm_loop(
    xproj: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
    activation: str = "sigmoid",
    state: LSTMState | None = None,
) -> tuple[torch.Tensor, LSTMState]:
    """The recurrence over ``xproj`` ``[B, T, 4H]`` = ``(x * z_x) W_x^T`` (no bias, no z_gate).

    ``z_gate`` is ``[4H]`` or ``[B, 4H]``, ``z_h`` ``[H]`` or ``[B, H]`` (None: not used);
    ``activation`` is ``"sigmoid"`` or ``"hard_sigmoid"`` for i, f, o. Returns the states ``h_t``
    ``[B, T, H]`` (already multiplied by ``z_h``) and the final state (``h_T`` before ``z_h``,
    ``c_T``); ``state`` is the initial one (None: zeros).
    """
    if activation not in ("sigmoid", "hard_sigmoid"):
        raise ValueError(f"unknown gate activation {activation!r}; valid: sigmoid, hard_sigmoid")
    B, T = xproj.shape[:2]
    H = weight_hh.shape[1]
    if T == 0:
        raise ValueError("lstm_loop needs at least one time step")
    h0, c0 = (xproj.new_zeros(B, H), xproj.new_zeros(B, H)) if state is None else state
    states, h_last, c_last = _LSTMLoop.apply(
        xproj, weight_hh, bias, z_gate, z_h, h0, c0, activation == "hard_sigmoid"
    )
    return states, (h_last, c_last)


def lstm_loop_autograd(
    xproj: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    z_gate: torch.Tensor | None = None,
    z_h: torch.Tensor | None = None,
    activation: str = "sigmoid",
    state: LSTMState | None = None,
) -> tuple[torch.Tensor, LSTMState]:
    """:func:`lstm_loop` written with autograd alone: the reference its backward pass is tested and
    benchmarked against (same arguments and results)."""
    B, H = xproj.shape[0], weight_hh.shape[1]
    act = gate_activation(activation)
    h_raw, c = (xproj.new_zeros(B, H), xproj.new_zeros(B, H)) if state is None else state
    h = h_raw if z_h is None else h_raw * z_h
    states = []
    for x_t in xproj.unbind(1):  # one backward node for all steps (not a full-size one per step)
        a = x_t + h @ weight_hh.t()
        if z_gate is not None:
            a = a * z_gate
        i, f, g, o = (a + bias).chunk(4, 1)
        c = act(f) * c + act(i) * torch.tanh(g)
        h_raw = act(o) * torch.tanh(c)
        h = h_raw if z_h is None else h_raw * z_h
        states.append(h)
    return torch.stack(states, 1), (h_raw, c)
