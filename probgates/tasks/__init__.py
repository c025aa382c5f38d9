"""Models for the tasks: heads, metrics and the recurrent sequence model."""

from probgates.tasks.heads import HEADS
from probgates.tasks.sequence_model import SequenceModel, head_kind

__all__ = ["HEADS", "SequenceModel", "head_kind"]
