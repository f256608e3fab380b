"""How well the topic model's topics agree with the datasets' task categories, against a baseline.

On the real catalog (hub/catalog/catalog-0*.jsonl, read from DATASET_EXPLORER_SHARED, by default
../shared next to the repository), a deterministic sample of `--limit` datasets (every n-th by
repo id) is embedded with the app's Embedder, exactly as `flask embeddings build` would embed
them, and clustered exactly as `fit_topic_model` clusters (app.semantic.topics.cluster_vectors,
k from choose_k). The baseline is TF-IDF + truncated SVD (100 components, L2-normalised) of the
same texts, clustered the same way with the same k and seeds, in the same run.

Agreement with each dataset's first task category (datasets with one) is measured by NMI and
ARI. Two variants of the text are reported, because the app's embedding text names the task
categories ("Tasks: ...") and that alone lets any method recover them:
- "as embedded": the text the app embeds (name, task categories, description);
- "without tasks": the same without the task line (name and description), the harder test.
Seeds 0, 1 and 2 are averaged; k/2 and 2k are shown next to the rule's k. This reports, it does
not tune: the app keeps the rule whatever the numbers.

Vectors are cached in /tmp/dataset-explorer-bench/ (keyed by the model, sample and variant),
so re-runs take seconds. Usage:

    .venv/bin/python bench/cluster_quality.py [--limit 2000] [--write-readme]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.catalog.records import RecordError, record_from_raw  # noqa: E402
from app.embeddings.model import Embedder, embedding_text  # noqa: E402
from app.semantic.topics import (  # noqa: E402
    K_RULE,
    TEXT_CHARS,
    choose_k,
    cluster_vectors,
    topic_terms,
)

CACHE = Path("/tmp/dataset-explorer-bench")
README = ROOT / "bench" / "README.md"
START, END = "<!-- cluster-quality:start -->", "<!-- cluster-quality:end -->"
FIGURES: dict = {}  # the last run's numbers, for --json (bench/run_all.py)
COLUMNS = ("text", "k", "method", "nmi", "nmi_sd", "ari", "ari_sd", "fit_s")
SEEDS = (0, 1, 2)
SVD_COMPONENTS = 100


def shared_dir() -> Path:
    path = Path(os.environ.get("DATASET_EXPLORER_SHARED") or ROOT.parent / "shared")
    if not (path / "hub" / "catalog").is_dir():
        sys.exit(
            f"The real catalog is missing: no {path / 'hub' / 'catalog'} (set "
            "DATASET_EXPLORER_SHARED)."
        )
    return path


def load_sample(limit: int) -> list:
    """Every n-th record of the real catalog by repo id, `limit` of them (all when fewer)."""
    records = {}
    for path in sorted((shared_dir() / "hub" / "catalog").glob("catalog-0*.jsonl")):
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                if not line.strip():
                    continue
                try:
                    record = record_from_raw(json.loads(line))
                except RecordError:
                    continue
                records[record.repo_id] = record
    ordered = [records[key] for key in sorted(records)]
    if limit >= len(ordered):
        return ordered
    step = len(ordered) / limit
    return [ordered[int(index * step)] for index in range(limit)]


@dataclass
class WithoutTasks:
    """A record seen without its task categories, for embedding_text."""

    repo_id: str
    pretty_name: str | None
    description: str
    task_categories: tuple = ()


def texts_for(records: list, variant: str) -> list[str]:
    if variant == "as embedded":
        return [embedding_text(record) for record in records]
    return [
        embedding_text(WithoutTasks(record.repo_id, record.pretty_name, record.description))
        for record in records
    ]


def embeddings(embedder: Embedder, texts: list[str], limit: int, variant: str) -> np.ndarray:
    texts = embedder.truncate(texts)
    key = hashlib.sha256("\n\0".join([embedder.model_id, *texts]).encode()).hexdigest()[:16]
    slug = variant.replace(" ", "-")
    path = CACHE / f"cluster-vectors-{limit}-{slug}-{key}.npy"
    if path.is_file():
        print(f"  {variant}: vectors from {path}", flush=True)
        return np.load(path)
    started = time.perf_counter()
    print(f"  {variant}: embedding {len(texts):,} texts...", flush=True)
    vectors = embedder.embed(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    print(f"  {variant}: {time.perf_counter() - started:.0f} s, cached in {path}", flush=True)
    return vectors


def baseline_vectors(texts: list[str], seed: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2, max_df=0.5)
    matrix = tfidf.fit_transform(texts)
    components = min(SVD_COMPONENTS, matrix.shape[1] - 1)
    reduced = TruncatedSVD(n_components=components, random_state=seed).fit_transform(matrix)
    return normalize(reduced)


def scores(vectors: np.ndarray, k: int, truth: list[str], mask: np.ndarray) -> tuple:
    """(NMI mean, NMI sd, ARI mean, ARI sd, seconds per fit) over SEEDS."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    nmi, ari, seconds = [], [], []
    for seed in SEEDS:
        started = time.perf_counter()
        labels = cluster_vectors(vectors, k, seed)
        seconds.append(time.perf_counter() - started)
        nmi.append(normalized_mutual_info_score(truth, labels[mask]))
        ari.append(adjusted_rand_score(truth, labels[mask]))
    return (
        statistics.mean(nmi),
        statistics.stdev(nmi),
        statistics.mean(ari),
        statistics.stdev(ari),
        statistics.mean(seconds),
    )


