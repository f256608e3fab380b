"""Nearest datasets by meaning: the catalog's stored vectors as one matrix, cached per process.

The matrix (and its 2-D PCA map) is reloaded only when the stored vectors change: the cache key
is (model id, number of vectors, latest `embedded_at`), one cheap aggregate query per request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.embeddings.model import Embedder, embedding_text
from app.embeddings.store import VECTOR_DTYPE
from app.models import Dataset, DatasetEmbedding

SIMILAR_COUNT = 8
SEARCH_LIMIT = 100  # a semantic search ranks the whole catalog and keeps this many


@dataclass
class CatalogVectors:
    """Every stored vector of one model, row i belonging to dataset ids[i]."""

    model_id: str
    ids: np.ndarray  # int64, ascending
    matrix: np.ndarray  # float32, (len(ids), dims), unit rows
    _row: dict[int, int] = field(default_factory=dict, repr=False)
    _map: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._row = {int(dataset_id): row for row, dataset_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, dataset_id: int) -> int | None:
        return self._row.get(dataset_id)

    def vector_of(self, dataset_id: int) -> np.ndarray | None:
        row = self._row.get(dataset_id)
        return None if row is None else self.matrix[row]

    def projection(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, components (2, dims), the catalog's 2-D points): PCA, computed once."""
        if self._map is None:
            from sklearn.decomposition import PCA

            if len(self) < 3:
                dims = self.matrix.shape[1] if self.matrix.ndim == 2 else 0
                mean = self.matrix.mean(axis=0) if len(self) else np.zeros(dims, np.float32)
                components = np.zeros((2, dims), np.float32)
                if dims >= 2:
                    components[0, 0] = components[1, 1] = 1.0
            else:
                pca = PCA(n_components=2, svd_solver="full").fit(self.matrix)
                mean, components = pca.mean_, pca.components_
                # The sign of a principal axis is arbitrary: fix it so the map never flips.
                signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
                components = components * signs[:, None]
            points = (self.matrix - mean) @ components.T
            self._map = (mean.astype(np.float32), components.astype(np.float32), points)
        return self._map

    def project(self, vectors: np.ndarray) -> np.ndarray:
        mean, components, _ = self.projection()
        return (np.atleast_2d(vectors) - mean) @ components.T


_cache: dict[str, tuple[tuple, CatalogVectors]] = {}
_cache_lock = threading.Lock()


def _stamp(session: Session, model_id: str) -> tuple[int, datetime | None]:
    count, latest = session.execute(
        sa.select(sa.func.count(), sa.func.max(DatasetEmbedding.embedded_at)).where(
            DatasetEmbedding.model_id == model_id
        )
    ).one()
    return int(count), latest


def catalog_vectors(session: Session, model_id: str) -> CatalogVectors:
    """The catalog's vectors for `model_id`, from the process cache when they have not changed."""
    key = (model_id, *_stamp(session, model_id))
    cached = _cache.get(model_id)
    if cached and cached[0] == key:
        return cached[1]
    rows = session.execute(
        sa.select(DatasetEmbedding.dataset_id, DatasetEmbedding.vector)
        .where(DatasetEmbedding.model_id == model_id)
        .order_by(DatasetEmbedding.dataset_id)
    ).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    if rows:
        data = b"".join(row[1] for row in rows)
        matrix = np.frombuffer(data, dtype=VECTOR_DTYPE).astype(np.float32)
        matrix = matrix.reshape(len(rows), -1)
    else:
        matrix = np.zeros((0, 0), dtype=np.float32)
    vectors = CatalogVectors(model_id, ids, matrix)
    with _cache_lock:
        _cache[model_id] = (key, vectors)
    return vectors


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class Neighbour:
    dataset: Dataset
    similarity: float


def top_k(
    catalog: CatalogVectors, query: np.ndarray, k: int, exclude=()
) -> list[tuple[int, float]]:
    """(dataset id, cosine) of the k rows nearest `query`, best first; ties by dataset id."""
    if not len(catalog) or k <= 0:
        return []
    scores = catalog.matrix @ query.astype(np.float32)
    excluded = [catalog.row_of(i) for i in exclude]
    for row in excluded:
        if row is not None:
            scores[row] = -np.inf
    wanted = min(k + len(excluded), len(scores))
    candidates = np.argpartition(-scores, wanted - 1)[:wanted]
    ranked = sorted(candidates, key=lambda row: (-scores[row], catalog.ids[row]))
    return [
        (int(catalog.ids[row]), float(scores[row])) for row in ranked if np.isfinite(scores[row])
    ][:k]


def _datasets(session: Session, scored: list[tuple[int, float]]) -> list[Neighbour]:
    ids = [dataset_id for dataset_id, _ in scored]
    found = {d.id: d for d in session.scalars(sa.select(Dataset).where(Dataset.id.in_(ids)))}
    return [Neighbour(found[i], score) for i, score in scored if i in found]


@dataclass
class SimilarAnswer:
    neighbours: list[Neighbour]
    problem: str | None = None  # why there is no list, in words


def similar_to(
    session: Session, embedder: Embedder, dataset: Dataset, k: int = SIMILAR_COUNT
) -> SimilarAnswer:
    """The k datasets whose descriptions are nearest this one's (never itself)."""
    catalog = catalog_vectors(session, embedder.model_id)
    if not len(catalog):
        return SimilarAnswer([], "The catalog has not been embedded yet (flask embeddings build).")
    vector = catalog.vector_of(dataset.id)
    if vector is None:
        if not embedder.loaded:  # never load the model just for a dataset page
            return SimilarAnswer([], "This dataset has not been embedded yet.")
        vector = embedder.embed([embedding_text(dataset)])[0]
    return SimilarAnswer(_datasets(session, top_k(catalog, vector, k, exclude=[dataset.id])))


def search_text(
    session: Session, embedder: Embedder, text: str, limit: int = SEARCH_LIMIT
) -> list[Neighbour]:
    """The datasets whose descriptions are nearest `text` in meaning, best first.

    Raises app.embeddings.model.ModelError when the model cannot be loaded.
    """
    catalog = catalog_vectors(session, embedder.model_id)
    if not len(catalog) or not text.strip():
        return []
    vector = embedder.embed([text])[0]
    return _datasets(session, top_k(catalog, vector, limit))
