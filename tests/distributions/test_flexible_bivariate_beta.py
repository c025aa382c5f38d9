"""Tests for the five-Gamma flexible bivariate Beta (probgates.distributions.FlexibleBivariateBeta)."""

import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from scipy import integrate, stats

from probgates.distributions import BivariateBeta, FlexibleBivariateBeta, flexible_gates, olkin_liu_gates

TEST_FAILURE_RATE = 1e-4

CONCENTRATIONS = [
    (1.0, 1.0, 0.01, 0.01, 5.0),
    (1.0, 1.0, 3.0, 3.0, 0.01),
    (1.0, 1.0, 1.0, 1.0, 1.0),
    (0.5, 2.0, 0.7, 1.3, 0.4),
    (0.2, 0.3, 0.1, 0.25, 0.15),
]


def _marginal_params(a):
    a1, a2, a3, a4, a5 = a
    return (a1 + a3, a4 + a5), (a2 + a4, a3 + a5)


def _exact_correlation(a):
    """corr(i, f) from a 2-D integral for E[i f] (scipy cubature).

    With 1/D = int_0^inf exp(-s D) ds for both denominators, and E[G^k exp(-l G)] = (a)_k (1 + l)^-(a + k)
    for G ~ Gamma(a, 1), expanding (G1 + G3)(G2 + G4) gives
    E[i f] = int int (1+s)^-a1 (1+t)^-a2 u^-(a3+a4+a5) [a1 a2/((1+s)(1+t)) + a1 a4/((1+s) u)
             + a3 a2/(u (1+t)) + a3 a4/u^2] ds dt,   u = 1 + s + t.
    """
    a1, a2, a3, a4, a5 = a

    def integrand(points):
        s, t = points[:, 0], points[:, 1]
        u = 1 + s + t
        m = (1 + s) ** -a1 * (1 + t) ** -a2 * u ** -(a3 + a4 + a5)
        return m * (
            a1 * a2 / ((1 + s) * (1 + t)) + a1 * a4 / ((1 + s) * u) + a3 * a2 / (u * (1 + t)) + a3 * a4 / u**2
        )

    res = integrate.cubature(
        integrand, [0, 0], [np.inf, np.inf], rtol=1e-9, atol=1e-12, max_subdivisions=100000
    )
    assert res.status == "converged"
    (ai, bi), (af, bf) = _marginal_params(a)
    mi, mf = ai / (ai + bi), af / (af + bf)
    vi = ai * bi / ((ai + bi) ** 2 * (ai + bi + 1))
    vf = af * bf / ((af + bf) ** 2 * (af + bf + 1))
    return (float(res.estimate) - mi * mf) / math.sqrt(vi * vf)


# ----------------------------------------------------------------------------------------------------------
# Correlation of either sign


@pytest.mark.parametrize(
    "a,approx_rho",
    [
        ((1.0, 1.0, 0.01, 0.01, 5.0), 0.18),
        ((1.0, 1.0, 3.0, 3.0, 0.01), -0.84),
        ((1.0, 1.0, 1.0, 1.0, 1.0), -0.23),
    ],
    ids=["positive", "strongly-negative", "all-ones"],
)
def test_correlation_either_sign(a, approx_rho):
    n = 200000
    samples = FlexibleBivariateBeta(torch.tensor(a)).sample((n,)).numpy()
    rho_hat = np.corrcoef(samples.T)[0, 1]
    rho = _exact_correlation(a)
    # Values quoted in the project reference (Monte Carlo there).
    assert rho == pytest.approx(approx_rho, abs=0.01)
    assert math.copysign(1.0, rho_hat) == math.copysign(1.0, approx_rho)
    assert abs(rho_hat - rho) < 5 * (1 - rho**2) / math.sqrt(n)


def test_correlation_exact_for_generic_concentration():
    a = (0.5, 2.0, 0.7, 1.3, 0.4)
    n = 200000
    samples = FlexibleBivariateBeta(torch.tensor(a)).sample((n,)).numpy()
    rho = _exact_correlation(a)
    assert abs(np.corrcoef(samples.T)[0, 1] - rho) < 5 * (1 - rho**2) / math.sqrt(n)


