"""Leave-one-category-out choice among settings measured by `benchmarks.nab --json`.

    python -m benchmarks.choose default7.json default8.json seasonal7.json seasonal8.json ...

Each file is one setting at one seed: its `--set` overrides name the setting, `model.seed=N`
among them the seed (7 when absent); the setting without overrides is the default. For each
category held out, the setting with the highest F1 summed over the other categories and the
seeds is chosen among those that flag nothing where nothing is labelled (ties keep the
default, then the name sorting first); the choice holds when it does not lose to the default
on the held-out category on any seed. A setting replaces the default only when every fold
chooses it and it holds in each: a setting chosen on four categories must not lose on the
fifth (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT = "default"


def setting_and_seed(overrides: list[str]) -> tuple[str, int]:
    """The setting's name (its overrides but the seed, in order) and the seed they give."""
    seeds = [int(o.split("=", 1)[1]) for o in overrides if o.startswith("model.seed=")]
    rest = [o for o in overrides if not o.startswith("model.seed=")]
    return (" ".join(rest) or DEFAULT), (seeds[-1] if seeds else 7)


def read_runs(paths: list[Path]) -> dict[str, dict[int, dict[str, dict]]]:
    """setting -> seed -> category -> that run's category summary; every setting must have been
    run on the same seeds and categories as the default."""
    runs: dict[str, dict[int, dict[str, dict]]] = {}
    for path in paths:
        document = json.loads(path.read_text())
        setting, seed = setting_and_seed(document.get("overrides", []))
        if seed in runs.get(setting, {}):
            raise ValueError(f"{path}: a second run of setting {setting!r} with seed {seed}")
        runs.setdefault(setting, {})[seed] = document["summary"]
    if DEFAULT not in runs:
        raise ValueError("no run of the default (a file whose only override is model.seed)")
    shape = {seed: sorted(summary) for seed, summary in runs[DEFAULT].items()}
    for setting, by_seed in runs.items():
        if {seed: sorted(summary) for seed, summary in by_seed.items()} != shape:
            raise ValueError(f"setting {setting!r} was not run on the default's seeds and categories {shape}")
    return runs


def labelled(summary: dict) -> bool:
    """Whether the category has labelled windows (artificialNoAnomaly has none)."""
    return summary["tp"] + summary["fn"] > 0


def loses(run: dict, default: dict) -> bool:
    """A category run that does worse than the default's: lower F1, or where nothing is labelled,
    more false intervals."""
    return run["f1"] < default["f1"] - 1e-9 if labelled(default) else run["fp"] > default["fp"]


def choose(runs: dict[str, dict[int, dict[str, dict]]], categories: list[str]) -> str:
    """The setting a benchmark on `categories` picks: the best F1 summed over its labelled
    categories and the seeds, among those that flag nothing where nothing is labelled."""
    def clean(setting: str) -> bool:
        return all(summary[c]["fp"] == 0 for summary in runs[setting].values() for c in categories
                   if not labelled(summary[c]))

    def total(setting: str) -> float:
        return sum(summary[c]["f1"] for summary in runs[setting].values() for c in categories if labelled(summary[c]))

    candidates = sorted(s for s in runs if clean(s)) or [DEFAULT]
    return max(candidates, key=lambda s: (round(total(s), 9), s == DEFAULT))  # ties: the default, then by name


def folds(runs: dict[str, dict[int, dict[str, dict]]]) -> list[tuple[str, str, bool]]:
    """(held-out category, the setting chosen on the others, whether it holds there)."""
    categories = sorted(next(iter(runs[DEFAULT].values())))
    result = []
    for held_out in categories:
        chosen = choose(runs, [c for c in categories if c != held_out])
        holds = not any(loses(runs[chosen][seed][held_out], runs[DEFAULT][seed][held_out]) for seed in runs[DEFAULT])
        result.append((held_out, chosen, holds))
    return result


def figure(summary: dict) -> str:
    return f"{summary['f1']:.3f}" if labelled(summary) else f"{summary['fp']} fp"


def report(runs: dict[str, dict[int, dict[str, dict]]]) -> list[str]:
    """The settings' figures per category (one column per seed), each fold's choice, the verdict."""
    seeds = sorted(runs[DEFAULT])
    categories = sorted(runs[DEFAULT][seeds[0]])
    lines = [f"{'setting':<40}" + "".join(f"{c[:22]:>24}" for c in categories)]
    for setting, by_seed in runs.items():
        cells = ["/".join(figure(by_seed[seed][c]) for seed in seeds) for c in categories]
        lines.append(f"{setting[:40]:<40}" + "".join(f"{cell:>24}" for cell in cells))
    lines.append(f"(seeds {'/'.join(map(str, seeds))}; fp: false intervals where nothing is labelled)")
    decided = folds(runs)
    for held_out, chosen, holds in decided:
        lines.append(f"held out {held_out}: chosen {chosen!r}, {'holds' if holds else 'loses'} there")
    winners = {chosen for _, chosen, _ in decided}
    if len(winners) == 1 and all(holds for _, _, holds in decided):
        lines.append(f"verdict: {winners.pop()!r}")
    else:
        lines.append(f"verdict: {DEFAULT!r} (no other setting is chosen by every fold and holds in each)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="benchmarks.nab --json files")
    args = parser.parse_args(argv)
    try:
        print("\n".join(report(read_runs(args.runs))))
    except (ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
