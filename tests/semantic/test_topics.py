"""The topic model, with the real embedding model: fitting, versions, refits, pages and CLI.

Vectors come from the real model only. Each distinct text is embedded once per run (the
session's CachingEmbedder remembers them), so tests that refit or reload the catalog are quick.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest
import sqlalchemy as sa

from app.catalog.importer import ImportSummary, import_records
from app.catalog.records import record_from_raw
from app.catalog.search import SearchQuery, search
from app.extensions import db
from app.models import (
    Dataset,
    DatasetEmbedding,
    DatasetFacet,
    DatasetTopic,
    Topic,
    TopicModelVersion,
)
from app.semantic import topic_views, topics
from tests.conftest import shared_dir

REAL_SAMPLE = 300  # real descriptions from the shared catalog, at most


@pytest.fixture
def app_embedder(app, topic_embedder, monkeypatch):
    monkeypatch.setitem(app.extensions, "embedder", topic_embedder)
    return topic_embedder


@pytest.fixture(scope="session")
def real_records() -> list:
    """Every 6th dataset of catalog-00 with a task category and a real description."""
    path = shared_dir() / "hub" / "catalog" / "catalog-00.jsonl"
    chosen = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            raw = json.loads(line)
            if raw.get("task_categories") and len(raw.get("description") or "") >= 80:
                chosen.append((number, raw))
    return [(number, record_from_raw(raw)) for number, raw in chosen[::6][:REAL_SAMPLE]]


@pytest.fixture
def real_catalog(app, real_records) -> ImportSummary:
    return import_records(db.session, "catalog-00.jsonl", real_records, ImportSummary())


def fit(embedder, **options) -> TopicModelVersion:
    return topics.fit_topic_model(db.session, embedder, **options)


def assignment(version: TopicModelVersion) -> dict[str, int]:
    """repo_id -> topic number, for one version."""
    rows = db.session.execute(
        sa.select(Dataset.repo_id, Topic.number)
        .join(DatasetTopic, DatasetTopic.dataset_id == Dataset.id)
        .join(Topic, Topic.id == DatasetTopic.topic_id)
        .where(DatasetTopic.version_id == version.id)
    )
    return dict(rows.all())


def described(version: TopicModelVersion) -> list[tuple]:
    return [
        (
            topic.number,
            topic.label,
            tuple(topic.terms),
            topic.size,
            tuple(topic.central_dataset_ids),
        )
        for topic in version.topics
    ]


# --- Fitting -----------------------------------------------------------------------------------


def test_choose_k_follows_the_documented_rule():
    assert topics.choose_k(1) == 1
    assert topics.choose_k(3) == 2
    assert topics.choose_k(45) == 5
    assert topics.choose_k(2000) == 32
    assert topics.choose_k(7433) == 60
    assert topics.choose_k(100_000) == 60


def test_fit_is_deterministic_and_versioned(app, small_catalog, topic_embedder):
    reported: list[tuple[int, int, str]] = []
    first = fit(topic_embedder, progress=lambda *args: reported.append(args))
    assert first.is_current
    assert first.dataset_count == 45
    assert first.topic_count == 5
    assert first.params["method"] == "kmeans"
    assert first.params["k"] == 5 and first.params["k_rule"] == topics.K_RULE
    assert first.params["seed"] == 0 and first.params["n"] == 45
    assert sum(topic.size for topic in first.topics) == 45
    assert [topic.size for topic in first.topics] == sorted(
        (topic.size for topic in first.topics), reverse=True
    )
    assert any("Embedding" in message for _, _, message in reported)
    assert reported[-1] == (45, 45, "5 topics over 45 datasets")

    second = fit(topic_embedder)
    db.session.refresh(first)
    assert second.id != first.id and second.is_current and not first.is_current
    assert topics.current_version(db.session).id == second.id
    # The same vectors give the same topics, labels, central datasets and map.
    assert described(second) == described(first)
    assert assignment(second) == assignment(first)
    points = {
        version.id: sorted(
            db.session.execute(
                sa.select(DatasetTopic.dataset_id, DatasetTopic.x, DatasetTopic.y).where(
                    DatasetTopic.version_id == version.id
                )
            ).all()
        )
        for version in (first, second)
    }
    assert points[first.id] == points[second.id]


def test_topics_are_labelled_by_distinctive_terms(app, small_catalog, topic_embedder):
    version = fit(topic_embedder)
    placed = assignment(version)
    repo_ids = {
        dataset.repo_id: dataset.task_categories
        for dataset in db.session.scalars(sa.select(Dataset))
    }
    # The hand-made catalog is two thirds time series: they share the largest topic.
    series = [repo for repo, tasks in repo_ids.items() if "time-series-forecasting" in tasks]
    number, count = Counter(placed[repo] for repo in series).most_common(1)[0]
    assert count >= len(series) * 0.6
    largest = version.topics[0]
    assert largest.number == number
    assert any(re.search(r"time|series|forecast", term) for term in largest.terms), largest.terms
    for topic in version.topics:
        assert topic.label == ", ".join(topic.terms[:4])
        assert len(topic.terms) == len(set(topic.terms))
        # No near-duplicates: no term's words contain another's.
        for one in topic.terms:
            for other in topic.terms:
                if one != other:
                    assert not set(one.split()) <= set(other.split()), (one, other)
        assert len(topic.central_dataset_ids) == min(5, topic.size)
        centroid = np.frombuffer(topic.centroid, dtype="<f4")
        assert abs(float(np.linalg.norm(centroid)) - 1.0) < 1e-5


@pytest.mark.shared_data
def test_real_speech_datasets_share_a_topic_about_speech(
    app, real_catalog, real_records, topic_embedder
):
    version = fit(topic_embedder)
    assert version.dataset_count == len(real_records) == REAL_SAMPLE
    placed = assignment(version)
    speech = [
        dataset.repo_id
        for dataset in db.session.scalars(sa.select(Dataset))
        if "automatic-speech-recognition" in dataset.task_categories
    ]
    assert len(speech) >= 5, "the sample should hold some speech datasets"
    number, count = Counter(placed[repo] for repo in speech).most_common(1)[0]
    assert count >= len(speech) * 0.6, Counter(placed[repo] for repo in speech)
    topic = next(topic for topic in version.topics if topic.number == number)
    assert any(re.search(r"speech|audio|speaker|asr", term) for term in topic.terms), topic.terms


def test_old_versions_are_kept_then_pruned(app, small_catalog, topic_embedder):
    made = [fit(topic_embedder, k=3, seed=seed).id for seed in range(topics.KEEP_VERSIONS + 1)]
    kept = db.session.scalars(sa.select(TopicModelVersion.id).order_by(TopicModelVersion.id))
    assert kept.all() == made[1:]
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Topic).where(Topic.version_id == made[0])
        )
        == 0
    )
    current = db.session.scalars(
        sa.select(TopicModelVersion.id).where(TopicModelVersion.is_current.is_(True))
    ).all()
    assert current == [made[-1]]


def test_fit_needs_two_embedded_datasets(app, topic_embedder):
    with pytest.raises(topics.TopicModelError, match="at least 2"):
        fit(topic_embedder)
    assert topics.current_version(db.session) is None


def test_projection_places_vectors_where_the_fit_did(app, small_catalog, topic_embedder):
    version = fit(topic_embedder)
    ids, vectors = topics.load_vectors(db.session, topic_embedder.model_id)
    stored = dict(
        (row.dataset_id, (row.x, row.y))
        for row in db.session.execute(
            sa.select(DatasetTopic.dataset_id, DatasetTopic.x, DatasetTopic.y).where(
                DatasetTopic.version_id == version.id
            )
        )
    )
    placed = topics.project(version.projection, vectors)
    np.testing.assert_allclose(placed, [stored[i] for i in ids], atol=1e-4)


def test_topic_of_gives_the_current_topics(app, small_catalog, topic_embedder):
    version = fit(topic_embedder)
    ids = db.session.scalars(sa.select(Dataset.id).order_by(Dataset.id)).all()
    found = topics.topic_of(db.session, [*ids[:3], 999_999])
    assert sorted(found) == ids[:3]
    assert all(topic.version_id == version.id for topic in found.values())


# --- When to refit -----------------------------------------------------------------------------


def test_needs_refit(app, small_catalog, topic_embedder):
    model_id = topic_embedder.model_id
    assert topics.needs_refit(db.session, model_id)  # no version yet
    fit(topic_embedder)
    check = topics.refit_check(db.session, model_id)
    assert not check.needed and check.changed == 0
    assert check.threshold == 5  # 10 % of 45, rounded up (fewer than 200)
    assert topics.needs_refit(db.session, "another/model")

    # Four datasets gone: under the threshold.
    doomed = db.session.scalars(sa.select(Dataset).order_by(Dataset.id).limit(4)).all()
    for dataset in doomed:
        db.session.delete(dataset)
    db.session.commit()
    check = topics.refit_check(db.session, model_id)
    assert (check.needed, check.changed) == (False, 4)

    # One re-embedded description more reaches it.
    dataset = db.session.scalars(sa.select(Dataset).order_by(Dataset.id.desc())).first()
    dataset.description = "Recordings of birdsong at dawn, labelled by species."
    db.session.commit()
    topics.embed_datasets(db.session, topic_embedder)
    check = topics.refit_check(db.session, model_id)
    assert (check.needed, check.changed) == (True, 5)

    fit(topic_embedder)
    assert not topics.needs_refit(db.session, model_id)


def test_the_threshold_is_at_most_200(app, small_catalog, topic_embedder):
    version = fit(topic_embedder)
    version.dataset_count = 10_000  # as if fitted on a large catalog
    db.session.commit()
    # 9,955 of its datasets are gone: far over 200.
    check = topics.refit_check(db.session, topic_embedder.model_id)
    assert check.threshold == 200 and check.needed


# --- Pages -------------------------------------------------------------------------------------


def test_topic_map_without_a_model_says_how_to_build_one(client, small_catalog):
    response = client.get("/topics")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "no topic model yet" in html
    assert "flask embeddings build" in html and "flask topics fit" in html
    assert client.get("/topics/1").status_code == 404


def test_topic_map_page(client, small_catalog, topic_embedder, rendered_templates):
    version = fit(topic_embedder)
    response = client.get("/topics")
    assert response.status_code == 200
    assert rendered_templates[0] == "topics/index.html"
    html = response.get_data(as_text=True)
    assert 'aria-current="page">Topics</a>' in " ".join(html.split())
    assert "style=" not in html  # the CSP forbids inline styles
    assert html.count("<h1") == 1
    for topic in version.topics:
        assert f'href="/topics/{topic.number}"' in html
        assert topic.label in html
        first_example = db.session.get(Dataset, topic.central_dataset_ids[0])
        assert f'href="/datasets/{first_example.repo_id}"' in html
    terms = topics.search_terms_for(version.topics[0])
    assert terms and f'href="/datasets?q={terms.replace(" ", "+")}"' in html
    # The map: one group per topic, one point per dataset (45 < the sample limit).
    assert 'role="img"' in html and 'aria-labelledby="map-caption"' in html
    assert html.count('r="2.5"') == 45  # the swatches in the table are bigger
    assert html.count("<title>Topic ") == version.topic_count


def test_map_is_sampled_evenly(app, small_catalog, topic_embedder, monkeypatch):
    fit(topic_embedder)
    monkeypatch.setattr(topics, "MAP_POINTS", 10)
    topic_map = topics.topics_page(db.session)
    assert topic_map.shown_points == sum(len(group.points) for group in topic_map.groups)
    assert topic_map.shown_points == 9  # every 5th of 45
    assert topics.topics_page(db.session).groups == topic_map.groups  # the same sample again
    for group in topic_map.groups:
        for x, y in group.points:
            assert 0 <= x <= topic_map.width and 0 <= y <= topic_map.height


def test_topic_page_lists_its_datasets_by_page(
    client, small_catalog, topic_embedder, monkeypatch, rendered_templates
):
    version = fit(topic_embedder)
    largest = version.topics[0]
    monkeypatch.setattr(topic_views, "PER_PAGE", 10)
    response = client.get(f"/topics/{largest.number}")
    assert response.status_code == 200
    assert rendered_templates[0] == "topics/show.html"
    html = response.get_data(as_text=True)
    assert largest.label in html
    members = db.session.scalars(
        sa.select(Dataset)
        .join(DatasetTopic, DatasetTopic.dataset_id == Dataset.id)
        .where(DatasetTopic.topic_id == largest.id)
    ).all()
    assert len(members) == largest.size > 10
    linked = set(re.findall(r'<li><a href="/datasets/([^"]+)"', html))
    assert len(linked) == 10 and linked <= {dataset.repo_id for dataset in members}
    assert f'href="/topics/{largest.number}?page=2"' in html

    pages = -(-largest.size // 10)
    everyone = set(linked)
    for page in range(2, pages + 1):
        html = client.get(f"/topics/{largest.number}?page={page}").get_data(as_text=True)
        everyone |= set(re.findall(r'<li><a href="/datasets/([^"]+)"', html))
    assert everyone == {dataset.repo_id for dataset in members}
    assert client.get(f"/topics/{largest.number}?page={pages + 1}").status_code == 404
    assert client.get(f"/topics/{largest.number}?page=0").status_code == 404
    assert client.get("/topics/99").status_code == 404
    assert client.get("/topics/task").status_code == 404


def test_a_topic_filters_the_catalog_search(client, small_catalog, topic_embedder):
    version = fit(topic_embedder)
    largest = version.topics[0]
    members = set(
        db.session.scalars(
            sa.select(Dataset.repo_id)
            .join(DatasetTopic, DatasetTopic.dataset_id == Dataset.id)
            .where(DatasetTopic.topic_id == largest.id)
        )
    )
    assert f'href="/datasets?topic={largest.id}"' in client.get("/topics").get_data(as_text=True)

    def listed(url: str) -> tuple[int, set[str], str]:
        response = client.get(url)
        html = response.get_data(as_text=True)
        rows = set(re.findall(r'<h3 class="dataset-title"><a href="/datasets/([^"]+)"', html))
        return response.status_code, rows, html

    status, rows, html = listed(f"/datasets?topic={largest.id}&per_page=100")
    assert status == 200 and rows == members
    assert f"of {len(members)} dataset" in html
    assert f"Topic {largest.number}: {largest.label}" in html  # the chip that removes it
    assert f'name="topic" value="{largest.id}"' in html  # kept when the search changes
    # Facet counts are the topic's own: those of its members' facet rows.
    page = search(db.session, SearchQuery(topic=largest.id))
    expected = Counter(
        db.session.scalars(
            sa.select(DatasetFacet.value)
            .join(DatasetTopic, DatasetTopic.dataset_id == DatasetFacet.dataset_id)
            .where(DatasetTopic.topic_id == largest.id, DatasetFacet.facet == "modality")
        )
    )
    assert {fv.value: fv.count for fv in page.facets["modality"]} == dict(expected)
    assert page.total == len(members)

    # With a facet, every sort, and the fragment: still only members.
    member = next(
        dataset
        for dataset in db.session.scalars(
            sa.select(Dataset)
            .join(DatasetTopic, DatasetTopic.dataset_id == Dataset.id)
            .where(DatasetTopic.topic_id == largest.id)
            .order_by(Dataset.id)
        )
        if dataset.task_categories
    )
    task = member.task_categories[0]
    word = re.split(r"[/_-]", member.repo_id)[-1]
    for sort in ("downloads", "name", "relevance"):
        text = f"&q={word}" if sort == "relevance" else ""
        status, rows, _ = listed(
            f"/datasets?topic={largest.id}&task={task}&sort={sort}{text}&per_page=100"
        )
        assert status == 200 and member.repo_id in rows and rows <= members

    # A topic of an older fit, or none at all: the filter is dropped with a notice.
    newer = fit(topic_embedder, seed=1)
    assert newer.id != version.id
    status, rows, html = listed(f"/datasets?topic={largest.id}")
    assert status == 400 and "not in the current topic model" in html
    assert len(rows) == min(20, db.session.scalar(sa.select(sa.func.count(Dataset.id))))
    status, _, html = listed("/datasets?topic=abc")
    assert status == 400 and "is not a topic" in html


# --- The command -------------------------------------------------------------------------------


def test_flask_topics_fit(runner, small_catalog, app_embedder):
    result = runner.invoke(args=["topics", "fit", "--k", "4"])
    assert result.exit_code == 0, result.output
    assert "4 topics over 45 datasets (k=4, given, seed 0" in result.stdout
    assert "45 datasets" in result.stderr and "Clustering 45 datasets" in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DatasetEmbedding)) == 45

    result = runner.invoke(args=["topics", "fit", "--if-needed"])
    assert result.exit_code == 0, result.output
    assert "No refit needed" in result.stdout

    result = runner.invoke(args=["topics", "fit"])
    assert result.exit_code == 0, result.output
    assert "5 topics over 45 datasets (k=5, clamp(round(sqrt(n / 2)), 2, 60)" in result.stdout


def test_flask_topics_fit_on_an_empty_catalog(runner, app_embedder):
    result = runner.invoke(args=["topics", "fit"])
    assert result.exit_code == 1
    assert "at least 2 embedded datasets" in result.output
