"""Polyphonic music piano rolls (Boulanger-Lewandowski et al. 2012): JSB Chorales, Nottingham,
MuseData and Piano-midi.de.

Two source formats hold the same data:

* the TCN ``.mat`` files (``traindata``/``validdata``/``testdata``: 1×N cell arrays of T×88
  0/1 arrays, column j = MIDI note j + 21), read with :func:`scipy.io.loadmat`;
* the original pickles (``dict`` split -> list of sequences, each a list of time steps, each a
  tuple of active MIDI notes 21..108), read with the restricted unpickler of
  :mod:`probgates.data.safe_pickle`.

Both become 88-column binary float rolls ``[T, 88]``. The model task is next-frame prediction:
inputs ``roll[:-1]``, targets ``roll[1:]`` (Bernoulli likelihood over the 88 keys).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.data.errors import DataError
from probgates.data.paths import locate
from probgates.data.safe_pickle import safe_load

MIN_NOTE = 21
MAX_NOTE = 108
NUM_KEYS = 88
SPLITS = ("train", "valid", "test")
MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}

#: dataset name -> (``.mat`` file name, pickle file name), as in :data:`probgates.data.paths.REGISTRY`.
POLYPHONIC_FILES: dict[str, tuple[str, str]] = {
    "jsb_chorales": ("JSB_Chorales.mat", "jsb_chorales.pickle"),
    "nottingham": ("Nottingham.mat", "nottingham.pickle"),
    "musedata": ("MuseData.mat", "muse_data.pickle"),
    "piano_midi": ("Piano_midi.mat", "piano_midi.pickle"),
}
POLYPHONIC_NAMES = tuple(POLYPHONIC_FILES)


def _check_roll(arr: np.ndarray, path, where: str) -> np.ndarray:
    if arr.ndim != 2 or arr.shape[1] != NUM_KEYS:
        raise DataError(f"{where}: expected a T×{NUM_KEYS} piano roll, got shape {tuple(arr.shape)}", path)
    if arr.shape[0] == 0:
        raise DataError(f"{where}: empty sequence (0 frames)", path)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{where}: non-numeric piano roll (dtype {arr.dtype})", path)
    binary = (arr == 0) | (arr == 1)
    if not binary.all():
        bad = np.unique(arr[~binary])[:5]
        raise DataError(f"{where}: piano roll is not binary (values such as {bad.tolist()})", path)
    return arr


def read_mat_rolls(path: str | os.PathLike, dtype: torch.dtype | None = None) -> dict[str, list[Tensor]]:
    """Read a TCN-style ``.mat`` file into ``{"train"|"valid"|"test": [roll [T, 88], ...]}``.

    Raises:
        DataError: the file is missing, truncated or corrupt, a split key is missing, or a roll
            has the wrong shape, non-binary values or no frames.
    """
    import scipy.io

    dtype = dtype or torch.get_default_dtype()
    path = Path(path)
    if not path.is_file():
        raise DataError(".mat file not found", path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises many types (ValueError, MatReadError, zlib.error, ...)
        raise DataError(f"cannot read .mat file, truncated or corrupt ({type(e).__name__}: {e})", path) from e
    rolls: dict[str, list[Tensor]] = {}
    for split, key in MAT_KEYS.items():
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(f"missing variable {key!r} (found {found})", path)
        cell = mat[key]
        if not isinstance(cell, np.ndarray) or cell.dtype != object:
            raise DataError(
                f"{key}: expected a cell array of piano rolls, got {type(cell).__name__} "
                f"of dtype {getattr(cell, 'dtype', None)}",
                path,
            )
        arrays = [
            _check_roll(np.asarray(arr), path, f"{key}{{{i + 1}}}") for i, arr in enumerate(cell.reshape(-1))
        ]
        if not arrays:
            raise DataError(f"{key}: holds no sequences", path)
        rolls[split] = _to_tensors(arrays, dtype)
    return rolls


def _to_tensors(arrays: list[np.ndarray], dtype: torch.dtype) -> list[Tensor]:
    """Convert many small 0/1 arrays at once (one conversion, then views into one tensor)."""
    flat = torch.from_numpy(np.concatenate([a.astype(np.uint8, copy=False) for a in arrays])).to(dtype)
    return list(torch.split(flat, [len(a) for a in arrays]))


def notes_to_roll(steps, *, path=None, where: str = "sequence", dtype: torch.dtype | None = None) -> Tensor:
    """Turn a list of time steps (each an iterable of MIDI note numbers 21..108) into ``[T, 88]``."""
    dtype = dtype or torch.get_default_dtype()
    try:
        steps = list(steps)
    except TypeError as e:
        raise DataError(f"{where}: expected a list of time steps, got {type(steps).__name__}", path) from e
    if not steps:
        raise DataError(f"{where}: empty sequence (0 frames)", path)
    roll = np.zeros((len(steps), NUM_KEYS), dtype=np.uint8)
    for t, step in enumerate(steps):
        try:
            notes = step.reshape(-1).tolist() if isinstance(step, np.ndarray) else list(step)
        except TypeError as e:
            raise DataError(
                f"{where}, step {t}: expected a tuple of notes, got {type(step).__name__}", path
            ) from e
        for n in notes:
            if isinstance(n, bool | np.bool_) or not isinstance(n, numbers.Integral | np.integer):
                raise DataError(f"{where}, step {t}: note {n!r} is not an integer", path)
            if not MIN_NOTE <= int(n) <= MAX_NOTE:
                raise DataError(
                    f"{where}, step {t}: note {int(n)} is outside the piano range {MIN_NOTE}..{MAX_NOTE}",
                    path,
                )
            roll[t, int(n) - MIN_NOTE] = 1
    return torch.from_numpy(roll).to(dtype)


def _notes_to_array(steps, *, path=None, where: str = "sequence") -> np.ndarray:
    return notes_to_roll(steps, path=path, where=where, dtype=torch.uint8).numpy()


def read_pickle_rolls(path: str | os.PathLike, dtype: torch.dtype | None = None) -> dict[str, list[Tensor]]:
    """Read a Boulanger-Lewandowski pickle into ``{"train"|"valid"|"test": [roll [T, 88], ...]}``.

    Raises:
        DataError: the file is missing, truncated or corrupt, names a forbidden global, lacks a
            split key, or holds empty sequences or notes outside 21..108.
    """
    data = safe_load(path)
    if not isinstance(data, dict):
        raise DataError(f"expected a dict of splits, got {type(data).__name__}", path)
    rolls: dict[str, list[Tensor]] = {}
    for split in SPLITS:
        if split not in data:
            raise DataError(f"missing split key {split!r} (found {sorted(map(str, data))})", path)
        seqs = data[split]
        if not isinstance(seqs, list | tuple) or not seqs:
            raise DataError(f"split {split!r}: expected a non-empty list of sequences", path)
        arrays = [_notes_to_array(s, path=path, where=f"{split}[{i}]") for i, s in enumerate(seqs)]
        rolls[split] = _to_tensors(arrays, dtype or torch.get_default_dtype())
    return rolls


def _check_name(name: str) -> None:
    if name not in POLYPHONIC_FILES:
        raise DataError(f"unknown polyphonic dataset {name!r}; valid names: {', '.join(POLYPHONIC_NAMES)}")


def load_piano_rolls(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    source: str = "mat",
    download: bool = False,
    dtype: torch.dtype | None = None,
) -> dict[str, list[Tensor]]:
    """The piano rolls of a polyphonic dataset: ``{"train"|"valid"|"test": [roll [T, 88], ...]}``.

    Args:
        name: ``"jsb_chorales" | "nottingham" | "musedata" | "piano_midi"``.
        root: the data root (see :func:`probgates.data.paths.data_root`); files are read from
            ``<root>/<name>/``.
        source: ``"mat"`` (TCN file) or ``"pickle"`` (original Boulanger-Lewandowski pickle).
        download: fetch the file from its public location when it is absent.
        dtype: float dtype of the rolls (default: torch's default dtype).
    """
    _check_name(name)
    mat_file, pickle_file = POLYPHONIC_FILES[name]
    if source == "mat":
        return read_mat_rolls(locate(name, mat_file, root, download=download), dtype)
    if source == "pickle":
        return read_pickle_rolls(locate(name, pickle_file, root, download=download), dtype)
    raise DataError(f"unknown source {source!r} for {name}; valid sources: mat, pickle")


def next_frame_dataset(rolls: list[Tensor], *, name: str, path=None) -> SequenceDataset:
    """Next-frame pairs ``(roll[:-1], roll[1:])``; sequences of fewer than 2 frames are an error."""
    for i, r in enumerate(rolls):
        if len(r) < 2:
            raise DataError(
                f"{name}: sequence {i} has {len(r)} frame(s); next-frame prediction needs >= 2", path
            )
    return SequenceDataset([r[:-1] for r in rolls], [r[1:] for r in rolls], name=name)


def polyphonic_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    source: str = "mat",
    download: bool = False,
    dtype: torch.dtype | None = None,
) -> DatasetSplits:
    """Next-frame prediction splits of a polyphonic dataset (arguments as :func:`load_piano_rolls`).

    ``info``: ``likelihood="bernoulli"``, ``input_dim=88``, ``output_dim=88``, ``task="next_frame"``,
    ``min_note=21`` and the number of full-roll frames per split (``frames``) and of predicted
    frames (``num_steps``, which is ``frames - sequences``).
    """
    rolls = load_piano_rolls(name, root, source=source, download=download, dtype=dtype)
    mat_file, pickle_file = POLYPHONIC_FILES[name]
    fname = mat_file if source == "mat" else pickle_file
    parts = {s: next_frame_dataset(rolls[s], name=f"{name}/{s}", path=fname) for s in SPLITS}
    info = {
        "name": name,
        "task": "next_frame",
        "likelihood": "bernoulli",
        "input_dim": NUM_KEYS,
        "output_dim": NUM_KEYS,
        "min_note": MIN_NOTE,
        "source": source,
        "sequences": {s: len(rolls[s]) for s in SPLITS},
        "frames": {s: sum(len(r) for r in rolls[s]) for s in SPLITS},
        "num_steps": {s: parts[s].num_steps for s in SPLITS},
    }
    return DatasetSplits(parts["train"], parts["valid"], parts["test"], info)
