"""Sparse variational layers: Linear (with the local reparameterization trick), Embedding, LSTM.

Each layer holds :class:`~probgates.sparse.variational.SparseVariable` tensors and computes its
output from a dict of *values* for them: sampled values in the Pyro model (``model_values``; the
guide draws the same sites in ``guide_values``), the masked means at evaluation
(``masked_values``). Biases are plain parameters and never sparsified.

Noise sharing (reference §6.4): weights get one sample per minibatch, shared by every sequence and
time step; group variables one per minibatch (default; folded into the fused kernel) or one per
sequence (``[B, n]`` sites whose KL is scaled by ``1/B``, so it still counts once).
"""

from __future__ import annotations

import math

import torch
from pyro.nn import PyroModule
from torch import nn
from torch.nn import functional as F

from probgates.sparse.kernels import LSTMState, input_projection, lstm_fused, lstm_loop, lstm_loop_folded
from probgates.sparse.lrt import lrt_sample
from probgates.sparse.variational import SparseVariable


def glorot_uniform(rows: int, cols: int) -> torch.Tensor:
    bound = math.sqrt(6.0 / (rows + cols))
    return torch.empty(rows, cols).uniform_(-bound, bound)


class SparseLayer(PyroModule):
    """Base: named :class:`SparseVariable` members, their sites and value dicts."""

    variable_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()  # variables that may be sampled once per sequence

    def variables(self) -> dict[str, SparseVariable]:
        return {n: getattr(self, n) for n in self.variable_names if getattr(self, n, None) is not None}

    def _copies(self, name: str, batch_size: int, per_sequence: bool) -> int | None:
        return batch_size if per_sequence and name in self.group_names else None

    def model_values(self, batch_size: int, per_sequence: bool = False) -> dict[str, torch.Tensor]:
        return {
            n: v.model_sample(self._copies(n, batch_size, per_sequence)) for n, v in self.variables().items()
        }

    def guide_values(self, batch_size: int, per_sequence: bool = False) -> dict[str, torch.Tensor]:
        return {
            n: v.guide_sample(self._copies(n, batch_size, per_sequence)) for n, v in self.variables().items()
        }

    def masked_values(self) -> dict[str, torch.Tensor]:
        return {n: v.masked_mean() for n, v in self.variables().items()}


def _variable(prefix, name, init, sparse, options) -> SparseVariable | None:
    return SparseVariable(f"{prefix}.{name}", init, sparse=sparse, **options)


