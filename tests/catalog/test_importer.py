"""Importing catalog files: idempotent, tolerant of bad lines, resumable, alias-aware."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from app.catalog.importer import import_file
from app.catalog.search import SearchQuery, search
from app.extensions import db
from app.models import Dataset, DatasetAlias, DatasetFacet
from tests.catalog.matching import catalog_words, matching_agrees_with_sql
from tests.conftest import shared_dir


def write_lines(path: Path, lines: list) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def record(repo_id: str, **fields) -> dict:
    return {"id": repo_id, "description": f"About {repo_id}.", "license": "mit", **fields}


def test_import_is_idempotent(app, tmp_path):
    source = write_lines(tmp_path / "a.jsonl", [record(f"org/set-{i}") for i in range(7)])
    first = import_file(db.session, source)
    second = import_file(db.session, source)
    assert (first.counts.inserted, first.counts.updated) == (7, 0)
    counts = second.counts
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 7)
    assert count(Dataset) == 7
    assert count(DatasetFacet) == 7  # one licence each, not duplicated by the second run


def test_bad_lines_are_reported_with_file_and_line_and_skipped(app, tmp_path):
    source = write_lines(
        tmp_path / "mixed.jsonl",
        [
            record("org/good-1"),
            "{not json",
            json.dumps([1, 2]),
            record("../evil"),
            "",
            record("org/good-2"),
        ],
    )
    summary = import_file(db.session, source)
    assert summary.counts.inserted == 2
    assert [(p.line, p.message.split(" ")[0]) for p in summary.problems] == [
        (2, "not"),
        (3, "expected"),
        (4, "invalid"),
    ]
    assert str(summary.problems[0]).startswith(f"{source}:2: ")
    assert str(summary) == "2 added, 0 updated, 0 unchanged, 3 skipped"


def test_an_update_replaces_fields_and_facets(app, tmp_path):
    import_file(db.session, write_lines(tmp_path / "v1.jsonl", [record("org/x", license="mit")]))
    import_file(
        db.session,
        write_lines(
            tmp_path / "v2.jsonl", [record("org/x", license="apache-2.0", description="New text.")]
        ),
    )
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == "org/x"))
    assert dataset.license == "apache-2.0"
    facets = db.session.scalars(select(DatasetFacet.value).where(DatasetFacet.facet == "license"))
    assert list(facets) == ["apache-2.0"]
    # The full-text index followed the update.
    assert search(db.session, SearchQuery(text="new text ")).total == 1
    assert search(db.session, SearchQuery(text="about ")).total == 0


def test_an_interrupted_import_resumes_without_duplicates(app, tmp_path):
    lines = [record(f"org/set-{i:04d}") for i in range(1200)]
    write_lines(tmp_path / "part.jsonl", lines[:700])  # as if the first run stopped part-way
    import_file(db.session, tmp_path / "part.jsonl")
    summary = import_file(db.session, write_lines(tmp_path / "all.jsonl", lines))
    assert (summary.counts.inserted, summary.counts.unchanged) == (500, 700)
    assert count(Dataset) == 1200


def test_committed_batches_survive_a_later_bad_line(app, tmp_path):
    lines = [record(f"org/ok-{i:04d}") for i in range(600)] + ["garbage"]
    summary = import_file(db.session, write_lines(tmp_path / "f.jsonl", lines))
    assert count(Dataset) == 600 and summary.skipped == 1


def test_a_renamed_dataset_is_merged_through_its_alias(app, tmp_path):
    import_file(
        db.session,
        write_lines(tmp_path / "starter.jsonl", [record("rajpurkar/squad", aliases=["squad"])]),
    )
    # The 2023 snapshot still calls it `squad`: it updates the same row and keeps the new id.
    summary = import_file(
        db.session, write_lines(tmp_path / "old.jsonl", [record("squad", downloads=5)])
    )
    assert summary.counts.updated == 1
    assert list(db.session.scalars(select(Dataset.repo_id))) == ["rajpurkar/squad"]
    assert db.session.scalar(select(Dataset.downloads)) == 5


def test_an_old_name_is_renamed_when_the_new_id_arrives(app, tmp_path):
    import_file(db.session, write_lines(tmp_path / "old.jsonl", [record("squad")]))
    import_file(
        db.session,
        write_lines(tmp_path / "new.jsonl", [record("rajpurkar/squad", aliases=["squad"])]),
    )
    assert list(db.session.scalars(select(Dataset.repo_id))) == ["rajpurkar/squad"]
    assert list(db.session.scalars(select(DatasetAlias.alias))) == ["squad"]


def test_the_same_dataset_twice_in_one_file_keeps_the_last_line(app, tmp_path):
    summary = import_file(
        db.session,
        write_lines(
            tmp_path / "dup.jsonl",
            [record("org/x", license="mit"), record("org/x", license="gpl-3.0")],
        ),
    )
    assert summary.counts.inserted == 1
    assert db.session.scalar(select(Dataset.license)) == "gpl-3.0"


def test_cli_prints_progress_problems_and_a_summary(runner, tmp_path):
    source = write_lines(tmp_path / "cli.jsonl", [record("org/a"), "oops", record("org/b")])
    result = runner.invoke(args=["catalog", "import", str(source)])
    assert result.exit_code == 0
    assert f"skipped {source}:2: not valid JSON" in result.output
    assert "2 added, 0 updated, 0 unchanged, 1 skipped" in result.output


def test_cli_refuses_a_missing_file(runner, tmp_path):
    result = runner.invoke(args=["catalog", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_load_starter_leaves_a_filled_catalog_alone(runner, small_catalog):
    result = runner.invoke(args=["catalog", "load-starter"])
    assert "already has datasets" in result.output
    assert count(Dataset) == 45


def test_the_real_catalog_imports_and_searches(app):
    folder = shared_dir() / "hub" / "catalog"
    total_problems = []
    for name in ("catalog-00.jsonl", "catalog-01.jsonl"):
        summary = import_file(db.session, folder / name)
        total_problems += summary.problems
    assert total_problems == []
    assert count(Dataset) == 7433
    page = search(db.session, SearchQuery(text="squad", sort="relevance"))
    assert page.datasets[0].repo_id == "squad"
    assert page.total > 20
    speech = search(
        db.session,
        SearchQuery(text='"speech recognition"', filters={"language": ("en",)}, sort="downloads"),
    )
    assert speech.total > 10
    assert all("en" in d.languages for d in speech.datasets)
    downloads = [d.downloads for d in speech.datasets]
    assert downloads == sorted(downloads, key=lambda n: -(n or 0))
    if db.engine.dialect.name == "postgresql":  # the in-memory match, on real texts
        words = sorted(catalog_words())[::25]
        matching_agrees_with_sql([w + " " for w in words] + [w[:3] for w in words[::4]])


def test_unknown_fields_keep_what_the_mirror_knows(app, tmp_path):
    import_file(
        db.session,
        write_lines(
            tmp_path / "ours.jsonl",
            [record("org/x", description="Our own words.", tags=["speech"], likes=3)],
        ),
    )
    # A Hub list item: a card title for a description, no tags, but fresh download counts.
    hub_item = {"id": "org/x", "description": "Dataset Card for X", "downloads": 99}
    summary = import_file(db.session, write_lines(tmp_path / "hub.jsonl", [hub_item]))
    assert summary.counts.updated == 1
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == "org/x"))
    assert (dataset.description, dataset.tags, dataset.likes) == ("Our own words.", ["speech"], 3)
    assert dataset.downloads == 99
    assert search(db.session, SearchQuery(text="speech ")).total == 1