# ----------------------------------------------------------------------------------------------------------
# Marginals and moments


@pytest.mark.parametrize("a", CONCENTRATIONS, ids=str)
def test_sampled_marginals_ks(a):
    samples = FlexibleBivariateBeta(torch.tensor(a)).sample((20000,)).numpy()
    (ai, bi), (af, bf) = _marginal_params(a)
    assert stats.kstest(samples[:, 0], stats.beta(ai, bi).cdf).pvalue > TEST_FAILURE_RATE
    assert stats.kstest(samples[:, 1], stats.beta(af, bf).cdf).pvalue > TEST_FAILURE_RATE
    # Power: a first marginal with a 10% larger first shape is detected.
    assert stats.kstest(samples[:, 0], stats.beta(1.1 * ai, bi).cdf).pvalue < 1e-6


@pytest.mark.parametrize("a", CONCENTRATIONS, ids=str)
def test_marginals_match_stated_betas(a):
    d = FlexibleBivariateBeta(torch.tensor(a))
    mi, mf = d.marginals()
    assert isinstance(mi, dist.Beta) and isinstance(mf, dist.Beta)
    (ai, bi), (af, bf) = _marginal_params(a)
    grid = torch.linspace(0.02, 0.98, 25)
    assert torch.allclose(mi.log_prob(grid), torch.from_numpy(stats.beta.logpdf(grid.numpy(), ai, bi)))
    assert torch.allclose(mf.log_prob(grid), torch.from_numpy(stats.beta.logpdf(grid.numpy(), af, bf)))
    assert torch.allclose(d.mean, torch.stack([mi.mean, mf.mean], -1))
    assert torch.allclose(d.variance, torch.stack([mi.variance, mf.variance], -1))


@pytest.mark.parametrize("a", CONCENTRATIONS, ids=str)
def test_mean_and_variance_match_samples(a):
    d = FlexibleBivariateBeta(torch.tensor(a))
    n = 100000
    samples = d.sample((n,))
    (ai, bi), (af, bf) = _marginal_params(a)
    assert torch.allclose(d.mean, torch.tensor([ai / (ai + bi), af / (af + bf)]))
    assert ((samples.mean(0) - d.mean).abs() < 5 * (d.variance / n).sqrt()).all()
    centred = samples - d.mean
    se_var = ((centred**4).mean(0) - d.variance**2).clamp(min=0).div(n).sqrt()
    assert ((samples.var(0) - d.variance).abs() < 5 * se_var).all()


def test_reduces_to_olkin_liu_when_cross_gammas_vanish():
    # With a3 = a4 -> 0 the pair is BivariateBeta(a1, a2, a5): compare the joint distributions with a
    # two-sample chi^2 test of homogeneity on a grid (a check of the joint, not only of the marginals).
    a1, a2, a5 = 1.5, 0.8, 1.2
    n = 100000
    flex = FlexibleBivariateBeta(torch.tensor([a1, a2, 1e-6, 1e-6, a5])).sample((n,)).numpy()
    ref = BivariateBeta(a1, a2, a5).sample((n,)).numpy()
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    c_flex, _, _ = np.histogram2d(flex[:, 0], flex[:, 1], bins=[edges, edges])
    c_ref, _, _ = np.histogram2d(ref[:, 0], ref[:, 1], bins=[edges, edges])
    table = np.stack([c_flex.ravel(), c_ref.ravel()])
    assert stats.chi2_contingency(table).pvalue > TEST_FAILURE_RATE
    # ... which has power against a different shared shape.
    other = BivariateBeta(a1, a2, 1.5 * a5).sample((n,)).numpy()
    c_other, _, _ = np.histogram2d(other[:, 0], other[:, 1], bins=[edges, edges])
    assert stats.chi2_contingency(np.stack([c_flex.ravel(), c_other.ravel()])).pvalue < 1e-10


# ----------------------------------------------------------------------------------------------------------
# Gate helper


