"""A recurrent sequence model as a Pyro model/guide pair: input layer, LSTM stack, head.

Token ids go through an embedding, real-valued frames go in directly; then a stack of LSTM layers
with locked dropout between layers and before the head (:mod:`probgates.tasks.heads`).

The recurrent layers are either the fused ``torch.nn.LSTM`` (family ``"lstm"``) or the Python-loop
recurrence of :mod:`probgates.nn.gated_lstm` with a gate family. For Gamma-ratio families
(``beta``, ``bbeta3``, ``bbeta5``) the Gammas of every (layer, step) are a latent site
``gammas_{layer}_{t}`` of value shape ``[B, H * K]`` (``.to_event(1)``, inside the batch plate):

  The site value is component-major: Gamma k of unit j is column ``k * H + j``;
* the prior (model) is Gamma(alpha0, 1), alpha0 from :class:`probgates.nn.gate_prior.GatePrior`
  (a :class:`~probgates.distributions.VectorizedKLGamma`: the analytic KL uses vectorized
  special functions);
* the guide is amortized: Gamma(softplus(z^gate) + 1e-3, 1) with z from the same affine map as
  the LSTM step (Song et al. 2020, Sec. 3.4);
* the gates (i, f) of each layer are recorded as ``pyro.deterministic`` site ``gates_{layer}``
  of shape ``[B, T, 2, H]``, and the guide's Gamma shapes as ``concentration_{layer}``,
  ``[B, T, H, K]``.

**One recurrence per SVI step.** The guide has to run the recurrence to amortize its Gamma
shapes; the model needs the states that the same Gammas produce. The guide therefore leaves its
states in a cache keyed by the sampled tensors; when the model receives exactly those tensors
(``poutine.replay``, as in SVI and ``Predictive(guide=...)``) it reuses the states instead of
running the recurrence again. With any other values (prior predictive, conditioning on other
Gammas) the model runs the recurrence itself, so the model stays a correct Pyro program on its own.
"""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule, pyro_method
from torch import nn

from probgates.data.batching import DatasetSplits, SequenceBatch
from probgates.distributions import VectorizedKLGamma
from probgates.gates import FAMILIES, GAMMA_EPS, GammaRatioFamily, make_family
from probgates.nn.dropout import LockedDropout
from probgates.nn.gate_prior import GatePrior
from probgates.nn.gated_lstm import GatedLSTMLayer, RecurrenceOutput, from_torch_lstm
from probgates.priors import GammaGatePrior
from probgates.tasks.heads import HEADS

#: Model families: the fused torch LSTM plus every gate family of :mod:`probgates.gates`.
MODEL_FAMILIES = ("lstm", *FAMILIES)
EVAL_RULES = ("mean", "sample")


def head_kind(data: DatasetSplits) -> str:
    """The head a dataset needs, from its likelihood and target layout."""
    likelihood = data.info.get("likelihood")
    if likelihood == "bernoulli":
        return "frames"
    if likelihood == "categorical":
        return "tokens" if data.train.per_step else "label"
    if likelihood == "normal":
        return "regression"
    raise ValueError(f"dataset info has an unknown likelihood {likelihood!r}")


def gamma_site(layer: int, t: int) -> str:
    return f"gammas_{layer}_{t}"


