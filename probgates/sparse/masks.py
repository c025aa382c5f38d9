"""Masks, constant gates and the compression statistics, by the rules of the reference (§6.6–§6.7).

1. Fold the masked group means into the masked weights (§6.7 step 2):
   ``W_x <- diag(z_gate) W_x diag(z_x)``, ``W_h <- diag(z_gate) W_h diag(z_h)``,
   ``W_out <- W_out diag(z_h)``, ``W_emb <- diag(z_voc) W_emb`` (torch layout, ``W_x`` is
   ``[4H, D]``). A weight times a pruned group variable is therefore a zero weight.
2. Units (§6.6): an input is kept iff its column of ``W_x`` has a nonzero; a hidden neuron iff it
   has a nonzero outgoing weight (its column of ``W_h`` or of ``W_out``); a vocabulary word iff its
   ``z_voc`` is kept (without vocabulary variables: iff its embedding row has a nonzero). A gate
   (unit j, gate k) is non-constant iff its row of ``W_x`` or ``W_h`` has a nonzero and neuron j is
   kept; a constant gate equals ``act(b)``.
   This is the ``reference`` rule. The ``reachable`` rule (:func:`find_structure`) also drops units
   with no path of nonzero weights to the output; it preserves the function exactly.
   Next to the rule, :func:`input_dependent_neurons` tells which kept neurons have a state that
   depends on the input at all; the others follow one fixed trajectory for every sequence.
3. Weights attached to removed units are zeroed (rows and columns of removed inputs and neurons,
   output columns of removed neurons, embedding rows of removed words, embedding columns of
   removed inputs); then compression = all weights (embedding + W_x + W_h + output) / nonzero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from probgates.sparse.kernels import GATES


@dataclass(frozen=True)
class FoldedNetwork:
    """A dense LSTM network whose group means are folded into the weights (torch layout)."""

    weight_ih: torch.Tensor  # [4H, D]
    weight_hh: torch.Tensor  # [4H, H]
    bias: torch.Tensor  # [4H]
    head_weight: torch.Tensor  # [O, H]
    head_bias: torch.Tensor  # [O]
    embedding: torch.Tensor | None = None  # [V, E]
    vocab_group: torch.Tensor | None = None  # [V] masked z_voc (None: no vocabulary variables)
    input_kind: str = "frames"  # "frames" | "embedding" | "one_hot"
    activation: str = "sigmoid"

    @property
    def hidden_size(self) -> int:
        return self.weight_hh.shape[1]


@torch.no_grad()
def fold_values(values: dict, bias, head_bias, input_kind: str, activation: str) -> FoldedNetwork:
    """Fold per-layer values ``{"embedding": {...}, "lstm": {...}, "head": {...}}`` (1-D groups)."""
    lstm = values["lstm"]
    z_x, z_gate, z_h = lstm.get("z_x"), lstm.get("z_gate"), lstm.get("z_h")
    w_ih, w_hh = lstm["weight_ih"].clone(), lstm["weight_hh"].clone()
    if z_x is not None:
        w_ih = w_ih * z_x
    if z_h is not None:
        w_hh = w_hh * z_h
    if z_gate is not None:
        w_ih, w_hh = w_ih * z_gate.unsqueeze(1), w_hh * z_gate.unsqueeze(1)
    head_w = values["head"]["weight"].clone()
    if z_h is not None:
        head_w = head_w * z_h
    emb = vocab = None
    if "embedding" in values:
        emb = values["embedding"]["weight"].clone()
        vocab = values["embedding"].get("z_voc")
        if vocab is not None:
            emb = emb * vocab.unsqueeze(1)
    return FoldedNetwork(
        w_ih,
        w_hh,
        bias.detach().clone(),
        head_w,
        head_bias.detach().clone(),
        emb,
        vocab,
        input_kind,
        activation,
    )


def fold_model(model) -> FoldedNetwork:
    """The masked model (clip mode) of a :class:`~probgates.sparse.model.SparseSequenceModel`, folded."""
    kind = "embedding" if model.embedding is not None else ("one_hot" if model.one_hot else "frames")
    with torch.no_grad():
        return fold_values(
            model.masked_values(), model.lstm.bias, model.head.bias, kind, model.spec.gate_activation
        )


@dataclass(frozen=True)
class Structure:
    """What survives: unit masks, non-constant gates and the network with removed units zeroed."""

    network: FoldedNetwork
    input_keep: torch.Tensor  # [D] bool
    hidden_keep: torch.Tensor  # [H] bool
    gate_nonconstant: torch.Tensor  # [4, H] bool (False for removed neurons)
    vocab_keep: torch.Tensor | None  # [V] bool (embedding inputs only)


RULES = ("reference", "reachable")


def _closure(seed: torch.Tensor, neighbours) -> torch.Tensor:
    """The smallest bool mask that contains ``seed`` and ``neighbours(mask)`` of itself."""
    members = seed
    while True:
        grown = members | neighbours(members)
        if bool((grown == members).all()):
            return members
        members = grown


def _reachable_neurons(w_hh: torch.Tensor, head_w: torch.Tensor) -> torch.Tensor:
    """Neurons with a path of nonzero weights to the output: the head reads them, or a gate of such a
    neuron reads them through ``W_h`` (a fixed point, found backwards from the head)."""
    return _closure(head_w.any(0), lambda useful: w_hh[useful.repeat(4)].any(0))


@torch.no_grad()
def find_structure(net: FoldedNetwork, rule: str = "reference") -> Structure:
    """Apply the unit rules to a folded network and zero the weights of removed units.

    ``rule="reference"``: the paper code's single pass (§6.6; the statistics of its tables).
    ``rule="reachable"``: a hidden neuron is kept only if a path of nonzero weights leads from it to
    the output, an input only if it feeds a gate of a kept neuron, a word only if it also has a
    nonzero in a kept embedding component. Units the reference rule keeps but that cannot reach the
    output (e.g. a neuron whose only outgoing weight goes to a removed neuron) are dropped; the
    network computes exactly the same function, so the exports use this rule.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; valid: {', '.join(RULES)}")
    H = net.hidden_size
    w_ih, w_hh, head_w = net.weight_ih != 0, net.weight_hh != 0, net.head_weight != 0
    if rule == "reference":
        input_keep = w_ih.any(0)
        hidden_keep = w_hh.any(0) | head_w.any(0)
    else:
        hidden_keep = _reachable_neurons(w_hh, head_w)
        input_keep = w_ih[hidden_keep.repeat(4)].any(0)
    rows_nonzero = (w_ih.any(1) | w_hh.any(1)).view(4, H)
    gate_nonconstant = rows_nonzero & hidden_keep.unsqueeze(0)
    vocab_keep = None
    emb = net.embedding
    if emb is not None:
        vocab_keep = net.vocab_group != 0 if net.vocab_group is not None else (emb != 0).any(1)
        if rule == "reachable":
            vocab_keep = vocab_keep & (emb[:, input_keep] != 0).any(1)
        emb = emb * vocab_keep.unsqueeze(1) * input_keep.unsqueeze(0)
    row_keep = hidden_keep.repeat(4).unsqueeze(1)
    zeroed = replace(
        net,
        weight_ih=net.weight_ih * row_keep * input_keep,
        weight_hh=net.weight_hh * row_keep * hidden_keep,
        head_weight=net.head_weight * hidden_keep,
        embedding=emb,
    )
    return Structure(zeroed, input_keep, hidden_keep, gate_nonconstant, vocab_keep)


