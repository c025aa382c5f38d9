"""Piano-roll loaders: real JSB/Nottingham/MuseData counts, pickle == .mat, and every bad-input case."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import scipy.io
import torch

from probgates.data import DataError, load_piano_rolls, polyphonic_dataset, read_mat_rolls, read_pickle_rolls


@pytest.fixture(scope="module")
def jsb(shared_root):
    return load_piano_rolls("jsb_chorales", shared_root), load_piano_rolls(
        "jsb_chorales", shared_root, source="pickle"
    )


def test_jsb_split_sizes_and_frames(jsb):
    mat, _ = jsb
    assert {s: len(v) for s, v in mat.items()} == {"train": 229, "valid": 76, "test": 77}
    # the reference frame counts are of the full rolls (not of the next-frame pairs)
    frames = {s: sum(len(r) for r in v) for s, v in mat.items()}
    assert frames == {"train": 13807, "valid": 4602, "test": 4725}
    for rolls in mat.values():
        for r in rolls:
            assert r.shape[1] == 88 and r.dtype == torch.get_default_dtype()
            assert torch.isin(r, torch.tensor([0.0, 1.0])).all()
    active = torch.cat([r for v in mat.values() for r in v]).sum(0).nonzero().flatten() + 21
    assert active.min().item() == 43 and active.max().item() == 96  # "MIDI notes 43 to 96 occur"


def test_jsb_pickle_equals_mat(jsb):
    mat, pkl = jsb
    for split in ("train", "valid", "test"):
        assert len(mat[split]) == len(pkl[split])
        for a, b in zip(mat[split], pkl[split], strict=True):
            assert torch.equal(a, b)


def test_jsb_next_frame_dataset(shared_root):
    ds = polyphonic_dataset("jsb_chorales", shared_root)
    assert ds.info["likelihood"] == "bernoulli" and ds.info["input_dim"] == 88
    assert ds.info["frames"]["train"] == 13807
    assert ds.train.num_steps == 13807 - 229 and ds.valid.num_steps == 4602 - 76
    assert ds.test.num_steps == 4725 - 77
    x, y = ds.train[0]
    assert torch.equal(x[1:], y[:-1])
    batch = ds.train.batch([0, 1, 2])
    lengths = torch.tensor([len(ds.train.inputs[i]) for i in range(3)])
    assert torch.equal(batch.lengths, lengths) and batch.inputs.shape == (3, lengths.max(), 88)
    assert batch.per_step_targets


@pytest.mark.parametrize(
    "name, sizes, frames",
    [
        ("nottingham", (694, 173, 170), (176561, 45513, 44463)),
        ("musedata", (524, 135, 124), (245202, 82755, 64339)),
    ],
)
def test_other_sets_split_sizes(shared_root, name, sizes, frames):
    ds = polyphonic_dataset(name, shared_root, dtype=torch.float32)
    assert tuple(ds.info["sequences"].values()) == sizes
    assert tuple(ds.info["frames"].values()) == frames
    assert (len(ds.train), len(ds.valid), len(ds.test)) == sizes


def test_missing_pickle_and_piano_midi_say_where(shared_root, tmp_path):
    with pytest.raises(DataError) as info:
        load_piano_rolls("piano_midi", shared_root)
    assert "Piano_midi.mat" in str(info.value) and "Put it at" in str(info.value)
    with pytest.raises(DataError) as info:
        load_piano_rolls("nottingham", tmp_path, source="pickle")
    assert str(tmp_path / "nottingham" / "nottingham.pickle") in str(info.value)


def test_unknown_name_and_source(tmp_path):
    with pytest.raises(DataError, match="jsb_chorales"):
        load_piano_rolls("bach", tmp_path)
    with pytest.raises(DataError, match="valid sources"):
        load_piano_rolls("jsb_chorales", tmp_path, source="midi")


# ---- synthetic .mat files -------------------------------------------------------------------------


def _roll(T, seed=0, cols=88):
    return (np.random.default_rng(seed).random((T, cols)) < 0.1).astype(np.uint8)


def _cell(*arrays):
    c = np.empty((1, len(arrays)), dtype=object)
    for i, a in enumerate(arrays):
        c[0, i] = a
    return c


def _write_mat(path, train=None, valid=None, test=None, drop=()):
    data = {
        "traindata": _cell(*(train or [_roll(5), _roll(7, 1)])),
        "validdata": _cell(*(valid or [_roll(4, 2)])),
        "testdata": _cell(*(test or [_roll(6, 3)])),
    }
    for k in drop:
        data.pop(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, data)
    return path


def test_synthetic_mat_round_trip(tmp_path):
    train = [_roll(5), _roll(7, 1)]
    _write_mat(tmp_path / "jsb_chorales" / "JSB_Chorales.mat", train=train)
    rolls = load_piano_rolls("jsb_chorales", tmp_path)
    assert [r.shape for r in rolls["train"]] == [(5, 88), (7, 88)]
    assert np.array_equal(rolls["train"][1].numpy(), train[1])


@pytest.mark.parametrize(
    "case, match",
    [
        ("wrong_shape", "T×88"),
        ("non_binary", "not binary"),
        ("empty", "empty sequence|T×88"),
        ("missing_key", "validdata"),
    ],
)
def test_bad_mat_contents(tmp_path, case, match):
    path = tmp_path / f"{case}.mat"
    if case == "wrong_shape":
        _write_mat(path, train=[_roll(5, cols=87)])
    elif case == "non_binary":
        bad = _roll(5)
        bad[2, 10] = 2
        _write_mat(path, valid=[bad])
    elif case == "empty":
        _write_mat(path, test=[np.zeros((0, 88), dtype=np.uint8)])
    else:
        _write_mat(path, drop=("validdata",))
    with pytest.raises(DataError, match=match) as info:
        read_mat_rolls(path)
    assert f"{case}.mat" in str(info.value)


def test_truncated_and_corrupt_mat(tmp_path, shared_root):
    data = (shared_root / "jsb_chorales" / "JSB_Chorales.mat").read_bytes()
    for name, blob in [
        ("truncated.mat", data[: len(data) // 2]),
        ("corrupt.mat", b"MATLAB junk" * 20),
        ("header_only.mat", data[:128]),
    ]:
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(DataError) as info:
            read_mat_rolls(path)
        assert name in str(info.value)


def test_single_frame_sequence_rejected_for_next_frame(tmp_path):
    _write_mat(tmp_path / "nottingham" / "Nottingham.mat", train=[_roll(5), _roll(1, 4)])
    assert len(load_piano_rolls("nottingham", tmp_path)["train"]) == 2  # fine as a roll
    with pytest.raises(DataError, match="needs >= 2") as info:
        polyphonic_dataset("nottingham", tmp_path)
    assert "Nottingham.mat" in str(info.value)


# ---- synthetic pickles ----------------------------------------------------------------------------


def _write_pickle(path, data):
    path.write_bytes(pickle.dumps(data, protocol=2))
    return path


def _good():
    n = np.int64
    return {
        "train": [[(n(60), n(64)), (), (n(21), n(108))], [(n(50),), (n(51),)]],
        "valid": [[(n(70),), (n(71),)]],
        "test": [[(n(40),), (n(41), n(42))]],
    }


def test_synthetic_pickle_round_trip(tmp_path):
    rolls = read_pickle_rolls(_write_pickle(tmp_path / "ok.pickle", _good()))
    r = rolls["train"][0]
    assert r.shape == (3, 88)
    assert r[0].nonzero().flatten().tolist() == [60 - 21, 64 - 21]
    assert r[1].sum() == 0  # a silent frame
    assert r[2].nonzero().flatten().tolist() == [0, 87]


@pytest.mark.parametrize(
    "case, match",
    [
        ("note_low", "outside the piano range"),
        ("note_high", "outside the piano range"),
        ("note_float", "not an integer"),
        ("empty_sequence", "empty sequence"),
        ("missing_split", "missing split key 'test'"),
        ("not_a_dict", "expected a dict"),
    ],
)
def test_bad_pickle_contents(tmp_path, case, match):
    data = _good()
    if case == "note_low":
        data["train"][0][0] = (np.int64(20),)
    elif case == "note_high":
        data["valid"][0][1] = (np.int64(109),)
    elif case == "note_float":
        data["test"][0][0] = (60.5,)
    elif case == "empty_sequence":
        data["train"].append([])
    elif case == "missing_split":
        del data["test"]
    else:
        data = [data["train"]]
    path = _write_pickle(tmp_path / f"{case}.pickle", data)
    with pytest.raises(DataError, match=match) as info:
        read_pickle_rolls(path)
    assert f"{case}.pickle" in str(info.value)


def test_truncated_real_pickle(tmp_path, shared_root):
    src = shared_root / "jsb_chorales" / "jsb_chorales.pickle"
    folder = tmp_path / "jsb_chorales"
    folder.mkdir()
    (folder / "jsb_chorales.pickle").write_bytes(src.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated") as info:
        load_piano_rolls("jsb_chorales", tmp_path, source="pickle")
    assert "jsb_chorales.pickle" in str(info.value)


def test_pickle_with_forbidden_global_via_loader(tmp_path):
    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    folder = tmp_path / "jsb_chorales"
    folder.mkdir()
    data = _good()
    data["train"][0] = Payload()
    _write_pickle(folder / "jsb_chorales.pickle", data)
    with pytest.raises(DataError, match="forbidden global shutil.rmtree") as info:
        load_piano_rolls("jsb_chorales", tmp_path, source="pickle")
    assert "jsb_chorales.pickle" in str(info.value)
    assert (tmp_path / "victim").is_dir()
