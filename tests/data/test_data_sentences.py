"""Sentence-classification sets: real counts, cross-validation folds and malformed files."""

from __future__ import annotations

import pytest
import torch

from probgates.data import DataError, kfold_split, read_labelled_sentences, sentence_dataset
from probgates.data.sentences import SENTENCE_SETS


def _all_labels(ds):
    return torch.cat([p.targets for p in (ds.train, ds.valid, ds.test) if p is not None])


@pytest.mark.parametrize(
    "name, counts",
    [
        ("mr", [5331, 5331]),
        ("subj", [5000, 5000]),
        ("mpqa", [7294 - 2, 3312 - 1]),  # three label-only lines in mpqa.all are skipped
    ],
)
def test_cross_validation_sets(shared_root, name, counts):
    ds = sentence_dataset(name, shared_root, fold=3)
    labels = _all_labels(ds)
    assert labels.bincount().tolist() == counts
    n = sum(counts)
    assert len(ds.test) in (n // 10, n // 10 + 1)
    assert len(ds.valid) == round(0.1 * (n - len(ds.test)))
    assert ds.info["num_classes"] == 2 and ds.info["fold"] == 3 and ds.info["num_folds"] == 10
    assert ds.info["likelihood"] == "categorical" and ds.info["vocab"].pad_id == 0
    if name == "mpqa":
        assert ds.info["skipped_lines"] == {"mpqa.all": [6415, 7294, 10606]}
    idx = ds.info["indices"]
    together = torch.cat([idx["train"], idx["valid"], idx["test"]]).sort().values
    assert torch.equal(together, torch.arange(n))


def test_mr_reads_latin1_without_splitting_lines(shared_root):
    data = read_labelled_sentences(shared_root / "mr" / "rt-polarity.all", 2)
    assert len(data.labels) == 10662  # str.splitlines() would break at \x85 and change this
    assert any("\x85" in t for toks in data.tokens for t in toks)


def test_trec_and_sst_standard_splits(shared_root):
    trec = sentence_dataset("trec", shared_root, valid_fraction=0.0)
    assert trec.valid is None
    assert trec.train.targets.bincount().tolist() == [1162, 1250, 86, 1223, 835, 896]
    assert trec.test.targets.bincount().tolist() == [138, 94, 9, 65, 81, 113]
    trec_v = sentence_dataset("trec", shared_root)
    assert len(trec_v.train) + len(trec_v.valid) == 5452 and len(trec_v.valid) == 545
    sst1 = sentence_dataset("sst1", shared_root)
    assert (len(sst1.train), len(sst1.valid), len(sst1.test)) == (8544, 1101, 2210)
    assert sst1.info["num_classes"] == 5
    sst2 = sentence_dataset("sst2", shared_root, max_len=5)
    assert (len(sst2.train), len(sst2.valid), len(sst2.test)) == (6920, 872, 1821)
    assert sst2.train.targets.bincount().tolist() == [3310, 3610]
    assert max(len(x) for x in sst2.train.inputs) == 5
    with pytest.raises(ValueError, match="standard"):
        sentence_dataset("sst2", shared_root, fold=1)
    with pytest.raises(ValueError, match="dev set"):
        sentence_dataset("sst1", shared_root, valid_fraction=0.2)


def test_kfold_split_partitions_and_is_seeded():
    tests = [kfold_split(23, 10, k, seed=5)[1] for k in range(10)]
    assert sorted(torch.cat(tests).tolist()) == list(range(23))
    assert sorted(len(t) for t in tests) == [2] * 7 + [3] * 3
    train, test = kfold_split(23, 10, 4, seed=5)
    assert set(train.tolist()).isdisjoint(test.tolist()) and len(train) + len(test) == 23
    assert torch.equal(kfold_split(23, 10, 4, seed=5)[1], test)
    assert not all(torch.equal(kfold_split(23, 10, k, seed=6)[1], tests[k]) for k in range(10))
    with pytest.raises(ValueError):
        kfold_split(23, 10, 10)


def _sentence_root(tmp_path, text: bytes, name="subj"):
    folder = tmp_path / SENTENCE_SETS[name].registry
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SENTENCE_SETS[name].files["all"]).write_bytes(text)
    return tmp_path


def test_small_cv_file_encodes_with_train_vocab(tmp_path):
    lines = [f"{i % 2} word{i % 3} shared token{i}" for i in range(20)]
    root = _sentence_root(tmp_path, ("\n".join(lines) + "\n").encode())
    ds = sentence_dataset("subj", root, fold=0, valid_fraction=0.0)
    assert len(ds.train) == 18 and len(ds.test) == 2 and ds.valid is None
    vocab = ds.info["vocab"]
    test_lines = [lines[i] for i in ds.info["indices"]["test"].tolist()]
    for x, y, line in zip(ds.test.inputs, ds.test.targets, test_lines, strict=True):
        label, *toks = line.split()
        assert y.item() == int(label)
        # token{i} of a test line was never seen in training -> <unk>
        assert vocab.decode(x) == [t if t in vocab else "<unk>" for t in toks]
        assert x[-1].item() == vocab.unk_id


@pytest.mark.parametrize(
    "text, match",
    [
        (b"0 fine\n2 bad label\n", "line 2: unknown label 2"),
        (b"0 fine\nx not integer\n", "line 2: label 'x' is not an integer"),
        (b"0 fine\n\n1 after blank\n", "line 2 is empty"),
        (b"0 fine\n1 \n", "line 2: empty text"),
        (b"-1 negative label\n", "unknown label -1"),
    ],
)
def test_malformed_sentence_files(tmp_path, text, match):
    root = _sentence_root(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        sentence_dataset("subj", root)
    assert "subj.all" in str(info.value)


def test_missing_sentence_files_say_where(tmp_path):
    with pytest.raises(DataError) as info:
        sentence_dataset("cr", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "cr" / "custrev.all") in msg and "sent-conv-torch" in msg
    with pytest.raises(DataError, match="valid names"):
        sentence_dataset("yelp", tmp_path)
