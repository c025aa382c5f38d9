"""IDX reading and sequential / permuted MNIST."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from data_test_utils import write_idx

from probgates.data import DataError, load_mnist_arrays, mnist_dataset, pixel_permutation, read_idx
from probgates.data.images import images_to_sequences


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    arr = (
        (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
        if dtype != "uint8"
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    )
    out = read_idx(write_idx(tmp_path / name, arr))
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, arr)


def test_idx_bad_magic_and_truncation(tmp_path):
    good = write_idx(tmp_path / "good.idx", np.arange(12, dtype=np.uint8).reshape(3, 4)).read_bytes()
    cases = {
        "magic.idx": (b"\x01\x00" + good[2:], "bad IDX magic"),
        "dtype.idx": (good[:2] + b"\x07" + good[3:], "unknown data type code 0x07"),
        "nodims.idx": (good[:3] + b"\x00", "zero dimensions"),
        "short.idx": (good[:3], "no header"),
        "header.idx": (good[:6], "truncated IDX header"),
        "data.idx": (good[:-1], "truncated IDX data"),
        "trailing.idx": (good + b"\x00", "trailing bytes"),
        "gz.idx.gz": (gzip.compress(good)[:-10], "gzip"),
    }
    for name, (blob, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(DataError, match=match) as info:
            read_idx(path)
        assert name in str(info.value)


@pytest.fixture(scope="module")
def mnist_test_arrays(shared_root):
    return load_mnist_arrays("mnist", shared_root, parts=("test_images", "test_labels", "train_labels"))


def test_real_mnist_test_files(mnist_test_arrays):
    images, labels = mnist_test_arrays["test_images"], mnist_test_arrays["test_labels"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(mnist_test_arrays["train_labels"]).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert images.max() == 255 and images.min() == 0


def test_real_mnist_missing_train_images_says_where(shared_root):
    with pytest.raises(DataError) as info:
        mnist_dataset("mnist", shared_root)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg
    assert f"Put it at {shared_root / 'mnist' / 'train-images-idx3-ubyte.gz'}" in msg
    assert "https://" in msg


def test_reduced_scale_from_test_set(shared_root, mnist_test_arrays):
    ds = mnist_dataset("mnist", shared_root, from_test_set=True, dtype=torch.float32)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (8000, 1000, 1000)
    assert ds.info["reduced_scale"] and ds.info["input_dim"] == 1
    x = ds.train.inputs[0]
    assert x.shape == (784, 1)
    assert x.dtype == torch.float32
    assert abs(x.min().item() - (0 - 0.1307) / 0.3081) < 1e-6
    # all 10k images are used exactly once, labels kept with their images
    assert sorted(
        torch.cat([ds.train.targets, ds.valid.targets, ds.test.targets]).bincount().tolist()
    ) == sorted(np.bincount(mnist_test_arrays["test_labels"]).tolist())


def _small_mnist(tmp_path, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", (np.arange(n_train) % 10).astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", test)  # uncompressed names are found too
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8))
    return train, test


def test_full_pipeline_on_small_idx_files(tmp_path):
    train, test = _small_mnist(tmp_path)
    ds = mnist_dataset("mnist", tmp_path, valid_size=5)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (25, 5, 10)
    assert ds.valid.targets.tolist() == [5, 6, 7, 8, 9]  # the last 5 training images
    expected = (torch.from_numpy(train[27].astype(np.float64)) / 255 - 0.1307) / 0.3081
    assert torch.allclose(ds.valid.inputs[2].reshape(28, 28), expected.to(ds.valid.inputs[2].dtype))
    rows = mnist_dataset("mnist", tmp_path, valid_size=5, layout="row", normalize=False)
    assert rows.test.inputs[0].shape == (28, 28) and rows.info["input_dim"] == 28
    assert torch.allclose(rows.test.inputs[3] * 255, torch.from_numpy(test[3]).to(rows.test.inputs[3].dtype))
    seeded = mnist_dataset("mnist", tmp_path, valid_size=5, split_seed=3)
    assert len(seeded.valid) == 5 and len(seeded.train) == 25
    again = mnist_dataset("mnist", tmp_path, valid_size=5, split_seed=3)
    assert all(torch.equal(a, b) for a, b in zip(seeded.valid.inputs, again.valid.inputs, strict=True))
    held = {tuple(x.flatten()[:8].tolist()) for x in seeded.valid.inputs}
    kept = {tuple(x.flatten()[:8].tolist()) for x in seeded.train.inputs}
    assert held.isdisjoint(kept)


def test_permutation_is_fixed_and_applied(tmp_path):
    _small_mnist(tmp_path)
    plain = mnist_dataset("mnist", tmp_path, valid_size=5)
    perm_a = mnist_dataset("mnist", tmp_path, valid_size=5, permute=True, permutation_seed=7)
    perm_b = mnist_dataset("mnist", tmp_path, valid_size=5, permute=True, permutation_seed=7)
    perm_c = mnist_dataset("mnist", tmp_path, valid_size=5, permute=True, permutation_seed=8)
    p = perm_a.info["permutation"]
    assert torch.equal(p, pixel_permutation(7)) and torch.equal(p, perm_b.info["permutation"])
    assert not torch.equal(p, perm_c.info["permutation"])
    assert sorted(p.tolist()) == list(range(784))
    for i in (0, 4):
        assert torch.equal(perm_a.test.inputs[i][:, 0], plain.test.inputs[i][p, 0])
    assert torch.equal(perm_a.train.targets, plain.train.targets)


def test_mismatched_counts_and_bad_labels(tmp_path):
    _small_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(9, dtype=np.uint8))
    with pytest.raises(DataError, match="10 images but 9 labels"):
        mnist_dataset("mnist", tmp_path, valid_size=5)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.full(10, 12, dtype=np.uint8))
    with pytest.raises(DataError, match="unknown label 12") as info:
        mnist_dataset("mnist", tmp_path, valid_size=5)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((30, 27, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"\[N, 28, 28\]"):
        load_mnist_arrays("mnist", tmp_path)


def test_images_to_sequences_layouts():
    img = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    img = img.astype(np.uint8)
    px = images_to_sequences(img, normalization=None)
    assert px.shape == (2, 784, 1) and torch.allclose(px[1, 30, 0] * 255, torch.tensor(float(img[1, 1, 2])))
    rows = images_to_sequences(img, layout="row", normalization=None)
    assert torch.equal(rows[0, 5], px[0, 5 * 28 : 6 * 28, 0])
    with pytest.raises(ValueError):
        images_to_sequences(img, layout="column")
