"""The interface of a gate family: how one LSTM step turns preactivations into (i, f).

Every family reads the same single affine map of the LSTM step (Song et al. 2020, Sec. 3)::

    z_t = W x_t + U h_{t-1} + b,  split as [ z^gate (C*H) | z^o (H) | z^g (H) ]

and replaces only the input gate i_t and the forget gate f_t; the output gate stays
sigmoid(z^o) and the candidate tanh(z^g). Deterministic families compute (i, f) from z^gate
directly. Gamma-ratio families read K Gamma shapes per unit, alpha = softplus(z^gate) + 1e-3,
and form (i, f) as ratios of sums of Gammas G_k ~ Gamma(alpha_k, 1); the Gammas are the latent
Pyro sites. Every Gamma-ratio family is one *mixing matrix* M (4 x K): the rows give the sums
(numerator of i, denominator of i, numerator of f, denominator of f), so i = (M g)_0 / (M g)_1
and f = (M g)_2 / (M g)_3; one small matmul replaces a chain of additions in the recurrence.

The gate columns of z are component-major: component k of unit j is column ``k * H + j``.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor
from torch.nn import functional as F

from probgates.distributions import MarsagliaTsangGamma

#: The offset added to the Gamma shapes (and to training samples) in the BetaLSTM code.
GAMMA_EPS = 1e-3

#: How Gamma draws are reparameterized: ``"implicit"`` (:class:`pyro.distributions.Gamma`, exact
#: implicit gradient) or ``"marsaglia_tsang"`` (:class:`MarsagliaTsangGamma`: several times
#: faster, gradient biased by about 0.3 %; see its module).
GAMMA_REPARAMS = ("implicit", "marsaglia_tsang")


class GateFamily:
    """Base class of the deterministic gate families.

    Attributes:
        name: the family's name in specs.
        num_gate_inputs: C, how many preactivations per unit feed (i, f).
        num_gammas: K, latent Gammas per unit (0 for deterministic families).
    """

    name = ""
    num_gate_inputs = 2
    num_gammas = 0

    @property
    def stochastic(self) -> bool:
        return self.num_gammas > 0

    def gates(self, z: Tensor, training: bool) -> tuple[Tensor, Tensor]:
        """``(i, f)``, each ``[B, H]``, from component-major gate preactivations ``z`` ``[B, C, H]``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GammaRatioFamily(GateFamily):
    """Base class of the families whose gates are ratios of sums of latent Gammas.

    Subclasses set ``num_gammas`` and ``MIXING`` (4 rows of K zeros and ones: numerator of i,
    denominator of i, numerator of f, denominator of f).

    Args:
        reparam: how Gamma draws are reparameterized, one of :data:`GAMMA_REPARAMS`.
    """

    MIXING: tuple[tuple[int, ...], ...] = ()

    def __init__(self, reparam: str = "implicit"):
        if reparam not in GAMMA_REPARAMS:
            valid = ", ".join(GAMMA_REPARAMS)
            raise ValueError(f"unknown Gamma reparameterization {reparam!r}; valid: {valid}")
        self.reparam = reparam
        self.num_gate_inputs = self.num_gammas
        self._mixing: dict[tuple[torch.dtype, torch.device], Tensor] = {}
        #: For each row of ``MIXING``, the components it adds up (read at every step).
        self.mixing_rows = tuple(tuple(k for k, used in enumerate(row) if used) for row in self.MIXING)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reparam={self.reparam!r})"

    def mixing(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> Tensor:
        key = (dtype, torch.device(device))
        if key not in self._mixing:
            self._mixing[key] = torch.tensor(self.MIXING, dtype=dtype, device=device)
        return self._mixing[key]

    @staticmethod
    def concentration(z: Tensor) -> Tensor:
        """The Gamma shapes ``softplus(z) + 1e-3`` (the amortized guide's parameters)."""
        return F.softplus(z).add_(GAMMA_EPS)  # in place: softplus's backward reads its input

    def gates_from_gammas(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``(i, f)`` from Gamma values ``g`` whose last dimension holds the K components."""
        sums = g @ self.mixing(g.dtype, g.device).T
        return sums[..., 0] / sums[..., 1], sums[..., 2] / sums[..., 3]

    def step_gates(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``(i, f)``, each ``[B, H]``, from component-major Gammas ``g`` of shape ``[B, K, H]``.

        The rows of ``MIXING`` as sums of ``[B, H]`` slices: for K <= 5 a few additions are
        several times cheaper per step than a batched 4 x K matmul.
        """
        components = g.unbind(1)
        sums = [sum((components[k] for k in row[1:]), components[row[0]]) for row in self.mixing_rows]
        return sums[0] / sums[1], sums[2] / sums[3]

    def marginal_concentrations(self, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(a_i, b_i, a_f, b_f)``: i ~ Beta(a_i, b_i) and f ~ Beta(a_f, b_f) given shapes ``alpha``
        (last dimension K): a = numerator sum, b = denominator sum minus numerator sum."""
        sums = alpha @ self.mixing(alpha.dtype, alpha.device).T
        return sums[..., 0], sums[..., 1] - sums[..., 0], sums[..., 2], sums[..., 3] - sums[..., 2]

    def mean_gates(self, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """The paper's evaluation rule: G := alpha, which gives each gate's exact Beta mean."""
        return self.gates_from_gammas(alpha)

    def gamma_distribution(self, alpha: Tensor, validate_args: bool | None = None) -> dist.Gamma:
        """Gamma(alpha, 1), reparameterized as the family's ``reparam`` says."""
        if self.reparam == "marsaglia_tsang":
            return MarsagliaTsangGamma(alpha, 1.0, validate_args=validate_args)
        return dist.Gamma(alpha, 1.0, validate_args=validate_args)

    def sample_gammas(self, alpha: Tensor) -> Tensor:
        """Pathwise Gamma(alpha, 1) draws plus the code's 1e-3 offset (used outside Pyro)."""
        return self.gamma_distribution(alpha, validate_args=False).rsample() + GAMMA_EPS
