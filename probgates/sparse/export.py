"""Three exported forms of a compressed model, each computing the masked model's logits.

* :func:`to_torch_lstm`: a plain ``torch.nn.LSTM`` (with ``nn.Embedding`` and ``nn.Linear``) whose
  removed inputs and hidden neurons are physically deleted and whose group means are folded in;
  constant gates keep zero weight rows, so they output ``act(b)``. Sigmoid gates only.
* :class:`CompactLSTM`: computes only the preactivation rows of non-constant gates and uses the
  constants ``act(b)`` for the others (with token inputs the input projection becomes a lookup
  in a table with one column per kept token).
* :func:`to_pruned`: the original shapes with ``torch.nn.utils.prune`` masks.

Every form maps inputs (frames ``[B, T, D]`` or token ids ``[B, T]``) to logits ``[B, T, O]``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from probgates.sparse.kernels import HARD_SIGMOID_OFFSET, HARD_SIGMOID_SLOPE, constant_gate_values
from probgates.sparse.masks import Structure


def _at_least_one(mask: torch.Tensor) -> torch.Tensor:
    """Indices of True entries; index 0 when there are none (a unit with zero weights, no effect)."""
    idx = mask.nonzero().flatten()
    return idx if len(idx) else torch.zeros(1, dtype=torch.long)


def _remap(keep: torch.Tensor) -> torch.Tensor:
    """Token -> position among the kept inputs, -1 for removed ones."""
    remap = torch.full(keep.shape, -1, dtype=torch.long)
    remap[keep] = torch.arange(int(keep.sum()))
    return remap


class DenseSequenceNet(nn.Module):
    """Optional ``nn.Embedding``, an ``nn.LSTM`` (batch first) and an ``nn.Linear`` head.

    ``input_kind``: ``"frames"`` (``input_index`` selects the kept feature columns),
    ``"embedding"`` or ``"one_hot"`` (tokens become one-hot vectors over the kept inputs through
    ``input_index``, a token -> position map with -1 for removed tokens).
    """

    def __init__(self, input_kind, lstm, head, embedding=None, input_index=None):
        super().__init__()
        self.input_kind, self.lstm, self.head, self.embedding = input_kind, lstm, head, embedding
        self.register_buffer("input_index", input_index)

    def lstm_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_kind == "embedding":
            return self.embedding(inputs)
        dtype = self.head.weight.dtype
        if self.input_kind == "frames":
            return (inputs if self.input_index is None else inputs[..., self.input_index]).to(dtype)
        pos = inputs if self.input_index is None else self.input_index[inputs]
        hot = F.one_hot(pos.clamp_min(0), self.lstm.input_size).to(dtype)
        return hot * (pos >= 0).unsqueeze(-1).to(dtype)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.lstm_inputs(inputs))[0])


def _check_sigmoid(structure: Structure, what: str) -> None:
    if structure.network.activation != "sigmoid":
        raise ValueError(
            f"{what}: torch.nn.LSTM has sigmoid gates but the model uses {structure.network.activation!r}; "
            "use the compact export (to_compact)"
        )


def _lstm(weight_ih, weight_hh, bias) -> nn.LSTM:
    lstm = nn.LSTM(weight_ih.shape[1], weight_hh.shape[1], batch_first=True, dtype=weight_ih.dtype)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(weight_ih)
        lstm.weight_hh_l0.copy_(weight_hh)
        lstm.bias_ih_l0.copy_(bias)
        lstm.bias_hh_l0.zero_()
    return lstm


def _linear(weight, bias) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    return linear


def _embedding(weight) -> nn.Embedding:
    emb = nn.Embedding(*weight.shape, dtype=weight.dtype)
    with torch.no_grad():
        emb.weight.copy_(weight)
    return emb


def _reduced(structure: Structure):
    """Kept input and neuron indices and the reduced folded matrices."""
    net = structure.network
    H = net.hidden_size
    inputs = _at_least_one(structure.input_keep)
    neurons = _at_least_one(structure.hidden_keep)
    rows = torch.cat([k * H + neurons for k in range(4)])
    return (
        inputs,
        neurons,
        rows,
        net.weight_ih[rows][:, inputs],
        net.weight_hh[rows][:, neurons],
        net.bias[rows],
        net.head_weight[:, neurons],
    )


@torch.no_grad()
def to_torch_lstm(structure: Structure) -> DenseSequenceNet:
    """A plain ``nn.LSTM`` model of the reduced size (removed inputs/neurons deleted, groups folded)."""
    _check_sigmoid(structure, "to_torch_lstm")
    net = structure.network
    inputs, _, _, w_ih, w_hh, b, head_w = _reduced(structure)
    embedding, index = None, None
    if net.input_kind == "embedding":
        embedding = _embedding(net.embedding[:, inputs])
    elif net.input_kind == "frames":
        index = inputs
    else:
        keep = torch.zeros(net.weight_ih.shape[1], dtype=torch.bool)
        keep[inputs] = True
        index = _remap(keep)
    return DenseSequenceNet(
        net.input_kind, _lstm(w_ih, w_hh, b), _linear(head_w, net.head_bias), embedding, index
    )


@torch.no_grad()
def to_pruned(structure: Structure) -> DenseSequenceNet:
    """The original shapes with ``torch.nn.utils.prune`` masks (zero where the weight is removed)."""
    _check_sigmoid(structure, "to_pruned")
    net = structure.network
    lstm = _lstm(net.weight_ih, net.weight_hh, net.bias)
    head = _linear(net.head_weight, net.head_bias)
    embedding = _embedding(net.embedding) if net.embedding is not None else None
    prune.custom_from_mask(lstm, "weight_ih_l0", net.weight_ih != 0)
    prune.custom_from_mask(lstm, "weight_hh_l0", net.weight_hh != 0)
    prune.custom_from_mask(head, "weight", net.head_weight != 0)
    if embedding is not None:
        prune.custom_from_mask(embedding, "weight", net.embedding != 0)
    return DenseSequenceNet(net.input_kind, lstm, head, embedding)


#: The two row layouts of :class:`CompactLSTM`.
COMPACT_LAYOUTS = ("skip", "full")


class CompactLSTM(nn.Module):
    """Inference module that skips the work of constant gates (they output ``act(b)``).

    Holds, for the kept neurons only, the preactivation rows of ``W_x`` and ``W_h``, their biases
    and the head. It computes in a unit-major layout, states ``[H', B]`` and gates ``[4H', B]``,
    so that each gate is one contiguous block. With frame inputs the input projection of all steps
    is one batched product ``[T, n, B]``. With token inputs the embedding, ``W_x`` and the bias are
    multiplied once into a table ``[n, K + 1]``: one column per kept token (a word with a nonzero
    kept embedding component, a kept one-hot input) and one last column, ``b``, shared by all the
    removed tokens, which ``token_column`` maps there. Each step gathers its ``B`` columns into its
    preactivations: a table of a few kept tokens stays in the cache, where one lookup of all steps
    in a ``[V, n]`` table wrote ``[T, B, n]`` rows that every step then had to transpose (0.58-0.62x
    the time of that with 9 units at B=512, 0.84-0.94x with 96 units at B=64-128, the same with 9
    units at B=64; ``benchmarks/bench_compact.py``). The step loop allocates nothing and makes no
    views. Two layouts of the rows:

    * ``"skip"``: only the ``n`` rows of non-constant gates. Each step adds ``W_h' h`` for them,
      activates them in place and copies them into a gate buffer whose constant rows hold
      ``act(b)`` for the whole sequence, then updates ``c`` and ``h`` in place. The tanh of the
      cell goes through the sigmoid, ``tanh(c) = 2 sigma(2c) - 1``, which PyTorch's CPU kernels
      compute several times faster than tanh on large blocks: the loop keeps ``2 c`` instead of
      ``c``. With sigmoid gates the g rows do the same (their weights and biases are doubled), so
      that every row is activated by one sigmoid call.
    * ``"full"``: all ``4H'`` rows of the kept neurons, the constant ones with zero weights, so
      that their preactivation is ``b`` and their activation ``act(b)``. Each step is seven small
      kernels (the product into the gate buffer, two activations, two for ``c``, tanh and the
      product for ``h``) instead of nine: no copy into a gate buffer, no doubled states. With a
      few units every kernel costs its fixed launch time and the extra rows almost nothing.

    ``layout=None`` takes ``"full"`` when the constant rows it adds cost at most
    :attr:`FULL_ROWS_MAX_EXTRA` multiply-adds per sequence and step, else ``"skip"``. With
    hard-sigmoid gates, slope and offset of ``clip(0.2 z + 0.5, 0, 1)`` are folded into the
    weights and biases of the sigma rows (either layout), so that activating them is one clip.
    """

    #: The layout of the buffers: 4 since token inputs read a ``[n, K + 1]`` table through
    #: ``token_column`` (3: the layout chosen by size; 2: the doubled g rows of the skip layout).
    #: ``load_state_dict`` refuses a state dict of another version.
    FORMAT_VERSION = 4
    #: Largest ``(constant rows) x H'`` for which ``layout=None`` computes the constant rows.
    FULL_ROWS_MAX_EXTRA = 512

    def __init__(self, structure: Structure, layout: str | None = None):
        super().__init__()
        self.register_buffer("format_version", torch.tensor(self.FORMAT_VERSION))
        self._register_load_state_dict_pre_hook(self._check_format_version)
        net = structure.network
        inputs, neurons, rows, w_ih, w_hh, b, head_w = _reduced(structure)
        Hr = len(neurons)
        nonconst = structure.gate_nonconstant[:, neurons]  # [4, Hr]
        if layout is None:
            layout = "full" if int((~nonconst).sum()) * Hr <= self.FULL_ROWS_MAX_EXTRA else "skip"
        if layout not in COMPACT_LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(COMPACT_LAYOUTS)}")
        # The rows in the gate-major layout, the sigma gates (i, f, o) first and then g (tanh), so
        # that each activation is one in-place call on a block of rows.
        flat = torch.arange(4 * Hr).view(4, Hr)
        order = (0, 1, 3, 2)
        if layout == "skip":
            nc = torch.cat([flat[k][nonconst[k]] for k in order])
        else:
            nc = torch.cat([flat[k] for k in order])
        #: How many of the rows are sigma gates (the rest are g).
        self.sigma_rows = int(nonconst[[0, 1, 3]].sum()) if layout == "skip" else 3 * Hr
        self.layout, self.kind, self.activation, self.hidden = layout, net.input_kind, net.activation, Hr
        self.register_buffer("nc", nc)
        if layout == "skip":
            self.register_buffer("constant_gates", constant_gate_values(b, net.activation))  # act(b)
        keep = nonconst.flatten()[nc].to(w_ih.dtype).unsqueeze(1)  # 0 for the rows of constant gates
        w_ih, w_hh, b = w_ih[nc] * keep, w_hh[nc] * keep, b[nc]
        # Every row's preactivation z becomes scale * z + offset.
        scale, offset = torch.ones(len(nc), dtype=w_ih.dtype), torch.zeros(len(nc), dtype=w_ih.dtype)
        if net.activation == "hard_sigmoid":
            # The affine part of clip(0.2 z + 0.5, 0, 1) goes into the sigma rows: the loop then
            # only clamps them.
            scale[: self.sigma_rows] = HARD_SIGMOID_SLOPE
            offset[: self.sigma_rows] = HARD_SIGMOID_OFFSET
        elif layout == "skip":
            scale[self.sigma_rows :] = 2.0  # the g rows then hold 2 z: tanh(z) = 2 sigma(2 z) - 1
        w_ih, w_hh, b = w_ih * scale.unsqueeze(1), w_hh * scale.unsqueeze(1), b * scale + offset
        self.register_buffer("w_hh", w_hh.contiguous())  # [n, Hr]
        self.recurrent = bool((w_hh != 0).any())
        if self.kind == "frames":
            # Removed inputs keep zero columns: one product over all inputs beats gathering them.
            table = torch.zeros(len(nc), net.weight_ih.shape[1], dtype=w_ih.dtype)
            table[:, inputs] = w_ih
            self.register_buffer("b", b)
        else:
            if self.kind == "embedding":
                embedding = net.embedding[:, inputs]
                own = (embedding != 0).any(1)  # the other words' preactivation is exactly b
                columns = w_ih @ embedding[own].t()
            else:  # one-hot tokens: token v's column is column v of W_x
                own = torch.zeros(net.weight_ih.shape[1], dtype=torch.bool)
                own[inputs] = True
                columns = w_ih
            table = torch.cat([columns + b.unsqueeze(1), b.unsqueeze(1)], 1)  # [n, K + 1]
            token_column = torch.full(own.shape, int(own.sum()), dtype=torch.long)
            token_column[own] = torch.arange(int(own.sum()))
            self.register_buffer("token_column", token_column)
        self.register_buffer("table", table.contiguous())
        self.head = _linear(head_w, net.head_bias)

    def _check_format_version(self, state_dict, prefix, *args, **kwargs):
        version = state_dict.get(prefix + "format_version")
        if version is None or int(version) != self.FORMAT_VERSION:
            found = "no format_version" if version is None else f"format_version {int(version)}"
            raise RuntimeError(
                f"a CompactLSTM state dict with {found}; this version reads format_version "
                f"{self.FORMAT_VERSION}: rebuild the module from structure.pt (load_structure, to_compact)"
            )

    def _input_steps(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What each step reads: frames, ``W_x' x_t + b'`` of every step (``T`` views ``[n, B]``,
        all made by one product); tokens, the ``T`` rows ``[B]`` of table columns."""
        if self.kind == "frames":
            x = inputs.to(self.table.dtype).permute(1, 2, 0)  # [T, D, B], a strided view
            T, (n, D), B = x.shape[0], self.table.shape, x.shape[2]
            projection = torch.baddbmm(self.b.view(1, n, 1).expand(T, n, B), self.table.expand(T, n, D), x)
            return projection.unbind(0)
        return self.token_column[inputs.t()].unbind(0)  # [T, B], contiguous

    def _preactivations(self):
        """``project(x_t, h_prev, out)``: ``out = W_x' x_t + b' + W_h' h_{t-1}`` for the kept rows,
        one step, given what :meth:`_input_steps` gives for that step."""
        w_hh, recurrent, table = self.w_hh, self.recurrent, self.table
        if self.kind == "frames":
            if recurrent:
                return lambda x_t, h_prev, out: torch.addmm(x_t, w_hh, h_prev, out=out)
            return lambda x_t, h_prev, out: out.copy_(x_t)

        def project(columns, h_prev, out):
            torch.index_select(table, 1, columns, out=out)
            if recurrent:
                out.addmm_(w_hh, h_prev)

        return project

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, O]`` for frames ``[B, T, D]`` or token ids ``[B, T]``."""
        states = self._states(inputs)  # an inference tensor; the logits made from it are not
        weight = self.head.weight.expand(states.shape[0], *self.head.weight.shape)
        logits = torch.bmm(weight, states).permute(2, 0, 1)  # [B, T, O]
        return logits + self.head.bias if self.head.bias is not None else logits

    @torch.inference_mode()
    def _states(self, inputs: torch.Tensor) -> torch.Tensor:
        """The hidden states ``[T, H', B]``. Inference mode, not just ``no_grad``: each of the loop's
        small in-place operations then skips the version counter and view tracking, which on
        the CPU cut the loop's time to 0.87-0.90 of what it was (IMDb-shaped models, B=64)."""
        steps = self._input_steps(inputs)
        T, B = len(steps), inputs.shape[0]
        states = self.w_hh.new_empty(T + 1, self.hidden, B)  # states[0] = h_0 = 0
        states[0].zero_()
        h = states.unbind(0)
        loop = self._skip_loop if self.layout == "skip" else self._full_loop
        loop(zip(steps, h[:-1], h[1:], strict=True), B)
        return states[1:]

    def _skip_loop(self, steps, B: int) -> None:
        gates = self.constant_gates.unsqueeze(1).repeat(1, B)  # [4H', B]; constant rows stay act(b)
        i, f, g, o = gates.chunk(4, 0)
        pre = self.w_hh.new_empty(len(self.nc), B)  # the non-constant rows of one step
        sigma, g_rows = pre[: self.sigma_rows], pre[self.sigma_rows :]
        c2 = pre.new_zeros(self.hidden, B)  # 2 c_t
        tanh_c = torch.empty_like(c2)
        minus_one = pre.new_tensor(-1.0)
        project, nc = self._preactivations(), self.nc
        sigmoid_gates = self.activation == "sigmoid"
        for x_t, h_prev, h_next in steps:
            project(x_t, h_prev, pre)
            if sigmoid_gates:
                pre.sigmoid_()  # i, f, o and sigma(2 z_g)
                torch.add(minus_one, g_rows, alpha=2.0, out=g_rows)  # tanh(z_g)
            else:  # slope and offset are folded into the weights: what is left is the clip
                sigma.clamp_(0.0, 1.0)
                g_rows.tanh_()
            gates.index_copy_(0, nc, pre)
            c2.mul_(f).addcmul_(i, g, value=2.0)
            torch.sigmoid(c2, out=tanh_c)
            torch.add(minus_one, tanh_c, alpha=2.0, out=tanh_c)  # tanh(c_t)
            torch.mul(o, tanh_c, out=h_next)

    def _full_loop(self, steps, B: int) -> None:
        H = self.hidden
        gates = self.w_hh.new_empty(4 * H, B)  # rows i, f, o, g
        sigma, g = gates[: 3 * H], gates[3 * H :]
        i, f, o = sigma.chunk(3, 0)
        c = gates.new_zeros(H, B)
        tanh_c = torch.empty_like(c)
        project = self._preactivations()
        sigmoid_gates = self.activation == "sigmoid"
        for x_t, h_prev, h_next in steps:
            project(x_t, h_prev, gates)
            if sigmoid_gates:
                sigma.sigmoid_()
            else:  # slope and offset are folded into the weights: what is left is the clip
                sigma.clamp_(0.0, 1.0)
            g.tanh_()
            c.mul_(f).addcmul_(i, g)
            torch.tanh(c, out=tanh_c)
            torch.mul(o, tanh_c, out=h_next)


def to_compact(structure: Structure, layout: str | None = None) -> CompactLSTM:
    return CompactLSTM(structure, layout)


def masked_logits(model, inputs: torch.Tensor) -> torch.Tensor:
    """Logits of the masked model for raw inputs (a batch of equal-length sequences)."""
    from probgates.data.batching import SequenceBatch

    B, T = inputs.shape[:2]
    mask = torch.ones(B, T, dtype=torch.bool)
    batch = SequenceBatch(inputs, torch.zeros(B, dtype=torch.long), mask, mask.sum(1), torch.arange(B))
    with torch.no_grad():
        return model.logits(batch)
