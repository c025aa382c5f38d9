"""Structured-sparsification models: their tree (log alpha, masks, structure), figures and report."""

import re

import numpy as np
import pytest
import torch
import xarray as xr

from probgates.diagnostics import diagnose_run, load_datatree, save_datatree, to_datatree
from probgates.diagnostics.figures import (
    plot_log_alpha,
    plot_neuron_map,
    plot_sparsity_over_training,
    plot_structure_history,
)
from probgates.diagnostics.sparsity import sparsity_dataset
from tests.diagnostics.test_figures import check


def test_sparse_tree_has_log_alpha_masks_and_structure(sparse_run, tmp_path):
    _, model, data = sparse_run
    tree = to_datatree(model, data, num_samples=12, sequences=3)
    assert {"posterior", "posterior_predictive", "observed_data", "log_likelihood", "sparsity"} <= set(
        tree.children
    )
    assert "prior" not in tree.children  # the log-uniform prior is improper
    post = tree["posterior"]
    assert post["lstm_z_gate"].dims == ("chain", "draw", "gate", "unit")
    assert list(post["gate"].values) == ["i", "f", "g", "o"]
    assert post["lstm_z_h"].dims == ("chain", "draw", "unit") and post.sizes["draw"] == 12
    sparsity = tree["sparsity"]
    assert sparsity["log_alpha_lstm_weight_ih"].dims == ("gate", "unit", "input")
    assert sparsity["log_alpha_lstm_weight_ih"].shape == (4, 5, 5)
    threshold = sparsity.attrs["threshold"]
    keep = sparsity["keep_lstm_weight_hh"].values
    np.testing.assert_array_equal(keep, sparsity["log_alpha_lstm_weight_hh"].values < threshold)
    # the stored layout is the model's: row k * H + j of W_x is gate k of unit j
    expected = model.lstm.weight_ih.log_alpha().detach().view(4, 5, 5).numpy()
    np.testing.assert_allclose(sparsity["log_alpha_lstm_weight_ih"].values, expected)
    state = sparsity["gate_state"].values
    assert state.shape == (4, 5) and set(np.unique(state)) <= {0, 1, 2}
    assert sparsity.attrs["compression"] >= 1
    assert tree["observed_data"]["obs"].dims == ("sequence",)
    back = load_datatree(save_datatree(tree, tmp_path / "sparse.nc"))
    xr.testing.assert_identical(back, tree)


def test_gate_states_follow_pruned_gate_groups(sparse_run):
    """Pushing a gate's group variable over the threshold makes that gate constant."""
    _, model, _ = sparse_run
    z = model.lstm.z_gate
    saved = z.log_sigma.detach().clone()
    try:
        with torch.no_grad():
            z.log_sigma[1 * 5 + 2] = z.theta[1 * 5 + 2].abs().log() + 5.0  # f gate of unit 2
        state = sparsity_dataset(model)["gate_state"]
        assert int(state.sel(gate="f", unit=2)) == 1
        assert int(state.sel(gate="i", unit=2)) == 2
    finally:
        with torch.no_grad():
            z.log_sigma.copy_(saved)


def test_sparsity_figures(sparse_run, tmp_path):
    _, model, _ = sparse_run
    sparsity = sparsity_dataset(model)
    axes = check(plot_log_alpha(sparsity), tmp_path, 6)  # W_x, W_h, z_x, z_gate, z_h, head
    assert all(any(line.get_linestyle() == "--" for line in ax.lines) for ax in axes)  # threshold
    check(plot_neuron_map(sparsity), tmp_path, 2)
    check(plot_sparsity_over_training({"a": sparsity, "b": sparsity}), tmp_path, 2)


def test_structure_history_figure_plots_every_epoch(sparse_run, tmp_path):
    root, _, _ = sparse_run
    history = load_datatree(save_datatree(to_datatree(root, num_samples=4, sequences=2), tmp_path / "t.nc"))
    stats = history["sample_stats"].to_dataset()
    assert list(stats["epoch"].values) == [1, 2]
    ax_comp, ax_units = check(plot_structure_history(stats), tmp_path, 2)
    np.testing.assert_allclose(ax_comp.lines[0].get_ydata(), stats["compression"].values)
    neurons = ax_units.lines[0]
    assert neurons.get_label() == "hidden neurons kept"
    np.testing.assert_array_equal(neurons.get_ydata(), stats["hidden_kept"].values)
    dependent = ax_units.lines[1]
    assert dependent.get_label() == "neurons that read the input"
    np.testing.assert_array_equal(dependent.get_ydata(), stats["hidden_input_dependent"].values)
    assert [line.get_label() for line in ax_units.lines[2:]] == [f"non-constant {g} gates" for g in "ifgo"]


def test_diagnose_a_sparse_run(sparse_run):
    root, _, _ = sparse_run
    index = diagnose_run(root, num_samples=10, sequences=2, progress=False)
    page = index.read_text()
    images = set(re.findall(r'<img src="([^"]+)"', page))
    assert images == {
        "log_alpha.png",
        "neuron_map.png",
        "sparsity_over_training.png",
        "structure_history.png",  # the run's metrics.jsonl has the structure of every epoch
        "training_history.png",
    }
    assert "initial" in page and "best (epoch" in page and "last (epoch 2)" in page
    tree = load_datatree(root / "posterior.nc")
    assert "sparsity" in tree.children and tree["posterior"].sizes["draw"] == 10


@pytest.mark.parametrize("group_noise", ["sequence"])
def test_per_sequence_group_noise_has_a_sequence_dim(sparse_run, group_noise):
    from probgates.sparse import SparseSpec, build_sparse_model

    _, _, data = sparse_run
    model = build_sparse_model(SparseSpec(hidden_size=3, embedding_dim=0, group_noise=group_noise), data)
    tree = to_datatree(model, data, num_samples=3, sequences=[4, 2])
    assert tree["posterior"]["lstm_z_h"].dims == ("chain", "draw", "sequence", "unit")
    assert list(tree["posterior"]["sequence"].values) == [4, 2]


def test_to_datatree_reads_a_sparse_run_directory(sparse_run):
    root, _, _ = sparse_run
    tree = to_datatree(root, num_samples=4, sequences=2)
    assert tree.attrs["spec_name"] == "toy-sparse" and "sparsity" in tree.children
    assert list(tree["sample_stats"]["epoch"].values) == [1, 2]


def test_group_lasso_models_have_structure_but_no_log_alpha(sparse_run):
    from probgates.sparse import SparseSpec, build_sparse_model

    _, _, data = sparse_run
    model = build_sparse_model(SparseSpec(hidden_size=3, embedding_dim=0, framework="pruning"), data)
    sparsity = to_datatree(model, data, num_samples=2, sequences=2)["sparsity"]
    assert not any(name.startswith("log_alpha_") for name in sparsity.data_vars)
    assert sparsity["gate_state"].shape == (4, 3) and sparsity.attrs["framework"] == "pruning"