def input_dependent_neurons(net: FoldedNetwork) -> torch.Tensor:
    """``[H]`` bool: neurons whose state depends on the input, i.e. a gate of the neuron reads the
    input through ``W_x``, or reads through ``W_h`` a neuron that does (a fixed point, found
    forwards from the inputs). Every other neuron's gates read nothing but neurons like itself,
    so from h_0 = c_0 = 0 its state follows the same trajectory for every input sequence (a function
    of the step alone). The paper's rule keeps such a neuron while a nonzero weight reads it.
    """
    H = net.hidden_size
    reads_input = (net.weight_ih != 0).any(1).view(4, H).any(0)
    reads_neuron = net.weight_hh != 0  # [4H, H]
    return _closure(reads_input, lambda dependent: reads_neuron[:, dependent].any(1).view(4, H).any(0))


def input_recovery(input_keep: torch.Tensor, relevant: list[int]) -> dict:
    """How the kept inputs match a known ground truth (e.g. ``sparse_signal``'s relevant features)."""
    relevant_mask = torch.zeros_like(input_keep)
    relevant_mask[torch.as_tensor(relevant, dtype=torch.long)] = True
    irrelevant_total = int((~relevant_mask).sum())
    irrelevant_removed = int((~relevant_mask & ~input_keep).sum())
    return {
        "relevant_kept": int((relevant_mask & input_keep).sum()),
        "relevant_total": int(relevant_mask.sum()),
        "relevant_removed": (relevant_mask & ~input_keep).nonzero().flatten().tolist(),
        "irrelevant_removed": irrelevant_removed,
        "irrelevant_total": irrelevant_total,
        "irrelevant_removed_fraction": irrelevant_removed / irrelevant_total if irrelevant_total else 1.0,
    }


