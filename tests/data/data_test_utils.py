"""Helpers shared by the data-loader tests: the shared data folder and writers of small test files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

#: /work/shared/data relative to this checkout (<repo>/../shared/data).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_folder(name: str) -> Path:
    """``SHARED_DATA/name``, or skip the test with a clear reason when it is absent."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real-data test: {folder} is not present (shared data not available)")
    return folder


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends with .gz)."""
    codes = {
        np.dtype("uint8"): 0x08,
        np.dtype("int8"): 0x09,
        np.dtype("int16"): 0x0B,
        np.dtype("int32"): 0x0C,
        np.dtype("float32"): 0x0D,
        np.dtype("float64"): 0x0E,
    }
    code = codes[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    data = header + body
    compress = path.name.endswith(".gz") if compress is None else compress
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path
