"""The SVI -> xarray.DataTree converter: groups, dims, coordinates, values, netCDF round trip."""

import numpy as np
import pytest
import torch
import xarray as xr
from pyro.infer import Predictive

from probgates.data import load_dataset
from probgates.diagnostics import load_datatree, save_datatree, to_datatree
from probgates.tasks import SequenceModel
from tests.diagnostics.conftest import HISTORY, NUM_DRAWS


def test_tree_has_the_documented_groups_dims_and_coordinates(tree, frames):
    assert set(tree.children) == {
        "posterior",
        "prior",
        "posterior_predictive",
        "prior_predictive",
        "observed_data",
        "log_likelihood",
        "constant_data",
        "sample_stats",
    }
    post = tree["posterior"]
    assert post["gates"].dims == ("chain", "draw", "layer", "sequence", "time", "gate", "unit")
    assert post["gamma_shape"].dims == ("chain", "draw", "layer", "unit", "component")
    assert post["gate_prior_concentration"].dims == post["gamma_shape"].dims
    assert post.sizes["chain"] == 1 and post.sizes["draw"] == NUM_DRAWS
    assert list(post["gate"].values) == ["i", "f"]
    assert list(post["component"].values) == ["G1", "G2", "G3", "G4", "G5"]
    assert list(post["sequence"].values) == [0, 1, 2, 3]
    assert post.sizes["layer"] == 2 and post.sizes["unit"] == 4
    assert tree["prior"]["gates"].dims == post["gates"].dims
    batch = frames.test.batch(range(4))
    assert post.sizes["time"] == batch.mask.shape[1]
    # gates are NaN exactly at padded steps and lie in (0, 1) elsewhere
    real = tree["constant_data"]["mask"].values
    gates = post["gates"].values
    assert np.isnan(gates[:, :, :, ~real]).all()
    assert ((gates[:, :, :, real] > 0) & (gates[:, :, :, real] < 1)).all()
    assert (post["gamma_shape"].values > 0).all()
    # observations: one entry per real frame, the label dim for the piano keys
    frames_count = int(batch.mask.sum())
    assert tree["observed_data"]["obs"].dims == ("frame", "label")
    assert tree["observed_data"].sizes["frame"] == frames_count
    assert tree["posterior_predictive"]["obs"].dims == ("chain", "draw", "frame", "label")
    assert tree["log_likelihood"]["obs"].dims == ("chain", "draw", "frame")
    assert list(tree["observed_data"]["frame_sequence"].values[:2]) == [0, 0]
    np.testing.assert_array_equal(tree["observed_data"]["obs"].values, batch.targets[batch.mask].numpy())
    stats = tree["sample_stats"]
    assert stats["train_loss"].dims == ("epoch",)
    assert list(stats["epoch"].values) == [1, 2, 3]
    np.testing.assert_allclose(stats["elbo"].values, [-r["train_loss"] for r in HISTORY])
    assert tree.attrs["model_family"] == "bbeta5" and tree.attrs["num_draws"] == NUM_DRAWS


def test_posterior_gates_are_what_predictive_computes_from_the_same_gammas(fitted, frames):
    """The draws equal pyro.infer.Predictive run on the same latent values (Gammas, alpha0)."""
    batch = frames.test.batch(range(3))
    T = batch.mask.shape[1]
    sites = {f"gammas_{layer}_{t}": ("sequence", "flat") for layer in range(2) for t in range(T)}
    sites["gate_prior_concentration"] = ("layer", "unit", "component")
    tree = to_datatree(fitted, frames, num_samples=5, sequences=3, extra_sites=sites)
    samples = {name: torch.as_tensor(tree["posterior"][name].values[0]) for name in sites}
    fitted.eval()
    predictive = Predictive(fitted.model, posterior_samples=samples, return_sites=["gates_0", "gates_1"])
    out = predictive(batch, len(frames.train))
    fitted.train()
    for layer in range(2):
        expected = out[f"gates_{layer}"].numpy()  # [S, B, T, 2, H]
        got = tree["posterior"]["gates"].sel(layer=layer).values[0]
        mask = batch.mask.numpy()
        np.testing.assert_allclose(got[:, mask], expected[:, mask], rtol=1.3e-4)


def test_netcdf_round_trip_is_identical(tree, tmp_path):
    path = save_datatree(tree, tmp_path / "posterior.nc")
    back = load_datatree(path)
    xr.testing.assert_identical(back, tree)
    assert back["constant_data"]["mask"].dtype == bool


def test_pointwise_log_likelihood_sums_to_the_model_nll(frames):
    """Deterministic gates: one draw, and the per-frame log-likelihoods add up to -NLL."""
    model = SequenceModel.for_data(frames, hidden_size=3, family="sigmoid")
    tree = to_datatree(model, frames, num_samples=10, sequences=4)
    assert tree["posterior"].sizes["draw"] == 1
    assert "prior" not in tree.children
    batch = frames.test.batch(range(4))
    model.eval()
    nll = model.evaluate(batch)["nll"].item()
    assert -tree["log_likelihood"]["obs"].values.sum() == pytest.approx(nll, rel=1e-10)


def test_per_sequence_targets_use_the_sequence_dim_and_fused_lstm_gates_are_exposed():
    data = load_dataset("adding_problem", num_sequences=20, seq_len=6, seed=0)
    model = SequenceModel.for_data(data, hidden_size=3, family="lstm")
    tree = to_datatree(model, data, num_samples=3, sequences=[1, 0])
    assert tree["observed_data"]["obs"].dims == ("sequence",)
    assert list(tree["observed_data"]["sequence"].values) == [1, 0]
    assert tree["log_likelihood"]["obs"].dims == ("chain", "draw", "sequence")
    assert tree["posterior"]["gates"].sizes == {
        "chain": 1, "draw": 1, "layer": 1, "sequence": 2, "time": 6, "gate": 2, "unit": 3
    }  # fmt: skip
    assert np.isfinite(tree["posterior"]["gates"].values).all()


def test_max_time_crops_per_step_sequences(fitted, frames):
    tree = to_datatree(fitted, frames, num_samples=2, sequences=2, max_time=3)
    assert tree["posterior"].sizes["time"] == 3
    assert tree["observed_data"].sizes["frame"] == 6


def test_bad_arguments_are_named(fitted, frames):
    with pytest.raises(ValueError, match="out of range for the test split"):
        to_datatree(fitted, frames, num_samples=2, sequences=[99])
    with pytest.raises(ValueError, match="extra site 'gate_prior_concentration' has 3 dims per draw"):
        to_datatree(fitted, frames, num_samples=2, extra_sites={"gate_prior_concentration": ("unit",)})
    with pytest.raises(KeyError, match="extra site 'log_alpha' is not in the model or guide trace"):
        to_datatree(fitted, frames, num_samples=2, extra_sites={"log_alpha": ("unit",)})
    with pytest.raises(ValueError, match="needs the data splits"):
        to_datatree(fitted)


def test_reduced_precision_keeps_12_significant_bits():
    from probgates.diagnostics.datatree import reduce_precision

    values = np.array([0.123456789, 0.999999, 1e-7, np.nan, 0.5], dtype=np.float64)
    out = reduce_precision(values)
    assert out.dtype == np.float32 and np.isnan(out[3]) and out[4] == 0.5
    ok = np.isfinite(values)
    np.testing.assert_allclose(out[ok], values[ok], rtol=2.0**-13)
    assert (out[ok].view(np.uint32) & 0x7FF == 0).all()