def compression_stats(structure: Structure, relevant_inputs: list[int] | None = None) -> dict:
    """The paper's statistics (§8 tables) of a :class:`Structure`; with ``relevant_inputs`` (the
    inputs known to matter) also :func:`input_recovery` under ``"input_recovery"``."""
    net = structure.network
    matrices = {}
    if net.embedding is not None:
        matrices["embedding"] = net.embedding
    matrices.update({"W_x": net.weight_ih, "W_h": net.weight_hh, "output": net.head_weight})
    per_matrix = {k: {"nonzero": int((m != 0).sum()), "total": m.numel()} for k, m in matrices.items()}
    total = sum(v["total"] for v in per_matrix.values())
    nonzero = sum(v["nonzero"] for v in per_matrix.values())
    hidden = int(structure.hidden_keep.sum())
    by_type = {k: int(n) for k, n in zip(GATES, structure.gate_nonconstant.sum(1).tolist(), strict=True)}
    gates = sum(by_type.values())
    stats = {
        "compression": total / nonzero if nonzero else math.inf,
        "weights_total": total,
        "weights_nonzero": nonzero,
        "matrices": per_matrix,
        "inputs_kept": int(structure.input_keep.sum()),
        "inputs_total": structure.input_keep.numel(),
        "hidden_kept": hidden,
        "hidden_total": structure.hidden_keep.numel(),
        "hidden_input_dependent": int((input_dependent_neurons(net) & structure.hidden_keep).sum()),
        "gates_nonconstant": gates,
        "gates_nonconstant_by_type": by_type,
        "gates_constant_by_type": {k: hidden - n for k, n in by_type.items()},
        "nonconstant_fraction": gates / (4 * hidden) if hidden else 0.0,
    }
    if structure.vocab_keep is not None:
        stats["vocabulary_kept"] = int(structure.vocab_keep.sum())
        stats["vocabulary_total"] = structure.vocab_keep.numel()
    if relevant_inputs is not None:
        stats["input_recovery"] = input_recovery(structure.input_keep, relevant_inputs)
    return stats


def scalar_stats(stats: dict) -> dict[str, float]:
    """The numbers of :func:`compression_stats` as one flat dict: every scalar entry, and the
    non-constant gates per type as ``gates_nonconstant_i`` ... ``gates_nonconstant_o``."""
    flat = {k: v for k, v in stats.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    flat.update({f"gates_nonconstant_{g}": n for g, n in stats["gates_nonconstant_by_type"].items()})
    return flat


def _table_rows(stats: dict) -> list[tuple[str, str]]:
    comp = stats["compression"]
    rows = [("compression", f"{comp:.1f}x ({stats['weights_total']} / {stats['weights_nonzero']} nonzero)")]
    if "vocabulary_kept" in stats:
        rows.append(("vocabulary kept", f"{stats['vocabulary_kept']} / {stats['vocabulary_total']}"))
    rows.append(("inputs kept", f"{stats['inputs_kept']} / {stats['inputs_total']}"))
    if "input_recovery" in stats:
        r = stats["input_recovery"]
        missing = f" (removed: {', '.join(map(str, r['relevant_removed']))})" if r["relevant_removed"] else ""
        share = 100 * r["irrelevant_removed_fraction"]
        rows.append(("relevant inputs kept", f"{r['relevant_kept']} / {r['relevant_total']}{missing}"))
        rows.append(
            ("irrelevant removed", f"{r['irrelevant_removed']} / {r['irrelevant_total']} ({share:.1f}%)")
        )
    dependent = f"{stats['hidden_input_dependent']} read the input"
    rows.append(("hidden neurons kept", f"{stats['hidden_kept']} / {stats['hidden_total']} ({dependent})"))
    per = ", ".join(f"{k} {v}" for k, v in stats["gates_nonconstant_by_type"].items())
    rows.append(("non-constant gates", f"{stats['gates_nonconstant']} / {4 * stats['hidden_kept']} ({per})"))
    for name, m in stats["matrices"].items():
        rows.append((f"nonzero {name}", f"{m['nonzero']} / {m['total']}"))
    return rows


def format_table(stats: dict, title: str = "") -> str:
    """A readable text table of :func:`compression_stats` (``quality`` and a ``reachable`` column
    when present)."""
    lines = [title] if title else []
    quality = [
        (f"{split} quality", ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        for split, metrics in stats.get("quality", {}).items()
    ]
    rows = _table_rows(stats)
    other = _table_rows(stats["reachable"]) if "reachable" in stats else None
    width = max(len(r[0]) for r in rows + quality)
    lines += [f"{k.ljust(width)}  {v}" for k, v in quality]
    if other is None:
        lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    else:
        col = max(len(v) for _, v in rows)
        lines.append(f"{''.ljust(width)}  {'paper rule'.ljust(col)}  reachable units only")
        lines += [
            f"{k.ljust(width)}  {v.ljust(col)}  {w}" for (k, v), (_, w) in zip(rows, other, strict=True)
        ]
    return "\n".join(lines) + "\n"
