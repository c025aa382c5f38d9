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
from probgates.sparse.export import COMPACT_LAYOUTS, CompactLSTM, masked_logits

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
        for layout in COMPACT_LAYOUTS:
            assert (to_compact(structure, layout)(inputs) - reference).abs().max() < 1e-5, layout
        return
    plain = to_torch_lstm(structure)
    assert isinstance(plain.lstm, torch.nn.LSTM)
    assert plain.lstm.hidden_size == max(1, int(structure.hidden_keep.sum()))
    assert plain.lstm.input_size == max(1, int(structure.input_keep.sum()))
    pruned = to_pruned(structure)
    assert prune.is_pruned(pruned)
    assert pruned.lstm.weight_ih_l0.shape == model.lstm.weight_ih.shape
    compacts = [to_compact(structure, layout) for layout in COMPACT_LAYOUTS]
    for export in (plain, *compacts, pruned):
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
    compacts = [to_compact(structure, layout) for layout in COMPACT_LAYOUTS]
    for export in (to_torch_lstm(structure), *compacts, to_pruned(structure)):
        with torch.no_grad():
            assert (export(inputs) - reference).abs().max() < 1e-5


@pytest.mark.parametrize("layout", COMPACT_LAYOUTS)
@pytest.mark.parametrize("kind", ["frames", "embedding"])
def test_compact_export_without_recurrent_weights(kind, layout):
    """Every W_h weight pruned: the compact loop skips the recurrent product and still matches."""
    data = signal_data() if kind == "frames" else token_data()
    model = make_model(data, variant="W+G+N").eval()
    with torch.no_grad():
        model.lstm.weight_hh.log_sigma.fill_(5.0)
    inputs = data.test.batch(range(4)).inputs
    structure = find_structure(fold_model(model))
    compact = to_compact(structure, layout)
    assert not compact.recurrent and compact.hidden > 0 and len(compact.nc) > 0
    assert (compact(inputs) - masked_logits(model, inputs)).abs().max() < 1e-5


def test_compact_layout_rows_and_default():
    """skip holds the non-constant rows only, full every row of the kept neurons; the default takes
    full while the constant rows cost at most FULL_ROWS_MAX_EXTRA multiply-adds per step."""
    data = signal_data()
    model = randomly_pruned(make_model(data, variant="W+G+N")).eval()
    structure = find_structure(fold_model(model))
    stats = compression_stats(structure)
    hidden = stats["hidden_kept"]
    skip, full = to_compact(structure, "skip"), to_compact(structure, "full")
    assert len(skip.nc) == stats["gates_nonconstant"] < 4 * hidden
    assert len(full.nc) == 4 * hidden and full.w_hh.shape == (4 * hidden, hidden)
    extra = (4 * hidden - stats["gates_nonconstant"]) * hidden
    assert to_compact(structure).layout == ("full" if extra <= CompactLSTM.FULL_ROWS_MAX_EXTRA else "skip")
    with pytest.raises(ValueError, match="unknown layout 'dense'; valid: skip, full"):
        to_compact(structure, "dense")


def test_compact_state_dict_of_another_format_is_refused():
    data = signal_data()
    structure = find_structure(fold_model(randomly_pruned(make_model(data, variant="W+G+N")).eval()))
    compact = to_compact(structure)
    state = compact.state_dict()
    to_compact(structure).load_state_dict(state)
    state["format_version"] = torch.tensor(2)
    with pytest.raises(RuntimeError, match="format_version 2; this version reads format_version 4"):
        to_compact(structure).load_state_dict(state)


@pytest.mark.parametrize("layout", COMPACT_LAYOUTS)
@pytest.mark.parametrize("kind", ["embedding", "one_hot"])
def test_compact_token_table_has_one_column_per_kept_token(kind, layout):
    """Kept tokens each own a column of the table; every removed token reads the shared last one
    (b), and sequences of removed tokens alone still give the masked model's logits."""
    data = token_data(per_step=kind == "one_hot")
    options = {"embedding_dim": 0} if kind == "one_hot" else {}
    model = randomly_pruned(make_model(data, variant="W+G+N", **options), fraction=0.6).eval()
    compact = to_compact(find_structure(fold_model(model)), layout)
    columns = compact.table.shape[1]
    shared = compact.token_column == columns - 1
    vocab = data.info["vocab_size"]
    assert compact.token_column.shape == (vocab,) and 1 < columns < vocab + 1
    assert int(shared.sum()) == vocab - (columns - 1)  # the kept tokens' columns are distinct
    assert compact.token_column[~shared].unique().numel() == columns - 1
    removed = shared.nonzero().flatten()
    kept = (~shared).nonzero().flatten()
    for tokens in (removed, torch.cat([kept, removed])):
        inputs = tokens[torch.randint(len(tokens), (3, 7), generator=torch.Generator().manual_seed(0))]
        assert (compact(inputs) - masked_logits(model, inputs)).abs().max() < 1e-5
