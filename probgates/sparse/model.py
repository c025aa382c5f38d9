"""The sparse sequence model (Bayesian framework): embedding or direct input, one sparse LSTM, a head.

As a Pyro program (reference §6.5): every sparsified tensor is a global site outside the batch
plate with the improper log-uniform prior; the guide draws the same sites from mean-field Normals
(:class:`~probgates.distributions.LogAlphaNormal`). ``TraceMeanField_ELBO`` (the trainer's
``mean_field`` ELBO) uses the registered ``kl_divergence(LogAlphaNormal, LogUniform)``; the likelihood sits in
``pyro.plate("sequences", num_data, subsample=batch.index)``, so the loss is the data NLL scaled to
the training set plus the KL once (−ELBO; the paper code minimizes −ELBO / N).

Evaluation (:meth:`evaluate`, :meth:`logits` without values) uses the "clip" mode: weights theta and
group means mu with every element of log alpha >= threshold set to 0.

Stateful truncated BPTT (reference §7, word-PTB): ``model``, ``guide`` and ``evaluate`` take the
LSTM's initial state as ``state=`` (None: zeros) and leave the detached state after the batch's
last step in :attr:`SparseSequenceModel.final_state`; the trainer carries it to the next batch.
"""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule, pyro_method

from probgates.data.batching import SequenceBatch
from probgates.sparse import heads
from probgates.sparse.kernels import LSTMState
from probgates.sparse.layers import SparseEmbedding, SparseLinear, SparseLSTM
from probgates.sparse.masks import compression_stats, find_structure, fold_model, scalar_stats
from probgates.sparse.spec import SparseSpec

LAYER_ORDER = ("embedding", "lstm", "head")


