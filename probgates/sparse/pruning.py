r"""The pruning framework: group-Lasso penalties on the three levels, then threshold pruning.

The paper's non-Bayesian alternative in the spirit of intrinsic sparse structures (Wen et al. 2018;
reference §9, whose exact penalty is unknown; this is the reconstruction used here). Weights are
plain parameters; the model adds

.. math::

    N \Big( \lambda_w \sum |w| + \lambda_g \sum_{k,j} \|(W^k_x, W^k_h)_{j}\|_2
    + \lambda_n \big( \sum_j \|\mathrm{neuron}_j\|_2 + \sum_d \|W_x[:, d]\|_2
    + \sum_v \|W_{emb}[v]\|_2 \big) \Big)

to the negative log likelihood through ``pyro.factor`` (``N`` = training sequences, so the
penalty per datum matches the NLL scaled to the training set). The terms follow the letters of the
spec: W (L1 on the layer's weights), G (one group per gate preactivation row), N (hidden neuron j:
its four gate rows, its column of ``W_h`` and of ``W_out``; input d: its column of ``W_x`` when
``input_groups``; vocabulary word v: its embedding row). The guide is empty, so the trainer's
``mean_field`` ELBO is just this penalized likelihood. After training, weights with magnitude below
``prune_threshold`` are zero (:meth:`masked_values`); masks, statistics and exports are shared with
the Bayesian model.
"""

from __future__ import annotations

import pyro
import torch
from pyro.nn import pyro_method

from probgates.data.batching import SequenceBatch
from probgates.sparse import heads
from probgates.sparse.kernels import LSTMState
from probgates.sparse.model import SparseSequenceModel

_EPS = 1e-12


def _group_norms(x: torch.Tensor, dim) -> torch.Tensor:
    return (x.square().sum(dim) + _EPS).sqrt()


class GroupLassoSequenceModel(SparseSequenceModel):
    """:class:`SparseSequenceModel` with deterministic weights and group-Lasso penalties."""

    def __init__(self, spec, **kwargs):
        if spec.framework != "pruning":
            raise ValueError("GroupLassoSequenceModel needs model.sparse.framework = 'pruning'")
        super().__init__(spec, **kwargs)

    def penalty(self) -> torch.Tensor:
        """The group-Lasso penalty per training datum (see module docstring)."""
        s = self.spec
        H = s.hidden_size
        w_ih, w_hh = self.lstm.weight_ih.theta, self.lstm.weight_hh.theta
        head_w = self.head.weight.theta
        total = w_ih.new_zeros(())
        lstm, emb, out = s.letters("lstm"), s.letters("embedding"), s.letters("head")
        if "W" in lstm:
            total = total + s.lasso_weight * (w_ih.abs().sum() + w_hh.abs().sum())
        if "W" in out:
            total = total + s.lasso_weight * head_w.abs().sum()
        if self.embedding is not None and "W" in emb:
            total = total + s.lasso_weight * self.embedding.weight.theta.abs().sum()
        if "G" in lstm:
            total = total + s.lasso_gate * _group_norms(torch.cat([w_ih, w_hh], 1), 1).sum()
        if "N" in lstm:
            rows = torch.cat([w_ih, w_hh], 1).view(4, H, -1).transpose(0, 1).reshape(H, -1)
            neuron = torch.cat([rows, w_hh.t(), head_w.t()], 1)
            total = total + s.lasso_neuron * _group_norms(neuron, 1).sum()
            if s.input_groups:
                total = total + s.lasso_neuron * _group_norms(w_ih, 0).sum()
        if self.embedding is not None and "N" in emb:
            total = total + s.lasso_neuron * _group_norms(self.embedding.weight.theta, 1).sum()
        return total

    def masked_values(self) -> dict:
        """Weights with ``|w| < prune_threshold`` set to 0 (layers without letters stay dense)."""
        values = {}
        for name, layer in self.layers().items():
            prune = bool(self.spec.letters(name))
            values[name] = {
                n: torch.where(v.theta.abs() < self.spec.prune_threshold, 0.0, v.theta) if prune else v.theta
                for n, v in layer.variables().items()
            }
        return values

    def raw_values(self) -> dict:
        return {
            name: {n: v.theta for n, v in layer.variables().items()} for name, layer in self.layers().items()
        }

    @pyro_method
    def model(self, batch: SequenceBatch, num_data: int, state: LSTMState | None = None) -> None:
        logits, final = self.logits_and_state(batch, self.raw_values(), state=state)
        self._keep_final_state(final)
        with pyro.plate("sequences", num_data, subsample=batch.index):
            heads.observe(self.head_kind, logits, batch)
        pyro.factor("group_lasso", -num_data * self.penalty())

    @pyro_method
    def guide(self, batch: SequenceBatch, num_data: int, state: LSTMState | None = None) -> None:
        pass