def run(limit: int) -> tuple[str, str]:
    """The report (markdown) and a few example topics (plain text)."""
    records = load_sample(limit)
    mask = np.array([bool(record.task_categories) for record in records])
    truth = [record.task_categories[0] for record in records if record.task_categories]
    n = len(records)
    k = choose_k(n)
    print(
        f"{n:,} datasets sampled, {len(truth):,} with a task category "
        f"({len(set(truth))} distinct first categories); k = {k} ({K_RULE})",
        flush=True,
    )
    embedder = Embedder(cache_dir=CACHE / "models")
    rows = []
    examples = ""
    for variant in ("as embedded", "without tasks"):
        texts = texts_for(records, variant)
        vectors = embeddings(embedder, texts, limit, variant)
        started = time.perf_counter()
        baseline = baseline_vectors(texts, seed=0)
        baseline_seconds = time.perf_counter() - started
        for size in sorted({max(2, k // 2), k, min(n, 2 * k)}):
            for method, matrix in (("embeddings (app)", vectors), ("TF-IDF + SVD", baseline)):
                print(f"  {variant}, k={size}, {method}...", flush=True)
                rows.append((variant, size, method, *scores(matrix, size, truth, mask)))
        if variant == "as embedded":
            labels = cluster_vectors(vectors, k, 0)
            members = [np.flatnonzero(labels == number) for number in range(labels.max() + 1)]
            terms = topic_terms([[texts[row][:TEXT_CHARS] for row in rows_] for rows_ in members])
            examples = "\n".join(
                f"  {number + 1:>2}. ({len(rows_):>3}) {', '.join(terms[number][:5])}"
                for number, rows_ in enumerate(members[:10])
            )
    FIGURES.update(
        datasets=n,
        with_task=len(truth),
        k=k,
        rows=[dict(zip(COLUMNS, row, strict=True)) for row in rows],
    )
    header = (
        "| text | k | method | NMI (mean ± sd) | ARI (mean ± sd) | fit |\n"
        "|---|---:|---|---:|---:|---:|"
    )
    lines = [header]
    for variant, size, method, nmi, nmi_sd, ari, ari_sd, seconds in rows:
        marker = " (rule)" if size == k else ""
        lines.append(
            f"| {variant} | {size}{marker} | {method} | {nmi:.3f} ± {nmi_sd:.3f} | "
            f"{ari:.3f} ± {ari_sd:.3f} | {seconds:.1f} s |"
        )
    summary = (
        f"{n:,} datasets (every n-th of the 7,433 by repo id), {len(truth):,} of them with a "
        f"task category ({len(set(truth))} distinct first categories: the reference labels). "
        f"k = {k} by the rule {K_RULE}. Seeds {', '.join(map(str, SEEDS))}; mean ± standard "
        f"deviation over them. TF-IDF + SVD build time: {baseline_seconds:.1f} s (last variant)."
    )
    return summary + "\n\n" + "\n".join(lines), examples


def write_readme(report: str, examples: str, command: str) -> None:
    section = f"""{START}
## `bench/cluster_quality.py`: topics against task categories

What it measures: how well the topic model's topics (k-means on the app's embeddings, as
`flask topics fit` makes them) agree with the datasets' first task category, by normalised
mutual information (NMI) and adjusted Rand index (ARI), next to a baseline of TF-IDF + truncated
SVD ({SVD_COMPONENTS} components) of the same texts, clustered by the same code with the same k
and seeds, in the same run. Task categories are a rough reference: a topic such as "medical
question answering" cuts across them, so neither score can reach 1, and the numbers compare
methods rather than grade them.

Two texts: **as embedded** is what the app embeds (name, "Tasks: ...", description), so the
task names are in the input of both methods; **without tasks** drops that line, which is the
fairer test of whether the descriptions' meaning is captured. k/2 and 2k are shown next to the
rule's k to show how much the choice of k matters; the app keeps the rule.

Command: `{command}`

{report}

The ten largest topics of the embedding model (as embedded, k by the rule, seed 0), with their
class-based TF-IDF terms:

```
{examples}
```
{END}"""
    text = README.read_text(encoding="utf-8")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=2000, help="datasets sampled (default 2000)")
    parser.add_argument("--write-readme", action="store_true", help="update bench/README.md")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    report, examples = run(args.limit)
    if args.json:  # for bench/run_all.py
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(FIGURES, indent=1))
    print()
    print(report)
    print()
    print(examples)
    if args.write_readme:
        command = ".venv/bin/python bench/cluster_quality.py " + " ".join(
            shlex.quote(arg) for arg in sys.argv[1:]
        )
        write_readme(report, examples, command.strip())
        print(f"\nwritten to {README}")


if __name__ == "__main__":
    main()