class SparseSequenceModel(PyroModule):
    """Embedding (token inputs, ``embedding_dim > 0``) or frames / one-hot tokens, a sparse LSTM, a head.

    Args:
        spec: the sparsification settings.
        head: ``"label"`` (classification from the last real step) or ``"tokens"`` (per-step).
        output_dim: classes (or vocabulary size).
        input_dim: size of real-valued frames (exclusive with ``vocab_size``).
        vocab_size: token ids in ``[0, vocab_size)``.

    Attributes:
        final_state: the detached LSTM state ``(h, c)`` after the last step of the latest
            ``model`` or ``evaluate`` call (see the module docstring).
    """

    #: ``model``, ``guide`` and ``evaluate`` accept ``state=`` and set :attr:`final_state`.
    carries_state = True

    def __init__(
        self,
        spec: SparseSpec,
        *,
        head: str,
        output_dim: int,
        input_dim: int | None = None,
        vocab_size: int | None = None,
    ):
        super().__init__()
        if (input_dim is None) == (vocab_size is None):
            raise ValueError("give exactly one of input_dim (real frames) and vocab_size (token ids)")
        if head not in heads.SPARSE_HEADS:
            raise ValueError(f"unknown head {head!r}; valid: {', '.join(heads.SPARSE_HEADS)}")
        self.spec, self.head_kind, self.output_dim = spec, head, output_dim
        self.input_dim, self.vocab_size = input_dim, vocab_size
        self.monitor = heads.MONITOR[head]
        self.monitor_modes = dict(heads.MONITOR_MODES)
        bayes = spec.framework == "bayes"
        options = dict(
            log_sigma_init=spec.log_sigma_init,
            clip=spec.clip,
            threshold=spec.threshold,
            compiled=spec.compiled_posterior,
        )
        emb, rnn, out = (spec.letters(n) if bayes else frozenset() for n in LAYER_ORDER)
        self.one_hot = vocab_size is not None and spec.embedding_dim == 0
        self.embedding = None
        if vocab_size is not None and not self.one_hot:
            self.embedding = SparseEmbedding(
                vocab_size, spec.embedding_dim, weights="W" in emb, vocab="N" in emb, **options
            )
        lstm_input = input_dim if vocab_size is None else (vocab_size if self.one_hot else spec.embedding_dim)
        self.lstm = SparseLSTM(
            lstm_input,
            spec.hidden_size,
            weights="W" in rnn,
            gates="G" in rnn,
            hidden_neurons="N" in rnn,
            input_neurons="N" in rnn and spec.input_groups,
            one_hot=self.one_hot,
            activation=spec.gate_activation,
            forget_bias=spec.forget_bias,
            **options,
        )
        self.head = SparseLinear(
            spec.hidden_size,
            output_dim,
            sparse="W" in out,
            lrt=spec.head_noise == "lrt",
            training_dtype=torch.bfloat16 if spec.head_precision == "bfloat16" else None,
            **options,
        )
        self.final_state: LSTMState | None = None

    @property
    def per_sequence(self) -> bool:
        return self.spec.group_noise == "sequence"

    def layers(self) -> dict:
        return {n: getattr(self, n) for n in LAYER_ORDER if getattr(self, n) is not None}

    def num_weights(self) -> int:
        """Weights counted by the compression rate: embedding, W_x, W_h, output (no biases, no groups)."""
        return sum(
            layer.weight.theta.numel()
            if n != "lstm"
            else layer.weight_ih.theta.numel() + layer.weight_hh.theta.numel()
            for n, layer in self.layers().items()
        )

    # ------------------------------------------------------------------ the network

    def logits(
        self, batch: SequenceBatch, values: dict | None = None, loop: bool | None = None
    ) -> torch.Tensor:
        """Logits ``[B, T, O]`` from ``values`` (per layer, e.g. sampled) or the masked means."""
        return self.logits_and_state(batch, values, loop)[0]

    def logits_and_state(
        self,
        batch: SequenceBatch,
        values: dict | None = None,
        loop: bool | None = None,
        state: LSTMState | None = None,
    ) -> tuple[torch.Tensor, LSTMState]:
        """:meth:`logits` from the initial LSTM ``state`` (None: zeros), and the state after step T.

        The final state belongs to step T of every row, so it continues a sequence only where
        the batch has no padding (the consecutive BPTT windows of stateful data).
        """
        batch.check_inputs(self.input_dim if self.vocab_size is None else None)
        deterministic = values is None
        if deterministic:
            values = self.masked_values()
        x = batch.inputs
        if self.embedding is not None:
            x = self.embedding(x, values["embedding"])
        elif not self.one_hot:
            x = x.to(self.lstm.bias.dtype)
        states, final = self.lstm(x, values["lstm"], loop=loop, state=state)
        return self.head(states, values["head"], deterministic=deterministic), final

    def _keep_final_state(self, state: LSTMState) -> None:
        self.final_state = (state[0].detach(), state[1].detach())

    def masked_values(self) -> dict:
        """Per layer, the evaluation values of its variables (clip mode)."""
        return {n: layer.masked_values() for n, layer in self.layers().items()}

    def epoch_summary(self) -> dict[str, float]:
        """The structure of the masked model now, for the trainer's per-epoch record.

        The numbers of :func:`~probgates.sparse.compression_stats` by the paper code's unit rule
        (reference §6.6) as :func:`~probgates.sparse.masks.scalar_stats` gives them:
        ``compression``, ``weights_nonzero``, ``inputs_kept``, ``hidden_kept``,
        ``hidden_input_dependent``, ``gates_nonconstant`` and ``gates_nonconstant_{i,f,g,o}``,
        ``vocabulary_kept`` with an embedding, and the totals. Empty for the dense baseline.
        """
        if self.spec.is_dense:
            return {}
        return scalar_stats(compression_stats(find_structure(fold_model(self))))

    # ------------------------------------------------------------------ Pyro model and guide

    def sample_values(self, batch: SequenceBatch, side: str) -> dict:
        """Draw every site in a fixed order (model: priors, guide: posteriors)."""
        B = batch.batch_size
        return {
            n: (layer.model_values if side == "model" else layer.guide_values)(B, self.per_sequence)
            for n, layer in self.layers().items()
        }

    @pyro_method
    def model(self, batch: SequenceBatch, num_data: int, state: LSTMState | None = None) -> None:
        logits, final = self.logits_and_state(batch, self.sample_values(batch, "model"), state=state)
        self._keep_final_state(final)
        with pyro.plate("sequences", num_data, subsample=batch.index):
            heads.observe(self.head_kind, logits, batch)

    @pyro_method
    def guide(self, batch: SequenceBatch, num_data: int, state: LSTMState | None = None) -> None:
        self.sample_values(batch, "guide")

    def evaluate(self, batch: SequenceBatch, state: LSTMState | None = None) -> dict[str, torch.Tensor]:
        """Metric sums over ``batch`` with the masked means (no Pyro sites), from LSTM ``state``."""
        with torch.no_grad():
            logits, final = self.logits_and_state(batch, state=state)
            self._keep_final_state(final)
            return heads.evaluate(self.head_kind, logits, batch)
