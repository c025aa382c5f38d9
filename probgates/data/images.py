"""IDX files and sequential (pixel-by-pixel / row-by-row, optionally permuted) MNIST and Fashion-MNIST.

Sequential MNIST as in the bivariate-Beta LSTM code: every 28×28 image becomes a sequence of 784
pixels (``layout="pixel"``, ``[784, 1]``) or of 28 rows (``layout="row"``, ``[28, 28]``), scaled to
[0, 1] and normalised with mean 0.1307 and std 0.3081 (Fashion-MNIST: 0.2860, 0.3530); the last
10,000 training images are the validation set; permuted MNIST applies one fixed pixel permutation
``torch.randperm(784)`` drawn from ``permutation_seed``.

Where ``train-images-idx3-ubyte.gz`` is missing, the full loader raises a
:class:`DataError` that says where to put that file. ``from_test_set=True`` builds a reduced-scale
train/valid/test split from the 10,000 test images instead (say so when reporting results).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from probgates.data.batching import DatasetSplits, SequenceDataset
from probgates.data.errors import DataError
from probgates.data.paths import data_root, locate, read_bytes

IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGE_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
IMAGE_NAMES = tuple(NORMALIZATION)
SYSTEM_DIRS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
LABEL_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}


def parse_idx(data: bytes, path=None) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into a native-endian numpy array."""
    if len(data) < 4:
        raise DataError(f"truncated IDX file ({len(data)} bytes, no header)", path)
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"bad IDX magic number {data[:4].hex()} (must start with two zero bytes)", path)
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(f"bad IDX magic number {data[:4].hex()}: unknown data type code 0x{code:02x}", path)
    if ndim == 0:
        raise DataError(f"bad IDX magic number {data[:4].hex()}: zero dimensions", path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"truncated IDX header (need {header} bytes, have {len(data)})", path)
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have < expected:
        raise DataError(f"truncated IDX data: dims {dims} need {expected} bytes, found {have}", path)
    if have > expected:
        raise DataError(f"IDX file has {have - expected} unexpected trailing bytes after dims {dims}", path)
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed (detected by its magic bytes) or raw.

    Raises:
        DataError: missing file, bad magic number / data-type code, truncated header or data,
            trailing bytes, or a corrupt gzip stream.
    """
    path = Path(path)
    raw = read_bytes(path, "IDX file")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"truncated or corrupt gzip stream ({type(e).__name__}: {e})", path) from e
    return parse_idx(raw, path)


def _find(name: str, key: str, root, download: bool) -> Path:
    fname = IMAGE_FILES[key]
    folders = [data_root(root) / name, *SYSTEM_DIRS.get(name, ())]
    for folder in folders:
        for candidate in (folder / fname, folder / fname.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    return locate(name, fname, root, download=download)


def load_mnist_arrays(
    name: str = "mnist",
    root: str | os.PathLike | None = None,
    *,
    parts: tuple[str, ...] = ("train_images", "train_labels", "test_images", "test_labels"),
    download: bool = False,
) -> dict[str, np.ndarray]:
    """The raw ``uint8`` arrays (images ``[N, 28, 28]``, labels ``[N]``) of MNIST or Fashion-MNIST.

    Files are looked up in ``<root>/<name>/`` (``.gz`` or uncompressed) and, for Fashion-MNIST,
    in ``/usr/share/datasets/fashion-mnist/`` (Debian package ``dataset-fashion-mnist``).
    """
    if name not in IMAGE_NAMES:
        raise DataError(f"unknown image dataset {name!r}; valid names: {', '.join(IMAGE_NAMES)}")
    out = {}
    for key in parts:
        path = _find(name, key, root, download)
        arr = read_idx(path)
        if key.endswith("images"):
            if arr.ndim != 3 or arr.shape[1:] != (28, 28) or arr.dtype != np.uint8:
                raise DataError(
                    f"expected uint8 images of shape [N, 28, 28], got {arr.dtype} {arr.shape}", path
                )
        else:
            if arr.ndim != 1 or arr.dtype != np.uint8:
                raise DataError(f"expected uint8 labels of shape [N], got {arr.dtype} {arr.shape}", path)
            if arr.size and arr.max() > 9:
                raise DataError(f"unknown label {int(arr.max())} (expected 0..9)", path)
        out[key] = arr
        out[key + "_path"] = path
    for split in ("train", "test"):
        if f"{split}_images" in out and f"{split}_labels" in out:
            n_img, n_lab = len(out[f"{split}_images"]), len(out[f"{split}_labels"])
            if n_img != n_lab:
                raise DataError(
                    f"{n_img} images but {n_lab} labels in {out[f'{split}_labels_path'].name}",
                    out[f"{split}_images_path"],
                )
    return out


def pixel_permutation(seed: int, num_pixels: int = 784) -> torch.Tensor:
    """The fixed pixel order of permuted MNIST: ``torch.randperm(784)`` from ``seed``."""
    return torch.randperm(num_pixels, generator=torch.Generator().manual_seed(seed))


def images_to_sequences(
    images: np.ndarray,
    *,
    layout: str = "pixel",
    normalization: tuple[float, float] | None = (0.1307, 0.3081),
    permutation: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``uint8 [N, 28, 28]`` -> ``[N, 784, 1]`` (pixel) or ``[N, 28, 28]`` (row) float sequences.

    Pixels are scaled to [0, 1], then ``(x - mean) / std``; ``permutation`` reorders the 784
    pixels (row-major) before the reshape.
    """
    if layout not in ("pixel", "row"):
        raise ValueError(f"layout must be 'pixel' or 'row', got {layout!r}")
    dtype = dtype or torch.get_default_dtype()
    x = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1).to(dtype) / 255.0
    if normalization is not None:
        mean, std = normalization
        x = (x - mean) / std
    if permutation is not None:
        x = x[:, permutation]
    side = images.shape[-1]
    return x.reshape(len(images), -1, 1) if layout == "pixel" else x.reshape(len(images), -1, side)


