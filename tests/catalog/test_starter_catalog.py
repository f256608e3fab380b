"""The shipped starter catalog: broad, correct against the real snapshot, and in our own words."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from app.catalog.importer import load_starter_catalog, starter_catalog_path
from app.catalog.records import record_from_raw
from app.catalog.search import SearchQuery, search
from tests.conftest import shared_dir


@cache
def starter_lines() -> list[dict]:
    with starter_catalog_path().open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def names_of(raw: dict) -> list[str]:
    return [raw["id"], *raw.get("aliases", [])]


def test_about_two_hundred_datasets_with_unique_ids_and_aliases():
    lines = starter_lines()
    assert 190 <= len(lines) <= 260
    names = [name for raw in lines for name in names_of(raw)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "wanted",
    [
        "squad",
        "imdb",
        "glue",
        "mnist",
        "cifar10",
        "common_voice",
        "librispeech",
        "wikitext",
        "c4",
        "the-stack",
    ],
)
def test_the_well_known_datasets_are_there(wanted):
    assert any(
        name.split("/")[-1].startswith(wanted) for raw in starter_lines() for name in names_of(raw)
    ), wanted


def test_every_area_is_covered():
    records = [record_from_raw(raw) for raw in starter_lines()]
    by_modality = {
        m: sum(m in r.modalities for r in records) for m in ("text", "image", "audio", "tabular")
    }
    assert by_modality["text"] >= 80 and by_modality["image"] >= 25
    assert by_modality["audio"] >= 15 and by_modality["tabular"] >= 8
    multimodal = [r for r in records if {"image", "text"} <= set(r.modalities)]
    code = [r for r in records if "code" in r.languages or "code" in r.tags]
    assert len(multimodal) >= 10 and len(code) >= 5


def test_descriptions_are_two_to_four_sentences():
    for raw in starter_lines():
        description = raw["description"]
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", description.strip()) if s]
        assert 200 <= len(description) <= 600, raw["id"]
        assert 2 <= len(sentences) <= 4, raw["id"]
        assert "http" not in description, raw["id"]


def test_it_loads_into_an_empty_catalog_only_once(app):
    from app.extensions import db

    summary = load_starter_catalog(db.session)
    assert summary is not None and summary.problems == []
    assert summary.counts.inserted == len(starter_lines())
    assert load_starter_catalog(db.session) is None
    page = search(db.session, SearchQuery(text="speech recognition", sort="relevance"))
    assert page.total >= 5
    assert all("audio" in d.modalities for d in page.datasets[:5])


# Checks against the real 2023 snapshot in ../shared (skipped where it is not available).


@cache
def snapshot() -> dict[str, dict]:
    folder = shared_dir() / "hub" / "catalog"
    records = {}
    for name in ("catalog-00.jsonl", "catalog-01.jsonl"):
        with (folder / name).open(encoding="utf-8") as stream:
            for line in stream:
                raw = json.loads(line)
                records[raw["id"]] = raw
    return records


@cache
def cards() -> dict[str, str]:
    folder = shared_dir() / "hub" / "catalog" / "cards"
    wanted = {name for raw in starter_lines() for name in names_of(raw)}
    texts = {}
    for shard in sorted(folder.glob("cards-*.jsonl")):
        with shard.open(encoding="utf-8") as stream:
            for line in stream:
                raw = json.loads(line)
                if raw["id"] in wanted:
                    texts[raw["id"]] = raw["card"]
    return texts


def snapshot_record(raw: dict) -> dict | None:
    return next((snapshot()[n] for n in names_of(raw) if n in snapshot()), None)


def test_most_records_can_be_checked_against_the_snapshot():
    checked = [raw for raw in starter_lines() if snapshot_record(raw)]
    assert len(checked) >= 0.85 * len(starter_lines())


def test_licences_rows_and_dates_match_the_snapshot():
    mismatches = []
    for raw in starter_lines():
        real = snapshot_record(raw)
        if real is None:
            continue
        if real.get("license"):
            if raw["license"] != real["license"][0].lower():
                mismatches.append((raw["id"], "license", raw["license"], real["license"]))
        real_rows = (real.get("sizes") or {}).get("num_examples")
        if real_rows is not None and (raw.get("sizes") or {}).get("num_examples") != real_rows:
            mismatches.append((raw["id"], "rows", raw.get("sizes"), real_rows))
        if real.get("created_at") and raw.get("created_at") != real["created_at"]:
            mismatches.append((raw["id"], "created_at", raw.get("created_at"), real["created_at"]))
    assert mismatches == []


def shingles(text: str, size: int = 8) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z]+", text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def test_descriptions_are_not_copied_from_the_cards():
    copied = []
    for raw in starter_lines():
        ours = shingles(raw["description"])
        for name in names_of(raw):
            theirs = (
                cards().get(name, "") + " " + (snapshot().get(name, {}).get("description") or "")
            )
            shared = ours & shingles(theirs)
            if shared:
                copied.append((raw["id"], " ".join(next(iter(shared)))))
    assert copied == []
