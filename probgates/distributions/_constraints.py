"""Constraint helpers shared by the bivariate gate distributions (private module)."""

import torch
from torch.distributions import biject_to, constraints, transform_to, transforms

__all__ = ["open_unit_interval", "clamp_open_unit"]


class _OpenUnitInterval(constraints._Interval):
    """The open interval ``(0, 1)``.

    Torch only ships the closed ``unit_interval``. The bivariate Beta densities are zero or infinite on the
    edges of the square (and ``0 * log 0`` terms appear there), so the supports here exclude the boundary.
    It subclasses the torch interval constraint, so code that inspects ``lower_bound``/``upper_bound`` keeps
    working, and the sigmoid bijection is registered below for use with AutoGuides.
    """

    def __init__(self):
        super().__init__(0.0, 1.0)

    def check(self, value):
        return (value > 0.0) & (value < 1.0)

    def __repr__(self):
        return "OpenUnitInterval()"


open_unit_interval = _OpenUnitInterval()


@biject_to.register(_OpenUnitInterval)
@transform_to.register(_OpenUnitInterval)
def _transform_to_open_unit_interval(constraint):
    # torch's SigmoidTransform clips its output into [tiny, 1 - eps], i.e. inside the open interval.
    return transforms.SigmoidTransform()


def clamp_open_unit(x: torch.Tensor) -> torch.Tensor:
    """Move values that rounded onto 0 or 1 to the nearest representable numbers strictly inside (0, 1).

    Only exact boundary values change: the lower clamp is the smallest normal number and the upper clamp is
    the largest number below one, so ordinary samples, and their gradients, are untouched.
    """
    finfo = torch.finfo(x.dtype)
    return x.clamp(min=finfo.tiny, max=1.0 - finfo.eps / 2)
