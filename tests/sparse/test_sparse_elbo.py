"""The KL of every sparse site is the registered Normal/LogUniform approximation, counted once."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence

from probgates.distributions import LogAlphaNormal, LogUniform, sparse_vd_kl
from probgates.infer import MeanFieldELBO
from probgates.sparse import SparseVariable

from .conftest import make_model, signal_data, token_data


def _total_kl(model) -> torch.Tensor:
    return sum(
        sparse_vd_kl(v.log_alpha().detach()).sum()
        for layer in model.layers().values()
        for v in layer.variables().values()
        if v.sparse
    )


def test_registered_kl_is_used_for_independent_sites():
    v = SparseVariable("w", torch.tensor([[0.5, -1.0], [2.0, 1e-3]]), log_sigma_init=-1.0)
    q, p = v.posterior(), v.prior()
    expected = sparse_vd_kl(v.log_alpha()).sum()
    assert torch.allclose(kl_divergence(q, p), expected)
    assert isinstance(p.base_dist, LogUniform)


def test_log_alpha_is_clipped_in_the_kl_and_theta_zero_has_finite_gradient():
    theta = torch.tensor([0.0, 1e-6, 1.0, 5.0])
    v = SparseVariable("w", theta, log_sigma_init=-3.0, clip=(-8.0, 8.0))
    la = v.log_alpha()
    assert la[0] == 8.0 and la[1] == 8.0 and la[3] == -8.0
    kl = kl_divergence(v.posterior(), v.prior())
    assert torch.allclose(kl, sparse_vd_kl(la).sum())
    kl.backward()
    assert torch.isfinite(v.theta.grad).all() and torch.isfinite(v.log_sigma.grad).all()
    assert v.log_sigma.grad[0] == 0 and v.log_sigma.grad[3] == 0  # clipped: no gradient


@pytest.mark.parametrize("group_noise", ["minibatch", "sequence"])
@pytest.mark.parametrize("variant", ["W", "W+N", "W+G+N"])
def test_trace_mean_field_uses_registered_kl_once(variant, group_noise):
    data = token_data()
    model = make_model(data, variant=variant, group_noise=group_noise)
    batch = data.train.batch(range(5))
    num_data = len(data.train)
    elbo = MeanFieldELBO()
    loss = elbo.loss(model.model, model.guide, batch, num_data)
    # The KL part is exactly the registered approximation summed over every element, once.
    assert elbo.last_parts["kl"] == pytest.approx(float(_total_kl(model)), rel=1e-10)
    assert loss == pytest.approx(elbo.last_parts["nll"] + elbo.last_parts["kl"], rel=1e-12)


def test_nll_is_scaled_to_the_training_set():
    data = token_data()
    model = make_model(data, variant="W")
    batch = data.train.batch(range(4))
    guide_trace = poutine.trace(model.guide).get_trace(batch, 24)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch, 24)
    model_trace.compute_log_prob()
    obs = model_trace.nodes["obs"]
    assert obs["scale"] == pytest.approx(24 / 4)
    for name in ("lstm.weight_ih", "lstm.weight_hh", "head.weight"):
        assert model_trace.nodes[name]["scale"] == 1.0
        assert not model_trace.nodes[name]["cond_indep_stack"]  # global: outside the plate


def test_per_sequence_sites_have_one_draw_per_sequence():
    data = signal_data()
    model = make_model(data, variant="W+G+N", group_noise="sequence")
    batch = data.train.batch(range(7))
    trace = poutine.trace(model.guide).get_trace(batch, len(data.train))
    assert trace.nodes["lstm.z_h"]["value"].shape == (7, 5)
    assert trace.nodes["lstm.z_h"]["scale"] == pytest.approx(1 / 7)
    assert trace.nodes["lstm.weight_hh"]["value"].shape == (20, 5)


def test_svi_step_has_finite_gradients():
    data = signal_data()
    pyro.clear_param_store()
    model = make_model(data, variant="W+G+N")
    elbo = MeanFieldELBO()
    elbo.loss_and_grads(model.model, model.guide, data.train.batch(range(8)), len(data.train))
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_prior_is_a_log_uniform_with_the_registered_kl_and_finite_log_prob():
    v = SparseVariable("w", torch.tensor([0.5, -2.0]))
    p = v.prior()
    assert isinstance(p.base_dist, LogUniform) and p.event_shape == (2,)
    q = v.posterior().base_dist
    assert isinstance(q, LogAlphaNormal) and isinstance(q, torch.distributions.Normal)
    torch_kl = torch.distributions.kl._dispatch_kl(type(q), type(p.base_dist))
    assert torch_kl is torch.distributions.kl._dispatch_kl(LogAlphaNormal, LogUniform)
    assert torch.isfinite(p.log_prob(torch.tensor([0.0, 1.0])))
    assert p.log_prob(torch.tensor([2.0, 0.5])) == pytest.approx(-torch.tensor([2.0, 0.5]).log().sum().item())


def _generic_normal_kl(theta, log_sigma, clip):
    """The KL through a plain ``Normal`` (the ``Normal``/``LogUniform`` registration), with its loc
    kept 1e-8 away from 0 (that registration's gradient is NaN at loc 0)."""
    log_theta2 = theta.square().clamp_min(1e-16).log()
    log_alpha = (2.0 * log_sigma - log_theta2).clamp(*clip)
    scale = (0.5 * (log_alpha + log_theta2)).exp()
    tiny = torch.where(theta < 0, -1e-8, 1e-8).to(theta.dtype)
    loc = torch.where(theta.abs() < 1e-8, tiny, theta)
    return kl_divergence(torch.distributions.Normal(loc, scale), LogUniform())


def test_the_guide_kl_equals_the_plain_normal_kl_in_value_and_gradients():
    """Every region: log alpha inside the clip, clipped at both ends, theta 0 and tiny, negative."""
    theta = torch.tensor([0.0, 1e-9, -1e-6, 0.03, -0.4, 1.0, 5.0, -20.0], dtype=torch.float64)
    log_sigma = torch.tensor([-3.0, -1.0, -3.0, -1.5, 0.2, -3.0, -6.0, 1.0], dtype=torch.float64)
    v = SparseVariable("w", theta, log_sigma_init=0.0)
    with torch.no_grad():
        v.log_sigma.copy_(log_sigma)
    kl = kl_divergence(v.posterior().base_dist, LogUniform())
    params = (v.theta.detach().clone().requires_grad_(), v.log_sigma.detach().clone().requires_grad_())
    reference = _generic_normal_kl(*params, v.clip)
    assert torch.allclose(kl, reference, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(kl.sum(), (v.theta, v.log_sigma))
    expected = torch.autograd.grad(reference.sum(), params)
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)
    assert (grads[1][[0, 1, 6]] == 0).all()  # clipped at 8 (theta ~ 0) or at -8: no gradient


def test_sparse_vd_kl_closed_form_backward():
    log_alpha = torch.linspace(-12.0, 12.0, 41, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sparse_vd_kl, (log_alpha,))
    k1, k2, k3 = 0.63576, 1.87320, 1.48695
    formula = k1 - k1 * torch.sigmoid(k2 + k3 * log_alpha) + 0.5 * torch.nn.functional.softplus(-log_alpha)
    assert torch.allclose(sparse_vd_kl(log_alpha), formula, rtol=1e-14)


def test_per_sequence_posterior_expands_its_log_alpha():
    v = SparseVariable("z", torch.tensor([1.0, 0.5, 1e-3]), log_sigma_init=-1.0)
    q = v.posterior(copies=4).base_dist
    assert isinstance(q, LogAlphaNormal) and q.log_alpha.shape == q.batch_shape == (4, 3)
    assert torch.allclose(kl_divergence(q, LogUniform()), sparse_vd_kl(v.log_alpha()).expand(4, 3))
