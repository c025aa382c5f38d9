r"""One sparsified tensor: a Pyro site with the log-uniform prior and a mean-field Normal guide.

Sparse variational dropout (Molchanov et al. 2017) as used by Lobacheva et al. (2020), reference
§2, §6.3: every element :math:`w` of the tensor has the improper prior :math:`p(w) \propto 1/|w|`
(:class:`~probgates.distributions.LogUniform`) and the posterior :math:`q(w) = \mathcal N(\theta,
\sigma^2)` with parameters :math:`(\theta, \log\sigma)`,

.. math:: \log\alpha = 2\log\sigma - \log\theta^2 \quad\text{clipped to } [-8, 8].

The guide is a :class:`~probgates.distributions.LogAlphaNormal` with loc :math:`\theta` and the
scale :math:`\sigma' = |\theta|\, e^{\log\alpha / 2}` computed from the *clipped* log alpha, which
it carries: the KL registered for ``kl_divergence(LogAlphaNormal, LogUniform)`` (which
``TraceMeanField_ELBO`` uses) is :func:`~probgates.distributions.sparse_vd_kl` of exactly the
clipped value, and the clipped region has zero gradient as in the reference. An element is pruned
where :math:`\log\alpha \ge` threshold (3): the evaluation value is
:math:`\theta \cdot [\log\alpha < 3]`.

Weights are initialised like the baseline; group variables (``init = 1``) have mean 1. A tensor
that is not sparsified (``sparse=False``) is a plain deterministic parameter with no site.

With ``compiled=True`` the guide computes log alpha, the scale and the KL of every element in one
kernel that ``torch.compile`` fuses, forward and backward (:func:`posterior_terms`): a few passes
over the tensor instead of about twenty each way, which on the CPU halves the time a
10-million-weight tensor takes per SVI update. The values are those of the eager path.
"""

from __future__ import annotations

import warnings

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch import nn

from probgates.distributions import LogAlphaNormal, LogUniform, sparse_vd_kl_expression

_TINY = 1e-8  # |theta| floor in log theta^2 (theta^2 floor 1e-16)


