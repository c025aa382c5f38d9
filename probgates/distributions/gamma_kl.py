r"""The Gamma–Gamma KL divergence from vectorized digamma, log-gamma and trigamma functions.

.. math::

    \mathrm{KL}\big(\mathrm{Gamma}(a, b)\,\|\,\mathrm{Gamma}(a_0, b_0)\big)
      = (a - a_0)\psi(a) - \log\Gamma(a) + \log\Gamma(a_0) + a_0(\log b - \log b_0) + a\,\frac{b_0 - b}{b}.

A gate model evaluates this for every latent Gamma of every step (K x H x B values per step), and
PyTorch's CPU ``digamma``, ``lgamma`` and ``polygamma`` run one element at a time. Here the three
functions are written with whole-tensor arithmetic: the recurrences
:math:`\psi(x) = \psi(x + 6) - \sum_{k<6} 1/(x + k)`,
:math:`\log\Gamma(x) = \log\Gamma(x + 6) - \log\prod_{k<6}(x + k)` and
:math:`\psi'(x) = \psi'(x + 6) + \sum_{k<6} 1/(x + k)^2` move the argument to
:math:`y = x + 6 \ge 6`, where the asymptotic (Stirling / Bernoulli-number) series, truncated as
below, are accurate to about 1e-10 (Abramowitz & Stegun 6.1.41, 6.3.18, 6.4.12). The KL's
backward pass uses the closed-form derivatives
:math:`\partial/\partial a = (a - a_0)\psi'(a) + (b_0 - b)/b` and
:math:`\partial/\partial a_0 = \psi(a_0) - \psi(a) + \log b - \log b_0`.

Terms that depend only on broadcast parameters (a prior's shape, the rates) are computed once per
distinct element, not once per broadcast copy.

:class:`VectorizedKLGamma` is a Pyro ``Gamma`` for which ``kl_divergence(Gamma, VectorizedKLGamma)``
is registered to this function; the gate priors use it.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from torch.distributions import Gamma as TorchGamma
from torch.distributions import register_kl

_SHIFT = 6
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _shift_terms(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``y = x + 6`` and the reciprocals ``1 / (x + k)``, k = 0..5."""
    return x + _SHIFT, [(x + k).reciprocal() for k in range(_SHIFT)]


def _digamma_from(y: torch.Tensor, reciprocals: list[torch.Tensor]) -> torch.Tensor:
    z = y.reciprocal().square()
    series = z * (1 / 12 - z * (1 / 120 - z * (1 / 252 - z * (1 / 240 - z / 132))))
    return y.log() - 0.5 / y - series - sum(reciprocals)


def digamma(x: torch.Tensor) -> torch.Tensor:
    """The digamma function psi(x) for x > 0 (A&S 6.3.18 after shifting by 6)."""
    return _digamma_from(*_shift_terms(x))


def lgamma(x: torch.Tensor) -> torch.Tensor:
    """log Gamma(x) for x > 0 (Stirling's series, A&S 6.1.41, after shifting by 6)."""
    y = x + _SHIFT
    z = y.reciprocal().square()
    series = (1 / 12 - z * (1 / 360 - z * (1 / 1260 - z / 1680))) / y
    log_product = (x * (x + 1) * (x + 2)).log() + ((x + 3) * (x + 4) * (x + 5)).log()
    return (y - 0.5) * y.log() - y + _HALF_LOG_2PI + series - log_product


def trigamma(x: torch.Tensor) -> torch.Tensor:
    """The trigamma function psi'(x) for x > 0 (A&S 6.4.12 after shifting by 6)."""
    y, reciprocals = _shift_terms(x)
    inv = y.reciprocal()
    z = inv.square()
    series = inv * z * (1 / 6 - z * (1 / 30 - z * (1 / 42 - z / 30)))
    return inv + 0.5 * z + series + sum(r.square() for r in reciprocals)


def _distinct(t: torch.Tensor) -> torch.Tensor:
    """``t`` without its broadcast copies: every zero-stride dimension narrowed to size 1."""
    for dim, stride in enumerate(t.stride()):
        if stride == 0 and t.shape[dim] > 1:
            t = t.narrow(dim, 0, 1)
    return t


class _UnitRateGammaKL(torch.autograd.Function):
    """``(a - a0) psi(a) - lgamma(a) + lgamma(a0)`` with its closed-form backward pass."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
        psi_a = digamma(a)
        a0_distinct = _distinct(a0)
        diff = a - a0
        ctx.save_for_backward(a, a0_distinct, diff, psi_a)
        return diff * psi_a - lgamma(a) + lgamma(a0_distinct)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, a0_distinct, diff, psi_a = ctx.saved_tensors
        grad_a = grad * diff * trigamma(a) if ctx.needs_input_grad[0] else None
        grad_a0 = grad * (digamma(a0_distinct) - psi_a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_a0


def gamma_kl(
    concentration: torch.Tensor,
    rate: torch.Tensor,
    prior_concentration: torch.Tensor,
    prior_rate: torch.Tensor,
) -> torch.Tensor:
    """KL(Gamma(concentration, rate) || Gamma(prior_concentration, prior_rate)), elementwise."""
    a, b, a0, b0 = torch.broadcast_tensors(concentration, rate, prior_concentration, prior_rate)
    kl = _UnitRateGammaKL.apply(a, a0)
    b, b0 = _distinct(b), _distinct(b0)
    if b.requires_grad or b0.requires_grad or bool((b != 1).any()) or bool((b0 != 1).any()):
        kl = kl + a0 * (b.log() - b0.log()) + a * ((b0 - b) / b)
    return kl


class VectorizedKLGamma(dist.Gamma):
    """A Pyro ``Gamma`` whose KL divergence from any Gamma is :func:`gamma_kl`.

    Sampling and densities are the Gamma's; only ``kl_divergence(Gamma, VectorizedKLGamma)``
    differs, in speed (several times faster on CPU) and within about 1e-10 in value.
    """

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(VectorizedKLGamma, _instance)
        return super().expand(batch_shape, _instance=new)


@register_kl(TorchGamma, VectorizedKLGamma)
def _kl_gamma_vectorized(p: TorchGamma, q: VectorizedKLGamma) -> torch.Tensor:
    return gamma_kl(p.concentration, p.rate, q.concentration, q.rate)


__all__ = ["VectorizedKLGamma", "digamma", "gamma_kl", "lgamma", "trigamma"]