class SparseLinear(SparseLayer):
    """``y = x W^T + b``; with ``lrt`` the training output is drawn from N(x theta^T + b, x^2 sigma'^2).

    ``training_dtype`` (None: the input's dtype) is the dtype of the products while training on
    sampled values: ``x`` and ``W`` (for the LRT, also ``x^2`` and ``sigma^2``) are rounded to it,
    and the result, with the bias added, comes back in the input's dtype. Evaluation on the masked
    means always computes in the input's dtype.
    """

    variable_names = ("weight",)

    def __init__(
        self,
        in_features,
        out_features,
        *,
        sparse=True,
        lrt=True,
        training_dtype=None,
        prefix="head",
        **options,
    ):
        super().__init__()
        self.lrt = lrt and sparse
        self.training_dtype = training_dtype
        self.weight = _variable(prefix, "weight", glorot_uniform(out_features, in_features), sparse, options)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def _training_product(self, x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
        """``x W^T (+ bias)`` with ``x`` and ``W`` in ``training_dtype``, returned in ``x``'s dtype."""
        dtype = self.training_dtype
        if dtype is None or dtype == x.dtype:
            return F.linear(x, weight, bias)
        product = F.linear(x.to(dtype), weight.to(dtype)).to(x.dtype)
        return product if bias is None else product.add_(bias)

    def forward(self, x: torch.Tensor, values: dict | None, deterministic: bool = False) -> torch.Tensor:
        """``values["weight"]`` is used as is unless LRT applies (training, sampled values)."""
        if values is None or deterministic or not self.training:
            weight = self.weight.masked_mean() if values is None else values["weight"]
            return F.linear(x, weight, self.bias)
        if not self.lrt:
            return self._training_product(x, values["weight"], self.bias)
        # Local reparameterization: the preactivation of each example has its own noise. The site's
        # sampled weight only carries the KL; the output uses the posterior it came from.
        q = self.weight.posterior()
        mean = self._training_product(x, q.base_dist.loc, self.bias)
        var = self._training_product(x.square(), q.base_dist.scale.square())
        return lrt_sample(mean, var)


class SparseEmbedding(SparseLayer):
    """Token embeddings ``e_t = W[token] * z_voc[token]`` (weights W, vocabulary variables N)."""

    variable_names = ("weight", "z_voc")
    group_names = ("z_voc",)

    def __init__(self, vocab_size, dim, *, weights=True, vocab=True, prefix="embedding", **options):
        super().__init__()
        init = torch.empty(vocab_size, dim).uniform_(-0.05, 0.05)
        self.weight = _variable(prefix, "weight", init, weights, options)
        self.z_voc = _variable(prefix, "z_voc", torch.ones(vocab_size), True, options) if vocab else None

    def forward(self, tokens: torch.Tensor, values: dict) -> torch.Tensor:
        x = F.embedding(tokens, values["weight"])
        z = values.get("z_voc")
        if z is not None:
            x = x * (z[tokens] if z.dim() == 1 else z.gather(1, tokens)).unsqueeze(-1)
        return x


def _per_sequence(values: dict) -> bool:
    """Whether z_gate or z_h was drawn once per sequence (``[B, n]``), which only the loop takes."""
    return any(values.get(n) is not None and values[n].dim() == 2 for n in ("z_gate", "z_h"))


class SparseLSTM(SparseLayer):
    """One LSTM layer with weight (W), gate-preactivation (G) and neuron (N) variables.

    Args:
        input_size: D (embedding size, frame size, or the vocabulary size for one-hot inputs).
        hidden_size: H.
        weights: W sparsified (else deterministic weights).
        gates: G, one variable per unit and gate ``z_gate`` ``[4H]``.
        hidden_neurons: N on hidden neurons ``z_h`` ``[H]``.
        input_neurons: N on the inputs ``z_x`` ``[D]``.
        one_hot: inputs are token ids fed as one-hot vectors (W_x works as the embedding).
        activation: ``"sigmoid"`` or ``"hard_sigmoid"`` for i, f, o.
        forget_bias: initial forget-gate bias.
    """

    variable_names = ("weight_ih", "weight_hh", "z_x", "z_gate", "z_h")
    group_names = ("z_x", "z_gate", "z_h")

    def __init__(
        self,
        input_size,
        hidden_size,
        *,
        weights=True,
        gates=True,
        hidden_neurons=True,
        input_neurons=True,
        one_hot=False,
        activation="sigmoid",
        forget_bias=1.0,
        prefix="lstm",
        **options,
    ):
        super().__init__()
        H = hidden_size
        self.input_size, self.hidden_size, self.one_hot, self.activation = input_size, H, one_hot, activation
        w_ih = torch.cat([glorot_uniform(H, input_size) for _ in range(4)])
        w_hh = torch.cat([nn.init.orthogonal_(torch.empty(H, H)) for _ in range(4)])
        self.weight_ih = _variable(prefix, "weight_ih", w_ih, weights, options)
        self.weight_hh = _variable(prefix, "weight_hh", w_hh, weights, options)
        bias = torch.zeros(4 * H)
        bias[H : 2 * H] = forget_bias
        self.bias = nn.Parameter(bias)
        ones = torch.ones
        self.z_x = _variable(prefix, "z_x", ones(input_size), True, options) if input_neurons else None
        self.z_gate = _variable(prefix, "z_gate", ones(4 * H), True, options) if gates else None
        self.z_h = _variable(prefix, "z_h", ones(H), True, options) if hidden_neurons else None
        self.force_loop = False

    def uses_loop(self, values: dict) -> bool:
        """The Python loop is needed for the hard sigmoid and per-sequence z_gate/z_h. One-hot inputs
        take the loop on the CPU, where it is faster than the fused kernel's extra identity product,
        and the fused kernel on CUDA, where the loop's many small kernel launches set the pace."""
        one_hot_on_cpu = self.one_hot and not values["weight_hh"].is_cuda
        return self.force_loop or self.activation != "sigmoid" or _per_sequence(values) or one_hot_on_cpu

    def forward(
        self, x: torch.Tensor, values: dict, loop: bool | None = None, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """States ``[B, T, H]`` (times z_h) for inputs ``[B, T, D]`` or token ids ``[B, T]``, and the
        final state; ``state`` is the initial one (None: zeros; see :mod:`probgates.sparse.kernels`)."""
        w_ih, w_hh = values["weight_ih"], values["weight_hh"]
        z_x, z_gate, z_h = values.get("z_x"), values.get("z_gate"), values.get("z_h")
        fused = not (self.uses_loop(values) if loop is None else loop)
        if fused and not self.one_hot:
            return lstm_fused(x, w_ih, w_hh, self.bias, z_x, z_gate, z_h, state)
        xproj = input_projection(x, w_ih, z_x, self.one_hot)
        if fused:
            # One-hot tokens: the fused kernel reads their looked-up columns of W_x through an
            # identity input matrix (a [4H, 4H] product instead of a [4H, V] one on one-hot vectors).
            eye = torch.eye(xproj.shape[-1], dtype=xproj.dtype, device=xproj.device)
            return lstm_fused(xproj, eye, w_hh, self.bias, None, z_gate, z_h, state)
        loop_kernel = lstm_loop if _per_sequence(values) else lstm_loop_folded
        return loop_kernel(xproj, w_hh, self.bias, z_gate, z_h, self.activation, state)
