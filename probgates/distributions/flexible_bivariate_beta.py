"""Five-Gamma "flexible" bivariate Beta distribution (the bBeta-LSTM 5G gate pair)."""

import torch
from pyro.distributions import Beta, Gamma, TorchDistribution
from torch.distributions import constraints

from ._constraints import clamp_open_unit, open_unit_interval

__all__ = ["FlexibleBivariateBeta", "flexible_gates"]


def _check_last_dim_5(tensor: torch.Tensor, what: str) -> None:
    if tensor.dim() < 1 or tensor.shape[-1] != 5:
        raise ValueError(f"{what} must have a last dimension of size 5, got shape {tuple(tensor.shape)}")


def flexible_gates(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Map five positive values ``g[..., 0:5]`` to the pair of flexible bivariate Beta gates.

    .. math::

        i = \frac{g_1 + g_3}{g_1 + g_3 + g_4 + g_5}, \qquad f = \frac{g_2 + g_4}{g_2 + g_3 + g_4 + g_5}.

    With independent :math:`g_k \sim \mathrm{Gamma}(a_k, 1)` the pair ``(i, f)`` follows
    :class:`FlexibleBivariateBeta` ``(a)``. :math:`g_5` sits in both denominators (positive dependence)
    while :math:`g_3` and :math:`g_4` each sit in one numerator and the other complement (negative
    dependence). This is the gate construction of the bBeta-LSTM "5G" cell; at evaluation time the paper
    passes the Gamma means (the concentrations themselves) through the same map.

    The function is differentiable and does no clamping.

    :param torch.Tensor g: positive tensor whose last dimension has size 5.
    :returns: the tuple ``(i, f)``, each of shape ``g.shape[:-1]``.
    """
    _check_last_dim_5(g, "flexible_gates input")
    g1, g2, g3, g4, g5 = g.unbind(-1)
    i_num = g1 + g3
    f_num = g2 + g4
    return i_num / (i_num + g4 + g5), f_num / (f_num + g3 + g5)


class FlexibleBivariateBeta(TorchDistribution):
    r"""Flexible bivariate Beta distribution built from five independent Gamma variables.

    With independent :math:`G_k \sim \mathrm{Gamma}(a_k, 1)`, :math:`k = 1, \dots, 5`,

    .. math::

        i = \frac{G_1 + G_3}{G_1 + G_3 + G_4 + G_5}, \qquad
        f = \frac{G_2 + G_4}{G_2 + G_3 + G_4 + G_5},

    (see :func:`flexible_gates`). The marginals are
    :math:`i \sim \mathrm{Beta}(a_1 + a_3, a_4 + a_5)` and :math:`f \sim \mathrm{Beta}(a_2 + a_4, a_3 + a_5)`.
    Unlike :class:`~probgates.distributions.BivariateBeta`, the correlation can take either sign: a large
    :math:`a_5` pushes it up, large :math:`a_3, a_4` push it down. This is the construction of Arnold and Ng
    (2011), "Flexible bivariate beta distributions", J. Multivariate Analysis 102(8), and the 5-Gamma gate
    pair of the bBeta-LSTM (Song et al., 2020, arXiv 1905.10521; project reference
    ``bivariate_beta_lstm.md`` section 3.3).

    **Density.** There is no closed form. Integrating out the common scale of the Gammas (and writing
    :math:`P = G_1/(G_1+G_3) \sim \mathrm{Beta}(a_1, a_3)`, :math:`Q = G_2/(G_2+G_4) \sim
    \mathrm{Beta}(a_2, a_4)`, :math:`\alpha = a_1 + a_3`, :math:`\beta = a_2 + a_4`, :math:`\gamma = a_5`)
    leaves a two-dimensional integral,

    .. math::

        p(i, f) = \frac{\Gamma(\alpha+\beta+\gamma)}{\Gamma(\alpha)\Gamma(\beta)\Gamma(\gamma)}
            i^{\alpha-1} f^{\beta-1}\,
            \mathbb{E}_{P, Q}\left[ \frac{(1 - fQ)^{\alpha} (1 - iP)^{\beta} \Delta_+^{\gamma-1}}
                                          {(1 - i f P Q)^{\alpha+\beta+\gamma}} \right],
        \quad \Delta = (1-i)(1-f) - i f (1-P)(1-Q),

    whose integrand has power-law singularities of data-dependent order on the edges of the unit square and
    along the curve :math:`\Delta = 0`. :meth:`log_prob` therefore raises :class:`NotImplementedError`
    rather than returning a value of unknown accuracy. Models should make the five Gammas the latent sample
    sites (with analytic Gamma KL) and compute the gates with :func:`flexible_gates`.

    :meth:`rsample` is pathwise through ``Gamma.rsample`` (implicit reparameterisation), so gradients reach
    ``concentration``. Values that round onto the edge of the square are moved just inside it.

    :param torch.Tensor concentration: positive shapes :math:`(a_1, \dots, a_5)` in the last dimension,
        which must have size 5; the leading dimensions are the batch shape.
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.independent(open_unit_interval, 1)
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if not isinstance(concentration, torch.Tensor):
            concentration = torch.as_tensor(concentration, dtype=torch.get_default_dtype())
        _check_last_dim_5(concentration, "concentration")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], torch.Size((2,)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(FlexibleBivariateBeta, _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + (5,))
        super(FlexibleBivariateBeta, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        g = Gamma(self.concentration, 1.0, validate_args=False).rsample(sample_shape)
        i, f = flexible_gates(g)
        return clamp_open_unit(torch.stack([i, f], dim=-1))

    def log_prob(self, value):
        raise NotImplementedError(
            "FlexibleBivariateBeta has no closed-form density: after integrating out the common Gamma scale "
            "it is a two-dimensional integral with data-dependent boundary singularities (see the class "
            "docstring), and no numerical evaluation of verified accuracy is provided. Use the five Gamma "
            "variables as latent sites (Gamma-Gamma KL is analytic) and compute the gates with "
            "probgates.distributions.flexible_gates, or use marginals() for the univariate Beta densities."
        )

    def _marginal_params(self):
        a1, a2, a3, a4, a5 = self.concentration.unbind(-1)
        return (a1 + a3, a4 + a5), (a2 + a4, a3 + a5)

    @property
    def mean(self):
        (ai, bi), (af, bf) = self._marginal_params()
        return torch.stack([ai / (ai + bi), af / (af + bf)], dim=-1)

    @property
    def variance(self):
        def beta_var(alpha, beta):
            total = alpha + beta
            return alpha * beta / (total.pow(2) * (total + 1))

        (ai, bi), (af, bf) = self._marginal_params()
        return torch.stack([beta_var(ai, bi), beta_var(af, bf)], dim=-1)

    def marginals(self) -> tuple[Beta, Beta]:
        """The two univariate marginals ``(Beta(a1 + a3, a4 + a5), Beta(a2 + a4, a3 + a5))``."""
        (ai, bi), (af, bf) = self._marginal_params()
        return (
            Beta(ai, bi, validate_args=self._validate_args),
            Beta(af, bf, validate_args=self._validate_args),
        )