def log_theta2(theta: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\theta^2` with :math:`|\theta|` floored at 1e-8."""
    return theta.square().clamp_min(_TINY**2).log()


def clipped_log_alpha(log_sigma: torch.Tensor, log_theta2: torch.Tensor, low: float, high: float):
    r""":math:`\log\alpha = 2\log\sigma - \log\theta^2` clipped to ``[low, high]`` (reference §6.3)."""
    return (2.0 * log_sigma - log_theta2).clamp(low, high)


def posterior_terms(theta: torch.Tensor, log_sigma: torch.Tensor, low: float, high: float):
    r"""The guide's clipped log alpha, its scale :math:`\sigma' = e^{(\log\alpha + \log\theta^2)/2}`
    and the elementwise KL to the log-uniform prior (:func:`~probgates.distributions.sparse_vd_kl`),
    as plain tensor operations for ``torch.compile`` to fuse."""
    log_t2 = log_theta2(theta)
    log_alpha = clipped_log_alpha(log_sigma, log_t2, low, high)
    scale = (0.5 * (log_alpha + log_t2)).exp()
    return log_alpha, scale, sparse_vd_kl_expression(log_alpha)


class _CompiledOnFirstUse:
    """``fn`` compiled by ``torch.compile`` when first called. If that fails (no C++ compiler, say),
    one warning and ``fn`` itself from then on."""

    def __init__(self, fn):
        self.fn, self.compiled = fn, None

    def __call__(self, *args):
        if self.compiled is None:
            self.compiled = torch.compile(self.fn, dynamic=True)
            try:
                return self.compiled(*args)
            except Exception as error:  # the backend's errors have no common base class
                warnings.warn(
                    f"torch.compile of {self.fn.__name__} failed ({type(error).__name__}: {error}); "
                    "computing it eagerly",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.compiled = self.fn
        return self.compiled(*args)


_compiled_posterior_terms = _CompiledOnFirstUse(posterior_terms)


class FiniteLogUniform(LogUniform):
    """:class:`LogUniform` whose unnormalised ``log_prob`` is finite at exactly 0 (``|w|`` floored at
    1e-30). ``TraceMeanField_ELBO`` never uses it for the loss (the registered KL replaces it) but
    scores every site, and a float32 draw of exactly 0 would otherwise warn about ``+inf``.
    ``kl_divergence(LogAlphaNormal, FiniteLogUniform)`` dispatches to the registered
    LogAlphaNormal/LogUniform KL."""

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, self._get_checked_instance(FiniteLogUniform, _instance))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_p = -value.abs().clamp_min(1e-30).log()
        return log_p.expand(torch.broadcast_shapes(log_p.shape, self.batch_shape))


class SparseVariable(PyroModule):
    """A tensor of shape ``shape`` with a log-uniform prior (``sparse=True``) or a deterministic value.

    Args:
        site: the Pyro site name.
        init: the initial theta (a tensor of the full shape).
        sparse: True: Pyro site with prior/guide; False: deterministic parameter, never pruned.
        log_sigma_init: initial log sigma.
        clip: ``(low, high)`` clipping range of log alpha.
        threshold: pruning threshold on log alpha.
        compiled: compute the guide's log alpha, scale and KL with :func:`posterior_terms` compiled
            by ``torch.compile`` (the first update compiles it: seconds).
    """

    def __init__(
        self,
        site: str,
        init: torch.Tensor,
        *,
        sparse: bool = True,
        log_sigma_init: float = -3.0,
        clip: tuple[float, float] = (-8.0, 8.0),
        threshold: float = 3.0,
        compiled: bool = False,
    ):
        super().__init__()
        self.site, self.sparse, self.clip, self.threshold = site, sparse, clip, threshold
        self.compiled = compiled
        self.theta = nn.Parameter(init.clone())
        self.log_sigma = nn.Parameter(torch.full_like(init, log_sigma_init)) if sparse else None

    @property
    def shape(self) -> torch.Size:
        return self.theta.shape

    def log_alpha(self) -> torch.Tensor:
        """Clipped :math:`\\log\\alpha = 2\\log\\sigma - \\log\\theta^2` (sparse tensors only)."""
        return clipped_log_alpha(self.log_sigma, log_theta2(self.theta), *self.clip)

    def keep_mask(self) -> torch.Tensor:
        """Bool mask of elements kept (log alpha < threshold); all True when not sparse."""
        if not self.sparse:
            return torch.ones(self.shape, dtype=torch.bool, device=self.theta.device)
        return self.log_alpha() < self.threshold

    def masked_mean(self) -> torch.Tensor:
        """The evaluation value: theta with pruned elements set to 0 (the paper's "clip" mode)."""
        if not self.sparse:
            return self.theta
        return torch.where(self.keep_mask(), self.theta, torch.zeros_like(self.theta))

    # ------------------------------------------------------------------ Pyro

    def posterior(self, copies: int | None = None) -> dist.Distribution:
        """q: ``Normal(theta, sigma')`` with the clipped log alpha; ``copies`` independent draws."""
        if self.compiled:
            log_alpha, scale, kl = _compiled_posterior_terms(self.theta, self.log_sigma, *self.clip)
        else:  # the KL is computed when asked for, with its closed-form derivative
            log_t2 = log_theta2(self.theta)
            log_alpha = clipped_log_alpha(self.log_sigma, log_t2, *self.clip)
            scale, kl = (0.5 * (log_alpha + log_t2)).exp(), None
        # Built from this variable's own parameters, so Pyro's argument checks (two passes over the
        # tensor and a reduction, per draw) can find nothing but non-finite values, which the trainer
        # already reports as a non-finite loss or gradient.
        q = LogAlphaNormal(self.theta, scale, log_alpha, kl, validate_args=False)
        if copies is not None:
            q = q.expand((copies, *self.shape))
        return q.to_event(q.batch_shape.__len__())

    def prior(self, copies: int | None = None) -> dist.Distribution:
        shape = self.shape if copies is None else (copies, *self.shape)
        return FiniteLogUniform().expand(shape).to_event(len(shape))

    def _site(self, fn, copies: int | None):
        if copies is None:
            return pyro.sample(self.site, fn)
        # ``copies`` independent draws of the same global posterior (one per sequence): scale 1/copies
        # so the sum of their KLs counts the KL of this one global variable exactly once.
        with poutine.scale(scale=1.0 / copies):
            return pyro.sample(self.site, fn)

    def model_sample(self, copies: int | None = None) -> torch.Tensor:
        """Model side: the log-uniform prior site (its value comes from the guide under replay)."""
        if not self.sparse:
            return self.theta
        return self._site(self.prior(copies), copies)

    def guide_sample(self, copies: int | None = None) -> torch.Tensor:
        """Guide side: the Normal site (``copies`` draws shaped ``[copies, *shape]``)."""
        if not self.sparse:
            return self.theta
        return self._site(self.posterior(copies), copies)
