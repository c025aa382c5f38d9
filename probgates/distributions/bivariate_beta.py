"""Olkin & Liu (2003) bivariate Beta distribution built from three Gamma variables."""

import torch
from pyro.distributions import Beta, Gamma, TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ._constraints import clamp_open_unit, open_unit_interval

__all__ = ["BivariateBeta", "olkin_liu_gates"]


def olkin_liu_gates(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Map three positive values ``g[..., 0:3]`` to the pair of Olkin–Liu gates.

    .. math::

        x = \frac{g_1}{g_1 + g_3}, \qquad y = \frac{g_2}{g_2 + g_3},

    where :math:`g_3` (``g[..., 2]``) is shared by both gates. With independent
    :math:`g_k \sim \mathrm{Gamma}(a_k, 1)` the pair ``(x, y)`` follows
    :class:`BivariateBeta` ``(a_1, a_2, a_3)``. In the bBeta-LSTM (3 Gammas) the gates are
    ``i, f = olkin_liu_gates(stack([G_i, G_f, G_s], -1))``.

    The function is differentiable and does no clamping: when ``g`` comes from ``Gamma.rsample`` it is
    already at least the smallest normal number, so the ratios are well defined.

    :param torch.Tensor g: positive tensor whose last dimension has size 3.
    :returns: the tuple ``(x, y)``, each of shape ``g.shape[:-1]``.
    """
    if g.dim() < 1 or g.shape[-1] != 3:
        raise ValueError(f"olkin_liu_gates expects a last dimension of size 3, got shape {tuple(g.shape)}")
    g1, g2, g3 = g.unbind(-1)
    return g1 / (g1 + g3), g2 / (g2 + g3)


def _log1m_product(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``log(1 - x*y)`` for x, y in (0, 1), accurate also when both are close to one."""
    xy = x * y
    # 1 - xy = (1 - x) + x (1 - y); the right side avoids cancellation when xy is near 1.
    near_one = xy > 0.5
    safe_near = torch.where(near_one, (1 - x) + x * (1 - y), torch.ones_like(xy))
    safe_far = torch.where(near_one, torch.zeros_like(xy), xy)
    return torch.where(near_one, safe_near.log(), torch.log1p(-safe_far))


class BivariateBeta(TorchDistribution):
    r"""Bivariate Beta distribution of Olkin and Liu (2003) on the open unit square.

    With independent :math:`U_1 \sim \mathrm{Gamma}(a, 1)`, :math:`U_2 \sim \mathrm{Gamma}(b, 1)` and
    :math:`U_3 \sim \mathrm{Gamma}(c, 1)`,

    .. math::

        X = \frac{U_1}{U_1 + U_3}, \qquad Y = \frac{U_2}{U_2 + U_3}.

    The shared :math:`U_3` makes the correlation of :math:`X` and :math:`Y` positive. The marginals are
    :math:`X \sim \mathrm{Beta}(a, c)` and :math:`Y \sim \mathrm{Beta}(b, c)`, and the joint density is

    .. math::

        p(x, y) = \frac{x^{a-1} \, y^{b-1} \, (1-x)^{b+c-1} \, (1-y)^{a+c-1}}
                       {B(a, b, c) \, (1 - x y)^{a+b+c}},
        \qquad B(a, b, c) = \frac{\Gamma(a)\Gamma(b)\Gamma(c)}{\Gamma(a+b+c)},

    for :math:`0 < x, y < 1`. It follows from the substitution :math:`U_1 = U_3 x / (1-x)`,
    :math:`U_2 = U_3 y / (1-y)` and integrating :math:`U_3` out. :meth:`rsample` is pathwise: it uses the
    implicit reparameterisation gradients of ``Gamma.rsample``, so gradients reach ``a``, ``b`` and ``c``.
    This is the 3-Gamma gate pair of the bBeta-LSTM (Song et al., 2020, arXiv 1905.10521, section 3.2 of
    the project reference ``bivariate_beta_lstm.md``).

    Reference: I. Olkin and R. Liu (2003), "A bivariate beta distribution", Statistics & Probability
    Letters 62(4), 407-412.

    :param a: shape of the first gate's own Gamma (batch-broadcastable, positive).
    :param b: shape of the second gate's own Gamma (positive).
    :param c: shape of the shared Gamma (positive).

    Samples have ``event_shape == (2,)``; ``value[..., 0]`` is :math:`X` and ``value[..., 1]`` is :math:`Y`.
    Values that round onto the edge of the square are moved to the nearest representable number inside it.
    """

    arg_constraints = {"a": constraints.positive, "b": constraints.positive, "c": constraints.positive}
    support = constraints.independent(open_unit_interval, 1)
    has_rsample = True

    def __init__(self, a, b, c, validate_args=None):
        self.a, self.b, self.c = broadcast_all(a, b, c)
        super().__init__(self.a.shape, torch.Size((2,)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(BivariateBeta, _instance)
        batch_shape = torch.Size(batch_shape)
        new.a = self.a.expand(batch_shape)
        new.b = self.b.expand(batch_shape)
        new.c = self.c.expand(batch_shape)
        super(BivariateBeta, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _concentration(self) -> torch.Tensor:
        return torch.stack([self.a, self.b, self.c], dim=-1)

    def rsample(self, sample_shape=()):
        g = Gamma(self._concentration(), 1.0, validate_args=False).rsample(sample_shape)
        x, y = olkin_liu_gates(g)
        return clamp_open_unit(torch.stack([x, y], dim=-1))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b, c = self.a, self.b, self.c
        x, y = value[..., 0], value[..., 1]
        log_beta3 = torch.lgamma(a) + torch.lgamma(b) + torch.lgamma(c) - torch.lgamma(a + b + c)
        return (
            (a - 1) * x.log()
            + (b - 1) * y.log()
            + (b + c - 1) * torch.log1p(-x)
            + (a + c - 1) * torch.log1p(-y)
            - (a + b + c) * _log1m_product(x, y)
            - log_beta3
        )

    @property
    def mean(self):
        return torch.stack([self.a / (self.a + self.c), self.b / (self.b + self.c)], dim=-1)

    @property
    def variance(self):
        def beta_var(alpha, beta):
            total = alpha + beta
            return alpha * beta / (total.pow(2) * (total + 1))

        return torch.stack([beta_var(self.a, self.c), beta_var(self.b, self.c)], dim=-1)

    def marginals(self) -> tuple[Beta, Beta]:
        """The two univariate marginals ``(Beta(a, c), Beta(b, c))``."""
        return (
            Beta(self.a, self.c, validate_args=self._validate_args),
            Beta(self.b, self.c, validate_args=self._validate_args),
        )
