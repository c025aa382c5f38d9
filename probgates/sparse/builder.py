"""From a :class:`SparseSpec` and a dataset to a trainable sparse model (the Trainer interface)."""

from __future__ import annotations

from probgates.data.batching import DatasetSplits
from probgates.sparse.model import SparseSequenceModel
from probgates.sparse.pruning import GroupLassoSequenceModel
from probgates.sparse.spec import SparseSpec
from probgates.tasks.sequence_model import head_kind


def build_sparse_model(spec: SparseSpec, data: DatasetSplits) -> SparseSequenceModel:
    """The sparse model of ``spec`` sized for ``data``.

    Classification data gets the ``label`` head, language-model data the ``tokens`` head. Token
    inputs go through the sparse embedding (``embedding_dim > 0``) or straight into the LSTM as
    one-hot vectors (``embedding_dim = 0``). ``framework = "pruning"`` gives the group-Lasso model.
    Seed the RNGs (``pyro.set_rng_seed``) before calling for reproducible initial weights.
    """
    kind = head_kind(data)
    if kind not in ("label", "tokens"):
        raise ValueError(
            f"model.sparse supports classification and language-model data; dataset "
            f"{data.info.get('name', '?')!r} needs the {kind!r} head"
        )
    info = data.info
    output_dim = info["num_classes"] if kind == "label" else info.get("num_classes", info.get("vocab_size"))
    inputs = {"input_dim": info["input_dim"]} if "input_dim" in info else {"vocab_size": info["vocab_size"]}
    cls = GroupLassoSequenceModel if spec.framework == "pruning" else SparseSequenceModel
    return cls(spec, head=kind, output_dim=output_dim, **inputs)
