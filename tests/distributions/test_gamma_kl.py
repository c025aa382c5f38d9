"""The vectorized Gamma KL and its special functions agree with PyTorch's."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.distributions import kl_divergence

from probgates.distributions import VectorizedKLGamma, gamma_kl
from probgates.distributions.gamma_kl import digamma, lgamma, trigamma

X = torch.logspace(-3, 5, 3000, dtype=torch.float64)


@pytest.mark.parametrize(
    "ours, reference, tolerance",
    [
        (digamma, torch.digamma, 1e-11),
        (lgamma, torch.lgamma, 1e-10),
        (trigamma, lambda x: torch.polygamma(1, x), 1e-9),
    ],
)
def test_special_functions_match_torch_in_float64(ours, reference, tolerance):
    expected = reference(X)
    error = (ours(X) - expected).abs() / expected.abs().clamp_min(1.0)
    assert error.max() < tolerance


def test_special_functions_in_float32_are_as_accurate_as_float32_allows():
    for ours, reference in ((digamma, torch.digamma), (lgamma, torch.lgamma)):
        error = (ours(X.float()).double() - reference(X)).abs() / reference(X).abs().clamp_min(1.0)
        assert error.max() < 5e-6


@pytest.mark.parametrize("rates", [(1.0, 1.0), (2.5, 0.7)])
def test_kl_and_gradients_match_torch(rates):
    torch.manual_seed(0)
    a = torch.rand(4, 6, dtype=torch.float64).mul(5).add(1e-3).requires_grad_()
    a0 = torch.rand(6, dtype=torch.float64).add(0.1).requires_grad_()
    b, b0 = (torch.tensor(r, dtype=torch.float64, requires_grad=True) for r in rates)
    ours = gamma_kl(a, b, a0.expand(4, 6), b0)
    theirs = kl_divergence(dist.Gamma(a, b), dist.Gamma(a0.expand(4, 6), b0))
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-10)
    weights = torch.rand(4, 6, dtype=torch.float64)
    grads = torch.autograd.grad((ours * weights).sum(), (a, a0, b, b0))
    expected = torch.autograd.grad((theirs * weights).sum(), (a, a0, b, b0))
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-10)


def test_registered_for_any_gamma_against_the_vectorized_prior_and_used_by_pyro():
    alpha = torch.tensor([0.3, 2.0, 9.0])
    prior = VectorizedKLGamma(torch.full((3,), 0.5), 1.0)
    assert isinstance(prior.expand([2, 3]), VectorizedKLGamma)
    torch.testing.assert_close(
        kl_divergence(dist.Gamma(alpha, 1.0), prior),
        kl_divergence(dist.Gamma(alpha, 1.0), dist.Gamma(0.5, 1.0)),
    )

    def model():
        pyro.sample("g", prior.to_event(1))

    def guide():
        pyro.sample("g", dist.Gamma(alpha, 1.0).to_event(1))

    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide)
    torch.testing.assert_close(
        loss, gamma_kl(alpha, torch.ones(()), prior.concentration, torch.ones(())).sum()
    )
