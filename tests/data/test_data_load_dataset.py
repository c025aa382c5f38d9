"""load_dataset dispatch and option checking, and padded batching of ragged sequences."""

from __future__ import annotations

import pytest
import torch

from probgates.data import DataError, SequenceDataset, dataset_names, dataset_options, load_dataset


def test_names_cover_every_family():
    names = set(dataset_names())
    assert {
        "jsb_chorales",
        "nottingham",
        "musedata",
        "piano_midi",
        "ptb_word",
        "ptb_char",
        "mr",
        "subj",
        "mpqa",
        "cr",
        "trec",
        "sst1",
        "sst2",
        "imdb",
        "ag_news",
        "mnist",
        "pmnist",
        "fashion_mnist",
        "adding_problem",
        "copy_task",
        "sparse_signal",
    } <= names


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'jsb'; valid names: .*jsb_chorales.*sparse_signal"):
        load_dataset("jsb")


def test_unknown_option_lists_valid_options(tmp_path):
    with pytest.raises(ValueError) as info:
        load_dataset("jsb_chorales", tmp_path, sorce="pickle")
    msg = str(info.value)
    assert "sorce" in msg and "source (str)" in msg and "download (bool)" in msg
    assert not isinstance(info.value, TypeError)
    with pytest.raises(ValueError, match="valid options: .*fold"):
        load_dataset("mr", tmp_path, folds=3)


def test_wrong_option_types(tmp_path):
    with pytest.raises(ValueError, match="wrong type; expected int"):
        load_dataset("adding_problem", seq_len="100")
    with pytest.raises(ValueError, match="wrong type"):
        load_dataset("adding_problem", seq_len=True)  # bools are not ints here
    with pytest.raises(ValueError, match="wrong type"):
        load_dataset("mnist", tmp_path, permute=1)
    assert dataset_options("trec")["valid_fraction"] == "float | int | None"


def test_dispatch_to_real_and_synthetic(shared_root):
    jsb = load_dataset("jsb_chorales", shared_root, source="pickle")
    assert len(jsb.train) == 229 and jsb.info["source"] == "pickle"
    sst = load_dataset("sst2", str(shared_root), max_len=10, lowercase=True)
    assert len(sst.valid) == 872
    mr = load_dataset("mr", shared_root, fold=9, split_seed=1, valid_fraction=0)
    assert mr.valid is None and mr.info["fold"] == 9
    syn = load_dataset("sparse_signal", "/nonexistent", num_sequences=50, num_features=6, num_relevant=2)
    assert len(syn.train) == 40 and len(syn.info["relevant_features"]) == 2
    pm = load_dataset("pmnist", shared_root, from_test_set=True, permutation_seed=2)
    expected = torch.randperm(784, generator=torch.Generator().manual_seed(2))
    assert torch.equal(pm.info["permutation"], expected)
    with pytest.raises(ValueError, match="unknown option"):
        load_dataset("pmnist", shared_root, permute=False)


def test_missing_data_through_load_dataset(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("nottingham", tmp_path)
    assert str(tmp_path / "nottingham" / "Nottingham.mat") in str(info.value)


def test_ragged_batches_masks_and_padding():
    inputs = [torch.arange(1, 4), torch.arange(1, 2), torch.arange(1, 6), torch.arange(1, 3)]
    ds = SequenceDataset(inputs, [x * 10 for x in inputs], name="toy")
    batches = list(ds.batches(3))
    assert [b.batch_size for b in batches] == [3, 1]
    b = batches[0]
    assert b.inputs.tolist() == [[1, 2, 3, 0, 0], [1, 0, 0, 0, 0], [1, 2, 3, 4, 5]]
    assert b.targets.tolist() == [[10, 20, 30, 0, 0], [10, 0, 0, 0, 0], [10, 20, 30, 40, 50]]
    assert b.mask.tolist() == [[True] * 3 + [False] * 2, [True] + [False] * 4, [True] * 5]
    assert b.lengths.tolist() == [3, 1, 5] and b.index.tolist() == [0, 1, 2]
    assert batches[1].inputs.tolist() == [[1, 2]] and batches[1].mask.all()
    shuffled = list(ds.batches(2, shuffle=True, generator=torch.Generator().manual_seed(0)))
    seen = torch.cat([s.index for s in shuffled]).sort().values
    assert seen.tolist() == [0, 1, 2, 3]
    for s in shuffled:
        for row, i in enumerate(s.index.tolist()):
            n = len(inputs[i])
            assert torch.equal(s.inputs[row, :n], inputs[i]) and not s.mask[row, n:].any()
    labelled = SequenceDataset(inputs, torch.tensor([0, 1, 0, 1]), name="labels")
    lb = labelled.batch([3, 0])
    assert lb.targets.tolist() == [1, 0] and not lb.per_step_targets and lb.mask.sum(1).tolist() == [2, 3]


def test_batch_indices_out_of_range_say_how_many_sequences_there_are():
    ds = SequenceDataset([torch.arange(1, 4), torch.arange(1, 2)], torch.tensor([0, 1]), name="toy")
    with pytest.raises(IndexError, match=r"'toy' has 2 sequences \(indices 0..1\); asked for 2, 3"):
        ds.batch(range(4))
    with pytest.raises(IndexError, match="asked for -1"):
        ds.batch([-1])
    assert ds.batch([1]).batch_size == 1
