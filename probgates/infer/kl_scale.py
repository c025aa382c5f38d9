"""Scaling of latent sites only: the KL weight lambda of a tempered ELBO.

``poutine.scale`` multiplies every site, observations included, and refuses a zero scale.
The KL weight lambda of Song et al. (2020; lambda = 0 gives the "5G" model) and KL annealing
(as in Pyro's ``examples/dmm.py``) must multiply only the latent sites, in the model **and**
in the guide, because ``TraceMeanField_ELBO`` scales its analytic KL by the guide site's scale.
"""

from __future__ import annotations

from pyro.poutine.messenger import Messenger


class LatentScaleMessenger(Messenger):
    """Multiply the log-density scale of every *latent* sample site by ``scale >= 0``.

    Observed sites (``obs=...``) and ``pyro.deterministic`` records keep their scale, so with
    this handler around model and guide the ELBO becomes
    ``E_q[log p(y | z)] - scale * KL(q(z) || p(z))``.
    """

    def __init__(self, scale: float):
        if not scale >= 0:
            raise ValueError(f"the KL weight must be >= 0, got {scale}")
        super().__init__()
        self.scale = float(scale)

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.scale * msg["scale"]


def scale_latents(fn=None, scale: float = 1.0):
    """Apply :class:`LatentScaleMessenger` as a context manager, or wrap the callable ``fn``."""
    messenger = LatentScaleMessenger(scale)
    return messenger if fn is None else messenger(fn)
