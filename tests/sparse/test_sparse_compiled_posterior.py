"""``compiled_posterior``: the guide's log alpha, scale and KL from one torch.compile'd kernel, equal to
the eager path in value and gradient."""

import pytest
import torch
from pyro.distributions.kl import kl_divergence

from probgates.infer import MeanFieldELBO
from probgates.sparse import SparseSpec, SparseVariable, build_sparse_model
from probgates.sparse.variational import _CompiledOnFirstUse, posterior_terms

from .conftest import token_data


def _variable(compiled: bool) -> SparseVariable:
    """Weights over the whole range: both clipping ends, theta exactly 0 and under the 1e-8 floor."""
    g = torch.Generator().manual_seed(0)
    theta = 0.3 * torch.randn(6, 50, generator=g)
    theta[0, :3] = torch.tensor([0.0, 1e-9, -1e-9])
    v = SparseVariable("w", theta, compiled=compiled)
    with torch.no_grad():
        spread = torch.empty_like(theta).uniform_(-6.0, 6.0, generator=g)
        v.log_sigma.copy_(theta.abs().clamp_min(1e-3).log() + spread)
        v.log_sigma[1, :2] = torch.tensor([-40.0, 40.0])  # log alpha clipped below and above
    return v


def _draw_and_kl(v: SparseVariable):
    """One guide draw and the KL to the prior, and their gradients under a fixed upstream."""
    q = v.posterior()
    torch.manual_seed(5)
    draw = q.rsample()
    kl = kl_divergence(q, v.prior())
    upstream = torch.linspace(-1.0, 1.0, draw.numel()).view_as(draw)
    grads = torch.autograd.grad((draw * upstream).sum() + kl, (v.theta, v.log_sigma))
    return q.base_dist.log_alpha, q.base_dist.scale, draw, kl, *grads


def test_compiled_terms_equal_the_eager_guide_in_value_and_gradient():
    eager, compiled = _variable(compiled=False), _variable(compiled=True)
    la = eager.log_alpha()
    assert (la == 8.0).any() and (la == -8.0).any() and la[0, 0] == 8.0
    for got, want in zip(_draw_and_kl(compiled), _draw_and_kl(eager), strict=True):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_an_svi_update_of_a_compiled_model_equals_the_eager_one():
    data = token_data(per_step=True, vocab=20, n=8, length=5)
    batch = data.train.batch(range(8))
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        spec = SparseSpec(hidden_size=4, embedding_dim=0, input_groups=False, compiled_posterior=compiled)
        model = build_sparse_model(spec, data)
        assert model.lstm.weight_ih.compiled is compiled and model.head.weight.compiled is compiled
        torch.manual_seed(1)
        loss = MeanFieldELBO().differentiable_loss(model.model, model.guide, batch, 8)
        params = [p for _, p in sorted(model.named_parameters())]
        results.append((loss, *torch.autograd.grad(loss, params)))
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_a_failed_compilation_warns_once_and_computes_eagerly(monkeypatch):
    def broken_compile(fn, **options):
        def compiled(*args):
            raise RuntimeError("no C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    terms = _CompiledOnFirstUse(posterior_terms)
    theta, log_sigma = torch.tensor([0.5, -2.0]), torch.tensor([-3.0, 1.0])
    failed = r"torch.compile of posterior_terms failed \(RuntimeError: no C\+\+ compiler\)"
    with pytest.warns(RuntimeWarning, match=failed):
        first = terms(theta, log_sigma, -8.0, 8.0)
    second = terms(theta, log_sigma, -8.0, 8.0)  # no second warning (pytest's filters turn it into an error)
    for a, b, c in zip(first, second, posterior_terms(theta, log_sigma, -8.0, 8.0), strict=True):
        torch.testing.assert_close(a, c, rtol=0, atol=0)
        torch.testing.assert_close(b, c, rtol=0, atol=0)
