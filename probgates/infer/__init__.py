"""Stochastic variational inference: ELBOs with likelihood/KL parts, KL weights, the trainer."""

from probgates.infer.allocator import keep_freed_memory
from probgates.infer.elbo import MeanFieldELBO, TraceELBO, make_elbo
from probgates.infer.kl_scale import LatentScaleMessenger, scale_latents
from probgates.infer.run_dir import RunDirectory
from probgates.infer.schedules import KLAnnealing, LRScheduleConfig
from probgates.infer.trainer import NonFiniteLossError, TrainConfig, Trainer, TrainingInterrupted

__all__ = [
    "KLAnnealing",
    "LRScheduleConfig",
    "LatentScaleMessenger",
    "MeanFieldELBO",
    "NonFiniteLossError",
    "RunDirectory",
    "TraceELBO",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "keep_freed_memory",
    "make_elbo",
    "scale_latents",
]
