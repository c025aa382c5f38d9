"""The ``probgates`` command: train, evaluate, demo, diagnose, compress, priors.

Bad input (a spec, an override, a data file) ends with one line on stderr naming the file or
key and exit status 2 (set ``PROBGATES_DEBUG=1`` for the traceback); a training failure
(non-finite loss) with exit status 1; Ctrl-C during training writes a checkpoint and exits with
status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from probgates.data import DataError
from probgates.infer import NonFiniteLossError, RunDirectory, TrainingInterrupted, keep_freed_memory
from probgates.sparse.kernels import GATES
from probgates.spec import SpecError, load_spec


def _format_metrics(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def _print_results(results: dict, run_dir: Path) -> None:
    print(f"weights evaluated: {results['weights']} (monitor: {results['monitor']})")
    for split in ("train", "valid", "test"):
        if split in results:
            print(f"  {split:5s}  {_format_metrics(results[split])}")
    print(f"training time: {results['train_time_s']:.1f} s for {results['epochs_trained']} epochs")
    print(f"run directory: {run_dir}  (results.json, metrics.jsonl, best.pt, checkpoint.pt)")


def _structure(record: dict) -> str:
    """``  541.0x, 90 neurons (41 read the input), 138 gates (i 27, f 19, g 76, o 16)`` for a sparse
    model's record."""
    if "compression" not in record:
        return ""
    per_type = ", ".join(f"{g} {record[f'gates_nonconstant_{g}']}" for g in GATES)
    return (
        f"  {record['compression']:.1f}x, {record['hidden_kept']} neurons "
        f"({record['hidden_input_dependent']} read the input), "
        f"{record['gates_nonconstant']} gates ({per_type})"
    )


def _print_epoch(record: dict) -> None:
    valid = {k[6:]: v for k, v in record.items() if k.startswith("valid_")}
    print(
        f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4g} (nll {record['train_nll']:.4g}, "
        f"kl {record['train_kl']:.4g})  valid {_format_metrics(valid)}  lr {record['lr']:.3g}  "
        f"time {record['time_s']:.0f} s{_structure(record)}",
        flush=True,
    )


def _default_out(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args) -> int:
    from probgates import runner

    if args.resume:
        if args.out is None:
            raise SpecError("--resume needs --out RUN_DIR (the run to continue)")
        run = RunDirectory(args.out)
        if not run.checkpoint.exists():
            raise SpecError(f"{run.checkpoint}: nothing to resume (no checkpoint in {run.path})")
        # The run's resolved spec is authoritative; overrides may extend it (e.g. train.epochs).
        spec = load_spec(run.spec, args.set)
        out = run.path
        if args.set:
            from probgates.infer.run_dir import atomic_write_text

            atomic_write_text(run.spec, spec.to_toml())
    else:
        spec = load_spec(args.spec, args.set)
        out = Path(args.out) if args.out else _default_out(spec.name)
    if args.no_progress:
        from dataclasses import replace

        spec = replace(spec, train=replace(spec.train, progress=False))
    print(f"training {spec.name!r} into {out}", flush=True)
    results = runner.train(spec, out, resume=args.resume, on_epoch_end=_print_epoch)
    _print_results(results, out)
    return 0


def cmd_evaluate(args) -> int:
    from probgates import runner

    spec, data, trainer = runner.load_run(args.run_dir, weights=args.weights, device=args.device)
    metrics = trainer.evaluate(args.split)
    print(json.dumps({"run": str(args.run_dir), "split": args.split, "weights": args.weights, **metrics}))
    return 0


def cmd_diagnose(args) -> int:
    from probgates.diagnostics import diagnose_run

    index = diagnose_run(
        args.run_dir,
        num_samples=args.samples,
        split=args.split,
        sequences=args.sequences,
        max_time=args.max_time,
        baseline=args.baseline,
        progress=not args.no_progress,
    )
    print(f"posterior: {Path(args.run_dir) / 'posterior.nc'}")
    print(f"report: {index}")
    return 0


