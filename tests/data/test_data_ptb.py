"""Vocabulary, PTB word/char loading and truncated-BPTT batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from probgates.data import (
    DataError,
    StreamDataset,
    Vocabulary,
    batchify,
    bptt_batches,
    dataset_options,
    load_dataset,
    load_ptb,
    ptb_dataset,
    word_to_char_text,
)
from probgates.data.ptb import OffsetChunks, chunk_stream, read_ptb_chars, read_ptb_words
from probgates.spec import load_spec

# ---- Vocabulary ------------------------------------------------------------------------------------


def test_vocabulary_order_cap_and_specials():
    seqs = [["b", "a", "c", "a"], ["c", "b", "a", "d"]]
    v = Vocabulary.build(seqs)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]  # frequency, then token
    assert v.pad_id == 0 and v.unk_id == 1 and len(v) == 6
    capped = Vocabulary.build(seqs, max_size=2)
    assert capped.itos == ["<pad>", "<unk>", "a", "b"]
    assert Vocabulary.build(seqs, min_count=2).itos == ["<pad>", "<unk>", "a", "b", "c"]
    ids = capped.encode(["a", "d", "b"])
    assert ids.dtype == torch.long and ids.tolist() == [2, 1, 3]
    assert capped.decode(ids) == ["a", "<unk>", "b"]
    assert Vocabulary.from_dict(capped.to_dict()) == capped
    extra = Vocabulary.build(seqs, specials=("<bos>",))
    assert extra.itos[:3] == ["<pad>", "<unk>", "<bos>"]


def test_vocabulary_without_unk_rejects_unknown():
    v = Vocabulary.build([["x", "y"]], pad_token=None, unk_token=None)
    assert v.itos == ["x", "y"] and v.pad_id is None
    with pytest.raises(DataError, match="'z' is not in the vocabulary") as info:
        v.encode(["x", "z"], path="some/file.txt")
    assert "some/file.txt" in str(info.value)


def test_special_token_in_data_keeps_its_id():
    v = Vocabulary.build([["<unk>", "a", "<unk>", "<unk>"]], pad_token=None)
    assert v.itos == ["<unk>", "a"] and v.unk_id == 0


# ---- real PTB ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ptb_word(shared_root):
    return ptb_dataset("word", shared_root)


def test_ptb_word_counts(ptb_word):
    info = ptb_word.info
    assert info["vocab_size"] == 10000 and "<eos>" in info["vocab"] and "<unk>" in info["vocab"]
    assert info["num_tokens"] == {"train": 929589, "valid": 73760, "test": 82430}
    assert info["likelihood"] == "categorical" and info["vocab"].pad_token is None
    vocab = info["vocab"]
    assert vocab.decode(info["streams"]["valid"][:5]) == ["consumers", "may", "want", "to", "move"]
    # chunks of 35 inputs with next-token targets covering the stream
    stream = info["streams"]["train"]
    assert len(ptb_word.train.inputs[0]) == 35
    assert torch.equal(torch.cat(ptb_word.train.inputs), stream[:-1])
    assert torch.equal(torch.cat(ptb_word.train.targets), stream[1:])


def test_ptb_char_counts_and_derivation(shared_root, tmp_path):
    streams, vocab = load_ptb("char", shared_root)
    assert len(vocab) == 50 and vocab.unk_token is None
    assert {s: len(v) for s, v in streams.items()} == {"train": 5017482, "valid": 393042, "test": 442423}
    assert "".join(vocab.decode(streams["train"][:12])) == "aer_banknote"
    # the rule of the README reproduces the original valid file byte for byte
    word_valid = (shared_root / "ptb_word" / "ptb.valid.txt").read_text()
    original = (shared_root / "ptb_char" / "ptb.char.valid.txt").read_text()
    assert word_to_char_text(word_valid) == original
    # without char files, the loader derives them from the word files (same streams)
    (tmp_path / "ptb_word").mkdir()
    for split in ("train", "valid", "test"):
        name = f"ptb.{split}.txt"
        (tmp_path / "ptb_word" / name).write_bytes((shared_root / "ptb_word" / name).read_bytes())
    derived, derived_vocab = load_ptb("char", tmp_path)
    assert derived_vocab == vocab
    assert torch.equal(derived["test"], streams["test"])


def test_ptb_bad_files(tmp_path):
    p = tmp_path / "ptb.train.txt"
    p.write_text(" a b \n\n c d \n")
    with pytest.raises(DataError, match="line 2 is empty") as info:
        read_ptb_words(p)
    assert "ptb.train.txt" in str(info.value)
    c = tmp_path / "ptb.char.valid.txt"
    c.write_text("a b cd _ e \n")
    with pytest.raises(DataError, match="single characters") as info:
        read_ptb_chars(c)
    assert "ptb.char.valid.txt" in str(info.value)


def test_ptb_missing_file_says_where(tmp_path):
    with pytest.raises(DataError) as info:
        load_ptb("word", tmp_path)
    assert str(tmp_path / "ptb_word" / "ptb.train.txt") in str(info.value)
    with pytest.raises(DataError, match="unknown PTB level"):
        load_ptb("byte", tmp_path)


def test_ptb_unknown_char_in_valid(tmp_path):
    folder = tmp_path / "ptb_char"
    folder.mkdir()
    (folder / "ptb.char.train.txt").write_text("a b _ c \n b a \n")
    (folder / "ptb.char.valid.txt").write_text("a b \n")
    (folder / "ptb.char.test.txt").write_text(" a z \n")
    with pytest.raises(DataError, match="'z'") as info:
        load_ptb("char", tmp_path)
    assert "ptb.char.test.txt" in str(info.value)
    folder.joinpath("ptb.char.test.txt").write_text(" a c \n ")
    streams, vocab = load_ptb("char", tmp_path)
    assert vocab.decode(streams["test"]) == ["a", "c", "<eos>"]
    assert vocab.decode(streams["train"]) == ["a", "b", "_", "c", "<eos>", "b", "a", "<eos>"]


# ---- batchify / bptt -------------------------------------------------------------------------------


def test_batchify_and_bptt_carry_state():
    stream = torch.arange(103)
    data = batchify(stream, 4)
    assert data.shape == (4, 25)
    assert torch.equal(data[1], torch.arange(25, 50))  # each row is a contiguous piece of text
    batches = list(bptt_batches(data, 10))
    assert [b.inputs.shape[1] for b in batches] == [10, 10, 4]
    for b in batches:
        assert torch.equal(b.targets, b.inputs + 1)  # next token
        assert b.mask.all() and b.per_step_targets and torch.equal(b.index, torch.arange(4))
    # reading the windows in order continues every row: state can be carried across batches
    assert torch.equal(torch.cat([b.inputs for b in batches], dim=1), data[:, :-1])
    same = list(bptt_batches(stream, 10, batch_size=4))
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(batches, same, strict=True))
    shifted = list(bptt_batches(data, 10, start=3))
    assert torch.equal(shifted[0].inputs[:, 0], data[:, 3])
    with pytest.raises(DataError, match="too short for batch size 4"):
        batchify(torch.arange(5), 4)
    with pytest.raises(ValueError):
        list(bptt_batches(stream, 10))


def test_chunk_stream_short_last_chunk():
    ds = chunk_stream(torch.arange(11), 4, name="toy")
    assert [x.tolist() for x in ds.inputs] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [y.tolist() for y in ds.targets] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    b = ds.batch([0, 2])
    assert b.mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert b.targets[1].tolist() == [9, 10, 0, 0]


def test_stream_dataset_batches_are_consecutive_windows_in_order():
    stream = torch.arange(103)
    ds = StreamDataset(stream, 10, name="toy/train")
    assert ds.stateful and not getattr(chunk_stream(stream, 10, name="toy"), "stateful", False)
    # as a SequenceDataset: the windows of the stream (plate size, materialising batches)
    assert len(ds) == 11 and ds.batch([0]).inputs.tolist() == [list(range(10))]
    batches = list(ds.batches(4))
    assert len(batches) == ds.num_batches(4) == 3 and ds.num_batches(4, drop_last=True) == 2
    assert [b.inputs.shape[1] for b in ds.batches(4, drop_last=True)] == [10, 10]
    rows = batchify(stream, 4)
    for i, b in enumerate(batches):  # batch i continues batch i - 1 row by row
        assert torch.equal(b.inputs, rows[:, 10 * i : 10 * i + 10][:, : b.inputs.shape[1]])
        assert torch.equal(b.targets, b.inputs + 1) and b.mask.all()
    assert torch.equal(torch.cat([b.inputs for b in batches], 1), rows[:, :-1])
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(batches, ds.batches(4), strict=True))
    with pytest.raises(ValueError, match="toy/train: stateful batches .* cannot be shuffled"):
        next(ds.batches(4, shuffle=True))
    for call in (lambda: next(ds.batches(60)), lambda: ds.num_batches(60)):
        with pytest.raises(
            DataError, match=r"toy/train: a stream of 103 tokens is too short for batch size 60"
        ):
            call()


def test_ptb_stateful_option_gives_stream_datasets(tmp_path):
    folder = tmp_path / "ptb_word"
    folder.mkdir()
    for split, text in (("train", "a b c\nb a\nc c a b\n"), ("valid", "a b\nc\n"), ("test", "b c a\n")):
        (folder / f"ptb.{split}.txt").write_text(text)
    assert "stateful" in dataset_options("ptb_word") and "stateful" in dataset_options("ptb_char")
    plain = load_dataset("ptb_word", tmp_path, seq_len=3)
    stateful = load_dataset("ptb_word", tmp_path, seq_len=3, stateful=True)
    for split in ("train", "valid", "test"):
        part = stateful.split(split)
        assert isinstance(part, StreamDataset) and part.name == f"ptb_word/{split}"
        assert not isinstance(plain.split(split), StreamDataset)
        assert torch.equal(part.stream, stateful.info["streams"][split])
        assert [x.tolist() for x in part.inputs] == [x.tolist() for x in plain.split(split).inputs]
    vocab = stateful.info["vocab"]
    words = [[vocab.decode(row) for row in b.inputs] for b in stateful.train.batches(2)]
    assert words == [[["a", "b", "c"], ["<eos>", "c", "c"]], [["<eos>", "b"], ["a", "b"]]]


# ---- random offset each epoch (char-PTB training split) ----------------------------------------------


def _epoch(ds, seed):
    return list(ds.batches(4, shuffle=True, generator=torch.Generator().manual_seed(seed)))


def _offset(ds, seed):
    return ds.draw_offset(torch.Generator().manual_seed(seed))


def test_offset_chunks_are_consecutive_slices_from_the_epoch_offset():
    stream = torch.arange(103)
    ds = OffsetChunks(stream, 10, name="toy/train")
    epochs = [0, 1]  # the trainer's generators for epochs 0 and 1 of seed 0
    assert _offset(ds, epochs[0]) != _offset(ds, epochs[1])
    for seed in epochs:
        offset = _offset(ds, seed)
        batches = _epoch(ds, seed)
        inputs = torch.cat([b.inputs for b in batches])
        assert all(b.mask.all() for b in batches)
        assert torch.equal(torch.cat([b.targets for b in batches]), inputs + 1)  # next token
        starts = sorted(row[0].item() for row in inputs)  # shuffled ...
        assert starts == list(range(offset, offset + 10 * len(ds), 10))  # ... consecutive slices
        for row in inputs:
            assert torch.equal(row, stream[row[0] : row[0] + 10])


def test_offset_chunks_same_generator_same_epoch_and_constant_size():
    ds = OffsetChunks(torch.arange(103), 10, name="toy/train")
    assert len(ds) == 9  # full windows at the largest offset: (103 - 10) // 10
    assert ds.num_batches(4) == 3
    for seed in range(12):
        batches = _epoch(ds, seed)
        again = _epoch(ds, seed)  # resume replays the same epoch
        assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(batches, again, strict=True))
        assert len(batches) == ds.num_batches(4) and sum(b.batch_size for b in batches) == len(ds)
    assert len({_offset(ds, seed) for seed in range(12)}) > 1


def test_offset_chunks_without_generator_are_the_plain_chunks():
    stream = torch.arange(103)
    ds = OffsetChunks(stream, 10, name="toy/train")
    plain = chunk_stream(stream, 10, name="toy")
    assert [x.tolist() for x in ds.inputs] == [x.tolist() for x in plain.inputs[: len(ds)]]
    assert [y.tolist() for y in ds.targets] == [y.tolist() for y in plain.targets[: len(ds)]]
    for batches in (ds.batches(4), ds.batches(4, shuffle=True)):
        inputs = torch.cat([b.inputs for b in batches])
        assert sorted(row[0].item() for row in inputs) == list(range(0, 90, 10))
    assert torch.equal(ds.batch([0]).inputs, plain.batch([0]).inputs)
    with pytest.raises(DataError, match="toy/train: a stream of 19 tokens is too short"):
        OffsetChunks(torch.arange(19), 10, name="toy/train")


@pytest.fixture
def tiny_ptb_char(tmp_path):
    folder = tmp_path / "ptb_char"
    folder.mkdir()
    line = " ".join("ab_cd_ba_dc_") + " \n"
    for split, lines in (("train", 20), ("valid", 2), ("test", 2)):
        (folder / f"ptb.char.{split}.txt").write_text(line * lines)
    return tmp_path


def test_ptb_random_offset_only_changes_train(tiny_ptb_char):
    assert "random_offset" in dataset_options("ptb_char") and "random_offset" in dataset_options("ptb_word")
    plain = load_dataset("ptb_char", tiny_ptb_char, seq_len=5)
    data = load_dataset("ptb_char", tiny_ptb_char, seq_len=5, random_offset=True)
    assert isinstance(data.train, OffsetChunks) and data.train.name == "ptb_char/train"
    assert torch.equal(data.train.stream, data.info["streams"]["train"])
    for split in ("valid", "test"):
        part, same = data.split(split), plain.split(split)
        assert not isinstance(part, OffsetChunks)
        assert [x.tolist() for x in part.inputs] == [x.tolist() for x in same.inputs]


def test_ptb_random_offset_and_stateful_exclude_each_other(tiny_ptb_char):
    with pytest.raises(DataError, match=r"stateful.*random_offset"):
        load_dataset("ptb_char", tiny_ptb_char, stateful=True, random_offset=True)


def test_char_specs_turn_random_offset_on(tiny_ptb_char):
    models = Path(__file__).resolve().parents[2] / "models"
    paths = sorted(models.glob("sparse-ptb_char-*.toml"))
    assert len(paths) == 4
    for path in paths:
        assert load_spec(path).data.options == {"seq_len": 99, "random_offset": True}
    spec = load_spec(paths[0])
    data = load_dataset(spec.data.name, tiny_ptb_char, **spec.data.options)
    assert isinstance(data.train, OffsetChunks) and len(data.train) == (260 - 99) // 99
