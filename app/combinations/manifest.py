"""The export: a manifest pinning every member to a commit, the Python that rebuilds the mix,
and reading a manifest back into a combination."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog.records import is_valid_repo_id
from app.combinations import service
from app.combinations.mixture import METHODS, STRATEGIES
from app.combinations.report import SHA_RE, Report
from app.combinations.service import MAX_MEMBERS, CombinationError
from app.combinations.sizes import Amount
from app.models import Combination, CombinationMember, Dataset

FORMAT = "dataset-explorer/combination"
VERSION = 1
TEMPERATURE_RANGE = (0.01, 100.0)
SEED_MAX = 2**32 - 1
MAX_WEIGHT = 1e9


def _amount(amount: Amount) -> dict[str, int | None] | None:
    if not amount.known:
        return None
    return {"low": amount.low, "high": amount.high}


def build_manifest(report: Report, exported_at: datetime | None = None) -> dict[str, Any]:
    combination = report.combination
    probabilities = report.mix.probabilities
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": combination.name,
        "exported_at": (exported_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "mix": {
            "method": combination.mix_method,
            "temperature": combination.temperature,
            "stopping_strategy": combination.stopping_strategy,
            "seed": combination.seed,
        },
        "licence": {
            "verdict": report.licences.verdict,
            "summary": report.licences.headline,
            "concerns": [concern.message for concern in report.licences.concerns],
        },
        "datasets": [
            {
                "repo_id": m.repo_id,
                "revision": m.member.assessed_sha or m.sha,
                "config": m.size.primary_config,
                "split": "train",
                "license": m.dataset.license,
                "gated": m.gated,
                "rows": _amount(m.size.rows),
                "rows_source": m.size.rows_source,
                "train_rows": _amount(m.size.train_rows()),
                "dataset_bytes": _amount(m.size.dataset_bytes),
                "download_bytes": _amount(m.size.download_bytes),
                "parquet_bytes": _amount(m.size.parquet_bytes),
                "weight": m.member.weight,
                "probability": probabilities.get(m.repo_id),
                "citation": m.citation,
            }
            for m in report.members
        ],
    }


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def python_snippet(manifest: dict[str, Any]) -> str:
    """Python that rebuilds the mix with the `datasets` library, pinned to the same commits."""
    mix = manifest["mix"]
    planned = [d for d in manifest["datasets"] if d.get("probability") is not None]
    lines = [
        f"# Rebuilds the combination {manifest['name']!r} exported from Dataset Explorer",
        f"# on {manifest['exported_at']}. interleave_datasets needs the same columns in every",
        "# dataset: rename, cast or select columns first where they differ.",
        "from datasets import interleave_datasets, load_dataset",
        "",
        "sources = [",
    ]
    for entry in planned:
        arguments = [repr(entry["repo_id"])]
        if entry.get("config") and entry["config"] != "default":
            arguments.append(repr(entry["config"]))
        if entry.get("revision"):
            arguments.append(f"revision={entry['revision']!r}")
        arguments.append(f"split={entry['split']!r}")
        notes = []
        if not entry.get("revision"):
            notes.append("not pinned: the Hub could not be reached when it was assessed")
        if entry.get("gated"):
            notes.append("gated: accept its terms on the Hub and log in first")
        comment = f"  # {'; '.join(notes)}" if notes else ""
        lines.append(f"    load_dataset({', '.join(arguments)}),{comment}")
    lines.append("]")
    probabilities = ", ".join(f"{d['probability']:.6g}" for d in planned)
    lines += [
        "mix = interleave_datasets(",
        "    sources,",
        f"    probabilities=[{probabilities}],",
        f"    seed={mix['seed']},",
        f"    stopping_strategy={mix['stopping_strategy']!r},",
        ")",
    ]
    left_out = [d["repo_id"] for d in manifest["datasets"] if d.get("probability") is None]
    if left_out:
        lines.append(f"# Left out (no size known to weight them by): {', '.join(left_out)}")
    return "\n".join(lines) + "\n"


@dataclass
class ImportResult:
    combination: Combination
    skipped: list[str] = field(default_factory=list)  # ids not in the catalog


def import_manifest(session: Session, user_id: int, raw: bytes | str) -> ImportResult:
    """Recreate a combination from a manifest; a foreign or broken file is a CombinationError."""
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CombinationError("That file is not JSON: export a manifest and import it.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CombinationError("That file is not a Dataset Explorer combination manifest.")
    if manifest.get("version") != VERSION:
        raise CombinationError(
            f"This manifest is version {_brief(manifest.get('version'), 20)}; "
            f"this version of Dataset Explorer reads version {VERSION}."
        )
    entries = manifest.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise CombinationError("The manifest lists no datasets.")
    if len(entries) > MAX_MEMBERS:
        raise CombinationError(
            f"The manifest lists {len(entries)} datasets; the most is {MAX_MEMBERS}."
        )
    mix = manifest.get("mix") if isinstance(manifest.get("mix"), dict) else {}
    settings = mix_settings(
        mix.get("method", "proportional"),
        mix.get("temperature", 2.0),
        mix.get("stopping_strategy", "first_exhausted"),
        mix.get("seed", 42),
    )
    wanted: dict[str, dict] = {}
    for entry in entries:
        repo_id = entry.get("repo_id") if isinstance(entry, dict) else None
        if not isinstance(repo_id, str) or not is_valid_repo_id(repo_id):
            raise CombinationError(
                f"The manifest has a dataset entry without a valid id: {_brief(entry, 80)}"
            )
        wanted.setdefault(repo_id, entry)
    found = {
        d.repo_id: d
        for d in session.scalars(select(Dataset).where(Dataset.repo_id.in_(list(wanted))))
    }
    name = service.clean_name(
        (manifest["name"] if isinstance(manifest.get("name"), str) else "Imported combination")[
            : service.NAME_MAX
        ]
    )
    combination = Combination(
        user_id=user_id, name=service.free_name(session, user_id, name), **settings
    )
    for repo_id, entry in wanted.items():
        if repo_id in found:
            revision = entry.get("revision")
            combination.members.append(
                CombinationMember(
                    dataset_id=found[repo_id].id,
                    weight=_weight(entry.get("weight")),
                    assessed_sha=revision
                    if isinstance(revision, str) and SHA_RE.match(revision)
                    else None,
                )
            )
    if not combination.members:
        raise CombinationError("None of the manifest's datasets is in the catalog.", 422)
    session.add(combination)
    try:
        session.flush()
    except IntegrityError:  # the same name taken by a parallel request a moment ago
        session.rollback()
        raise CombinationError(f"You already have a combination called “{name}”.", 409) from None
    service.activate(session, combination)  # commits
    return ImportResult(combination, [r for r in wanted if r not in found])


def _brief(value: Any, limit: int) -> str:
    """A value from a manifest, shortened for a message (str() refuses ints of 4,300+ digits)."""
    try:
        return str(value)[:limit]
    except ValueError:
        return "(too long to show)"


def _weight(value: Any) -> float | None:
    if value is None:
        return None
    # Range first: it compares huge ints exactly, and NaN fails it.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_WEIGHT
    ):
        raise CombinationError(f"A weight must be a number from 0 to {MAX_WEIGHT:g}.")
    return float(value)


def mix_settings(method: Any, temperature: Any, strategy: Any, seed: Any) -> dict[str, Any]:
    """Validated mixture settings, from a form or a manifest; problems are CombinationErrors."""
    problems = []
    if method not in METHODS:
        problems.append(f"Choose a weighting: {', '.join(METHODS)}.")
    try:
        temperature = float(temperature)
        if not (TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        problems.append(
            "The temperature must be a number from "
            f"{TEMPERATURE_RANGE[0]} to {TEMPERATURE_RANGE[1]:g}."
        )
    if strategy not in STRATEGIES:
        problems.append(f"Choose a stopping strategy: {', '.join(STRATEGIES)}.")
    try:
        if isinstance(seed, bool) or (isinstance(seed, float) and not seed.is_integer()):
            raise ValueError
        seed = int(seed)
        if not 0 <= seed <= SEED_MAX:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        problems.append(f"The seed must be a whole number from 0 to {SEED_MAX}.")
    if problems:
        raise CombinationError(" ".join(problems))
    return {
        "mix_method": method,
        "temperature": temperature,
        "stopping_strategy": strategy,
        "seed": seed,
    }
