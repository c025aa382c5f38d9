"""Tests for the Olkin-Liu bivariate Beta distribution (probgates.distributions.BivariateBeta)."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions.testing import gof as pyro_gof
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from scipy import integrate, special, stats
from torch.distributions import biject_to

from probgates.distributions import BivariateBeta, olkin_liu_gates

# Threshold for p-values under the null hypothesis (every test is seeded, as in Pyro's suite). Pyro's
# nearest-neighbour vector GOF is poorly calibrated: with 20000 samples about 40% of seeds gave p < 0.05
# even for a MultivariateNormal against its own density (mutual nearest neighbours share a distance, which
# inflates its chi^2). Its null check is therefore coarse; the binned chi^2 test below is the calibrated
# check of the joint density.
TEST_FAILURE_RATE = 1e-4
LOGIT_BOX = 30.0  # float64 sigmoid(30) < 1; the tail mass beyond it is below 1e-6 for shapes >= 0.5

# (a, b, c), several with shapes below one.
PARAMS = [(0.5, 0.7, 0.8), (2.0, 3.0, 1.5), (0.6, 2.0, 0.9), (1.0, 1.0, 1.0), (5.0, 0.6, 3.0)]


def _logit_space_density(d, st):
    """Density of (logit X, logit Y), evaluated through BivariateBeta.log_prob plus the Jacobian."""
    xy = torch.sigmoid(st)
    log_jac = torch.log(xy * (1 - xy)).sum(-1)
    return (d.log_prob(xy) + log_jac).exp()


def _integrate_box(d, lower, upper, rtol=1e-9):
    """Integral of the density over a box given in logit coordinates (scipy cubature, vectorised)."""

    def f(points):
        return _logit_space_density(d, torch.from_numpy(points)).numpy()

    res = integrate.cubature(f, lower, upper, rtol=rtol, atol=1e-12, max_subdivisions=20000)
    assert res.status == "converged"
    return float(res.estimate)


def _density_from_definition(x, y, a, b, c):
    """p(x, y) by integrating the shared Gamma U3 = t out of the Gamma construction (scipy.quad)."""
    rx, ry = x / (1 - x), y / (1 - y)

    def integrand(t):
        return (
            stats.gamma.pdf(t * rx, a)
            * stats.gamma.pdf(t * ry, b)
            * stats.gamma.pdf(t, c)
            * t**2
            / ((1 - x) ** 2 * (1 - y) ** 2)
        )

    value, _ = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
    return value


def _exact_correlation(a, b, c):
    """corr(X, Y) from E[XY] = a/(a+c) E_V[V 2F1(1, a+1; a+c+1; 1-V)], V ~ Beta(b, a+c) independent of X.

    Derivation: X ~ Beta(a, c) is independent of S = U1 + U3, and with V = U2 / (U2 + S) one gets
    Y = V / (1 - X (1 - V)); expanding 1 / (1 - X w) in powers of X gives the hypergeometric function.
    """

    def integrand(v):
        return v * special.hyp2f1(1, a + 1, a + c + 1, 1 - v) * stats.beta.pdf(v, b, a + c)

    e_v, _ = integrate.quad(integrand, 0, 1, limit=200)
    exy = a / (a + c) * e_v
    mx, my = a / (a + c), b / (b + c)
    vx = a * c / ((a + c) ** 2 * (a + c + 1))
    vy = b * c / ((b + c) ** 2 * (b + c + 1))
    return (exy - mx * my) / math.sqrt(vx * vy)


# ----------------------------------------------------------------------------------------------------------
# Density


@pytest.mark.parametrize("abc", PARAMS, ids=str)
def test_log_prob_integrates_to_one(abc):
    d = BivariateBeta(*abc)
    box = LOGIT_BOX
    total = _integrate_box(d, [-box, -box], [box, box])
    assert abs(total - 1.0) < 1e-5


@pytest.mark.parametrize("abc", PARAMS, ids=str)
def test_log_prob_matches_gamma_construction(abc):
    d = BivariateBeta(*abc)
    points = torch.tensor([[0.1, 0.2], [0.5, 0.5], [0.9, 0.3], [0.97, 0.95], [0.02, 0.99], [1e-4, 0.5]])
    expected = [math.log(_density_from_definition(x, y, *abc)) for x, y in points.tolist()]
    assert torch.allclose(d.log_prob(points), torch.tensor(expected), rtol=1e-8, atol=1e-8)


def test_log_prob_accurate_near_the_corner():
    # 1 - xy is computed without cancellation; compare with a high-precision reference at x, y near 1.
    a, b, c = 1.3, 0.7, 2.1
    x, y = 1 - 3e-9, 1 - 5e-9
    d = BivariateBeta(a, b, c)
    lp = d.log_prob(torch.tensor([x, y])).item()
    one_m_x, one_m_y = 1 - x, 1 - y  # exact in floating point (Sterbenz)
    one_m_xy = one_m_x + one_m_y - one_m_x * one_m_y
    ref = (
        (a - 1) * math.log(x)
        + (b - 1) * math.log(y)
        + (b + c - 1) * math.log(one_m_x)
        + (a + c - 1) * math.log(one_m_y)
        - (a + b + c) * math.log(one_m_xy)
        - (math.lgamma(a) + math.lgamma(b) + math.lgamma(c) - math.lgamma(a + b + c))
    )
    # A naive log1p(-x * y) is off by about 2e-8 relative here.
    assert lp == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Sampling versus density


@pytest.fixture
def scipy_chi2sf(monkeypatch):
    """Make Pyro's GOF helpers use scipy's chi^2 survival function.

    ``pyro.distributions.testing.special.chi2sf`` (pyro-ppl 1.9.2) breaks down for large statistics, e.g.
    it returns 0.107 for chi2sf(200, 26) and 1.0 for chi2sf(500, 26), so a grossly wrong density can
    "pass" the GOF test. The binning and nearest-neighbour transform stay Pyro's.
    """
    monkeypatch.setattr(pyro_gof, "chi2sf", lambda x, dof: float(stats.chi2.sf(x, dof)))


@pytest.mark.parametrize(
    "abc,wrong",
    [((2.0, 3.0, 1.5), (2.0, 3.0, 2.0)), ((1.5, 1.0, 2.0), (1.5, 1.4, 2.0))],
    ids=["a2-b3-c1.5", "a1.5-b1-c2"],
)
def test_gof_logit_space(abc, wrong, scipy_chi2sf):
    # On the raw square the nearest-neighbour GOF rejects even the right density (boundary bias), so test
    # (logit X, logit Y) against the Jacobian-corrected density.
    d = BivariateBeta(*abc)
    samples = d.sample((20000,))
    st = torch.logit(samples)
    gof = pyro_gof.auto_goodness_of_fit(st, _logit_space_density(d, st))
    assert gof > TEST_FAILURE_RATE
    gof_wrong = pyro_gof.auto_goodness_of_fit(st, _logit_space_density(BivariateBeta(*wrong), st))
    assert gof_wrong < 1e-10


def _marginal_quantiles(d, bins):
    """Interior bin edges at the marginal quantiles k/bins of BivariateBeta ``d`` (scipy Beta ppf)."""
    qs = np.arange(1, bins) / bins
    return stats.beta.ppf(qs, d.a.item(), d.c.item()), stats.beta.ppf(qs, d.b.item(), d.c.item())


def _binned_chi2_pvalue(samples, d_model, quantile_dist, bins=6):
    """Pearson chi^2 p-value of sample counts in a bins x bins grid against cell masses of ``d_model``.

    Cell edges are marginal quantiles of ``quantile_dist`` (so every cell has appreciable mass); cell masses
    are integrals of ``d_model.log_prob`` computed in logit coordinates with scipy cubature.
    """
    xq, yq = _marginal_quantiles(quantile_dist, bins)
    x_edges = [-LOGIT_BOX] + special.logit(xq).tolist() + [LOGIT_BOX]
    y_edges = [-LOGIT_BOX] + special.logit(yq).tolist() + [LOGIT_BOX]
    probs = np.array(
        [
            [
                _integrate_box(d_model, [x_edges[i], y_edges[j]], [x_edges[i + 1], y_edges[j + 1]], rtol=1e-8)
                for j in range(bins)
            ]
            for i in range(bins)
        ]
    )
    assert abs(probs.sum() - 1) < 1e-5
    st = torch.logit(samples).numpy()
    counts, _, _ = np.histogram2d(st[:, 0], st[:, 1], bins=[x_edges, y_edges])
    expected = probs / probs.sum() * counts.sum()
    return stats.chisquare(counts.ravel(), expected.ravel()).pvalue


def _independence_pvalue(samples, d, bins=6):
    """Chi^2 p-value of the hypothesis that the coordinates are independent with the marginals of ``d``.

    With cell edges at the marginal quantiles, an independent pair puts mass 1/bins^2 in every cell.
    """
    xq, yq = _marginal_quantiles(d, bins)
    x_edges = [0.0] + xq.tolist() + [1.0]
    y_edges = [0.0] + yq.tolist() + [1.0]
    s = samples.numpy()
    counts, _, _ = np.histogram2d(s[:, 0], s[:, 1], bins=[x_edges, y_edges])
    return stats.chisquare(counts.ravel()).pvalue


@pytest.mark.parametrize("abc", [(0.5, 0.7, 0.8), (2.0, 3.0, 1.5), (0.6, 2.0, 0.9)], ids=str)
def test_binned_chi2_joint(abc):
    d = BivariateBeta(*abc)
    samples = d.sample((100000,))
    assert _binned_chi2_pvalue(samples, d, d) > TEST_FAILURE_RATE
    # The same grid has power against "right marginals, wrong dependence" (which marginal KS tests miss).
    assert _independence_pvalue(samples, d) < 1e-10


def test_binned_chi2_rejects_wrong_parameters():
    d = BivariateBeta(0.6, 2.0, 0.9)
    samples = d.sample((100000,))
    assert _binned_chi2_pvalue(samples, BivariateBeta(0.6, 2.0, 1.0), d) < 1e-6


@pytest.mark.parametrize("abc", PARAMS + [(0.2, 0.3, 0.25)], ids=str)
def test_sampled_marginals_ks(abc):
    a, b, c = abc
    samples = BivariateBeta(a, b, c).sample((20000,)).numpy()
    assert stats.kstest(samples[:, 0], stats.beta(a, c).cdf).pvalue > TEST_FAILURE_RATE
    assert stats.kstest(samples[:, 1], stats.beta(b, c).cdf).pvalue > TEST_FAILURE_RATE
    # ... and the KS test has power: the first coordinate is not Beta(a, 1.1 c).
    assert stats.kstest(samples[:, 0], stats.beta(a, 1.1 * c).cdf).pvalue < 1e-6


@pytest.mark.parametrize("abc", PARAMS, ids=str)
def test_marginals_log_prob_matches_scipy(abc):
    a, b, c = abc
    mx, my = BivariateBeta(a, b, c).marginals()
    assert isinstance(mx, dist.Beta) and isinstance(my, dist.Beta)
    grid = torch.linspace(0.01, 0.99, 25)
    assert torch.allclose(mx.log_prob(grid), torch.from_numpy(stats.beta.logpdf(grid.numpy(), a, c)))
    assert torch.allclose(my.log_prob(grid), torch.from_numpy(stats.beta.logpdf(grid.numpy(), b, c)))


@pytest.mark.parametrize("abc", PARAMS, ids=str)
def test_mean_and_variance_match_samples(abc):
    d = BivariateBeta(*abc)
    n = 100000
    samples = d.sample((n,))
    a, b, c = abc
    assert torch.allclose(d.mean, torch.tensor([a / (a + c), b / (b + c)]))
    se_mean = (d.variance / n).sqrt()
    assert ((samples.mean(0) - d.mean).abs() < 5 * se_mean).all()
    # Standard error of the sample variance: sqrt((m4 - var^2) / n), with m4 estimated from the samples.
    centred = samples - d.mean
    se_var = ((centred**4).mean(0) - d.variance**2).clamp(min=0).div(n).sqrt()
    assert ((samples.var(0) - d.variance).abs() < 5 * se_var).all()


@pytest.mark.parametrize("abc", [(1.0, 1.0, 1.0), (1.0, 1.0, 0.1), (2.0, 3.0, 1.5), (0.5, 0.7, 0.8)], ids=str)
def test_correlation_positive_and_exact(abc):
    n = 200000
    samples = BivariateBeta(*abc).sample((n,)).numpy()
    rho_hat = np.corrcoef(samples.T)[0, 1]
    rho = _exact_correlation(*abc)
    assert rho > 0 and rho_hat > 0
    assert abs(rho_hat - rho) < 5 * (1 - rho**2) / math.sqrt(n)


def test_exact_correlation_reference_values():
    # Values quoted in the project reference (Monte Carlo there): 0.48 at (1,1,1) and 0.68 at shared 0.1.
    assert _exact_correlation(1.0, 1.0, 1.0) == pytest.approx(0.48, abs=0.005)
    assert _exact_correlation(1.0, 1.0, 0.1) == pytest.approx(0.68, abs=0.005)


# ----------------------------------------------------------------------------------------------------------
# Reparameterised gradients


def test_rsample_gradients_flow():
    a = torch.tensor([0.5, 2.0], requires_grad=True)
    b = torch.tensor([1.5, 0.3], requires_grad=True)
    c = torch.tensor(0.8, requires_grad=True)
    x = BivariateBeta(a, b, c).rsample((50,))
    assert x.requires_grad
    (x[..., 0] * x[..., 1]).sum().backward()
    for p in (a, b, c):
        assert p.grad is not None
        assert torch.isfinite(p.grad).all() and (p.grad != 0).all()


def test_rsample_gradient_of_mean_is_unbiased():
    # d/da E[X] = c/(a+c)^2, d/dc E[X] = -a/(a+c)^2, d/db E[X] = 0, d/db E[Y] = c/(b+c)^2.
    a = torch.tensor(1.5, requires_grad=True)
    b = torch.tensor(0.7, requires_grad=True)
    c = torch.tensor(2.0, requires_grad=True)
    n = 200000
    x = BivariateBeta(a, b, c).rsample((n,))
    gx = torch.autograd.grad(x[:, 0].mean(), (a, b, c), retain_graph=True)
    gy = torch.autograd.grad(x[:, 1].mean(), (b,))
    av, bv, cv = 1.5, 0.7, 2.0
    assert gx[0].item() == pytest.approx(cv / (av + cv) ** 2, abs=3e-3)
    assert gx[1].item() == 0.0
    assert gx[2].item() == pytest.approx(-av / (av + cv) ** 2, abs=3e-3)
    assert gy[0].item() == pytest.approx(cv / (bv + cv) ** 2, abs=3e-3)


def test_log_prob_differentiable_in_parameters():
    a = torch.tensor(1.2, requires_grad=True)
    value = torch.tensor([[0.3, 0.6], [0.8, 0.1]])
    BivariateBeta(a, 2.0, 0.7).log_prob(value).sum().backward()
    # Finite-difference check of d log p / d a.
    eps = 1e-6
    lp = lambda av: BivariateBeta(av, 2.0, 0.7).log_prob(value).sum().item()  # noqa: E731
    assert a.grad.item() == pytest.approx((lp(1.2 + eps) - lp(1.2 - eps)) / (2 * eps), rel=1e-6)


# ----------------------------------------------------------------------------------------------------------
# Shapes, expand, validation


def test_batch_and_event_shapes():
    d = BivariateBeta(torch.ones(2, 1), torch.full((3,), 2.0), 0.5)
    assert d.batch_shape == (2, 3)
    assert d.event_shape == (2,)
    x = d.sample((4,))
    assert x.shape == (4, 2, 3, 2)
    assert d.log_prob(x).shape == (4, 2, 3)
    assert d.mean.shape == (2, 3, 2) and d.variance.shape == (2, 3, 2)
    mx, my = d.marginals()
    assert mx.batch_shape == (2, 3) and my.batch_shape == (2, 3)
    # A single value broadcasts against the batch.
    assert d.log_prob(torch.tensor([0.3, 0.4])).shape == (2, 3)
    assert d.to_event(1).event_shape == (3, 2)


def test_expand():
    d = BivariateBeta(torch.tensor([1.0, 2.0]), 3.0, torch.tensor([0.5, 0.7]))
    e = d.expand([4, 2])
    assert e.batch_shape == (4, 2) and e.event_shape == (2,)
    assert e.sample().shape == (4, 2, 2)
    assert torch.equal(e.a[3], d.a) and torch.equal(e.c[1], d.c)
    value = torch.tensor([0.2, 0.9])
    assert torch.allclose(e.log_prob(value), d.log_prob(value).expand(4, 2))
    assert e._validate_args == d._validate_args
    single = BivariateBeta(torch.ones(1), 2.0, 3.0).expand([5])
    assert single.batch_shape == (5,)
    assert d.expand_by([3]).batch_shape == (3, 2)


def test_expand_incompatible_raises():
    d = BivariateBeta(torch.tensor([1.0, 2.0]), 3.0, 0.5)
    with pytest.raises(RuntimeError):
        d.expand([3])
    with pytest.raises(RuntimeError):
        d.expand([2, 3])


@pytest.mark.parametrize("bad", [(0.0, 1.0, 1.0), (1.0, -1.0, 1.0), (1.0, 1.0, float("nan"))], ids=str)
def test_invalid_parameters_raise(bad):
    with pytest.raises(ValueError):
        BivariateBeta(*bad)
    BivariateBeta(*bad, validate_args=False)  # no check when validation is off


@pytest.mark.parametrize(
    "value",
    [[0.0, 0.5], [0.5, 1.0], [1.2, 0.5], [-0.1, 0.5], [0.3, float("nan")]],
    ids=["x=0", "y=1", "x>1", "x<0", "nan"],
)
def test_out_of_support_raises(value):
    d = BivariateBeta(2.0, 3.0, 1.5)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor(value))


def test_wrong_event_shape_raises():
    d = BivariateBeta(2.0, 3.0, 1.5)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_samples_stay_strictly_inside_for_tiny_shapes(dtype):
    # With shapes 0.01 the Gamma draws span hundreds of orders of magnitude, so many ratios round onto 0 or
    # 1; rsample moves them inside the open square so that validated log_prob stays usable.
    d = BivariateBeta(
        torch.tensor(0.01, dtype=dtype), torch.tensor(0.02, dtype=dtype), torch.tensor(0.01, dtype=dtype)
    )
    x = d.rsample((5000,))
    assert x.dtype == dtype
    assert ((x > 0) & (x < 1)).all()
    assert not torch.isnan(d.log_prob(x)).any()


# ----------------------------------------------------------------------------------------------------------
# Gate helper and Pyro integration


def test_olkin_liu_gates():
    g = torch.tensor([[1.0, 3.0, 1.0], [2.0, 0.5, 0.5]])
    x, y = olkin_liu_gates(g)
    assert torch.allclose(x, torch.tensor([0.5, 0.8]))
    assert torch.allclose(y, torch.tensor([0.75, 0.5]))
    with pytest.raises(ValueError):
        olkin_liu_gates(torch.ones(4, 5))


def test_support_bijection_maps_into_open_square():
    d = BivariateBeta(2.0, 3.0, 1.5)
    t = biject_to(d.support)
    y = t(torch.tensor([[-1000.0, 0.0], [1000.0, 3.0]]))
    assert d.support.check(y).all()
    assert torch.allclose(t.inv(t(torch.tensor([0.3, -2.0]))), torch.tensor([0.3, -2.0]))


def test_pyro_model_with_autonormal_guide():
    data = torch.tensor([[0.3, 0.5], [0.6, 0.7], [0.2, 0.4]])

    def model():
        a = pyro.sample("a", dist.Gamma(2.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", BivariateBeta(a, 1.5, 2.0), obs=data)

    def model_latent():
        pyro.sample("z", BivariateBeta(2.0, 3.0, 1.5))

    guide = AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    for _ in range(3):
        assert math.isfinite(svi.step())
    latent_guide = AutoNormal(model_latent)
    z = latent_guide()["z"]
    assert z.shape == (2,) and BivariateBeta(2.0, 3.0, 1.5).support.check(z).all()
