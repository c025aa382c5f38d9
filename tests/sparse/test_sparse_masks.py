"""Masks and compression statistics against hand-computed values."""

import math

import pytest
import torch

from probgates.sparse import (
    compression_stats,
    find_structure,
    fold_model,
    format_table,
    input_dependent_neurons,
)
from probgates.sparse.masks import FoldedNetwork

from .conftest import make_model, signal_data


def _hand_built() -> FoldedNetwork:
    # H = 2: rows i0 i1 f0 f1 g0 g1 o0 o1; D = 3 embedding components; V = 4 words; O = 2.
    w_ih = torch.zeros(8, 3)
    w_ih[0, 0] = 1.0  # i0 <- x0
    w_ih[4, 0] = 2.0  # g0 <- x0
    w_ih[3, 2] = 3.0  # f1 <- x2 (neuron 1 will be removed)
    w_hh = torch.zeros(8, 2)
    w_hh[4, 0] = 1.0  # g0 <- h0: neuron 0's only recurrent outgoing weight
    head = torch.zeros(2, 2)
    head[0, 0] = 1.0  # neuron 1 has no outgoing weight at all
    vocab = torch.tensor([1.0, 0.0, 1.0, 1.0])  # word 1 pruned by its group variable
    emb = torch.tensor([[1.0, 1.0, 0.0], [5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [0.0, 2.0, 3.0]])
    return FoldedNetwork(
        w_ih, w_hh, torch.zeros(8), head, torch.zeros(2), emb * vocab.unsqueeze(1), vocab, "embedding"
    )


def test_statistics_of_a_hand_built_network():
    s = find_structure(_hand_built())
    stats = compression_stats(s)
    assert s.input_keep.tolist() == [True, False, True]  # x1 has no outgoing weight
    assert s.hidden_keep.tolist() == [True, False]
    assert s.gate_nonconstant.tolist() == [[True, False], [False, False], [True, False], [False, False]]
    assert stats["vocabulary_kept"] == 3 and stats["vocabulary_total"] == 4  # z rule: word 2 is kept
    assert (stats["inputs_kept"], stats["hidden_kept"]) == (2, 1)
    assert stats["gates_nonconstant"] == 2
    assert stats["gates_nonconstant_by_type"] == {"i": 1, "f": 0, "g": 1, "o": 0}
    assert stats["gates_constant_by_type"] == {"i": 0, "f": 1, "g": 0, "o": 1}
    # After zeroing removed units: emb keeps word0/x0 and word3/x2, W_x loses f1's weight.
    assert stats["matrices"] == {
        "embedding": {"nonzero": 2, "total": 12},
        "W_x": {"nonzero": 2, "total": 24},
        "W_h": {"nonzero": 1, "total": 16},
        "output": {"nonzero": 1, "total": 4},
    }
    assert stats["compression"] == pytest.approx(56 / 6)
    assert stats["nonconstant_fraction"] == pytest.approx(2 / 4)
    text = format_table(stats)
    assert "non-constant gates   2 / 4 (i 1, f 0, g 1, o 0)" in text and "9.3x" in text
    assert stats["hidden_input_dependent"] == 1
    assert "hidden neurons kept  1 / 2 (1 read the input)" in text


def _chain_network() -> FoldedNetwork:
    """H = 4 neurons, D = 2 inputs, frames: neuron 0 reads x0; neuron 1 reads only h0 (so it depends
    on the input through neuron 0); neuron 2 reads only itself (a self-loop from h_0 = 0, no input);
    neuron 3 has four constant gates. The head reads all four."""
    H = 4
    w_ih = torch.zeros(4 * H, 2)
    w_ih[2 * H + 0, 0] = 1.5  # g0 <- x0
    w_hh = torch.zeros(4 * H, H)
    w_hh[2 * H + 1, 0] = 2.0  # g1 <- h0
    w_hh[0 * H + 2, 2] = 0.7  # i2 <- h2
    w_hh[2 * H + 2, 2] = -0.4  # g2 <- h2
    bias = torch.linspace(-1.0, 1.0, 4 * H)
    return FoldedNetwork(w_ih, w_hh, bias, torch.ones(1, H), torch.zeros(1))


def test_input_dependent_neurons_are_the_ones_whose_state_changes_with_the_input():
    net = _chain_network()
    dependent = input_dependent_neurons(net)
    assert dependent.tolist() == [True, True, False, False]
    assert compression_stats(find_structure(net))["hidden_input_dependent"] == 2
    # Run the network on two different inputs: only the dependent neurons' states differ.
    lstm = torch.nn.LSTM(2, 4, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(net.weight_ih)
        lstm.weight_hh_l0.copy_(net.weight_hh)
        lstm.bias_ih_l0.copy_(net.bias)
        lstm.bias_hh_l0.zero_()
        generator = torch.Generator().manual_seed(0)
        a, b = (lstm(torch.randn(3, 12, 2, generator=generator))[0] for _ in range(2))
    changed = (a - b).abs().amax((0, 1)) > 1e-6
    assert changed.tolist() == dependent.tolist()


def test_group_variables_decide_units_and_gates():
    data = signal_data()
    model = make_model(data, variant="W+G+N")
    H = 5
    with torch.no_grad():
        lstm = model.lstm
        for v in (lstm.weight_ih, lstm.weight_hh, model.head.weight):
            v.log_sigma.fill_(-20.0)  # keep every weight
        lstm.z_x.log_sigma[1] = 5.0  # input 1 pruned
        lstm.z_h.log_sigma[2] = 5.0  # neuron 2 pruned
        lstm.z_gate.log_sigma[3 * H + 0] = 5.0  # o gate of neuron 0 constant
        lstm.z_gate.log_sigma[1 * H + 4] = 5.0  # f gate of neuron 4 constant
    s = find_structure(fold_model(model))
    assert s.input_keep.tolist() == [True, False, True, True, True, True]
    assert s.hidden_keep.tolist() == [True, True, False, True, True]
    stats = compression_stats(s)
    assert stats["gates_nonconstant_by_type"] == {"i": 4, "f": 3, "g": 4, "o": 3}
    n_ih, n_hh = 16 * 5 - 2 * 5, 16 * 4 - 2 * 4  # kept rows x kept columns, minus the constant gates' rows
    assert stats["matrices"]["W_x"]["nonzero"] == n_ih
    assert stats["matrices"]["W_h"]["nonzero"] == n_hh
    assert stats["matrices"]["output"]["nonzero"] == 2 * 4
    total = 20 * 6 + 20 * 5 + 2 * 5
    assert stats["compression"] == pytest.approx(total / (n_ih + n_hh + 8))


def test_everything_pruned_gives_infinite_compression():
    data = signal_data()
    model = make_model(data, variant="W+N")
    with torch.no_grad():
        model.lstm.z_h.log_sigma.fill_(5.0)
    stats = compression_stats(find_structure(fold_model(model)))
    assert stats["hidden_kept"] == 0 and stats["gates_nonconstant"] == 0
    assert math.isinf(stats["compression"]) is False or stats["weights_nonzero"] == 0


def test_reachable_rule_drops_units_without_a_path_to_the_output():
    net = _hand_built()
    # neuron 1 now reads x2 and feeds neuron 0's forget gate only through a removed path: add a
    # neuron-1 -> neuron-1 recurrent weight (a self-loop) -- the paper rule keeps it, reachability does not.
    net.weight_hh[3, 1] = 1.0  # f1 <- h1
    ref = find_structure(net, "reference")
    reach = find_structure(net, "reachable")
    assert ref.hidden_keep.tolist() == [True, True]
    assert reach.hidden_keep.tolist() == [True, False]
    assert reach.input_keep.tolist() == [True, False, False]  # x2 only fed neuron 1
    stats = compression_stats(reach)
    assert stats["vocabulary_kept"] == 1  # word 0 is the only kept word with a kept component
    assert stats["matrices"]["embedding"]["nonzero"] == 1
    # a chain h1 -> g0 -> output makes neuron 1 reachable again
    net.weight_hh[4, 1] = 0.5
    assert find_structure(net, "reachable").hidden_keep.tolist() == [True, True]
    with pytest.raises(ValueError, match="unknown rule 'x'; valid: reference, reachable"):
        find_structure(net, "x")


def test_input_recovery_against_known_relevant_inputs():
    # The hand-built network keeps inputs 0 and 2 of 3; say inputs 1 and 2 are the relevant ones.
    stats = compression_stats(find_structure(_hand_built()), relevant_inputs=[1, 2])
    assert stats["input_recovery"] == {
        "relevant_kept": 1,
        "relevant_total": 2,
        "relevant_removed": [1],
        "irrelevant_removed": 0,
        "irrelevant_total": 1,
        "irrelevant_removed_fraction": 0.0,
    }
    text = format_table(stats)
    assert "relevant inputs kept  1 / 2 (removed: 1)" in text and "irrelevant removed    0 / 1 (0.0%)" in text
    assert "input_recovery" not in compression_stats(find_structure(_hand_built()))
