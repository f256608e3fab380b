"""Similar datasets and search by meaning (app.semantic.similar), with the real model."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Dataset, DatasetEmbedding
from app.semantic import similar
from tests.semantic.test_assess import (  # noqa: F401  (the session's model and catalog)
    COPY,
    HX,
    catalog,
    semantic_records,
)


@pytest.fixture
def model(catalog):  # noqa: F811
    """The catalog of test_assess, imported and embedded; its real model."""
    return catalog


def dataset(name: str) -> Dataset:
    return db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == name))


def test_similar_datasets_exclude_the_dataset_and_come_best_first(model):
    answer = similar.similar_to(db.session, model, dataset("squad"))
    names = [n.dataset.repo_id for n in answer.neighbours]
    assert len(names) == similar.SIMILAR_COUNT and "squad" not in names
    assert names[0] == COPY and "squad_v2" in names
    scores = [n.similarity for n in answer.neighbours]
    assert scores == sorted(scores, reverse=True)


def test_the_catalog_matrix_is_cached_until_the_vectors_change(model):
    first = similar.catalog_vectors(db.session, model.model_id)
    assert similar.catalog_vectors(db.session, model.model_id) is first
    db.session.execute(
        sa.delete(DatasetEmbedding).where(DatasetEmbedding.dataset_id == dataset("mnist").id)
    )
    db.session.commit()
    second = similar.catalog_vectors(db.session, model.model_id)
    assert second is not first and len(second) == len(first) - 1


def test_a_dataset_not_embedded_says_so(model, monkeypatch):
    db.session.execute(sa.delete(DatasetEmbedding))
    db.session.commit()
    answer = similar.similar_to(db.session, model, dataset("squad"))
    assert answer.neighbours == [] and "embeddings build" in answer.problem


def test_the_dataset_page_lists_similar_datasets(model, client):
    response = client.get("/datasets/squad")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="similar-heading">Similar datasets' in body
    assert f'href="/datasets/{COPY}"' in body


def test_search_by_meaning_ranks_the_closest_descriptions(model):
    found = similar.search_text(
        db.session, model, "short news articles with one-sentence summaries", limit=5
    )
    summarising = {"xsum", "cnn_dailymail", "multi_news", "gigaword"}
    assert len(summarising & {n.dataset.repo_id for n in found[:3]}) >= 2


@pytest.mark.parametrize(
    "headers", [{}, HX, {**HX, "HX-Boosted": "true"}], ids=["page", "fragment", "boosted"]
)
def test_the_browse_page_has_a_semantic_mode(model, client, rendered_templates, headers):
    response = client.get("/datasets?mode=semantic&q=handwritten+digit+images", headers=headers)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    fragment = headers == HX
    assert rendered_templates == (
        ["catalog/_semantic_results.html"] if fragment else ["catalog/browse.html"]
    )
    assert "closest in meaning to “handwritten digit images”" in body
    assert (
        body.index("/datasets/mnist") < body.index("/datasets/squad")
        if "/datasets/squad" in body
        else True
    )
    assert "<dt>Similarity</dt>" in body
    if not fragment:  # the plain form chooses the mode without JavaScript
        assert 'name="mode" value="semantic" checked' in body


def test_the_words_mode_is_unchanged(model, client):
    body = client.get("/datasets?q=squad").get_data(as_text=True)
    assert 'name="mode" value="" checked' in body and "<dt>Similarity</dt>" not in body
