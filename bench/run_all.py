"""Every benchmark in one command (`make bench`): each figure beside its baseline from the same run.

Run from the repository root:

    .venv/bin/python bench/run_all.py --write-readme      # `make bench`: everything, ~45 minutes
    .venv/bin/python bench/run_all.py --quick             # a few minutes: small sizes, one stack
    .venv/bin/python bench/run_all.py --only search,load  # a subset

Each benchmark runs as its own process (bench/search.py, impact.py, cluster_quality.py,
load.py, and page_weight.py when named) with `--json` into bench/results/raw/<date>/; the
figures are gathered into bench/results/<date>.json (or <date>-quick.json), and with
`--write-readme` into the "All benchmarks" table of bench/README.md, each with the baseline it
is compared with, measured in the same run, and the ratio. A full run with --write-readme also
lets each script rewrite its own detailed section of the README; a quick run never does (its
small sizes are not the figures the aims speak of).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
README = BENCH / "README.md"
START, END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"
ORDER = ("search", "impact", "cluster", "load", "page_weight")
DEFAULT = ("search", "impact", "cluster", "load")

# name -> (script, arguments of the full run, arguments of the quick run, writes the README)
COMMANDS = {
    "search": ("search.py", [], ["--databases", "sqlite", "--sizes", "real", "--repeat", "1"]),
    "impact": (
        "impact.py",
        ["--limit", "1000", "--repeat", "5", "--rounds", "2"],
        ["--limit", "100", "--repeat", "1", "--rounds", "1"],
    ),
    "cluster": ("cluster_quality.py", ["--limit", "2000"], ["--limit", "300"]),
    "load": (
        "load.py",
        [],
        [
            "--stacks",
            "embedded",
            "--users",
            "5",
            "--duration",
            "20",
            "--datasets",
            "10000",
            "--embed",
            "30",
        ],
    ),
    "page_weight": ("page_weight.py", [], []),
}
README_WRITERS = {"search", "cluster", "load", "page_weight"}  # impact's section is by hand


def run_one(name: str, quick: bool, write_readme: bool, raw: Path) -> tuple[dict | None, float]:
    script, full, small = COMMANDS[name]
    out = raw / f"{name}.json"
    command = [sys.executable, str(BENCH / script), *(small if quick else full), "--json", str(out)]
    if write_readme and not quick and name in README_WRITERS:
        command.append("--write-readme")
    print(f"\n=== {name}: {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT)
    seconds = time.perf_counter() - started
    if finished.returncode != 0 or not out.exists():
        print(f"=== {name} failed (exit {finished.returncode}) after {seconds:.0f} s", flush=True)
        return None, seconds
    print(f"=== {name} done in {seconds:.0f} s", flush=True)
    return json.loads(out.read_text()), seconds


# --- Figures: (benchmark, figure, value, baseline label, baseline value, ratio, aim) ------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def search_figures(data: dict) -> list[dict]:
    rows = []
    for run in data["runs"]:
        samples = [s for q in run["queries"] for s in q["seconds"]]
        health = percentile(run["health_seconds"], 0.5) * 1000
        p50, p95 = percentile(samples, 0.5) * 1000, percentile(samples, 0.95) * 1000
        where = f"{run['database']}, {run['datasets']:,} datasets, {run['hits']} hits"
        for label, value in (("p50", p50), ("p95", p95)):
            rows.append(
                figure(
                    "search",
                    f"search fragment {label} ms ({where})",
                    value,
                    "/health p50 ms, same rounds",
                    health,
                    "p95 < 25 ms at 100,000" if label == "p95" else "",
                )
            )
    return rows


def impact_figures(data: dict) -> list[dict]:
    rate = data["texts_per_s"]
    rows = [
        figure(
            "impact",
            f"embedding texts/s, fastembed ({data['datasets']:,} datasets)",
            rate["fastembed"],
            "bare onnxruntime texts/s",
            rate.get("bare onnxruntime"),  # absent with --rounds 0
            "≥ 90 %",
        )
    ]
    for size, times in data["assess_ms"].items():
        rows.append(
            figure(
                "impact",
                f"semantic report ms, {size} members, cached",
                times["cached"],
                "members not yet embedded (above 12 the request queues a job)",
                times["not_embedded"],
                "< 200 ms for 10" if size == "10" else "",
            )
        )
    return rows


def cluster_figures(data: dict) -> list[dict]:
    rows = []
    by_key = {(r["text"], r["k"], r["method"]): r for r in data["rows"]}
    for (text, k, method), row in by_key.items():
        if method != "embeddings (app)" or k != data["k"]:
            continue
        baseline = by_key[(text, k, "TF-IDF + SVD")]
        for measure in ("nmi", "ari"):
            rows.append(
                figure(
                    "cluster",
                    f"{measure.upper()}, embeddings, {text}, k = {k} ({data['datasets']:,})",
                    row[measure],
                    "TF-IDF + SVD, same k and seeds",
                    baseline[measure],
                    "above the baseline",
                    digits=3,
                )
            )
    return rows


def load_figures(data: dict) -> list[dict]:
    rows = []
    for run in data["runs"]:
        endpoints = run["endpoints"]
        base = endpoints["static_fragment"]
        where = f"{run['stack']}, {run['users']} users, {run['datasets']:,} datasets"
        rows.append(
            figure(
                "load",
                f"requests/s ({where}; failures {run['failures']})",
                run["rps"],
                "",
                None,
                "no failures",
            )
        )
        for key in ("search_fixed", "search_random", "browse_page", "dataset_page"):
            entry = endpoints[key]
            rows.append(
                figure(
                    "load",
                    f"{key.replace('_', ' ')} p95 ms ({run['stack']})",
                    entry["p95_ms"],
                    "sign-in fragment p95 ms, same run",
                    base["p95_ms"],
                    "< 300 ms; searched ≤ 5×",
                )
            )
    return rows


def page_weight_figures(data: dict) -> list[dict]:
    rows = []
    for name, page in data["pages"].items():
        rows.append(
            figure(
                "page weight",
                f"{name}: kB as nginx serves them, cold cache ({page['requests']} requests)",
                page["nginx"] / 1024,
                "uncompressed kB",
                page["raw"] / 1024,
                f"axe violations: {len(page['axe_violations'])}",
            )
        )
    return rows


FIGURES = {
    "search": search_figures,
    "impact": impact_figures,
    "cluster": cluster_figures,
    "load": load_figures,
    "page_weight": page_weight_figures,
}


def figure(bench, name, value, baseline_name, baseline, aim, digits=1) -> dict:
    ratio = value / baseline if baseline else None
    return {
        "benchmark": bench,
        "figure": name,
        "value": value,
        "baseline": baseline_name,
        "baseline_value": baseline,
        "ratio": ratio,
        "aim": aim,
        "digits": digits,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | figure | value | baseline (same run) | baseline value | ratio | aim |",
        "|---|---|--:|---|--:|--:|---|",
    ]
    for row in rows:
        digits = row["digits"]
        value = f"{row['value']:,.{digits}f}"
        base = "" if row["baseline_value"] is None else f"{row['baseline_value']:,.{digits}f}"
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        lines.append(
            f"| {row['benchmark']} | {row['figure']} | {value} | {row['baseline']} | {base} | "
            f"{ratio} | {row['aim']} |"
        )
    return "\n".join(lines)


def write_readme(section: str) -> None:
    from readme_section import replace_section  # bench/, the script's own folder

    replace_section(README, START, END, section)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated, from {', '.join(ORDER)} (default: {', '.join(DEFAULT)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and one stack: proves it all runs"
    )
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help="write the summary table (and, in a full run, each script's section) to the README",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(ORDER)
    if unknown or not args.only:
        parser.error(f"--only takes {', '.join(ORDER)}; not {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y-%m-%d") + ("-quick" if args.quick else "")
    raw = RESULTS / "raw" / stamp
    raw.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows: list[dict] = []
    durations: dict[str, float] = {}
    failed: list[str] = []
    for name in (n for n in ORDER if n in args.only):
        data, durations[name] = run_one(name, args.quick, args.write_readme, raw)
        if data is None:
            failed.append(name)
            continue
        rows += FIGURES[name](data)
    load_after = os.getloadavg()
    summary = {
        "date": started_at.isoformat(),
        "quick": args.quick,
        "benchmarks": args.only,
        "failed": failed,
        "seconds": durations,
        "machine": f"nproc {os.cpu_count()}, Python {platform.python_version()}",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "figures": rows,
    }
    out = RESULTS / f"{stamp}.json"
    out.write_text(json.dumps(summary, indent=1))
    print("\n" + table(rows))
    print(f"\nfigures written to {out}; each script's own output in {raw}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if args.write_readme:
        command = ".venv/bin/python bench/run_all.py " + shlex.join(argv or sys.argv[1:])
        minutes = sum(durations.values()) / 60
        write_readme(
            f"{START}\n## All benchmarks (`make bench`)\n\n"
            f"Run on {started_at:%Y-%m-%d %H:%M} UTC{' (quick mode)' if args.quick else ''}, "
            f"{minutes:.0f} minutes; load average {load_before[0]:.1f} before, "
            f"{load_after[0]:.1f} after; {summary['machine']}. Command: `{command.strip()}`. "
            f"Figures: `bench/results/{stamp}.json`."
            + (f" **Failed: {', '.join(failed)}.**" if failed else "")
            + "\n\n"
            + table(rows)
            + f"\n{END}"
        )
        print(f"summary written to {README}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
