"""Gate statistics of trained runs: the spread of i and f and their correlation.

    python analysis/gate_statistics.py RUN_DIR [RUN_DIR ...] [--split test] [--layer 0]

For every run, the model (best-validation weights) is run over the split and the input and
forget gate values of every real time step and unit of one layer are pooled. Printed per run
and rule: mean and standard deviation of i and f, their 5-95% range, the share of saturated
values (below 0.1 or above 0.9), the pooled Pearson correlation corr(i, f) and its mean over
units. Gamma-ratio models are reported under the mean rule (the deterministic evaluation
path) and under posterior sampling. Set PROBGATES_DATA if the runs' specs give no data root.
"""

from __future__ import annotations

import argparse

import torch

from probgates import runner


def pooled_gates(
    trainer, split: str, layer: int, rule: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input gates, forget gates and a unit index, all flattened over real steps and units."""
    model, dataset = trainer.module, trainer.data.split(split)
    inputs, forgets, units = [], [], []
    for batch in dataset.batches(64):
        out = model.gate_values(batch, rule)[layer]
        mask = batch.mask.unsqueeze(-1).expand_as(out.input_gate)
        inputs.append(out.input_gate[mask])
        forgets.append(out.forget_gate[mask])
        units.append(torch.arange(out.input_gate.shape[-1]).expand_as(out.input_gate)[mask])
    return torch.cat(inputs), torch.cat(forgets), torch.cat(units)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = (a.square().sum() * b.square().sum()).sqrt()
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def describe(i: torch.Tensor, f: torch.Tensor, unit: torch.Tensor) -> dict[str, float]:
    per_unit = [correlation(i[unit == u], f[unit == u]) for u in unit.unique()]
    per_unit = torch.tensor([c for c in per_unit if c == c])
    stats = {}
    for name, g in (("i", i), ("f", f)):
        q05, q95 = torch.quantile(g[:1_000_000], torch.tensor([0.05, 0.95], dtype=g.dtype)).tolist()
        stats[f"{name}_mean"] = g.mean().item()
        stats[f"{name}_std"] = g.std().item()
        stats[f"{name}_q05"], stats[f"{name}_q95"] = q05, q95
        stats[f"{name}_saturated"] = ((g < 0.1) | (g > 0.9)).double().mean().item()
    stats["corr_pooled"] = correlation(i, f)
    stats["corr_unit_mean"] = per_unit.mean().item() if len(per_unit) else float("nan")
    stats["corr_unit_negative"] = (per_unit < 0).double().mean().item() if len(per_unit) else float("nan")
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--split", default="test")
    parser.add_argument("--layer", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    header = (
        "| run | rule | i mean ± sd | i 5–95% | i saturated | f mean ± sd | f 5–95% | f saturated "
        "| corr(i,f) pooled | corr per unit (mean) | units with corr < 0 |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for run_dir in args.runs:
        spec, data, trainer = runner.load_run(run_dir)
        rules = ["mean", "sample"] if trainer.module.has_latent_gates else ["deterministic"]
        for rule in rules:
            i, f, unit = pooled_gates(
                trainer, args.split, args.layer, None if rule == "deterministic" else rule
            )
            s = describe(i, f, unit)
            cells = [spec.name, rule]
            for g in ("i", "f"):
                cells += [
                    f"{s[g + '_mean']:.3f} ± {s[g + '_std']:.3f}",
                    f"{s[g + '_q05']:.3f}–{s[g + '_q95']:.3f}",
                    f"{s[g + '_saturated']:.1%}",
                ]
            cells += [
                f"{s['corr_pooled']:+.3f}",
                f"{s['corr_unit_mean']:+.3f}",
                f"{s['corr_unit_negative']:.0%}",
            ]
            print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
