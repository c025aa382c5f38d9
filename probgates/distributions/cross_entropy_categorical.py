"""A Categorical over unnormalized logits whose ``log_prob`` is PyTorch's fused cross-entropy."""

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property

__all__ = ["CrossEntropyCategorical"]


class CrossEntropyCategorical(dist.Categorical):
    r"""``Categorical(logits=...)`` for likelihoods over many classes.

    :math:`\log p(y) = z_y - \log\sum_c e^{z_c}` is computed by ``F.cross_entropy`` (one fused
    log-softmax and gather, whose backward is one pass over the logits), and the logits are not
    normalized when the distribution is built. ``dist.Categorical`` normalizes them at once
    (``z - logsumexp(z)``) and then gathers from the broadcast result: on a word-level language
    model's ``B x T x 10,000`` logits that is several more passes over the largest tensor of the
    update, forward and backward. The values, gradients and samples are those of
    ``dist.Categorical(logits=logits)``; :attr:`logits` (normalized) and :attr:`probs` are
    computed on first use.

    :param logits: unnormalized log-probabilities ``[*batch_shape, num_classes]``.
    """

    def __init__(self, logits: torch.Tensor, validate_args=None):
        if logits.dim() < 1:
            raise ValueError("`logits` parameter must be at least one-dimensional.")
        self.unnormalized_logits = logits
        self._num_events = logits.size(-1)
        # Skips Categorical.__init__, which would normalize the logits.
        Distribution.__init__(self, logits.shape[:-1], validate_args=validate_args)

    @property
    def _param(self) -> torch.Tensor:
        return self.unnormalized_logits

    @lazy_property
    def logits(self) -> torch.Tensor:
        return self.unnormalized_logits - self.unnormalized_logits.logsumexp(-1, keepdim=True)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(CrossEntropyCategorical, _instance)
        batch_shape = torch.Size(batch_shape)
        new.unnormalized_logits = self.unnormalized_logits.expand(batch_shape + (self._num_events,))
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        logits = self.unnormalized_logits.expand(shape + (self._num_events,))
        nll = F.cross_entropy(
            logits.reshape(-1, self._num_events), value.long().expand(shape).reshape(-1), reduction="none"
        )
        return -nll.view(shape)
