"""A restricted unpickler for data pickles that may only hold numpy scalars and arrays.

Pickles can run arbitrary code while loading (any global they name gets called). The
Boulanger-Lewandowski piano-roll pickles only need a handful of numpy globals, so
:class:`RestrictedUnpickler` allows exactly those and rejects everything else with a
:class:`~probgates.data.errors.DataError` that names the file and the forbidden global,
before anything is called.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import zlib

import numpy as np

from probgates.data.errors import DataError

_NUMPY2 = int(np.__version__.split(".")[0]) >= 2

#: Globals a data pickle may name, as ``(module, qualified name)``.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        # protocol-5 pickles of contiguous arrays
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        # Python 3 protocol-2 pickles of bytes go through _codecs.encode(str, "latin1").
        ("_codecs", "encode"),
    }
)


def _import_module(module: str):
    """Import ``module``, mapping ``numpy.core.*`` <-> ``numpy._core.*`` for the installed numpy."""
    if _NUMPY2 and (module == "numpy.core" or module.startswith("numpy.core.")):
        module = "numpy._core" + module[len("numpy.core") :]
    elif not _NUMPY2 and (module == "numpy._core" or module.startswith("numpy._core.")):
        module = "numpy.core" + module[len("numpy._core") :]
    return importlib.import_module(module)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only resolves :data:`ALLOWED_GLOBALS`.

    Args:
        file: a binary file object.
        path: the file name used in error messages.
        allowed: the permitted ``(module, name)`` pairs (default :data:`ALLOWED_GLOBALS`).
    """

    def __init__(
        self,
        file,
        *,
        path: str | os.PathLike | None = None,
        allowed: frozenset[tuple[str, str]] = ALLOWED_GLOBALS,
        encoding: str = "latin1",
    ):
        super().__init__(file, encoding=encoding)
        self._path = path
        self._allowed = allowed

    def find_class(self, module: str, name: str):
        if (module, name) not in self._allowed:
            raise DataError(
                f"pickle asks for the forbidden global {module}.{name}; only numpy array/scalar "
                "globals are allowed, so it was not loaded",
                self._path,
            )
        return getattr(_import_module(module), name)

    def persistent_load(self, pid):
        raise DataError(f"pickle uses a persistent id ({pid!r}), which is not allowed", self._path)


def safe_load(path: str | os.PathLike, *, allowed: frozenset[tuple[str, str]] = ALLOWED_GLOBALS):
    """Load a pickle file with :class:`RestrictedUnpickler` and ``encoding="latin1"``.

    Raises:
        DataError: the file is missing, truncated or corrupt, or names a forbidden global.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as e:
        raise DataError("pickle file not found", path) from e
    except OSError as e:
        raise DataError(f"cannot read pickle file: {e}", path) from e
    return safe_loads(data, path=path, allowed=allowed)


def safe_loads(
    data: bytes,
    *,
    path: str | os.PathLike | None = None,
    allowed: frozenset[tuple[str, str]] = ALLOWED_GLOBALS,
):
    """Like :func:`safe_load` for bytes already read; ``path`` is only used in messages."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), path=path, allowed=allowed).load()
    except DataError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        ImportError,
        UnicodeDecodeError,
        MemoryError,
        OverflowError,
        zlib.error,
    ) as e:
        raise DataError(f"corrupt or truncated pickle ({type(e).__name__}: {e})", path) from e
