"""Three exported forms of a compressed model, each computing the masked model's logits.

* :func:`to_torch_lstm`: a plain ``torch.nn.LSTM`` (with ``nn.Embedding`` and ``nn.Linear``) whose
  removed inputs and hidden neurons are physically deleted and whose group means are folded in;
  constant gates keep zero weight rows, so they output ``act(b)``. Sigmoid gates only.
* :class:`CompactLSTM`: computes only the preactivation rows of non-constant gates and uses the
  constants ``act(b)`` for the others (with token inputs the input projection becomes a table
  lookup ``[V, n_nonconstant]``).
* :func:`to_pruned`: the original shapes with ``torch.nn.utils.prune`` masks.

Every form maps inputs (frames ``[B, T, D]`` or token ids ``[B, T]``) to logits ``[B, T, O]``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from probgates.sparse.kernels import gate_activation
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


class CompactLSTM(nn.Module):
    """Inference module that skips the weight rows of constant gates (they output ``act(b)``).

    Holds, for the kept neurons only: the non-constant preactivation rows of ``W_x`` and ``W_h``,
    their biases and the head. Each step computes ``x_t W_x'^T + h W_h'^T`` for the non-constant
    rows only and writes it into a copy of the bias vector, whose constant entries then activate to
    ``act(b)``. With token inputs the embedding and ``W_x`` are multiplied once into a lookup table
    ``[V, n_nonconstant]``.
    """

    def __init__(self, structure: Structure):
        super().__init__()
        net = structure.network
        inputs, neurons, rows, w_ih, w_hh, b, head_w = _reduced(structure)
        Hr = len(neurons)
        nonconst = structure.gate_nonconstant[:, neurons].reshape(-1)  # [4 Hr], gate-major
        nc = nonconst.nonzero().flatten()
        self.kind, self.activation, self.hidden = net.input_kind, net.activation, Hr
        self.register_buffer("nc", nc)
        self.register_buffer("bias", b.clone())  # constant gates: act(bias)
        self.register_buffer("w_hh", w_hh[nc].t().contiguous())  # [Hr, n]
        self.register_buffer("b", b[nc])
        self.recurrent = bool((w_hh[nc] != 0).any())
        if self.kind == "embedding":
            table = net.embedding[:, inputs] @ w_ih[nc].t()
        elif self.kind == "one_hot":
            table = torch.zeros(net.weight_ih.shape[1], len(nc), dtype=w_ih.dtype)
            table[inputs] = w_ih[nc].t()
        else:
            table = w_ih[nc].t().contiguous()  # [D', n]
            self.register_buffer("input_index", inputs)
        self.register_buffer("table", table.contiguous())
        self.head = _linear(head_w, net.head_bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.kind == "frames":
            xproj = inputs[..., self.input_index].to(self.table.dtype) @ self.table
        else:
            xproj = F.embedding(inputs, self.table)
        xproj = xproj + self.b
        B = xproj.shape[0]
        H = self.hidden
        act = gate_activation(self.activation)
        sigmoid = self.activation == "sigmoid"
        base = self.bias.expand(B, 4 * H)
        h = xproj.new_zeros(B, H)
        c = xproj.new_zeros(B, H)
        states = []
        for x_t in xproj.unbind(1):
            pre = torch.addmm(x_t, h, self.w_hh) if self.recurrent else x_t
            full = base.index_copy(1, self.nc, pre)
            if sigmoid:
                gates = torch.sigmoid(full)
                i, f, _, o = gates.chunk(4, 1)
            else:
                i, f, _, o = act(full).chunk(4, 1)
            g = torch.tanh(full[:, 2 * H : 3 * H])
            c = torch.addcmul(f * c, i, g)
            h = o * torch.tanh(c)
            states.append(h)
        return self.head(torch.stack(states, 1))


def to_compact(structure: Structure) -> CompactLSTM:
    return CompactLSTM(structure)


def masked_logits(model, inputs: torch.Tensor) -> torch.Tensor:
    """Logits of the masked model for raw inputs (a batch of equal-length sequences)."""
    from probgates.data.batching import SequenceBatch

    B, T = inputs.shape[:2]
    mask = torch.ones(B, T, dtype=torch.bool)
    batch = SequenceBatch(inputs, torch.zeros(B, dtype=torch.long), mask, mask.sum(1), torch.arange(B))
    with torch.no_grad():
        return model.logits(batch)
