"""Fused kernel vs reference loop for the same sampled noise; constant gates output act(bias)."""

import pytest
import torch
from pyro import poutine

from probgates.sparse.kernels import (
    constant_gate_values,
    hard_sigmoid,
    input_projection,
    lstm_fused,
    lstm_loop,
    lstm_loop_folded,
)

from .conftest import make_model, signal_data, token_data


def _guide_values(model, batch):
    trace = poutine.trace(model.guide).get_trace(batch, 100)
    return {
        name: {n: trace.nodes[v.site]["value"] if v.sparse else v.theta for n, v in layer.variables().items()}
        for name, layer in model.layers().items()
    }


@pytest.mark.parametrize("variant", ["W", "W+N", "W+G+N"])
@pytest.mark.parametrize("inputs", ["frames", "embedding", "one_hot"])
def test_fused_and_loop_paths_agree_for_the_same_noise(variant, inputs):
    data = signal_data() if inputs == "frames" else token_data(per_step=inputs == "one_hot")
    model = make_model(data, variant=variant, **({"embedding_dim": 0} if inputs == "one_hot" else {}))
    batch = data.train.batch(range(6))
    values = _guide_values(model, batch)
    model.eval()  # deterministic head: compare the recurrent paths only
    assert model.lstm.uses_loop(values["lstm"]) == (inputs == "one_hot")  # one-hot: loop on the CPU
    fused = model.logits(batch, values, loop=False)
    loop = model.logits(batch, values, loop=True)
    assert fused.dtype == torch.float64
    assert torch.allclose(fused, loop, atol=1e-12, rtol=1e-10)


def test_per_sequence_input_variables_still_use_the_fused_kernel():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g)
    w_ih, w_hh, b = (
        torch.randn(8, 4, generator=g),
        torch.randn(8, 2, generator=g),
        torch.randn(8, generator=g),
    )
    z_x = torch.rand(3, 4, generator=g)
    z_gate, z_h = torch.rand(8, generator=g), torch.rand(2, generator=g)
    fused, _ = lstm_fused(x, w_ih, w_hh, b, z_x, z_gate, z_h)
    loop, _ = lstm_loop((x * z_x.unsqueeze(1)) @ w_ih.t(), w_hh, b, z_gate, z_h)
    assert torch.allclose(fused, loop, atol=1e-12)
    with pytest.raises(ValueError, match="one z_gate per minibatch"):
        lstm_fused(x, w_ih, w_hh, b, None, torch.rand(3, 8, generator=g), None)


@pytest.mark.parametrize("kernel", ["fused", "loop", "folded"])
def test_kernels_agree_from_a_nonzero_initial_state_and_continue_a_sequence(kernel):
    g = torch.Generator().manual_seed(1)
    B, T, D, H = 3, 7, 4, 5
    x = torch.randn(B, T, D, generator=g)
    w_ih, w_hh = torch.randn(4 * H, D, generator=g), torch.randn(4 * H, H, generator=g)
    b = torch.randn(4 * H, generator=g)
    z_x, z_gate, z_h = torch.rand(D, generator=g), torch.rand(4 * H, generator=g), torch.rand(H, generator=g)
    state = (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g))

    def run(x, state):
        if kernel == "fused":
            return lstm_fused(x, w_ih, w_hh, b, z_x, z_gate, z_h, state)
        loop = lstm_loop if kernel == "loop" else lstm_loop_folded
        return loop((x * z_x) @ w_ih.t(), w_hh, b, z_gate, z_h, state=state)

    out, (h, c) = run(x, state)
    ref, (h_ref, c_ref) = lstm_loop((x * z_x) @ w_ih.t(), w_hh, b, z_gate, z_h, state=state)
    assert out.dtype == torch.float64
    for a, r in ((out, ref), (h, h_ref), (c, c_ref)):
        assert torch.allclose(a, r, atol=1e-12, rtol=1e-10)
    assert torch.allclose(out[:, -1], h * z_h, atol=1e-14)  # the state's h is taken before z_h
    assert not torch.allclose(out, run(x, None)[0])  # the initial state matters
    first, carried = run(x[:, :3], state)
    second, final = run(x[:, 3:], carried)
    assert torch.allclose(torch.cat([first, second], 1), out, atol=1e-12)
    assert all(torch.allclose(a, r, atol=1e-12) for a, r in zip(final, (h, c), strict=True))


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("variables", ["none", "z_gate", "z_h", "both"])
def test_folded_loop_equals_the_reference_loop_in_values_and_gradients(activation, variables):
    g = torch.Generator().manual_seed(5)
    B, T, H = 3, 6, 4
    xproj = (3 * torch.randn(B, T, 4 * H, generator=g)).requires_grad_()  # wide: hard sigmoid saturates
    w_hh = torch.randn(4 * H, H, generator=g).requires_grad_()
    b = torch.randn(4 * H, generator=g).requires_grad_()
    z_gate = torch.rand(4 * H, generator=g).requires_grad_() if variables in ("z_gate", "both") else None
    z_h = torch.rand(H, generator=g).requires_grad_() if variables in ("z_h", "both") else None
    state = (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g))
    leaves = [t for t in (xproj, w_hh, b, z_gate, z_h) if t is not None]
    weights = torch.randn(B, T, H, generator=g)

    def outputs_and_grads(loop):
        out, (h, c) = loop(xproj, w_hh, b, z_gate, z_h, activation, state)
        loss = (out * weights).sum() + h.sum() + c.square().sum()
        return [out, h, c, *torch.autograd.grad(loss, leaves)]

    if activation == "hard_sigmoid":  # some gates saturated, some not: both branches of the clamp
        a = xproj + b
        assert ((0.2 * a + 0.5 > 1) | (0.2 * a + 0.5 < 0)).any() and ((0.2 * a + 0.5).abs() < 1).any()
    for folded, ref in zip(outputs_and_grads(lstm_loop_folded), outputs_and_grads(lstm_loop), strict=True):
        assert folded.dtype == torch.float64
        assert torch.allclose(folded, ref, atol=1e-12, rtol=1e-10)


