"""The assessment by meaning (app.semantic.assess), with the real model on real descriptions.

The catalog is the named datasets below plus a sample of the shared catalog (under 200 in
all), and a planted copy of squad's card. Each distinct text is embedded once per run.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sqlalchemy as sa

from app.catalog.importer import ImportSummary, import_records
from app.catalog.records import record_from_raw
from app.combinations import service
from app.combinations.sizes import Amount
from app.embeddings.store import embed_datasets
from app.extensions import db
from app.models import Dataset, DatasetEmbedding
from app.semantic import assess
from app.semantic.similar import clear_cache
from tests.conftest import Auth, create_user, shared_dir

NAMED = [
    "squad", "squad_v2", "glue", "super_glue", "cnn_dailymail", "xsum", "multi_news", "imdb",
    "rotten_tomatoes", "mnist", "fashion_mnist", "common_voice", "conll2003", "wikiann",
    "natural_questions", "ag_news",
]  # fmt: skip
SAMPLE = 150
COPY = "planted/squad-copy"
HX = {"HX-Request": "true"}


@pytest.fixture(scope="session")
def semantic_records() -> list:
    catalog = shared_dir() / "hub" / "catalog"
    named, sampled = {}, []
    for path in sorted(catalog.glob("catalog-0*.jsonl")):
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                raw = json.loads(line)
                if raw["id"] in NAMED:
                    named[raw["id"]] = raw
                elif (
                    path.name == "catalog-00.jsonl"
                    and number % 17 == 0
                    and raw.get("task_categories")
                    and len(raw.get("description") or "") >= 80
                ):
                    sampled.append(raw)
    copy = dict(named["squad"], id=COPY, pretty_name=None, downloads=3)
    raws = [named[name] for name in NAMED] + [copy] + sampled[:SAMPLE]
    return [(number, record_from_raw(raw)) for number, raw in enumerate(raws, start=1)]


@pytest.fixture
def catalog(app, semantic_records, semantic_embedder, monkeypatch):
    """The catalog imported and embedded; the app uses the session's model."""
    clear_cache()
    monkeypatch.setitem(app.extensions, "embedder", semantic_embedder)
    import_records(db.session, "semantic", semantic_records, ImportSummary())
    embed_datasets(db.session, semantic_embedder)
    return semantic_embedder


def fit_topics(embedder) -> None:
    from app.semantic.topics import fit_topic_model

    fit_topic_model(db.session, embedder, k=8, seed=0)


def members(*names: str, rows: dict[str, Amount] | None = None) -> list[assess.MemberInput]:
    found = {d.repo_id: d for d in db.session.scalars(sa.select(Dataset))}
    return [
        assess.MemberInput(found[name], (rows or {}).get(name, Amount.exact(1000)))
        for name in names
    ]


def summary(report: assess.SemanticReport) -> dict:
    coverage = report.coverage
    return {
        "groups": [(g.members, g.terms, g.shared) for g in report.groups],
        "pairs": [(p.first, p.second, round(p.similarity, 6)) for p in report.pairs],
        "coverage": None
        if coverage is None
        else [(t.label, t.members, round(t.share, 9)) for t in coverage.topics]
        + [round(coverage.diversity, 9)],
        "values": [
            (v.repo_id, round(v.uniqueness, 6), v.nearest, v.topics_lost) for v in report.values
        ],
        "least": report.least_useful.repo_id if report.least_useful else None,
        "suggestions": [s.dataset.repo_id for s in report.suggestions],
        "map": [(p.repo_id, p.x, p.y) for p in report.map.points] if report.map else None,
    }


def pair_similarity(embedder, first: str, second: str) -> float:
    vectors = {
        d: np.frombuffer(v, dtype="<f4")
        for d, v in db.session.execute(
            sa.select(Dataset.repo_id, DatasetEmbedding.vector)
            .join(DatasetEmbedding, DatasetEmbedding.dataset_id == Dataset.id)
            .where(Dataset.repo_id.in_([first, second]))
        )
    }
    return float(vectors[first] @ vectors[second])


# --- The thresholds hold on the pairs they were calibrated on -----------------------------------


def test_the_documented_calibration_pairs_fall_on_the_documented_sides(catalog):
    assert (
        assess.STRONG_OVERLAP
        <= pair_similarity(catalog, "squad", "squad_v2")
        < assess.NEAR_DUPLICATE
    )
    assert pair_similarity(catalog, "glue", "super_glue") < assess.STRONG_OVERLAP
    assert pair_similarity(catalog, "squad", "mnist") < 1 - assess.GROUP_DISTANCE
    assert pair_similarity(catalog, "squad", COPY) >= assess.NEAR_DUPLICATE


# --- Pure pieces ---------------------------------------------------------------------------------