def cmd_compress(args) -> int:
    from probgates.sparse.compress import NN_LSTM_EXPORTS, compress_run

    stats = compress_run(args.run_dir, weights=args.weights)
    out = Path(args.run_dir) / "compressed"
    print((out / "compression.txt").read_text().rstrip())
    differences = stats["export_max_abs_diff"]
    files = ["compression.json", "compression.txt", "structure.pt"] + [f"{name}.pt" for name in differences]
    print(f"compressed models and tables: {out}  ({', '.join(files)})")
    print(
        "exports, max |logit - masked model's| on test sequences: "
        + ", ".join(f"{name} {diff:.2g}" for name, diff in differences.items())
    )
    missing = [f"{name}.pt" for name in NN_LSTM_EXPORTS if name not in differences]
    if missing:
        print(f"no {' or '.join(missing)}: torch.nn.LSTM has sigmoid gates, this model hard-sigmoid ones")
    return 0 if stats else 1


def cmd_priors(args) -> int:
    from probgates.diagnostics import format_summary, prior_report

    spec = load_spec(args.spec, args.set)
    out = Path(args.out) if args.out else Path("runs") / f"{spec.name}-prior"
    index = prior_report(spec, out, num_draws=args.draws, num_units=args.units)
    print(format_summary(json.loads((out / "summary.json").read_text())))
    print(f"report: {index}")
    return 0


DEMO_SPECS = ("demo_lstm", "demo_bbeta5")


def cmd_demo(args) -> int:
    from probgates import runner

    out = Path(args.out) if args.out else _default_out("demo")
    rows = []
    for name in DEMO_SPECS:
        spec = load_spec(runner.embedded_spec_path(name), args.set)
        if args.no_progress:
            from dataclasses import replace

            spec = replace(spec, train=replace(spec.train, progress=False))
        run_dir = out / spec.name
        print(f"\n== {spec.name}: {spec.description}\n   training into {run_dir}", flush=True)
        results = runner.train(spec, run_dir, on_epoch_end=_print_epoch)
        _print_results(results, run_dir)
        rows.append((spec.name, results))
    print("\n== demo results (test split, best-validation weights)")
    print(f"{'model':14s} {'accuracy':>9s} {'nll':>8s} {'train time':>11s}")
    for name, results in rows:
        test = results["test"]
        print(f"{name:14s} {test['accuracy']:9.3f} {test['nll']:8.4f} {results['train_time_s']:10.1f}s")
    print(f"\nrun directories: {out}/<model>;  next: probgates evaluate {out}/{rows[-1][0]} --split test")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probgates", description="Probabilistic gates for recurrent networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model spec (TOML) into a run directory")
    p.add_argument("spec", nargs="?", help="the spec file (not needed with --resume)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set train.lr=0.01 (repeatable)",
    )
    p.add_argument("--out", help="run directory (default: runs/NAME-TIMESTAMP)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's weights on a split")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--weights", default="best", choices=["best", "checkpoint"])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="train a standard LSTM and a bivariate-Beta LSTM on an embedded task")
    p.add_argument("--out", help="folder for the two run directories (default: runs/demo-TIMESTAMP)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of both demo specs, e.g. --set train.epochs=3",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("diagnose", help="posterior samples (posterior.nc) and an HTML report of a run")
    p.add_argument("run_dir")
    p.add_argument("--samples", type=int, default=100, help="posterior draws (default 100)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--sequences", type=int, default=4, help="sequences whose gates are kept (default 4)")
    p.add_argument("--max-time", type=int, default=50, help="time steps kept per sequence (default 50)")
    p.add_argument("--baseline", help="a sigmoid/lstm run on the same data to compare gates with")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser(
        "compress", help="masks, compression table and smaller exported models of a sparse run"
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--weights",
        default="checkpoint",
        choices=["checkpoint", "best"],
        help="final weights (default, as the paper reports) or the best-validation ones",
    )
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("priors", help="what a spec's gate prior implies: i, f, their correlation, memory")
    p.add_argument("spec")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec value")
    p.add_argument("--out", help="report folder (default: runs/NAME-prior)")
    p.add_argument("--draws", type=int, default=20000, help="prior draws (default 20000)")
    p.add_argument("--units", type=int, default=100, help="simulated units for hierarchical priors")
    p.set_defaults(func=cmd_priors)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # PROBGATES_MALLOC=system keeps the C library's settings
    if args.command == "train" and not args.resume and not args.spec:
        print("probgates train: error: give a SPEC file (or --resume --out RUN_DIR)", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (SpecError, DataError, FileNotFoundError, ValueError) as e:
        if os.environ.get("PROBGATES_DEBUG"):
            raise
        print(f"probgates {args.command}: error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"probgates {args.command}: training stopped: {e}", file=sys.stderr)
        return 1
    except TrainingInterrupted as e:
        print(f"probgates {args.command}: {e}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
