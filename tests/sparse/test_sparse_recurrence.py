"""The loop recurrence's hand-written backward pass against autograd through the same loop."""

import pytest
import torch

from probgates.sparse.recurrence import lstm_loop, lstm_loop_autograd

B, T, H = 3, 6, 4


def _inputs(z_gate, z_h, state, seed=0):
    g = torch.Generator().manual_seed(seed)

    def leaf(*shape, scale=1.0, positive=False):
        t = torch.rand(*shape, generator=g) + 0.5 if positive else torch.randn(*shape, generator=g) * scale
        return t.requires_grad_()

    zg_shape = {"none": None, "minibatch": (4 * H,), "sequence": (B, 4 * H)}[z_gate]
    zh_shape = {"none": None, "minibatch": (H,), "sequence": (B, H)}[z_h]
    return {
        "xproj": leaf(B, T, 4 * H, scale=2.0),
        "weight_hh": leaf(4 * H, H),
        "bias": leaf(4 * H),
        "z_gate": leaf(*zg_shape, positive=True) if zg_shape else None,
        "z_h": leaf(*zh_shape, positive=True) if zh_shape else None,
        "state": (leaf(B, H), leaf(B, H)) if state else None,
    }


def _grads(fn, inputs, activation, weights):
    states, (h_last, c_last) = fn(
        inputs["xproj"],
        inputs["weight_hh"],
        inputs["bias"],
        inputs["z_gate"],
        inputs["z_h"],
        activation,
        inputs["state"],
    )
    # Every output carries gradient: the states (weighted per element), and the final h and c.
    loss = (states * weights[0]).sum() + (h_last * weights[1]).sum() + (c_last * weights[2]).sum()
    leaves = [v for k, v in inputs.items() if k != "state" and v is not None]
    if inputs["state"] is not None:
        leaves += list(inputs["state"])
    return (states, h_last, c_last), torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("z_gate", ["none", "minibatch", "sequence"])
@pytest.mark.parametrize("z_h", ["none", "minibatch", "sequence"])
@pytest.mark.parametrize("state", [False, True])
def test_hand_written_backward_equals_autograd(activation, z_gate, z_h, state):
    inputs = _inputs(z_gate, z_h, state)
    g = torch.Generator().manual_seed(1)
    weights = tuple(torch.randn(*shape, generator=g) for shape in ((B, T, H), (B, H), (B, H)))
    outputs, grads = _grads(lstm_loop, inputs, activation, weights)
    ref_outputs, ref_grads = _grads(lstm_loop_autograd, inputs, activation, weights)
    for a, r in zip(outputs, ref_outputs, strict=True):
        assert torch.allclose(a, r, atol=1e-12, rtol=1e-10)
    assert len(grads) == len(ref_grads)
    for a, r in zip(grads, ref_grads, strict=True):
        assert a.shape == r.shape
        assert torch.allclose(a, r, atol=1e-10, rtol=1e-8)
    if activation == "hard_sigmoid":  # the clipped region is reached, so its zero slope is tested
        acts = (0.2 * inputs["xproj"] + 0.5).detach()
        assert ((acts < 0) | (acts > 1)).any()


def test_gradcheck_of_the_loop():
    inputs = _inputs("sequence", "minibatch", True, seed=2)
    h0, c0 = inputs["state"]

    def fn(xproj, weight_hh, bias, z_gate, z_h, h0, c0):
        states, (h, c) = lstm_loop(xproj, weight_hh, bias, z_gate, z_h, "sigmoid", (h0, c0))
        return states, h, c

    args = [inputs[k] for k in ("xproj", "weight_hh", "bias", "z_gate", "z_h")] + [h0, c0]
    assert torch.autograd.gradcheck(fn, args)


def test_loop_rejects_bad_arguments():
    x, w, b = torch.randn(2, 3, 8), torch.randn(8, 2), torch.randn(8)
    with pytest.raises(ValueError, match="unknown gate activation 'relu'; valid: sigmoid, hard_sigmoid"):
        lstm_loop(x, w, b, activation="relu")
    with pytest.raises(ValueError, match="at least one time step"):
        lstm_loop(x[:, :0], w, b)