def test_folded_loop_rejects_per_sequence_variables():
    xproj, w_hh, b = torch.randn(2, 3, 8), torch.randn(8, 2), torch.randn(8)
    with pytest.raises(ValueError, match="one z_h per minibatch; use lstm_loop"):
        lstm_loop_folded(xproj, w_hh, b, None, torch.rand(2, 2))


def test_per_sequence_group_noise_runs_the_loop():
    data = signal_data()
    model = make_model(data, variant="W+G+N", group_noise="sequence")
    values = _guide_values(model, data.train.batch(range(4)))
    assert values["lstm"]["z_gate"].shape == (4, 20)
    assert model.lstm.uses_loop(values["lstm"])


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
def test_constant_gate_outputs_act_of_bias(activation):
    # Unit 0: input gate i and output gate o pruned (z_gate = 0); after one step from zero state,
    # c = act(b_i) * tanh(a_g) and h = act(b_o) * tanh(c), whatever the weights.
    g = torch.Generator().manual_seed(3)
    H = 2
    xproj = torch.randn(4, 1, 4 * H, generator=g)
    w_hh, b = torch.randn(4 * H, H, generator=g), torch.randn(4 * H, generator=g)
    z_gate = torch.ones(4 * H)
    z_gate[0] = 0.0  # i of unit 0
    z_gate[3 * H] = 0.0  # o of unit 0
    h = lstm_loop(xproj, w_hh, b, z_gate, None, activation)[0][:, 0, 0]
    act = torch.sigmoid if activation == "sigmoid" else hard_sigmoid
    const = constant_gate_values(b, activation)
    assert const[0] == act(b[0]) and const[3 * H] == act(b[3 * H]) and const[2 * H] == torch.tanh(b[2 * H])
    a_g = xproj[:, 0, 2 * H] + b[2 * H]
    expected = const[3 * H] * torch.tanh(const[0] * torch.tanh(a_g))
    assert torch.allclose(h, expected, atol=1e-14)


@pytest.mark.parametrize("z_x_kind", ["none", "minibatch", "sequence"])
def test_one_hot_input_projection_equals_the_product_with_one_hot_vectors(z_x_kind):
    g = torch.Generator().manual_seed(7)
    B, T, V, R = 3, 5, 11, 8
    tokens = torch.randint(0, V, (B, T), generator=g)
    tokens[0, :2] = 4  # a repeated token: its column's gradient sums over the uses
    w_ih = torch.randn(R, V, generator=g).requires_grad_()
    z_x = {"none": None, "minibatch": torch.rand(V, generator=g), "sequence": torch.rand(B, V, generator=g)}[
        z_x_kind
    ]
    if z_x is not None:
        z_x.requires_grad_()
    hot = torch.nn.functional.one_hot(tokens, V).to(w_ih.dtype)
    scaled = hot if z_x is None else hot * (z_x if z_x.dim() == 1 else z_x.unsqueeze(1))
    upstream = torch.randn(B, T, R, generator=g)
    leaves = [t for t in (w_ih, z_x) if t is not None]
    got = input_projection(tokens, w_ih, z_x, one_hot=True)
    want = scaled @ w_ih.t()
    assert got.shape == (B, T, R) and torch.allclose(got, want, atol=1e-14)
    for a, b in zip(
        torch.autograd.grad((got * upstream).sum(), leaves),
        torch.autograd.grad((want * upstream).sum(), leaves),
        strict=True,
    ):
        assert a.is_contiguous() or a.dim() == 1
        assert torch.allclose(a, b, atol=1e-13)
