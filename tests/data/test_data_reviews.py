"""IMDb (from a small aclImdb tarball/folder the test writes) and AG News (from a small CSV)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest
import torch

from probgates.data import DataError, ag_news_dataset, imdb_dataset, read_ag_news_csv, read_imdb

REVIEWS = {
    ("train", "pos"): [
        "A great film.<br /><br />Loved it, great acting!",
        "Great great fun",
        "I'd watch it again",
    ],
    ("train", "neg"): ["Awful.<br />Boring plot", "Terrible, just terrible", "bad bad bad movie"],
    ("test", "pos"): ["great movie", "fun fun"],
    ("test", "neg"): ["boring and awful", "unseenword only"],
}


def _members():
    for (split, cls), texts in REVIEWS.items():
        for i, text in enumerate(texts):
            rating = 8 if cls == "pos" else 2
            yield f"aclImdb/{split}/{cls}/{i}_{rating}.txt", text.encode()
    yield "aclImdb/train/unsup/0_0.txt", b"unlabelled, skipped"
    yield "aclImdb/README", b"readme"


def _write_tarball(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _write_folder(root, members):
    for name, data in members:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_imdb_from_tarball(tmp_path):
    _write_tarball(tmp_path / "imdb" / "aclImdb_v1_labeled.tar.gz", _members())
    ds = imdb_dataset(tmp_path, valid_fraction=0.0, max_len=3, max_vocab=4)
    assert len(ds.train) == 6 and len(ds.test) == 4 and ds.valid is None
    assert ds.train.targets.tolist() == [0, 0, 0, 1, 1, 1]  # sorted by label, then id
    vocab = ds.info["vocab"]
    assert vocab.itos == ["<pad>", "<unk>", "great", "bad", "it", "terrible"]  # ties by token
    assert ds.info["vocab_size"] == 6 and ds.info["num_classes"] == 2
    # first review of train/pos: "<br />" stripped, lower-cased, truncated to 3 tokens
    assert vocab.decode(ds.train.inputs[3]) == ["<unk>", "great", "<unk>"]
    assert vocab.decode(ds.test.inputs[1]) == ["<unk>", "<unk>"]  # test/neg/1: unseen words
    assert all(len(x) <= 3 for x in ds.train.inputs)


def test_imdb_folder_equals_tarball(tmp_path):
    _write_tarball(tmp_path / "a" / "imdb" / "aclImdb_v1.tar.gz", _members())
    _write_folder(tmp_path / "b" / "imdb", _members())
    a = read_imdb(tmp_path / "a" / "imdb" / "aclImdb_v1.tar.gz")
    b = read_imdb(tmp_path / "b" / "imdb")
    assert a == b and len(a["train"]) == 6
    assert a["train"][3] == (1, 0, 8, REVIEWS[("train", "pos")][0])
    ds_a = imdb_dataset(tmp_path / "a", valid_fraction=0.34, split_seed=1)
    ds_b = imdb_dataset(tmp_path / "b", valid_fraction=0.34, split_seed=1)
    assert len(ds_a.valid) == 2 and len(ds_a.train) == 4
    assert all(torch.equal(x, y) for x, y in zip(ds_a.valid.inputs, ds_b.valid.inputs, strict=True))


def test_imdb_corrupt_and_incomplete_archives(tmp_path):
    good = _write_tarball(tmp_path / "good.tar.gz", _members()).read_bytes()
    bad = tmp_path / "truncated.tar.gz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as info:
        read_imdb(bad)
    assert "truncated.tar.gz" in str(info.value)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(DataError) as info:
        read_imdb(junk)
    assert "junk.tar.gz" in str(info.value)
    partial = _write_tarball(tmp_path / "partial.tar.gz", [m for m in _members() if "/test/neg/" not in m[0]])
    with pytest.raises(DataError, match="aclImdb/test/neg") as info:
        read_imdb(partial)
    assert "partial.tar.gz" in str(info.value)
    empty_review = _write_tarball(
        tmp_path / "imdb" / "aclImdb_v1.tar.gz", [*_members(), ("aclImdb/test/pos/9_9.txt", b"<br /> !!")]
    )
    with pytest.raises(DataError, match="no tokens") as info:
        imdb_dataset(tmp_path)
    assert empty_review.name in str(info.value)


def test_imdb_missing_says_where(tmp_path):
    with pytest.raises(DataError) as info:
        imdb_dataset(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "imdb") in msg and "ai.stanford.edu" in msg


@pytest.mark.skipif(
    not os.environ.get("PROBGATES_SLOW_TESTS"),
    reason="reading all 50k IMDb reviews takes ~10 s; set PROBGATES_SLOW_TESTS=1 to run it",
)
def test_imdb_real(shared_root):
    ds = imdb_dataset(shared_root)
    assert len(ds.train) + len(ds.valid) == 25000 and len(ds.test) == 25000
    assert ds.info["vocab_size"] == 20002 and max(len(x) for x in ds.test.inputs) == 200


# ---- AG News ----------------------------------------------------------------------------------------

AG_TRAIN = (
    '"3","Wall St. Bears Claw Back","Reuters - Short-sellers are seeing green again."\n'
    '"4","New chip","A faster chip\\from Intel, with ""quotes""."\n'
    '"2","Team wins","The team won the final game."\n'
    '"1","Talks","Leaders meet for talks on trade."\n'
)
AG_TEST = '"2","Final","Another game for the team."\n"1","Summit","Trade talks go on."\n'


def _ag_root(tmp_path, train=AG_TRAIN, test=AG_TEST, nested=False):
    folder = tmp_path / "ag_news" / ("ag_news_csv" if nested else "")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text(train)
    (folder / "test.csv").write_text(test)
    return tmp_path


def test_ag_news_csv(tmp_path):
    labels, texts = read_ag_news_csv(_ag_root(tmp_path) / "ag_news" / "train.csv")
    assert labels == [2, 3, 1, 0]
    assert texts[1] == 'New chip A faster chip from Intel, with "quotes".'
    ds = ag_news_dataset(_ag_root(tmp_path, nested=True), valid_fraction=0.0, max_len=4)
    assert ds.info["num_classes"] == 4 and ds.info["label_names"][3] == "Sci/Tech"
    assert ds.train.targets.tolist() == [2, 3, 1, 0] and ds.test.targets.tolist() == [1, 0]
    vocab = ds.info["vocab"]
    assert vocab.decode(ds.test.inputs[0]) == ["final", "<unk>", "game", "for"]


@pytest.mark.parametrize(
    "train, match",
    [
        ('"5","x","y"\n', "unknown class 5"),
        ('"x","title","body"\n', "class 'x' is not an integer"),
        ('"1","only two"\n', "expected 3 fields"),
        ('"1","",""\n', "empty title and description"),
        ('"1","a","b"\n\n"2","c","d"\n', "line 2 is empty"),
    ],
)
def test_ag_news_bad_rows(tmp_path, train, match):
    root = _ag_root(tmp_path, train=train)
    with pytest.raises(DataError, match=match) as info:
        ag_news_dataset(root)
    assert "train.csv" in str(info.value)


def test_ag_news_missing_says_where(tmp_path):
    with pytest.raises(DataError) as info:
        ag_news_dataset(tmp_path)
    assert str(tmp_path / "ag_news" / "train.csv") in str(info.value)
