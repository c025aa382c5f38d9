"""Tests for the improper log-uniform prior and the sparse variational dropout KL approximation."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from pyro.distributions.kl import kl_divergence as pyro_kl_divergence
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from scipy import integrate, stats
from torch.distributions import constraints
from torch.distributions import kl_divergence as torch_kl_divergence

from probgates.distributions import SPARSE_VD_KL_CONSTANTS, LogUniform, sparse_vd_kl

EULER_GAMMA = 0.5772156649015329


def _expected_log_abs(log_alpha):
    """E log|1 + sqrt(alpha) eps| for eps ~ N(0, 1), by QUADPACK with the logarithmic weight at the pole.

    With s = sqrt(alpha) and pole e0 = -1/s: log|1 + s e| = log s + log|e - e0|, and each side of the pole
    is integrated with the algebraic-logarithmic weight ``log(e - e0)`` / ``log(e0 - e)``.
    """
    s = math.exp(0.5 * log_alpha)
    pole = -1.0 / s
    pdf = stats.norm.pdf
    opts = dict(wvar=(0.0, 0.0), limit=200, epsabs=1e-13, epsrel=1e-12)
    left, _ = integrate.quad(pdf, -40.0, pole, weight="alg-logb", **opts)
    right, _ = integrate.quad(pdf, pole, 40.0, weight="alg-loga", **opts)
    return math.log(s) + left + right


def _kl_up_to_constant(log_alpha):
    r"""KL(N(theta, alpha theta^2) || p(w) ∝ 1/|w|) minus a constant that does not depend on alpha.

    KL = E_q log q - E_q log p = -0.5 log(2 pi e sigma^2) + E_q log|w| + C. With sigma^2 = alpha theta^2
    and w = theta (1 + sqrt(alpha) eps) the theta terms cancel:
    KL = -0.5 log alpha + E log|1 + sqrt(alpha) eps| + C'.
    """
    return -0.5 * log_alpha + _expected_log_abs(log_alpha)


# ----------------------------------------------------------------------------------------------------------
# The KL approximation


def test_sparse_vd_kl_formula():
    k1, k2, k3 = SPARSE_VD_KL_CONSTANTS
    assert (k1, k2, k3) == (0.63576, 1.87320, 1.48695)
    la = torch.linspace(-6, 6, 13)
    expected = k1 - k1 * torch.sigmoid(k2 + k3 * la) + 0.5 * torch.log1p(torch.exp(-la))
    assert torch.allclose(sparse_vd_kl(la), expected, rtol=1e-12)


def test_sparse_vd_kl_matches_true_kl_up_to_a_constant():
    # Over log alpha in [-4, 4], approximation minus (true KL up to its constant) must be a constant.
    grid = np.linspace(-4.0, 4.0, 17)
    approx = sparse_vd_kl(torch.from_numpy(grid)).numpy()
    true = np.array([_kl_up_to_constant(la) for la in grid])
    diff = approx - true
    assert np.abs(diff - diff.mean()).max() < 0.01
    # The approximation is normalised to vanish as alpha -> infinity, where the true KL (up to C') tends to
    # E log|eps| = -(gamma + log 2) / 2; so the constant is (gamma + log 2) / 2.
    assert diff.mean() == pytest.approx((EULER_GAMMA + math.log(2)) / 2, abs=0.01)


def test_sparse_vd_kl_would_detect_a_wrong_constant():
    # Sanity check of the test above: with k3 off by 20% the residual is no longer flat.
    grid = np.linspace(-4.0, 4.0, 17)
    k1, k2, k3 = SPARSE_VD_KL_CONSTANTS
    la = torch.from_numpy(grid)
    wrong = (k1 - k1 * torch.sigmoid(k2 + 1.2 * k3 * la) + 0.5 * torch.nn.functional.softplus(-la)).numpy()
    diff = wrong - np.array([_kl_up_to_constant(x) for x in grid])
    assert np.abs(diff - diff.mean()).max() > 0.01


def test_sparse_vd_kl_monotone_decreasing_and_positive():
    la = torch.linspace(-30.0, 30.0, 2001, requires_grad=True)
    kl = sparse_vd_kl(la)
    assert (kl[1:] < kl[:-1]).all()
    assert (kl > 0).all()
    (grad,) = torch.autograd.grad(kl.sum(), la)
    assert (grad < 0).all()


def test_sparse_vd_kl_extremes_are_finite():
    k1 = SPARSE_VD_KL_CONSTANTS[0]
    la = torch.tensor([-1000.0, -50.0, 50.0, 1000.0], requires_grad=True)
    kl = sparse_vd_kl(la)
    assert torch.isfinite(kl).all()
    assert kl[0].item() == pytest.approx(k1 + 500.0)
    assert kl[3].item() == 0.0
    (grad,) = torch.autograd.grad(kl.sum(), la)
    assert torch.isfinite(grad).all()
    assert grad[0].item() == pytest.approx(-0.5)


def test_sparse_vd_kl_float32_and_shape():
    la = torch.randn(2, 3, dtype=torch.float32)
    kl = sparse_vd_kl(la)
    assert kl.dtype == torch.float32 and kl.shape == (2, 3)


# ----------------------------------------------------------------------------------------------------------
# kl_divergence registration


@pytest.mark.parametrize("normal_cls", [dist.Normal, torch.distributions.Normal], ids=["pyro", "torch"])
@pytest.mark.parametrize("kl_fn", [pyro_kl_divergence, torch_kl_divergence], ids=["pyro_kl", "torch_kl"])
def test_kl_normal_log_uniform_elementwise(normal_cls, kl_fn):
    loc = torch.tensor([[0.5, -2.0, 1e-3], [3.0, -0.1, 1.0]])
    scale = torch.tensor([[0.1, 1.0, 0.5], [0.01, 0.3, 1.0]])
    kl = kl_fn(normal_cls(loc, scale), LogUniform())
    log_alpha = torch.log(scale**2) - torch.log(loc**2)
    assert kl.shape == (2, 3)
    assert torch.allclose(kl, sparse_vd_kl(log_alpha))


def test_kl_broadcasts_batch_shapes():
    p = dist.Normal(torch.tensor([0.5, -2.0, 1.0]), torch.tensor([0.1, 1.0, 0.5]))
    kl = pyro_kl_divergence(p, LogUniform().expand([4, 3]))
    assert kl.shape == (4, 3)
    assert torch.allclose(kl, pyro_kl_divergence(p, LogUniform()).expand(4, 3))


def test_kl_through_to_event():
    loc = torch.tensor([[0.5, -2.0, 1.0], [3.0, -0.1, 1.0]])
    scale = torch.tensor([[0.1, 1.0, 0.5], [0.01, 0.3, 2.0]])
    elementwise = sparse_vd_kl(torch.log(scale**2) - torch.log(loc**2))
    kl1 = pyro_kl_divergence(dist.Normal(loc, scale).to_event(1), LogUniform().expand([2, 3]).to_event(1))
    assert kl1.shape == (2,)
    assert torch.allclose(kl1, elementwise.sum(-1))
    kl2 = pyro_kl_divergence(dist.Normal(loc, scale).to_event(2), LogUniform().expand([2, 3]).to_event(2))
    assert kl2.shape == () and torch.allclose(kl2, elementwise.sum())


def test_kl_zero_mean_is_zero():
    # theta = 0 means alpha = infinity: the weight is pure noise and the KL approximation is 0.
    kl = pyro_kl_divergence(dist.Normal(torch.tensor([0.0]), torch.tensor([1.0])), LogUniform())
    assert kl.item() == 0.0


# ----------------------------------------------------------------------------------------------------------
# The distribution itself


def test_log_prob_is_minus_log_abs():
    w = torch.tensor([-3.0, -0.5, 0.25, 2.0, 100.0])
    assert torch.allclose(LogUniform().log_prob(w), -torch.log(w.abs()))
    lp = LogUniform().expand([2, 5]).log_prob(w)
    assert lp.shape == (2, 5)
    assert LogUniform().expand([3]).to_event(1).log_prob(
        torch.tensor([1.0, 2.0, 4.0])
    ).item() == pytest.approx(-math.log(8.0))


def test_log_prob_validation():
    d = LogUniform()
    assert d.support is constraints.real
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor(float("nan")))
    with pytest.raises(ValueError):
        LogUniform().expand([3]).log_prob(torch.ones(2))


@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_cannot_sample(method):
    d = LogUniform().expand([3])
    with pytest.raises(NotImplementedError, match="improper"):
        getattr(d, method)()
    with pytest.raises(NotImplementedError, match="improper"):
        getattr(d, method)((2,))


def test_expand_and_batch_shape():
    d = LogUniform(batch_shape=(3,))
    assert d.batch_shape == (3,) and d.event_shape == ()
    assert LogUniform().expand([2, 3]).batch_shape == (2, 3)
    assert d.expand([4, 3]).batch_shape == (4, 3)
    assert d.expand_by([5]).batch_shape == (5, 3)
    with pytest.raises(ValueError):
        d.expand([2])
    with pytest.raises(ValueError):
        d.expand([3, 2])


def test_prior_only_model_cannot_be_run_without_guide():
    def model():
        pyro.sample("w", LogUniform().expand([3]).to_event(1))

    with pytest.raises(NotImplementedError, match="improper"):
        poutine.trace(model).get_trace()


# ----------------------------------------------------------------------------------------------------------
# TraceMeanField_ELBO uses the registered KL


X = torch.tensor([[1.0, 0.5, -1.0], [0.2, -0.3, 2.0], [1.5, 1.0, 0.0], [-0.7, 0.4, 0.3]])
Y = torch.tensor([1.0, -0.5, 2.0, 0.3])
LOC0 = torch.tensor([0.5, -1.0, 2.0])
SCALE0 = torch.tensor([0.1, 0.5, 3.0])


def _model(x, y):
    w = pyro.sample("w", LogUniform().expand([3]).to_event(1))
    if y is not None:
        with pyro.plate("data", len(x)):
            pyro.sample("y", dist.Normal(x @ w, 1.0), obs=y)


def _guide(x, y):
    loc = pyro.param("loc", LOC0.clone())
    scale = pyro.param("scale", SCALE0.clone(), constraint=constraints.positive)
    pyro.sample("w", dist.Normal(loc, scale).to_event(1))


def _expected_kl():
    return sparse_vd_kl(torch.log(SCALE0**2) - torch.log(LOC0**2)).sum()


def test_mean_field_elbo_without_observations_is_the_kl():
    loss = TraceMeanField_ELBO().loss(_model, _guide, X, None)
    assert loss == pytest.approx(_expected_kl().item(), rel=1e-12)
    # Analytic: the same value for another RNG state (a Monte Carlo KL would change).
    pyro.set_rng_seed(123)
    assert TraceMeanField_ELBO().loss(_model, _guide, X, None) == pytest.approx(loss, rel=1e-12)
    # ... whereas Trace_ELBO, which uses log q - log p of one sample, differs.
    assert abs(Trace_ELBO().loss(_model, _guide, X, None) - loss) > 1e-3


def test_mean_field_elbo_with_observations():
    pyro.set_rng_seed(7)
    loss = TraceMeanField_ELBO().loss(_model, _guide, X, Y)
    # Replay the same guide draw: the guide runs first and is the only consumer of randomness.
    pyro.set_rng_seed(7)
    w = poutine.trace(_guide).get_trace(X, Y).nodes["w"]["value"]
    loglik = dist.Normal(X @ w, 1.0).log_prob(Y).sum()
    assert loss == pytest.approx((-loglik + _expected_kl()).item(), rel=1e-12)


def test_mean_field_elbo_gradients_of_kl():
    # The differentiable loss of the prior-only model is sum sparse_vd_kl; compare gradients.
    loss = TraceMeanField_ELBO().differentiable_loss(_model, _guide, X, None)
    params = [pyro.param("loc").unconstrained(), pyro.param("scale").unconstrained()]
    grads = torch.autograd.grad(loss, params)
    loc = LOC0.clone().requires_grad_(True)
    log_scale = SCALE0.log().clone().requires_grad_(True)
    ref = sparse_vd_kl(2 * log_scale - torch.log(loc**2)).sum()
    ref_grads = torch.autograd.grad(ref, [loc, log_scale])
    assert torch.allclose(grads[0], ref_grads[0])
    assert torch.allclose(grads[1], ref_grads[1])
