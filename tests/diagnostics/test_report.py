"""``probgates diagnose RUN_DIR``: posterior.nc and an offline HTML report."""

import re

import pyro
import pytest
import xarray as xr

from probgates.diagnostics import diagnose_run, find_baseline, load_datatree, report, to_datatree


def test_diagnose_writes_the_posterior_and_an_offline_report(runs, capsys, monkeypatch):
    trees = []

    def spy(*args, **kwargs):
        trees.append(to_datatree(*args, **kwargs))
        return trees[-1]

    monkeypatch.setattr(report, "to_datatree", spy)
    index = diagnose_run(runs["bbeta5"], num_samples=30, sequences=3, progress=True)
    assert index == runs["bbeta5"] / "report" / "index.html"
    assert "posterior draws" in capsys.readouterr().err  # the progress bar
    tree = load_datatree(runs["bbeta5"] / "posterior.nc")
    assert {"posterior", "prior", "log_likelihood", "sample_stats"} <= set(tree.children)
    assert tree["posterior"].sizes["draw"] == 30 and tree["posterior"].sizes["sequence"] == 3
    assert list(tree["sample_stats"]["epoch"].values) == [1, 2]
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert set(images) == {
        "gate_distributions.png",
        "joint_gates.png",
        "gate_trajectories.png",
        "prior_posterior.png",
        "gradient_flow.png",
        "training_history.png",
    }
    for name in images:
        assert (index.parent / name).stat().st_size > 5000
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert "Baseline:" in page and "adding-sigmoid" in page  # the sibling sigmoid run
    assert "Gradient flow through the cell state" in page and "first / last" in page
    # Both runs have a regression head whose noise scale has the same parameter name; each model
    # must keep its own (PyroModule would otherwise take the other's value from Pyro's param store).
    assert len(trees) == 2  # the run, then its sigmoid baseline
    for tree, run in zip(trees, (runs["bbeta5"], runs["sigmoid"]), strict=True):
        with pyro.get_param_store().scope():
            alone = to_datatree(run, num_samples=30, sequences=3)
        xr.testing.assert_allclose(tree["log_likelihood"], alone["log_likelihood"])


def test_baseline_is_the_sibling_sigmoid_run_on_the_same_data(runs, tmp_path):
    assert find_baseline(runs["bbeta5"]) == runs["sigmoid"]
    assert find_baseline(tmp_path) is None


def test_diagnose_a_deterministic_run(runs):
    index = diagnose_run(runs["sigmoid"], num_samples=10, sequences=2, progress=False)
    page = index.read_text()
    assert "prior_posterior.png" not in page and "none (deterministic gates)" in page
    assert load_datatree(runs["sigmoid"] / "posterior.nc")["posterior"].sizes["draw"] == 1


def test_to_datatree_reads_a_run_directory(runs):
    tree = to_datatree(runs["bbeta5"], num_samples=5, sequences=2, split="valid")
    assert tree.attrs["spec_name"] == "adding-bbeta5" and tree.attrs["split"] == "valid"
    assert tree["observed_data"]["obs"].dims == ("sequence",)
    assert tree["sample_stats"].sizes["epoch"] == 2


def test_a_baseline_on_other_data_is_refused(runs, tmp_path):
    from probgates import runner
    from probgates.spec import spec_from_dict

    table = {
        "name": "other",
        "data": {"name": "adding_problem", "options": {"num_sequences": 20, "seq_len": 5, "seed": 1}},
        "model": {"family": "sigmoid", "hidden_size": 3},
        "train": {"epochs": 1, "batch_size": 10, "progress": False},
    }
    runner.train(spec_from_dict(table), tmp_path / "other")
    with pytest.raises(ValueError, match="was trained on other data"):
        diagnose_run(runs["bbeta5"], num_samples=3, sequences=1, baseline=tmp_path / "other", progress=False)