def test_effective_number_of_topics():
    assert assess.effective_number([5, 5, 5, 5]) == pytest.approx(4)
    assert assess.effective_number([1]) == pytest.approx(1)
    assert 1 < assess.effective_number([90, 10]) < 2
    assert assess.effective_number([]) == 0


def test_share_ranges_follow_the_size_ranges():
    assert assess.share_range(Amount.exact(10), Amount.exact(30)) == (0.25, 0.25)
    low, high = assess.share_range(Amount(10, 100), Amount.exact(100))
    assert low == pytest.approx(10 / 110) and high == pytest.approx(0.5)
    assert assess.share_range(Amount.exact(10), Amount(0, None)) == (0.0, 1.0)


def test_mmr_prefers_relevant_items_far_from_what_is_chosen():
    chosen = np.array([[1.0, 0.0, 0.0]])
    candidates = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    relevance = np.array([0.9, 0.8, 0.1])  # the copy is most relevant, and adds nothing
    assert assess.mmr(candidates, relevance, chosen, 2) == [1, 2]


# --- The report ----------------------------------------------------------------------------------


def test_the_assessment_is_deterministic(catalog):
    fit_topics(catalog)
    chosen = ["squad", "squad_v2", "cnn_dailymail", "xsum", "imdb", "mnist"]
    first = assess.semantic_report(db.session, catalog, members(*chosen))
    clear_cache()
    second = assess.semantic_report(db.session, catalog, members(*chosen))
    assert first.ready and first.coverage is not None and first.map is not None
    assert summary(first) == summary(second)


def test_redundancy_finds_the_planted_near_duplicate(catalog):
    report = assess.semantic_report(
        db.session, catalog, members("squad", COPY, "mnist", "cnn_dailymail")
    )
    flagged = {(p.first, p.second): p for p in report.pairs}
    pair = flagged[("squad", COPY)]
    assert pair.near_duplicate and "Near-duplicates" in pair.verdict
    assert report.least_useful.repo_id in ("squad", COPY)
    assert all(p.similarity >= assess.STRONG_OVERLAP for p in report.pairs)


def test_groups_put_summarisation_together_and_digits_apart(catalog):
    report = assess.semantic_report(
        db.session, catalog, members("cnn_dailymail", "xsum", "multi_news", "mnist")
    )
    by_member = {name: group for group in report.groups for name in group.members}
    assert by_member["cnn_dailymail"] is by_member["xsum"] is by_member["multi_news"]
    assert by_member["mnist"] is not by_member["xsum"]
    summarising = by_member["xsum"]
    assert summarising.terms and summarising.cohesion >= 1 - assess.GROUP_DISTANCE
    assert "English (en)" in summarising.shared


def test_removing_a_member_changes_coverage_as_reported(catalog):
    fit_topics(catalog)
    chosen = ["squad", "natural_questions", "cnn_dailymail", "mnist", "common_voice"]
    rows = {"mnist": Amount(10_000, 99_999), "common_voice": Amount.unknown()}
    full = assess.semantic_report(db.session, catalog, members(*chosen, rows=rows))
    for value in full.values:
        rest = [name for name in chosen if name != value.repo_id]
        without = assess.semantic_report(db.session, catalog, members(*rest, rows=rows))
        reached = {t.label for t in full.coverage.topics}
        assert {t.label for t in without.coverage.topics} == reached - set(value.topics_lost)
        assert without.coverage.diversity == pytest.approx(value.diversity_without)
        assert value.diversity_loss(full.coverage) == pytest.approx(
            full.coverage.diversity - without.coverage.diversity
        )
    assert full.coverage.assumed_rows == ["common_voice"]
    assert sum(t.share for t in full.coverage.topics) == pytest.approx(1)
    ranged = [t for t in full.coverage.topics if "mnist" in t.members][0]
    assert ranged.share_low < ranged.share < ranged.share_high
    assert 1 <= full.coverage.diversity <= len(full.coverage.topics)


def test_suggestions_are_new_catalog_datasets_for_the_same_tasks(catalog):
    chosen = members("squad", "natural_questions")
    report = assess.semantic_report(db.session, catalog, chosen)
    names = [s.dataset.repo_id for s in report.suggestions]
    assert names and not set(names) & {"squad", "natural_questions", COPY}
    tasks = {t for m in chosen for t in m.dataset.task_categories}
    assert all(set(s.dataset.task_categories) & tasks for s in report.suggestions)
    assert all(s.nearest_similarity < assess.NEAR_DUPLICATE for s in report.suggestions)


def test_without_a_topic_model_it_says_so_and_shows_the_rest(catalog):
    report = assess.semantic_report(db.session, catalog, members("squad", "imdb"))
    assert report.ready and report.coverage is None and report.groups and report.map
    assert any("flask topics fit" in note for note in report.notes)