def test_flexible_gates_values_and_symmetry():
    g = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.5, 0.5, 0.5, 0.5]])
    i, f = flexible_gates(g)
    assert torch.allclose(i, torch.tensor([4.0 / 13.0, 0.5]))
    assert torch.allclose(f, torch.tensor([6.0 / 14.0, 0.5]))
    # Swapping (g1, g3) with (g2, g4) swaps the two gates.
    i2, f2 = flexible_gates(g[..., [1, 0, 3, 2, 4]])
    assert torch.allclose(i2, f) and torch.allclose(f2, i)
    # With g3 = g4 = 0 the gates are the Olkin-Liu gates of (g1, g2, g5).
    g0 = g.clone()
    g0[..., 2:4] = 0.0
    for u, v in zip(flexible_gates(g0), olkin_liu_gates(g0[..., [0, 1, 4]]), strict=True):
        assert torch.allclose(u, v)


def test_flexible_gates_rejects_wrong_last_dim():
    with pytest.raises(ValueError, match="size 5"):
        flexible_gates(torch.ones(3, 4))


def test_flexible_gates_at_gamma_means_is_evaluation_rule():
    # Passing the concentrations (the Gamma means) gives ratios of concentration sums (test-time rule).
    a = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    i, f = flexible_gates(a)
    assert i.item() == pytest.approx(1.5 / 6.0)
    assert f.item() == pytest.approx(3.5 / 7.0)


# ----------------------------------------------------------------------------------------------------------
# Reparameterised gradients


def test_rsample_gradients_flow():
    conc = torch.tensor([[0.5, 1.0, 2.0, 0.7, 1.3], [3.0, 0.2, 0.4, 1.0, 2.0]], requires_grad=True)
    x = FlexibleBivariateBeta(conc).rsample((50,))
    (x[..., 0] * x[..., 1]).sum().backward()
    assert torch.isfinite(conc.grad).all() and (conc.grad != 0).all()


def test_rsample_gradient_of_mean_is_unbiased():
    a = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0], requires_grad=True)
    x = FlexibleBivariateBeta(a).rsample((200000,))
    g_i = torch.autograd.grad(x[:, 0].mean(), a, retain_graph=True)[0]
    g_f = torch.autograd.grad(x[:, 1].mean(), a)[0]
    # E[i] = (a1 + a3) / (a1 + a3 + a4 + a5) and E[f] = (a2 + a4) / (a2 + a3 + a4 + a5).
    a_ = a.detach().clone().requires_grad_(True)
    a1, a2, a3, a4, a5 = a_
    exact_i = torch.autograd.grad((a1 + a3) / (a1 + a3 + a4 + a5), a_)[0]
    exact_f = torch.autograd.grad((a2 + a4) / (a2 + a3 + a4 + a5), a_)[0]
    assert torch.allclose(g_i, exact_i, atol=3e-3)
    assert torch.allclose(g_f, exact_f, atol=3e-3)
    assert g_i[1] == 0 and g_f[0] == 0  # a2 does not enter i, a1 does not enter f


# ----------------------------------------------------------------------------------------------------------
# Shapes, expand, validation, log_prob


def test_batch_and_event_shapes():
    conc = torch.rand(4, 3, 5) + 0.5
    d = FlexibleBivariateBeta(conc)
    assert d.batch_shape == (4, 3) and d.event_shape == (2,)
    assert d.sample((2,)).shape == (2, 4, 3, 2)
    assert d.mean.shape == (4, 3, 2) and d.variance.shape == (4, 3, 2)
    assert all(m.batch_shape == (4, 3) for m in d.marginals())
    assert FlexibleBivariateBeta([1.0, 2.0, 3.0, 4.0, 5.0]).batch_shape == ()


def test_expand():
    d = FlexibleBivariateBeta(torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]))
    e = d.expand([6, 3])
    assert e.batch_shape == (6, 3) and e.concentration.shape == (6, 3, 5)
    assert e.sample().shape == (6, 3, 2)
    assert torch.allclose(e.mean, d.mean.expand(6, 3, 2))
    assert e._validate_args == d._validate_args
    with pytest.raises(RuntimeError):
        FlexibleBivariateBeta(torch.ones(2, 5)).expand([3])


