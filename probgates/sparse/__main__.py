"""Stop-gap command until ``probgates train`` reads ``[model.sparse]``:

    python -m probgates.sparse train SPEC.toml --out RUN_DIR [--set key=value ...] [--no-progress]
    python -m probgates.sparse compress RUN_DIR

``train`` reads the spec's ``[data]``, ``[model.sparse]`` and ``[train]`` tables, writes the resolved
spec to ``RUN_DIR/spec.toml``, trains with :class:`probgates.infer.Trainer`, evaluates the best
weights and compresses the run (``RUN_DIR/compressed/``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tomllib

import pyro

from probgates.data import load_dataset
from probgates.infer import RunDirectory, TrainConfig, Trainer
from probgates.infer.run_dir import atomic_write_text
from probgates.sparse.builder import build_sparse_model
from probgates.sparse.compress import compress_run, sparse_spec_from_table
from probgates.spec import _build, apply_overrides, dumps_toml


def train(spec_path: str, out: str, overrides: list[str], progress: bool = True) -> dict:
    with open(spec_path, "rb") as f:
        table = apply_overrides(tomllib.load(f), overrides)
    sparse = sparse_spec_from_table(table, spec_path)
    train_config = _build(TrainConfig, {**table.get("train", {}), "progress": progress}, "train")
    d = table.get("data", {})
    run = RunDirectory(out).create()
    resolved = {
        "name": table.get("name", "run"),
        "description": table.get("description", ""),
        "data": d,
        "model": {"sparse": dataclasses.asdict(sparse)},
        "train": dataclasses.asdict(train_config),
    }
    atomic_write_text(run.spec, dumps_toml(resolved))
    data = load_dataset(d.get("name", "sparse_signal"), d.get("root") or None, **d.get("options", {}))
    pyro.set_rng_seed(train_config.seed)
    model = build_sparse_model(sparse, data)
    trainer = Trainer(model, data, train_config, run)

    def show(record):
        valid = ", ".join(f"{k[6:]}={v:.4g}" for k, v in record.items() if k.startswith("valid_"))
        print(
            f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4g} (nll {record['train_nll']:.4g}, "
            f"kl {record['train_kl']:.4g})  valid {valid}  {record['time_s']:.0f}s",
            flush=True,
        )

    trainer.fit(on_epoch_end=show)
    results = trainer.final_results()
    results["dense"] = sparse.is_dense
    print(json.dumps({k: results[k] for k in ("weights", "train", "valid", "test") if k in results}))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgates.sparse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("spec")
    t.add_argument("--out", required=True)
    t.add_argument("--set", action="append", default=[])
    t.add_argument("--no-progress", action="store_true")
    c = sub.add_parser("compress")
    c.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            results = train(args.spec, args.out, args.set, not args.no_progress)
            run_dir = args.out
            if results.get("dense"):
                return 0  # the dense baseline has nothing to compress
        else:
            run_dir = args.run_dir
        stats = compress_run(run_dir)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((RunDirectory(run_dir).path / "compressed" / "compression.txt").read_text(), end="")
    return 0 if stats else 1


if __name__ == "__main__":
    raise SystemExit(main())
