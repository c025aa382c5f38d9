"""Improper log-uniform prior of sparse variational dropout and its approximate KL divergence."""

import torch
import torch.nn.functional as F
from pyro.distributions import TorchDistribution
from torch.autograd.function import once_differentiable
from torch.distributions import Normal, constraints, register_kl

__all__ = ["LogUniform", "sparse_vd_kl", "sparse_vd_kl_expression", "SPARSE_VD_KL_CONSTANTS"]

#: The constants ``(k1, k2, k3)`` of the Molchanov et al. (2017) KL approximation.
SPARSE_VD_KL_CONSTANTS = (0.63576, 1.87320, 1.48695)


def sparse_vd_kl(log_alpha: torch.Tensor) -> torch.Tensor:
    r"""Approximate :math:`\mathrm{KL}(\mathcal{N}(\theta, \alpha\theta^2) \,\|\, \mathrm{LogUniform})`.

    Molchanov, Ashukha and Vetrov (2017), "Variational Dropout Sparsifies Deep Neural Networks" (ICML),
    fit the KL divergence from the multiplicative-noise posterior to the improper log-uniform prior, which
    depends on :math:`\alpha` only, by

    .. math::

        \mathrm{KL} \approx k_1 - k_1 \, \sigma(k_2 + k_3 \log\alpha) + \tfrac12 \log(1 + \alpha^{-1}),
        \qquad k_1 = 0.63576,\; k_2 = 1.87320,\; k_3 = 1.48695,

    where :math:`\sigma` is the logistic function. The additive constant is chosen so that the value tends
    to 0 as :math:`\log\alpha \to \infty`; the true KL of an improper prior is only defined up to a
    constant. The term :math:`\log(1 + e^{-\log\alpha})` is computed as ``softplus(-log_alpha)``, so large
    negative ``log_alpha`` does not overflow. The result is positive and decreases monotonically in
    ``log_alpha``.

    :param torch.Tensor log_alpha: :math:`\log\alpha = \log\sigma^2 - \log\theta^2`, any shape.
    :returns: the elementwise approximate KL, same shape as ``log_alpha``.
    """
    return _SparseVDKL.apply(torch.as_tensor(log_alpha))


def sparse_vd_kl_expression(log_alpha: torch.Tensor) -> torch.Tensor:
    """:func:`sparse_vd_kl` as plain out-of-place tensor operations, differentiated by autograd: the
    form that ``torch.compile`` fuses with the computation of ``log_alpha`` (the ``compiled`` option
    of :class:`~probgates.sparse.SparseVariable`). Written without the scalar-first ``torch.add``
    and in-place ``add_`` of :func:`sparse_vd_kl`'s forward, which torch 2.13's inductor compiles
    wrongly with dynamic shapes."""
    k1, k2, k3 = SPARSE_VD_KL_CONSTANTS
    return k1 - k1 * torch.sigmoid(k2 + k3 * log_alpha) + 0.5 * F.softplus(-log_alpha)


class _SparseVDKL(torch.autograd.Function):
    r""":func:`sparse_vd_kl` with its closed-form derivative

    .. math:: \frac{d\,\mathrm{KL}}{d\log\alpha} = -k_1 k_3\, s (1 - s) - \tfrac12 \sigma(-\log\alpha),
        \qquad s = \sigma(k_2 + k_3 \log\alpha),

    which takes a few passes over the tensor instead of the backward of every step of the formula
    (the KL of a million-weight layer is a large part of an SVI update on the CPU)."""

    @staticmethod
    def forward(ctx, log_alpha: torch.Tensor) -> torch.Tensor:
        k1, k2, k3 = SPARSE_VD_KL_CONSTANTS
        s = torch.sigmoid(log_alpha * k3 + k2)
        ctx.save_for_backward(log_alpha, s)
        return torch.add(k1, s, alpha=-k1).add_(F.softplus(-log_alpha), alpha=0.5)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        k1, _, k3 = SPARSE_VD_KL_CONSTANTS
        log_alpha, s = ctx.saved_tensors
        slope = torch.sigmoid(-log_alpha).mul_(-0.5)
        slope.addcmul_(s, 1.0 - s, value=-k1 * k3)
        return slope.mul_(grad)


class LogUniform(TorchDistribution):
    r"""Improper log-uniform (scale-invariant) prior :math:`p(w) \propto 1/|w|` on the real line.

    This is the prior of sparse variational dropout (Molchanov et al., 2017): it is uniform in
    :math:`\log|w|`, has no normalising constant, and so :meth:`log_prob` returns the unnormalised

    .. math::

        \log p(w) = -\log|w| .

    It cannot be sampled: :meth:`sample` and :meth:`rsample` raise :class:`NotImplementedError`. Use it as a
    prior for latent sites whose guide is a :class:`~pyro.distributions.Normal`;
    ``kl_divergence(Normal(theta, sigma), LogUniform())`` is registered and returns
    :func:`sparse_vd_kl` of :math:`\log\alpha = \log\sigma^2 - \log\theta^2`, so
    :class:`~pyro.infer.TraceMeanField_ELBO` uses the approximation, also through ``.to_event(n)`` on
    both sides.

    :param batch_shape: batch shape of the (parameter-free) distribution; ``expand`` changes it.
    """

    arg_constraints = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, batch_shape=(), validate_args=None):
        super().__init__(torch.Size(batch_shape), torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogUniform, _instance)
        batch_shape = torch.Size(batch_shape)
        # Same rule as Tensor.expand on a parameter: only singleton or new leading dimensions may grow.
        try:
            compatible = torch.broadcast_shapes(self.batch_shape, batch_shape) == batch_shape
        except RuntimeError:
            compatible = False
        if not compatible:
            raise ValueError(f"cannot expand batch shape {tuple(self.batch_shape)} to {tuple(batch_shape)}")
        super(LogUniform, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_p = -value.abs().log()
        return log_p.expand(torch.broadcast_shapes(log_p.shape, self.batch_shape))

    def sample(self, sample_shape=()):
        raise NotImplementedError(
            "LogUniform is an improper prior (p(w) proportional to 1/|w| has infinite mass) and cannot be "
            "sampled; pair it with a guide, e.g. Normal, and an ELBO that uses kl_divergence."
        )

    def rsample(self, sample_shape=()):
        self.sample(sample_shape)


@register_kl(Normal, LogUniform)
def _kl_normal_log_uniform(p: Normal, q: LogUniform) -> torch.Tensor:
    # log(alpha) = log(sigma^2) - log(theta^2); theta = 0 gives log_alpha = +inf and KL = 0.
    log_alpha = 2.0 * (p.scale.log() - p.loc.abs().log())
    kl = sparse_vd_kl(log_alpha)
    return kl.expand(torch.broadcast_shapes(p.batch_shape, q.batch_shape))