@pytest.mark.parametrize("shape", [(4,), (2, 3), ()], ids=str)
def test_concentration_last_dim_must_be_5(shape):
    with pytest.raises(ValueError, match="size 5"):
        FlexibleBivariateBeta(torch.ones(shape))
    with pytest.raises(ValueError, match="size 5"):
        FlexibleBivariateBeta(torch.ones(shape), validate_args=False)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")], ids=str)
def test_non_positive_concentration_raises(bad):
    conc = torch.tensor([1.0, 2.0, bad, 1.0, 1.0])
    with pytest.raises(ValueError):
        FlexibleBivariateBeta(conc)
    FlexibleBivariateBeta(conc, validate_args=False)


def test_support_check():
    d = FlexibleBivariateBeta(torch.ones(5))
    ok = d.support.check(torch.tensor([[0.3, 0.7], [0.0, 0.5], [0.5, 1.0], [1.2, 0.3]]))
    assert ok.tolist() == [True, False, False, False]


def test_log_prob_raises_not_implemented():
    d = FlexibleBivariateBeta(torch.ones(5))
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        d.log_prob(torch.tensor([0.3, 0.4]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_samples_stay_strictly_inside_for_tiny_shapes(dtype):
    d = FlexibleBivariateBeta(torch.tensor([0.01, 0.02, 0.01, 0.005, 0.01], dtype=dtype))
    x = d.rsample((5000,))
    assert x.dtype == dtype
    assert d.support.check(x).all()


def _density_from_docstring(i, f, a):
    """The two-dimensional integral representation of the density stated in the class docstring.

    Iterated scipy.quad: Delta > 0 exactly when q > 1 - kappa / (1 - p), kappa = (1-i)(1-f)/(i f), so the
    inner integral runs over that range and the outer one is split where the bound leaves zero.
    """
    a1, a2, a3, a4, a5 = a
    al, be, ga = a1 + a3, a2 + a4, a5
    log_k = math.lgamma(al + be + ga) - math.lgamma(al) - math.lgamma(be) - math.lgamma(ga)
    kappa = (1 - i) * (1 - f) / (i * f)

    def log_beta_pdf(x, u, v):
        return (
            (u - 1) * math.log(x)
            + (v - 1) * math.log1p(-x)
            - math.lgamma(u)
            - math.lgamma(v)
            + math.lgamma(u + v)
        )

    def integrand(q, p):
        delta = (1 - i) * (1 - f) - i * f * (1 - p) * (1 - q)
        if delta <= 0:
            return 0.0
        log_val = (
            log_beta_pdf(p, a1, a3)
            + log_beta_pdf(q, a2, a4)
            + al * math.log1p(-f * q)
            + be * math.log1p(-i * p)
            + (ga - 1) * math.log(delta)
            - (al + be + ga) * math.log1p(-i * f * p * q)
        )
        return math.exp(log_val)

    def inner(p):
        q_lo = max(0.0, 1.0 - kappa / (1.0 - p))
        return integrate.quad(integrand, q_lo, 1.0, args=(p,), epsabs=1e-12, epsrel=1e-9)[0]

    split = [1.0 - kappa] if 0.0 < 1.0 - kappa < 1.0 else None
    value = integrate.quad(inner, 0.0, 1.0, points=split, epsabs=1e-12, epsrel=1e-8)[0]
    return math.exp(log_k) * i ** (al - 1) * f ** (be - 1) * value


def test_docstring_density_representation_matches_samples():
    # The documented integral (what a numerical log_prob would evaluate) against sample frequencies in small
    # boxes, on both sides of the line i + f = 1 where the region of integration changes shape.
    a = (1.5, 2.0, 1.2, 1.7, 2.5)
    n, h = 1_000_000, 0.02
    s = FlexibleBivariateBeta(torch.tensor(a)).sample((n,))
    for ci, cf in [(0.3, 0.4), (0.5, 0.5), (0.7, 0.6), (0.6, 0.3)]:
        count = (((s[:, 0] - ci).abs() < h) & ((s[:, 1] - cf).abs() < h)).sum().item()
        expected = n * (2 * h) ** 2 * _density_from_docstring(ci, cf, a)
        assert abs(count - expected) < 5 * math.sqrt(expected) + 0.01 * expected