def mnist_dataset(
    name: str = "mnist",
    root: str | os.PathLike | None = None,
    *,
    layout: str = "pixel",
    permute: bool = False,
    permutation_seed: int = 0,
    normalize: bool = True,
    valid_size: int = 10000,
    split_seed: int | None = None,
    from_test_set: bool = False,
    download: bool = False,
    dtype: torch.dtype | None = None,
) -> DatasetSplits:
    """Sequential (optionally permuted) MNIST / Fashion-MNIST classification splits.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        layout: ``"pixel"`` (784 steps of 1 value) or ``"row"`` (28 steps of 28 values).
        permute: apply the fixed pixel permutation drawn from ``permutation_seed`` (pMNIST).
        normalize: subtract the dataset mean and divide by its std (MNIST 0.1307 / 0.3081).
        valid_size: training images held out as valid (default 10,000: 50k/10k/10k).
        split_seed: ``None`` takes the *last* ``valid_size`` training images as valid (the
            reference split); an integer holds out a seeded random subset instead.
        from_test_set: reduced scale for when the training images are unavailable: train, valid
            and test are all drawn (seeded by ``split_seed`` or 0) from the 10,000 test images,
            in proportions 80/10/10. ``info["reduced_scale"]`` records it.
    """
    if layout not in ("pixel", "row"):
        raise ValueError(f"layout must be 'pixel' or 'row', got {layout!r}")
    norm = NORMALIZATION.get(name) if normalize else None
    perm = pixel_permutation(permutation_seed) if permute else None
    if from_test_set:
        arrays = load_mnist_arrays(name, root, parts=("test_images", "test_labels"), download=download)
        images, labels = arrays["test_images"], arrays["test_labels"]
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(split_seed or 0))
        n_test = n_valid = len(images) // 10
        idx = {
            "test": order[:n_test],
            "valid": order[n_test : n_test + n_valid],
            "train": order[n_test + n_valid :],
        }
        sources = {s: images for s in idx}
        label_src = {s: labels for s in idx}
    else:
        arrays = load_mnist_arrays(name, root, download=download)
        n_train = len(arrays["train_images"])
        if not 0 <= valid_size < n_train:
            raise ValueError(f"valid_size must be in [0, {n_train}), got {valid_size}")
        if split_seed is None:
            train_idx = torch.arange(n_train - valid_size)
            valid_idx = torch.arange(n_train - valid_size, n_train)
        else:
            order = torch.randperm(n_train, generator=torch.Generator().manual_seed(split_seed))
            train_idx, valid_idx = order[valid_size:].sort().values, order[:valid_size].sort().values
        idx = {"train": train_idx, "valid": valid_idx, "test": torch.arange(len(arrays["test_images"]))}
        sources = {s: arrays["test_images" if s == "test" else "train_images"] for s in idx}
        label_src = {s: arrays["test_labels" if s == "test" else "train_labels"] for s in idx}
    parts: dict[str, SequenceDataset | None] = {}
    for split, ix in idx.items():
        if len(ix) == 0:
            parts[split] = None
            continue
        ix_np = ix.numpy()
        seqs = images_to_sequences(
            sources[split][ix_np], layout=layout, normalization=norm, permutation=perm, dtype=dtype
        )
        targets = torch.from_numpy(label_src[split][ix_np].astype(np.int64))
        parts[split] = SequenceDataset(list(seqs.unbind(0)), targets, name=f"{name}/{split}")
    info = {
        "name": name,
        "task": "classification",
        "likelihood": "categorical",
        "input_dim": 1 if layout == "pixel" else 28,
        "seq_len": 784 if layout == "pixel" else 28,
        "num_classes": 10,
        "label_names": LABEL_NAMES[name],
        "layout": layout,
        "normalization": norm,
        "permutation": perm,
        "permutation_seed": permutation_seed if permute else None,
        "reduced_scale": from_test_set,
        "files": {k.removesuffix("_path"): str(v) for k, v in arrays.items() if k.endswith("_path")},
    }
    return DatasetSplits(parts["train"], parts["valid"], parts["test"], info)
