import pyro
import pytest
import torch
from pyro import poutine

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.tasks import SequenceModel, head_kind


def _splits(inputs, targets, info):
    return DatasetSplits(SequenceDataset(inputs, targets, name="toy/train"), None, None, info)


def _frames():
    g = torch.Generator().manual_seed(0)
    rolls = [(torch.rand(n, 5, generator=g) < 0.3).double() for n in (4, 7, 6)]
    return _splits(
        [r[:-1] for r in rolls], [r[1:] for r in rolls], {"likelihood": "bernoulli", "input_dim": 5}
    )


def _labels():
    g = torch.Generator().manual_seed(0)
    tokens = [torch.randint(1, 9, (n,), generator=g) for n in (3, 5, 2, 6)]
    return _splits(
        tokens, torch.tensor([0, 2, 1, 2]), {"likelihood": "categorical", "vocab_size": 9, "num_classes": 3}
    )


def test_head_kind_follows_likelihood_and_target_layout():
    assert head_kind(_frames()) == "frames"
    assert head_kind(_labels()) == "label"


def test_frames_head_log_likelihood_matches_per_frame_nll():
    data = _frames()
    model = SequenceModel.for_data(data, hidden_size=4)
    batch = data.train.batch([0, 1, 2])
    trace = poutine.trace(model.model).get_trace(batch, 3)
    # The model's log-likelihood (no subsampling: scale 1) equals minus the summed frame NLL.
    metrics = model.evaluate(batch)
    assert trace.nodes["obs"]["fn"].batch_shape == (3,)
    assert trace.log_prob_sum().item() == pytest.approx(-metrics["nll"].item(), rel=1e-10)
    assert metrics["count"].item() == 3 + 6 + 5  # real frames only, padding masked out


def test_label_head_reads_the_last_real_step():
    data = _labels()
    model = SequenceModel.for_data(data, hidden_size=4, embedding_dim=3).eval()
    batch = data.train.batch([0, 1, 2, 3])
    together = model.evaluate(batch)
    one_by_one = [model.evaluate(data.train.batch([i])) for i in range(4)]
    assert together["nll"].item() == pytest.approx(sum(m["nll"].item() for m in one_by_one), rel=1e-10)
    assert together["count"].item() == 4


def test_minibatch_log_likelihood_is_scaled_to_the_data_set():
    data = _labels()
    model = SequenceModel.for_data(data, hidden_size=4)
    batch = data.train.batch([1, 3])
    trace = poutine.trace(model.model).get_trace(batch, 40)
    assert trace.nodes["obs"]["scale"] == pytest.approx(20.0)


def test_input_dimension_mismatch_says_what_was_expected():
    data = _frames()
    model = SequenceModel.for_data(data, hidden_size=4)
    wrong = SequenceDataset([torch.zeros(3, 6)], [torch.zeros(3, 6)], name="wrong").batch([0])
    with pytest.raises(
        ValueError, match=r"expected input frames of shape \[batch, time, 5\], got \(1, 3, 6\)"
    ):
        model.evaluate(wrong)


def test_bad_model_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown head 'ctc'"):
        SequenceModel(hidden_size=3, head="ctc", output_dim=2, input_dim=2)
    with pytest.raises(ValueError, match="give exactly one of input_dim"):
        SequenceModel(hidden_size=3, head="label", output_dim=2)


def test_parameters_live_in_the_param_store_under_module_paths():
    data = _frames()
    model = SequenceModel.for_data(data, hidden_size=4, num_layers=2)
    poutine.trace(model.model).get_trace(data.train.batch([0]), 3)
    names = set(pyro.get_param_store().keys())
    assert {"layers.0.weight_ih_l0", "layers.1.weight_hh_l0", "head.linear.weight"} <= names
