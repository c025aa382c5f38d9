"""The restricted unpickler: numpy data loads, anything that names another global is refused unrun."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from probgates.data import DataError
from probgates.data.safe_pickle import safe_load, safe_loads

CALLS: list[str] = []


def record_call(tag: str) -> str:
    """A module-level function a malicious pickle could name; records that it ran."""
    CALLS.append(tag)
    return tag


class CallsRecorder:
    def __reduce__(self):
        return (record_call, ("ran",))


class CallsGetcwd:
    def __reduce__(self):
        return (os.getcwd, ())


class CallsPrint:
    def __reduce__(self):
        return (print, ("pickle payload executed",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_data_round_trips(tmp_path, protocol):
    obj = {"train": [[(np.int64(60), np.int64(64))], np.arange(4)], "x": np.float32(1.5)}
    path = tmp_path / "ok.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = safe_load(path)
    assert out["train"][0] == [(60, 64)] and isinstance(out["train"][0][0][0], np.int64)
    np.testing.assert_array_equal(out["train"][1], np.arange(4))
    assert out["x"] == np.float32(1.5)


def test_forbidden_global_is_not_executed(tmp_path):
    CALLS.clear()
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": CallsRecorder()}, protocol=2))
    with pytest.raises(DataError, match="forbidden global") as info:
        safe_load(path)
    assert "evil.pickle" in str(info.value) and "record_call" in str(info.value)
    assert CALLS == []
    # the same bytes through the unrestricted unpickler do run the call (the test can fail)
    pickle.loads(path.read_bytes())
    assert CALLS == ["ran"]


@pytest.mark.parametrize("payload, name", [(CallsGetcwd(), "posix.getcwd"), (CallsPrint(), "builtins.print")])
def test_harmless_builtins_are_rejected(tmp_path, capsys, payload, name):
    path = tmp_path / "payload.pickle"
    path.write_bytes(pickle.dumps([payload], protocol=2))
    with pytest.raises(DataError) as info:
        safe_load(path)
    msg = str(info.value)
    assert "payload.pickle" in msg and "forbidden global" in msg
    assert name.split(".")[-1] in msg
    assert capsys.readouterr().out == ""


def test_truncated_and_garbage_pickles(tmp_path):
    data = pickle.dumps({"train": [[(60,)] * 50]}, protocol=2)
    for name, blob in [
        ("truncated.pickle", data[: len(data) // 2]),
        ("garbage.pickle", b"\x00not a pickle"),
        ("empty.pickle", b""),
    ]:
        with pytest.raises(DataError) as info:
            safe_loads(blob, path=tmp_path / name)
        assert name in str(info.value)


def test_missing_pickle(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        safe_load(tmp_path / "absent.pickle")
    assert "absent.pickle" in str(info.value)
