"""Token vocabularies and the simple tokenisers the text loaders use."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from probgates.data.errors import DataError

PAD = "<pad>"
UNK = "<unk>"
EOS = "<eos>"

_ASCII_WS = re.compile(r"[ \t\n\r\f\v]+")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def split_tokens(text: str) -> list[str]:
    """Split already-tokenised text on ASCII whitespace only.

    Unlike ``str.split()`` this keeps Latin-1 control bytes such as ``\\x85`` (cp1252 "…", present
    inside MR/SUBJ lines) as part of a token instead of treating them as separators.
    """
    return [t for t in _ASCII_WS.split(text) if t]


def simple_tokenize(text: str) -> list[str]:
    """Lower-case, drop ``<br />`` tags, keep runs of letters/digits (with inner apostrophes)."""
    return _WORD.findall(_BR.sub(" ", text.lower()))


class Vocabulary:
    """A bijection between tokens and integer ids.

    Special tokens come first: ``pad_token`` (id 0, when given), then ``unk_token``, then any
    ``specials``. Tokens unknown to the vocabulary encode to the ``unk_token`` id; without an
    ``unk_token`` they are an error.

    Args:
        tokens: the full id -> token list (special tokens included, at their positions).
        pad_token: the padding token, which must be ``tokens[0]``; ``None`` for none.
        unk_token: the out-of-vocabulary token; ``None`` for none.
    """

    def __init__(self, tokens: Sequence[str], *, pad_token: str | None = PAD, unk_token: str | None = UNK):
        self.itos: list[str] = list(tokens)
        self.counts: dict[str, int] = {}
        self.stoi: dict[str, int] = {}
        for i, t in enumerate(self.itos):
            if t in self.stoi:
                raise ValueError(f"duplicate token {t!r} in vocabulary")
            self.stoi[t] = i
        if pad_token is not None and (not self.itos or self.itos[0] != pad_token):
            raise ValueError(f"the padding token {pad_token!r} must have id 0")
        if unk_token is not None and unk_token not in self.stoi:
            raise ValueError(f"the unknown-token {unk_token!r} is not in the vocabulary")
        self.pad_token = pad_token
        self.unk_token = unk_token

    @classmethod
    def build(
        cls,
        sequences: Iterable[Iterable[str]],
        *,
        max_size: int | None = None,
        min_count: int = 1,
        pad_token: str | None = PAD,
        unk_token: str | None = UNK,
        specials: Sequence[str] = (),
    ) -> Vocabulary:
        """Count tokens and keep the most frequent ones.

        Ordering is stable: special tokens, then by decreasing count, ties broken by the token
        string. ``max_size`` caps the number of *regular* (non-special) tokens, so
        ``len(vocab) <= max_size + number of specials``; ``min_count`` drops rarer tokens.
        Special tokens that also occur in the data (PTB's ``<unk>``) keep their special id.
        """
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        return cls.from_counts(
            counts,
            max_size=max_size,
            min_count=min_count,
            pad_token=pad_token,
            unk_token=unk_token,
            specials=specials,
        )

    @classmethod
    def from_counts(
        cls,
        counts: dict[str, int],
        *,
        max_size: int | None = None,
        min_count: int = 1,
        pad_token: str | None = PAD,
        unk_token: str | None = UNK,
        specials: Sequence[str] = (),
    ) -> Vocabulary:
        """Like :meth:`build`, from ready token counts."""
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {max_size}")
        head = [t for t in (pad_token, unk_token, *specials) if t is not None]
        head = list(dict.fromkeys(head))
        regular = sorted(
            ((t, c) for t, c in counts.items() if c >= min_count and t not in head),
            key=lambda tc: (-tc[1], tc[0]),
        )
        if max_size is not None:
            regular = regular[:max_size]
        vocab = cls(head + [t for t, _ in regular], pad_token=pad_token, unk_token=unk_token)
        vocab.counts = {t: counts.get(t, 0) for t in vocab.itos}
        return vocab

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi[token]

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.itos == other.itos
            and self.pad_token == other.pad_token
            and self.unk_token == other.unk_token
        )

    __hash__ = None  # mutable container

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, pad={self.pad_token!r}, unk={self.unk_token!r})"

    @property
    def pad_id(self) -> int | None:
        return None if self.pad_token is None else 0

    @property
    def unk_id(self) -> int | None:
        return None if self.unk_token is None else self.stoi[self.unk_token]

    def encode(self, tokens: Iterable[str], *, path=None) -> Tensor:
        """Token ids as a ``[T]`` long tensor; ``path`` names the source file in errors."""
        unk = self.unk_id
        if unk is not None:
            ids = [self.stoi.get(t, unk) for t in tokens]
        else:
            ids = []
            for t in tokens:
                i = self.stoi.get(t)
                if i is None:
                    raise DataError(
                        f"token {t!r} is not in the vocabulary (which has no unknown-token)", path
                    )
                ids.append(i)
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> list[str]:
        """Tokens of ``ids`` (padding ids included as ``pad_token``)."""
        if isinstance(ids, Tensor):
            ids = ids.reshape(-1).tolist()
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict:
        """A JSON-friendly description (``Vocabulary.from_dict`` restores it)."""
        return {"tokens": list(self.itos), "pad_token": self.pad_token, "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        return cls(d["tokens"], pad_token=d.get("pad_token"), unk_token=d.get("unk_token"))
