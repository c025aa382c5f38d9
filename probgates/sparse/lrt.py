r"""The output noise of the local reparameterization trick, in few passes over the output.

With a mean-field posterior :math:`q(w_{kj}) = \mathcal N(\theta_{kj}, \sigma_{kj}^2)` on the
weights of ``y = x W^T + b`` (reference §6.3; Kingma, Salimans and Welling 2015), every output
element is Normal, and the trick draws it directly instead of drawing ``W``:

.. math::

    y = \mu + \sqrt{v + \epsilon}\; e,\qquad \mu = x\theta^T + b,\quad v = x^2 (\sigma^2)^T,
    \quad e \sim \mathcal N(0, 1),

with a small :math:`\epsilon` that keeps the square root differentiable where :math:`v = 0`.
On a word-level language model's head, :math:`\mu` and :math:`v` are ``B x T x 10,000``, the
largest tensors of the update. Written with autograd the draw takes eight passes over them
(add, sqrt, the noise, multiply and add forward; the product's, the square root's doubling and
its division backward). :func:`lrt_sample` takes six: it draws :math:`h = e/2` (a Normal of
scale 1/2 costs what a standard one does), computes :math:`r = (v + \epsilon)^{-1/2}` in place,
returns :math:`\mu + 2h / r` and keeps :math:`h r = \partial y / \partial v` for the backward,
which is one product with the incoming gradient.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

#: The default :math:`\epsilon` under the square root.
LRT_EPS = 1e-8


def lrt_sample(mean: torch.Tensor, var: torch.Tensor, eps: float = LRT_EPS) -> torch.Tensor:
    r"""One draw of :math:`\mu + \sqrt{v + \epsilon}\, e`, :math:`e \sim \mathcal N(0, 1)` elementwise.

    :param mean: :math:`\mu`, the output under the posterior means.
    :param var: :math:`v \ge 0`, the output's variance; the same shape as ``mean``.
    :param eps: :math:`\epsilon > 0`.
    :returns: a tensor of ``mean``'s shape, differentiable in ``mean`` and ``var``.
    """
    if mean.shape != var.shape:
        raise ValueError(
            f"mean and var must have the same shape, got {tuple(mean.shape)} and {tuple(var.shape)}"
        )
    return _LRTSample.apply(mean, var, eps)


class _LRTSample(torch.autograd.Function):
    r""":func:`lrt_sample` with :math:`\partial y/\partial\mu = 1` and :math:`\partial y/\partial v =
    e / (2\sqrt{v + \epsilon})` kept from the forward pass."""

    @staticmethod
    def forward(ctx, mean: torch.Tensor, var: torch.Tensor, eps: float) -> torch.Tensor:
        inv_std = torch.add(var, eps).rsqrt_()
        half_noise = torch.empty_like(mean).normal_(0.0, 0.5)
        sample = torch.addcdiv(mean, half_noise, inv_std, value=2.0)
        ctx.save_for_backward(half_noise.mul_(inv_std))
        return sample

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (d_sample_d_var,) = ctx.saved_tensors
        grad_var = grad * d_sample_d_var if ctx.needs_input_grad[1] else None
        return grad, grad_var, None
