"""Recurrent building blocks."""

from probgates.nn.dropout import LockedDropout

__all__ = ["LockedDropout"]