def test_members_not_yet_embedded_are_embedded_in_the_request(catalog):
    squad = db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == "squad"))
    db.session.execute(sa.delete(DatasetEmbedding).where(DatasetEmbedding.dataset_id == squad.id))
    db.session.commit()
    report = assess.semantic_report(db.session, catalog, members("squad", "imdb", "mnist"))
    assert report.ready and report.embedded_now == 1 and not report.missing
    db.session.execute(sa.delete(DatasetEmbedding).where(DatasetEmbedding.dataset_id == squad.id))
    db.session.commit()
    skipped = assess.semantic_report(
        db.session, catalog, members("squad", "imdb", "mnist"), embed_missing=False
    )
    assert skipped.missing == ["squad"] and any("squad" in note for note in skipped.notes)


# --- The report page -----------------------------------------------------------------------------


@pytest.fixture
def ann_combination(catalog, client):
    user = create_user("ann@example.com")
    assert Auth(client).login("ann@example.com").status_code == 303
    combination = service.create(db.session, user.id, "Reading")
    for name in ("squad", COPY, "cnn_dailymail", "xsum", "mnist"):
        dataset = db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == name))
        service.set_member(db.session, combination, dataset, True)
    return combination


def section(body: str) -> str:
    match = re.search(r'<section aria-labelledby="semantic-heading".*?\n</section>', body, re.S)
    assert match, "no semantic section"
    return match.group(0)


@pytest.mark.parametrize(
    "headers", [{}, HX, {**HX, "HX-Boosted": "true"}], ids=["page", "fragment", "boosted"]
)
def test_the_report_page_shows_the_assessment(ann_combination, client, rendered_templates, headers):
    fit_topics(catalog_of())
    response = client.get(f"/combinations/{ann_combination.id}", headers=headers)
    assert response.status_code == 200
    assert rendered_templates == ["combinations/show.html"]  # the section is included in it
    html = section(response.get_data(as_text=True))
    assert "What the combination covers" in html
    assert f"squad and {COPY}" in html and "Near-duplicates" in html
    assert "effective topics" in html and "Least useful: <strong>" in html
    # The map: server-drawn SVG, focusable labelled points, and a table with the same points.
    assert (
        "<svg" in html and "<title>squad" in html and 'aria-label="xsum: in the combination' in html
    )
    assert html.count('<tr><th scope="row">') >= 5
    # Suggestions are added with the ordinary form, which works without JavaScript.
    assert 'action="/selection/' in html and 'name="action" value="add"' in html
    assert "<script" not in html and "style=" not in html


def catalog_of():
    from flask import current_app

    return current_app.extensions["embedder"]


def test_the_report_still_renders_when_the_model_fails(ann_combination, client, app, monkeypatch):
    class Broken:
        model_id = "broken/model"
        loaded = False

        def embed(self, texts, batch_size=64):
            raise RuntimeError("no model")

    monkeypatch.setitem(app.extensions, "embedder", Broken())
    response = client.get(f"/combinations/{ann_combination.id}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Mixture plan" in body and "What the combination covers" in body


def test_a_combination_of_one_has_no_assessment(catalog, client, rendered_templates):
    user = create_user("ann@example.com")
    Auth(client).login("ann@example.com")
    combination = service.create(db.session, user.id, "Solo")
    dataset = db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == "squad"))
    service.set_member(db.session, combination, dataset, True)
    response = client.get(f"/combinations/{combination.id}")
    assert response.status_code == 200
    assert "What the combination covers" not in response.get_data(as_text=True)


def test_more_members_to_embed_than_a_request_allows_go_to_a_background_job(
    ann_combination, client, monkeypatch
):
    from app.models import CombinationMember, Job

    monkeypatch.setattr(assess, "MAX_EMBED_IN_REQUEST", 2)
    ids = list(
        db.session.scalars(
            sa.select(CombinationMember.dataset_id).where(
                CombinationMember.combination_id == ann_combination.id
            )
        )
    )
    db.session.execute(sa.delete(DatasetEmbedding).where(DatasetEmbedding.dataset_id.in_(ids[:3])))
    db.session.commit()
    body = client.get(f"/combinations/{ann_combination.id}").get_data(as_text=True)
    job = db.session.scalar(sa.select(Job).where(Job.kind == "embed"))
    assert job is not None and job.status == "queued"
    assert sorted(job.params["dataset_ids"]) == sorted(ids[:3])
    html = section(body)
    assert "3 of these datasets are being embedded in the background" in html
    assert f'href="/jobs/{job.id}"' in html
    # A second look reuses the waiting job rather than queueing another.
    client.get(f"/combinations/{ann_combination.id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
