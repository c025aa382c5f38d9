"""Probability distributions for probabilistic LSTM gates, sparse variational dropout and the heads.

* :class:`BivariateBeta`: Olkin-Liu 3-Gamma bivariate Beta (positively correlated gate pair), with
  :func:`olkin_liu_gates` mapping three Gamma draws to the two gates.
* :class:`FlexibleBivariateBeta`: 5-Gamma bivariate Beta whose correlation can take either sign, with
  :func:`flexible_gates` mapping five Gamma draws to the gates ``(i, f)``.
* :class:`MarsagliaTsangGamma`: a Gamma whose ``rsample`` is the Marsaglia-Tsang transform with
  shape augmentation and a pathwise gradient (fast; slightly biased gradient).
* :class:`VectorizedKLGamma`: a Gamma whose KL from any Gamma is :func:`gamma_kl`, computed with
  vectorized digamma / log-gamma / trigamma (the gate priors use it).
* :class:`LogUniform`: the improper log-uniform prior of sparse variational dropout, with
  :func:`sparse_vd_kl`, the Molchanov et al. (2017) KL approximation, registered for
  ``kl_divergence(Normal, LogUniform)``, and :class:`LogAlphaNormal`, the guide of a sparsified
  weight, a Normal that carries its log alpha so that its KL to the prior reads it directly.
* :class:`CrossEntropyCategorical`: ``Categorical(logits=...)`` whose ``log_prob`` is the fused
  cross-entropy kernel (the likelihood of the token and label heads).
"""

from .bivariate_beta import BivariateBeta, olkin_liu_gates
from .cross_entropy_categorical import CrossEntropyCategorical
from .flexible_bivariate_beta import FlexibleBivariateBeta, flexible_gates
from .gamma_kl import VectorizedKLGamma, gamma_kl
from .log_alpha_normal import LogAlphaNormal
from .log_uniform import SPARSE_VD_KL_CONSTANTS, LogUniform, sparse_vd_kl, sparse_vd_kl_expression
from .marsaglia_tsang import MarsagliaTsangGamma

__all__ = [
    "SPARSE_VD_KL_CONSTANTS",
    "BivariateBeta",
    "CrossEntropyCategorical",
    "FlexibleBivariateBeta",
    "LogAlphaNormal",
    "LogUniform",
    "MarsagliaTsangGamma",
    "VectorizedKLGamma",
    "flexible_gates",
    "gamma_kl",
    "olkin_liu_gates",
    "sparse_vd_kl",
    "sparse_vd_kl_expression",
]
