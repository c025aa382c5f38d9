"""Every export computes the masked model's logits."""

import pytest
import torch
from torch.nn.utils import prune

from probgates.sparse import (
    compression_stats,
    find_structure,
    fold_model,
    to_compact,
    to_pruned,
    to_torch_lstm,
)
from probgates.sparse.export import masked_logits

from .conftest import make_model, randomly_pruned, signal_data, token_data

CASES = [
    ("frames", "W+G+N", {}),
    ("frames", "W", {}),
    ("embedding", "W+G+N", {}),
    ("embedding", "W+N", {"gate_activation": "hard_sigmoid"}),
    ("frames", "W+G+N", {"gate_activation": "hard_sigmoid"}),
    ("one_hot", "W+G+N", {"embedding_dim": 0, "input_groups": False, "gate_activation": "hard_sigmoid"}),
    ("one_hot", "W+G+N", {"embedding_dim": 0, "input_groups": False}),
    ("one_hot", "W+G+N", {"embedding_dim": 0}),
    ("frames", "W+G+N", {"framework": "pruning", "prune_threshold": 0.3}),
    ("embedding", "W+G+N", {"framework": "pruning", "prune_threshold": 0.3}),
]


@pytest.mark.parametrize("rule", ["reference", "reachable"])
@pytest.mark.parametrize("kind, variant, options", CASES)
def test_exports_equal_the_masked_model(kind, variant, options, rule):
    data = signal_data() if kind == "frames" else token_data(per_step=kind == "one_hot")
    model = randomly_pruned(make_model(data, variant=variant, **options)).eval()
    inputs = data.test.batch(range(6)).inputs
    reference = masked_logits(model, inputs)
    structure = find_structure(fold_model(model), rule)
    assert compression_stats(structure)["compression"] > 1.5  # the exports really differ from dense
    if options.get("gate_activation") == "hard_sigmoid":
        with pytest.raises(ValueError, match="torch.nn.LSTM has sigmoid gates.*compact"):
            to_torch_lstm(structure)
        assert (to_compact(structure)(inputs) - reference).abs().max() < 1e-5
        return
    plain = to_torch_lstm(structure)
    assert isinstance(plain.lstm, torch.nn.LSTM)
    assert plain.lstm.hidden_size == max(1, int(structure.hidden_keep.sum()))
    assert plain.lstm.input_size == max(1, int(structure.input_keep.sum()))
    pruned = to_pruned(structure)
    assert prune.is_pruned(pruned)
    assert pruned.lstm.weight_ih_l0.shape == model.lstm.weight_ih.shape
    for export in (plain, to_compact(structure), pruned):
        with torch.no_grad():
            assert (export(inputs) - reference).abs().max() < 1e-5


def test_exports_with_every_neuron_removed():
    data = signal_data()
    model = make_model(data, variant="W+N").eval()
    with torch.no_grad():
        model.lstm.z_h.log_sigma.fill_(5.0)
    inputs = data.test.batch(range(3)).inputs
    reference = masked_logits(model, inputs)
    structure = find_structure(fold_model(model))
    for export in (to_torch_lstm(structure), to_compact(structure), to_pruned(structure)):
        with torch.no_grad():
            assert (export(inputs) - reference).abs().max() < 1e-5


@pytest.mark.parametrize("kind", ["frames", "embedding"])
def test_compact_export_without_recurrent_weights(kind):
    """Every W_h weight pruned: the compact loop skips the recurrent product and still matches."""
    data = signal_data() if kind == "frames" else token_data()
    model = make_model(data, variant="W+G+N").eval()
    with torch.no_grad():
        model.lstm.weight_hh.log_sigma.fill_(5.0)
    inputs = data.test.batch(range(4)).inputs
    structure = find_structure(fold_model(model))
    compact = to_compact(structure)
    assert not compact.recurrent and compact.hidden > 0 and len(compact.nc) > 0
    assert (compact(inputs) - masked_logits(model, inputs)).abs().max() < 1e-5
