"""Stored dataset vectors: one per (dataset, model), re-embedded only when its text changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, load_only

from app.embeddings.model import Embedder, embedding_text, text_hash
from app.models import Dataset, DatasetEmbedding, utcnow

# Datasets read from the database at a time: bounds memory on a catalog of 100k+ descriptions
# (length sorting happens within a chunk, which keeps nearly all of its benefit).
CHUNK = 2048
IN_CLAUSE = 500  # ids per IN (...) query
VECTOR_DTYPE = np.dtype("<f4")  # little-endian float32, whatever the machine


@dataclass
class EmbedSummary:
    embedded: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.embedded:,} embedded, {self.unchanged:,} unchanged"


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dataset_chunks(session: Session, dataset_ids: Sequence[int] | None) -> Iterable[list[Dataset]]:
    columns = load_only(
        Dataset.id,
        Dataset.repo_id,
        Dataset.pretty_name,
        Dataset.description,
        Dataset.task_categories,
    )
    if dataset_ids is not None:
        ids = sorted(set(dataset_ids))
        for part in _chunks(ids, CHUNK):
            found: list[Dataset] = []
            for ids_part in _chunks(part, IN_CLAUSE):
                found += session.scalars(
                    sa.select(Dataset).options(columns).where(Dataset.id.in_(ids_part))
                ).all()
            yield sorted(found, key=lambda dataset: dataset.id)
        return
    after = 0
    while True:  # keyset pagination: stable while rows are added or deleted meanwhile
        found = session.scalars(
            sa.select(Dataset)
            .options(columns)
            .where(Dataset.id > after)
            .order_by(Dataset.id)
            .limit(CHUNK)
        ).all()
        if not found:
            return
        yield list(found)
        after = found[-1].id


def _stored_hashes(session: Session, model_id: str, ids: Sequence[int]) -> dict[int, str]:
    hashes: dict[int, str] = {}
    for part in _chunks(ids, IN_CLAUSE):
        rows = session.execute(
            sa.select(DatasetEmbedding.dataset_id, DatasetEmbedding.text_hash).where(
                DatasetEmbedding.model_id == model_id, DatasetEmbedding.dataset_id.in_(part)
            )
        )
        hashes.update({dataset_id: digest for dataset_id, digest in rows})
    return hashes


def _write(
    session: Session,
    model_id: str,
    items: list[tuple[int, str]],
    vectors: np.ndarray,
) -> None:
    """One batch in one transaction and one upsert statement (per dialect: INSERT ... ON
    CONFLICT DO UPDATE), so two builds running at once both succeed: the last write wins."""
    now = utcnow()
    dims = int(vectors.shape[1])
    rows = [
        {
            "dataset_id": dataset_id,
            "model_id": model_id,
            "text_hash": digest,
            "vector": vector.astype(VECTOR_DTYPE).tobytes(),
            "dims": dims,
            "embedded_at": now,
        }
        for (dataset_id, digest), vector in zip(items, vectors, strict=True)
    ]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(DatasetEmbedding)
    statement = statement.on_conflict_do_update(
        index_elements=[DatasetEmbedding.dataset_id, DatasetEmbedding.model_id],
        set_={
            name: statement.excluded[name]
            for name in ("text_hash", "vector", "dims", "embedded_at")
        },
    )
    session.execute(statement, rows)
    session.commit()


def embed_datasets(
    session: Session,
    embedder: Embedder,
    dataset_ids: Sequence[int] | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> EmbedSummary:
    """Embed the datasets (all, or `dataset_ids`) whose text is new or changed for this model.

    A dataset whose stored text hash matches its current text is skipped. The rest are embedded
    in batches of similar length; each batch is written in its own transaction, so an
    interrupted run keeps what it finished (the session is committed: call it without pending
    changes). `limit` stops after embedding that many.
    `progress(done)` is called with the number of datasets looked at so far.
    """
    summary = EmbedSummary()
    model_id = embedder.model_id
    done = 0
    for datasets in _dataset_chunks(session, dataset_ids):
        ids = [dataset.id for dataset in datasets]
        texts = embedder.truncate([embedding_text(dataset) for dataset in datasets])
        stored = _stored_hashes(session, model_id, ids)
        pending = []
        for dataset_id, text in zip(ids, texts, strict=True):
            digest = text_hash(text)
            if stored.get(dataset_id) == digest:
                summary.unchanged += 1
            else:
                pending.append((dataset_id, digest, text))
        done += len(ids) - len(pending)
        if limit is not None:
            pending = pending[: max(limit - summary.embedded, 0)]
        pending.sort(key=lambda item: len(item[2]))
        for batch in _chunks(pending, batch_size):
            vectors = embedder.embed([text for _, _, text in batch], batch_size=batch_size)
            _write(session, model_id, [(i, digest) for i, digest, _ in batch], vectors)
            summary.embedded += len(batch)
            done += len(batch)
            if progress:
                progress(done)
        if progress and not pending:
            progress(done)
        if limit is not None and summary.embedded >= limit:
            break
    session.commit()  # ends the last read transaction
    return summary


def vector_from_bytes(data: bytes, dims: int) -> np.ndarray:
    vector = np.frombuffer(data, dtype=VECTOR_DTYPE).astype(np.float32)
    if vector.shape != (dims,):
        raise ValueError(f"stored vector has {vector.size} values, expected {dims}")
    return vector


def vectors_for(
    session: Session, model_id: str, dataset_ids: Iterable[int]
) -> dict[int, np.ndarray]:
    """The stored vectors of these datasets for this model (datasets without one are absent)."""
    ids = sorted(set(dataset_ids))
    vectors: dict[int, np.ndarray] = {}
    for part in _chunks(ids, IN_CLAUSE):
        rows = session.execute(
            sa.select(
                DatasetEmbedding.dataset_id, DatasetEmbedding.vector, DatasetEmbedding.dims
            ).where(DatasetEmbedding.model_id == model_id, DatasetEmbedding.dataset_id.in_(part))
        )
        for dataset_id, data, dims in rows:
            vectors[dataset_id] = vector_from_bytes(data, dims)
    return vectors