class SequenceModel(PyroModule):
    """Embedding or direct input, a stack of LSTM layers with locked dropout, and a head.

    Args:
        hidden_size: LSTM units per layer.
        head: ``"frames"``, ``"tokens"``, ``"label"`` or ``"regression"``.
        output_dim: labels per frame, vocabulary size, number of classes or target size.
        input_dim: size of real-valued input frames (exclusive with ``vocab_size``).
        vocab_size: number of token ids (inputs go through an embedding of ``embedding_dim``).
        num_layers: LSTM layers.
        dropout: locked-dropout rate between layers and before the head.
        embedding_dim: embedding size for token inputs.
        family: ``"lstm"`` (fused ``nn.LSTM``) or a gate family (``sigmoid``, ``cifg``, ``g2``,
            ``beta``, ``bbeta3``, ``bbeta5``) run by the Python-loop recurrence.
        prior: the prior of the latent gate Gammas (Gamma-ratio families; default alpha0 = 0.5).
        eval_rule: ``"mean"`` (G := alpha, the paper's rule) or ``"sample"`` (average of
            ``eval_samples`` predictive draws) for :meth:`evaluate`.
        eval_samples: draws per prediction under the ``"sample"`` rule.
        gamma_reparam: how the guide's Gamma draws are reparameterized (Gamma-ratio families):
            ``"implicit"`` (exact gradient) or ``"marsaglia_tsang"`` (faster; see
            :class:`probgates.distributions.MarsagliaTsangGamma`).
        family_options: options of the gate family (``g2``: ``p``, ``t``, ``temperature``).
    """

    def __init__(
        self,
        *,
        hidden_size: int,
        head: str,
        output_dim: int,
        input_dim: int | None = None,
        vocab_size: int | None = None,
        num_layers: int = 1,
        dropout: float = 0.0,
        embedding_dim: int = 64,
        family: str = "lstm",
        prior: GammaGatePrior | None = None,
        eval_rule: str = "mean",
        eval_samples: int = 10,
        gamma_reparam: str = "implicit",
        family_options: dict | None = None,
    ):
        super().__init__()
        if (input_dim is None) == (vocab_size is None):
            raise ValueError("give exactly one of input_dim (real frames) and vocab_size (token ids)")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
        if family not in MODEL_FAMILIES:
            raise ValueError(f"unknown gate family {family!r}; valid: {', '.join(MODEL_FAMILIES)}")
        if eval_rule not in EVAL_RULES:
            raise ValueError(f"unknown eval_rule {eval_rule!r}; valid: {', '.join(EVAL_RULES)}")
        for name, value in (
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("output_dim", output_dim),
            ("eval_samples", eval_samples),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.input_dim, self.hidden_size, self.num_layers = input_dim, hidden_size, num_layers
        self.family_name, self.eval_rule, self.eval_samples = family, eval_rule, eval_samples
        self.embedding = None if vocab_size is None else PyroModule[nn.Embedding](vocab_size, embedding_dim)
        lstm_input = input_dim if vocab_size is None else embedding_dim
        sizes = [lstm_input] + [hidden_size] * (num_layers - 1)
        if family == "lstm":
            self.family = None
            layers = [PyroModule[nn.LSTM](n, hidden_size, batch_first=True) for n in sizes]
        else:
            options = dict(family_options or {})
            if issubclass(FAMILIES[family], GammaRatioFamily):
                options["reparam"] = gamma_reparam
            self.family = make_family(family, **options)
            layers = [PyroModule[GatedLSTMLayer](n, hidden_size, self.family) for n in sizes]
        self.layers = PyroModule[nn.ModuleList](layers)
        self.dropout = LockedDropout(dropout)
        self.head = HEADS[head](hidden_size, output_dim)
        self.monitor = self.head.monitor
        self.monitor_modes = self.head.monitor_modes
        self.gamma_prior = None
        if self.has_latent_gates:
            self.gamma_prior = GatePrior(
                prior or GammaGatePrior(), num_layers, hidden_size, self.family.num_gammas
            )
        self._guide_cache = None

    @property
    def has_latent_gates(self) -> bool:
        return isinstance(self.family, GammaRatioFamily)

    @classmethod
    def for_data(cls, data: DatasetSplits, **options) -> SequenceModel:
        """A model whose input and output sizes fit ``data``."""
        info = data.info
        kind = head_kind(data)
        if kind == "frames":
            output_dim = info.get("output_dim", info["input_dim"])
        elif kind == "tokens":
            output_dim = info.get("num_classes", info.get("vocab_size"))
        elif kind == "label":
            output_dim = info["num_classes"]
        else:
            output_dim = info.get("output_dim", 1)
        inputs = (
            {"vocab_size": info["vocab_size"]}
            if "input_dim" not in info
            else {"input_dim": info["input_dim"]}
        )
        return cls(head=kind, output_dim=output_dim, **inputs, **options)

    def num_weights(self) -> int:
        """Weights and biases of the network (embedding, recurrent layers, head; not the prior)."""
        return sum(p.numel() for name, p in self.named_parameters() if not name.startswith("gamma_prior"))

    @classmethod
    def hidden_size_for_budget(cls, data: DatasetSplits, budget: int, **options) -> int:
        """The hidden size whose :meth:`num_weights` is closest to ``budget`` (the BetaLSTM paper
        matches about 567K weights: LSTM 200, CIFG 232, Beta 161, bBeta-3 177, bBeta-5 148)."""

        def count(hidden):
            return cls.for_data(data, hidden_size=hidden, **options).num_weights()

        low, high = 1, 1
        while count(high) < budget:
            low, high = high, high * 2
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if count(mid) < budget else (low, mid)
        return min((low, high), key=lambda h: abs(count(h) - budget))

    # ------------------------------------------------------------------ the network

    def inputs(self, batch: SequenceBatch) -> torch.Tensor:
        """The first layer's inputs ``[B, T, D]``: the frames, or the embedded token ids."""
        batch.check_inputs(self.input_dim if self.embedding is None else None)
        x = batch.inputs if self.embedding is None else self.embedding(batch.inputs)
        return x.to(self.head.linear.weight.dtype)

    def run_layers(
        self, batch: SequenceBatch, gammas=None, record: bool = True
    ) -> tuple[torch.Tensor, list[RecurrenceOutput]]:
        """Top-layer states ``[B, T, H]`` (after dropout) and each gated layer's output.

        ``gammas``: per layer, a callable ``(t, alpha) -> G`` or a rule (``"sample"``/``"mean"``);
        by default the training rule in train mode and ``eval_rule`` in eval mode.
        ``record=False``: the layer outputs hold the states only (no gates, no Gamma shapes).
        """
        x = self.inputs(batch)
        outputs = []
        for layer_index, layer in enumerate(self.layers):
            if layer_index > 0:
                x = self.dropout(x)
            if self.family is None:
                x, _ = layer(x)
                continue
            source = (
                gammas[layer_index] if gammas is not None else ("sample" if self.training else self.eval_rule)
            )
            out = layer(x, source, record)
            outputs.append(out)
            x = out.states
        return self.dropout(x), outputs

    @torch.no_grad()
    def gate_values(self, batch: SequenceBatch, rule: str | None = None) -> list[RecurrenceOutput]:
        """Each layer's gates (and Gamma shapes) over ``batch``, in eval mode, without dropout.

        ``rule``: ``"mean"`` or ``"sample"`` for Gamma-ratio families (default ``eval_rule``).
        For the fused ``"lstm"`` family the weights are copied into equivalent loop layers.
        """
        was_training = self.training
        self.eval()
        try:
            x = self.inputs(batch)
            layers = self.layers
            if self.family is None:
                layers = [converted for lstm in self.layers for converted in from_torch_lstm(lstm)]
            outputs = []
            for layer in layers:
                out = layer(x, rule or self.eval_rule)
                outputs.append(out)
                x = out.states
            return outputs
        finally:
            self.train(was_training)

    def states(self, batch: SequenceBatch) -> torch.Tensor:
        """The top layer's hidden states ``[B, T, H]`` after dropout."""
        return self.run_layers(batch, record=False)[0]

    # ------------------------------------------------------------------ Pyro model and guide

    def _prior_concentrations(self, alpha0: torch.Tensor, batch: SequenceBatch) -> list[torch.Tensor]:
        """Per layer, the prior shapes of a step's Gamma site, ``[B, K * H]`` (component-major):
        alpha0 broadcasts to ``[layers, H, K]``; the same tensor serves every step."""
        K = self.family.num_gammas
        alpha0 = alpha0.expand(self.num_layers, self.hidden_size, K)
        return [
            alpha0[layer].T.reshape(-1).expand(batch.batch_size, K * self.hidden_size)
            for layer in range(self.num_layers)
        ]

    def _record(self, outputs: list[RecurrenceOutput]) -> None:
        for layer, out in enumerate(outputs):
            pyro.deterministic(
                f"gates_{layer}", torch.stack([out.input_gate, out.forget_gate], 2), event_dim=3
            )
            if out.concentration is not None:
                pyro.deterministic(f"concentration_{layer}", out.concentration, event_dim=3)

    @pyro_method
    def model(self, batch: SequenceBatch, num_data: int) -> None:
        cache, self._guide_cache = self._guide_cache, None
        if not self.has_latent_gates:
            states, outputs = self.run_layers(batch)
            with pyro.plate("sequences", num_data, subsample=batch.index):
                self._record(outputs)
                self.head.observe(states, batch)
            return
        concentrations = self._prior_concentrations(self.gamma_prior.model(), batch)
        T = batch.mask.shape[1]
        with pyro.plate("sequences", num_data, subsample=batch.index):
            values = [
                [
                    pyro.sample(
                        gamma_site(layer, t),
                        VectorizedKLGamma(concentration, 1.0).to_event(1).mask(batch.mask[:, t]),
                    )
                    for t in range(T)
                ]
                for layer, concentration in enumerate(concentrations)
            ]
            if (
                cache is not None
                and cache["batch"] is batch
                and all(
                    v is c
                    for vs, cs in zip(values, cache["values"], strict=True)
                    for v, c in zip(vs, cs, strict=True)
                )
            ):
                states, outputs = cache["states"], cache["outputs"]
            else:
                states, outputs = self.run_layers(batch, [self._replay_source(vs) for vs in values])
            self._record(outputs)
            self.head.observe(states, batch)

    def _replay_source(self, layer_values):
        def source(t, alpha):
            return layer_values[t].view_as(alpha) + GAMMA_EPS

        return source

    @pyro_method
    def guide(self, batch: SequenceBatch, num_data: int) -> None:
        self._guide_cache = None
        if not self.has_latent_gates:
            return
        self.gamma_prior.guide()
        values = [[] for _ in range(self.num_layers)]

        def site_source(layer):
            def source(t, alpha):
                flat = alpha.reshape(alpha.shape[0], -1)
                g = pyro.sample(
                    gamma_site(layer, t),
                    self.family.gamma_distribution(flat).to_event(1).mask(batch.mask[:, t]),
                )
                values[layer].append(g)
                return g.view_as(alpha) + GAMMA_EPS

            return source

        with pyro.plate("sequences", num_data, subsample=batch.index):
            states, outputs = self.run_layers(batch, [site_source(layer) for layer in range(self.num_layers)])
        self._guide_cache = {"batch": batch, "values": values, "states": states, "outputs": outputs}

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Metric sums over ``batch`` under the model's evaluation rule (no Pyro sites)."""
        if not (self.has_latent_gates and self.eval_rule == "sample" and not self.training):
            return self.head.evaluate([self.states(batch)], batch)
        rules = ["sample"] * self.num_layers
        draws = [self.run_layers(batch, rules, record=False)[0] for _ in range(self.eval_samples)]
        return self.head.evaluate(draws, batch)
