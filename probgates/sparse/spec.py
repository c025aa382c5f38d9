"""The ``[model.sparse]`` table of a spec: which layers are sparsified, how, and how they are pruned.

Variants follow Lobacheva et al. (2020): **W** (individual weights), **G** (one variable per unit and
gate i, f, g, o multiplying the preactivation), **N** (neurons: LSTM inputs and the vocabulary of an
embedding when ``input_groups``, hidden neurons always). A variant is written as letters joined by
``+`` (``"W"``, ``"W+N"``, ``"W+G+N"``) or ``"dense"``; ``variant`` applies to every layer where the
letter makes sense, ``layers`` overrides single layers and is checked strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Layers of the sparse sequence model and the letters each of them accepts.
LAYER_LETTERS = {"embedding": ("W", "N"), "lstm": ("W", "G", "N"), "head": ("W",)}
LETTERS = ("W", "G", "N")
FRAMEWORKS = ("bayes", "pruning")
GROUP_NOISE = ("minibatch", "sequence")
HEAD_NOISE = ("lrt", "weights")
HEAD_PRECISIONS = ("full", "bfloat16")
GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid")


def parse_variant(text: str, key: str, valid: tuple[str, ...] = LETTERS) -> frozenset[str]:
    """``"W+G+N"`` -> ``{"W", "G", "N"}``; ``"dense"`` -> empty. Raises ValueError naming ``key``."""
    if not isinstance(text, str):
        raise ValueError(f"{key} must be a string such as 'W+G+N' or 'dense', got {text!r}")
    if text.strip().lower() == "dense":
        return frozenset()
    letters = [p.strip().upper() for p in text.split("+")]
    bad = [p for p in letters if p not in valid]
    if not text.strip() or bad:
        raise ValueError(
            f"{key}: unknown variant letter(s) {', '.join(repr(b) for b in bad) or repr(text)}; "
            f"valid letters: {', '.join(valid)} joined by '+' (e.g. 'W+G+N'), or 'dense'"
        )
    if len(set(letters)) != len(letters):
        raise ValueError(f"{key}: variant {text!r} repeats a letter")
    return frozenset(letters)


@dataclass(frozen=True)
class SparseSpec:
    """Settings of a structured-sparsification model (``[model.sparse]``).

    Attributes:
        variant: letters for every layer, ``"W"``, ``"W+N"``, ``"W+G+N"`` or ``"dense"``.
        layers: per-layer overrides ``{embedding|lstm|head: variant}``; the embedding accepts W, N
            (N = vocabulary variables), the LSTM W, G, N, the head W.
        framework: ``"bayes"`` (log-uniform priors, SVI) or ``"pruning"`` (group Lasso + threshold).
        hidden_size: LSTM units.
        embedding_dim: embedding size for token inputs; 0 feeds one-hot tokens straight into the LSTM
            (the paper's language models; W_x plays the embedding).
        input_groups: N also covers the LSTM inputs and the vocabulary (classification); false for
            the paper's language models, where N means hidden neurons only.
        group_noise: group variables sampled once per ``"minibatch"`` (folds into the fused kernel)
            or once per ``"sequence"`` (the paper code; G and hidden N then need the Python loop).
        head_noise: ``"lrt"`` (local reparameterization) or ``"weights"`` (one sample per minibatch).
        head_precision: the head's products during training: ``"full"`` (the model's dtype) or
            ``"bfloat16"`` (inputs and weights rounded to bfloat16, products accumulated in float32,
            results in the model's dtype; on CPUs with AVX512-BF16 or AMX about 3x faster on a
            10,000-way head, on others slower). Evaluation, the masks and every export compute in
            the model's dtype.
        compiled_posterior: compute every sparse tensor's log alpha, guide scale and KL in one
            kernel fused by ``torch.compile`` (about 2x faster over a 10-million-weight tensor on the
            CPU; the first update compiles it; without a working C++ compiler, a warning and the
            eager path).
        gate_activation: ``"sigmoid"`` (fused kernel) or ``"hard_sigmoid"`` (the classification
            setups of the paper code; Python loop).
        forget_bias: initial forget-gate bias (1 classification and word PTB, 0 char PTB).
        threshold: prune where log alpha >= threshold (Bayes).
        log_alpha_clip: ``[low, high]`` clipping of log alpha in the KL, the noise and the masks.
        log_sigma_init: initial log sigma of every variational Normal.
        lasso_weight, lasso_gate, lasso_neuron: group-Lasso strengths per training datum (pruning):
            L1 on weights, L2 norms of gate preactivation rows and of neuron groups.
        prune_threshold: weights with magnitude below this are pruned after training (pruning).
    """

    variant: str = "W+G+N"
    layers: dict = field(default_factory=dict)
    framework: str = "bayes"
    hidden_size: int = 128
    embedding_dim: int = 300
    input_groups: bool = True
    group_noise: str = "minibatch"
    head_noise: str = "lrt"
    head_precision: str = "full"
    compiled_posterior: bool = False
    gate_activation: str = "sigmoid"
    forget_bias: float = 1.0
    threshold: float = 3.0
    log_alpha_clip: list[float] = field(default_factory=lambda: [-8.0, 8.0])
    log_sigma_init: float = -3.0
    lasso_weight: float = 1e-3
    lasso_gate: float = 1e-2
    lasso_neuron: float = 1e-2
    prune_threshold: float = 1e-2

    def __post_init__(self):
        p = "model.sparse"
        parse_variant(self.variant, f"{p}.variant")
        if not isinstance(self.layers, dict):
            raise ValueError(f"{p}.layers must be a table {{layer = variant}}, got {self.layers!r}")
        for name, text in self.layers.items():
            if name not in LAYER_LETTERS:
                raise ValueError(
                    f"unknown layer {name!r} in {p}.layers; valid layers: {', '.join(LAYER_LETTERS)}"
                )
            parse_variant(text, f"{p}.layers.{name}", LAYER_LETTERS[name])
        for name, valid in (
            ("framework", FRAMEWORKS),
            ("group_noise", GROUP_NOISE),
            ("head_noise", HEAD_NOISE),
            ("head_precision", HEAD_PRECISIONS),
            ("gate_activation", GATE_ACTIVATIONS),
        ):
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {p}.{name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if not isinstance(self.compiled_posterior, bool):
            raise ValueError(f"{p}.compiled_posterior must be true or false, got {self.compiled_posterior!r}")
        if self.hidden_size < 1:
            raise ValueError(f"{p}.hidden_size must be >= 1, got {self.hidden_size}")
        if self.embedding_dim < 0:
            raise ValueError(f"{p}.embedding_dim must be >= 0 (0: one-hot inputs), got {self.embedding_dim}")
        clip = list(self.log_alpha_clip)
        if len(clip) != 2 or not all(isinstance(c, int | float) and math.isfinite(c) for c in clip):
            raise ValueError(f"{p}.log_alpha_clip must be two finite numbers [low, high], got {clip!r}")
        low, high = clip
        if not low < high:
            raise ValueError(f"{p}.log_alpha_clip must have low < high, got [{low}, {high}]")
        if not (isinstance(self.threshold, int | float) and math.isfinite(self.threshold)):
            raise ValueError(f"{p}.threshold must be a finite number, got {self.threshold!r}")
        if not low < self.threshold <= high:
            raise ValueError(
                f"{p}.threshold={self.threshold} must lie in ({low}, {high}] (inside {p}.log_alpha_clip): "
                "below it every weight would be pruned, above it none could be"
            )
        if not math.isfinite(self.log_sigma_init):
            raise ValueError(f"{p}.log_sigma_init must be finite, got {self.log_sigma_init}")
        for name in ("lasso_weight", "lasso_gate", "lasso_neuron", "prune_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{p}.{name} must be a finite number >= 0, got {value}")

    def letters(self, layer: str) -> frozenset[str]:
        """The letters in force for ``layer`` (override, else ``variant`` restricted to the layer)."""
        if layer in self.layers:
            return parse_variant(self.layers[layer], f"model.sparse.layers.{layer}", LAYER_LETTERS[layer])
        letters = parse_variant(self.variant, "model.sparse.variant") & frozenset(LAYER_LETTERS[layer])
        if layer == "embedding" and not self.input_groups:
            letters -= {"N"}
        return letters

    @property
    def clip(self) -> tuple[float, float]:
        return float(self.log_alpha_clip[0]), float(self.log_alpha_clip[1])

    @property
    def is_dense(self) -> bool:
        """True when no layer has any sparsity (the dense baseline)."""
        return not any(self.letters(layer) for layer in LAYER_LETTERS)
