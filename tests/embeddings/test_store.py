"""Stored vectors: embedded once per text, re-embedded when it changes, read back exactly."""

from __future__ import annotations

import threading

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.embeddings.model import DIMS, embedding_text, text_hash
from app.embeddings.store import embed_datasets, vectors_for
from app.extensions import db
from app.models import Dataset, DatasetEmbedding


def dataset(repo_id: str) -> Dataset:
    return db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == repo_id))


def stored_rows() -> dict[int, DatasetEmbedding]:
    return {row.dataset_id: row for row in db.session.scalars(sa.select(DatasetEmbedding))}


def test_unchanged_texts_are_never_embedded_twice(app, small_catalog, embedder):
    calls = []
    first = embed_datasets(db.session, embedder, batch_size=16, progress=calls.append)
    assert (first.embedded, first.unchanged) == (45, 0)
    assert calls[-1] == 45 and calls == sorted(calls)
    rows = stored_rows()
    assert len(rows) == 45
    movies = dataset("acme/movie-reviews")
    row = rows[movies.id]
    assert (row.model_id, row.dims) == (embedder.model_id, DIMS)
    assert row.text_hash == text_hash(embedding_text(movies))

    second = embed_datasets(db.session, embedder)
    assert (second.embedded, second.unchanged) == (0, 45)


def test_a_changed_description_is_re_embedded(app, small_catalog, embedder):
    embed_datasets(db.session, embedder)
    movies = dataset("acme/movie-reviews")
    before = vectors_for(db.session, embedder.model_id, [movies.id])[movies.id]

    movies.description = "  " + movies.description.replace(" ", "\n  ") + "\n"
    db.session.commit()
    whitespace_only = embed_datasets(db.session, embedder)
    assert (whitespace_only.embedded, whitespace_only.unchanged) == (0, 45)

    movies.description = "Recordings of birdsong from forests, labelled by species."
    db.session.commit()
    changed = embed_datasets(db.session, embedder)
    assert (changed.embedded, changed.unchanged) == (1, 44)
    after = vectors_for(db.session, embedder.model_id, [movies.id])[movies.id]
    assert before @ after < 0.9
    assert stored_rows()[movies.id].text_hash == text_hash(embedding_text(movies))


def test_stored_vectors_round_trip(app, small_catalog, embedder):
    ids = [dataset(name).id for name in ("squad", "acme/speech-commands", "acme/movie-reviews")]
    embed_datasets(db.session, embedder, dataset_ids=ids)
    assert len(stored_rows()) == 3

    vectors = vectors_for(db.session, embedder.model_id, [*ids, 999_999])
    assert sorted(vectors) == sorted(ids)  # a dataset without a vector is simply absent
    rows = stored_rows()
    for dataset_id, vector in vectors.items():
        assert vector.dtype == np.float32 and vector.shape == (DIMS,)
        assert vector.tobytes() == rows[dataset_id].vector
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
    # The stored vector is the one the model gives for the dataset's text.
    squad = db.session.get(Dataset, ids[0])
    fresh = embedder.embed([embedding_text(squad)])[0]
    assert fresh @ vectors[squad.id] > 0.999
    assert vectors_for(db.session, "some/other-model", ids) == {}


def test_similar_datasets_are_closer_in_the_store(app, small_catalog, embedder):
    embed_datasets(db.session, embedder)
    names = [
        "acme/movie-reviews",
        "acme/product-reviews",
        "acme/speech-commands",
        "acme/read-speech",
    ]
    ids = [dataset(name).id for name in names]
    movies, products, commands, read = (
        vectors_for(db.session, embedder.model_id, ids)[dataset_id] for dataset_id in ids
    )
    assert movies @ products > max(movies @ commands, movies @ read)
    assert commands @ read > max(commands @ movies, commands @ products)


def test_limit_and_deleting_a_dataset(app, small_catalog, embedder):
    summary = embed_datasets(db.session, embedder, limit=5)
    assert summary.embedded == 5
    assert len(stored_rows()) == 5
    rest = embed_datasets(db.session, embedder)
    assert (rest.embedded, rest.unchanged) == (40, 5)

    movies = dataset("acme/movie-reviews")
    movie_id = movies.id
    db.session.delete(movies)
    db.session.commit()
    assert movie_id not in stored_rows()  # ON DELETE CASCADE
    assert len(stored_rows()) == 44


class MeetingEmbedder:
    """The real embedder, except that each of two builds waits for the other before its first
    batch: both have read the same (empty) stored hashes, so both write every vector."""

    def __init__(self, embedder, barrier) -> None:
        self.embedder = embedder
        self.barrier = barrier
        self.model_id = embedder.model_id
        self.met = False

    def truncate(self, texts):
        return self.embedder.truncate(texts)

    def embed(self, texts, batch_size=64):
        if not self.met:
            self.met = True
            self.barrier.wait(timeout=60)
        return self.embedder.embed(texts, batch_size=batch_size)


def test_two_builds_at_once_both_finish_with_one_vector_each(app, small_catalog, embedder):
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    summaries = []
    engine = db.engine  # the threads have no app context

    def build() -> None:
        session = Session(engine)
        try:
            summaries.append(
                embed_datasets(session, MeetingEmbedder(embedder, barrier), batch_size=16)
            )
        except BaseException as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            session.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert [summary.embedded for summary in summaries] == [45, 45]
    rows = stored_rows()
    assert len(rows) == 45
    movies = dataset("acme/movie-reviews")
    assert rows[movies.id].text_hash == text_hash(embedding_text(movies))
