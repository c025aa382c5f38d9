"""The guide of a sparsified weight: a Normal that carries its log alpha."""

import pyro.distributions as dist
import torch
from torch.distributions import register_kl

from .log_uniform import LogUniform, sparse_vd_kl

__all__ = ["LogAlphaNormal"]


class LogAlphaNormal(dist.Normal):
    r"""A Pyro ``Normal`` that also holds its :math:`\log\alpha = \log\sigma^2 - \log\theta^2`.

    The guide of a sparsified weight knows :math:`\log\alpha` before it builds the Normal (it
    computes the scale from it, with clipping); ``kl_divergence(LogAlphaNormal, LogUniform)`` is
    :func:`sparse_vd_kl` of that tensor, instead of recomputing it from ``loc`` and ``scale`` as
    the plain ``Normal`` registration does: the same value and gradients up to rounding, in fewer
    passes over the parameters, and ``loc`` may be exactly 0.

    :param loc: :math:`\theta`.
    :param scale: :math:`\sigma`, which must equal :math:`|\theta| e^{\log\alpha / 2}`.
    :param log_alpha: the (clipped) :math:`\log\alpha`, broadcastable with ``loc``.
    :param kl: optionally, :func:`sparse_vd_kl` of ``log_alpha`` elementwise, computed by the caller
        together with ``log_alpha`` and ``scale`` (one fused kernel); the registered KL returns it.
    """

    def __init__(self, loc, scale, log_alpha, kl=None, validate_args=None):
        super().__init__(loc, scale, validate_args=validate_args)
        self.log_alpha = log_alpha.expand(self.batch_shape)
        self.kl = None if kl is None else kl.expand(self.batch_shape)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogAlphaNormal, _instance)
        new.log_alpha = self.log_alpha.expand(batch_shape)
        new.kl = None if self.kl is None else self.kl.expand(batch_shape)
        return super().expand(batch_shape, _instance=new)


@register_kl(LogAlphaNormal, LogUniform)
def _kl_log_alpha_normal_log_uniform(p: LogAlphaNormal, q: LogUniform) -> torch.Tensor:
    kl = sparse_vd_kl(p.log_alpha) if p.kl is None else p.kl
    return kl.expand(torch.broadcast_shapes(p.batch_shape, q.batch_shape))
