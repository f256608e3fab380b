"""The real embedding model, shared by the semantic tests (and the browser tests of them)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from app.embeddings.model import Embedder


class CachingEmbedder:
    """The real model; each distinct text is embedded once for the whole run."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def loaded(self) -> bool:
        return True

    def truncate(self, texts):
        return self.model.truncate(texts)

    def embed(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        missing = sorted({text for text in texts if text not in self.cache})
        if missing:
            for text, vector in zip(missing, self.model.embed(missing, batch_size), strict=True):
                self.cache[text] = vector
        return np.array([self.cache[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)


@pytest.fixture(scope="session")
def topic_embedder(tmp_path_factory: pytest.TempPathFactory) -> CachingEmbedder:
    model = Embedder(cache_dir=tmp_path_factory.mktemp("models"), threads=2)
    model.embed(["warm up"])
    return CachingEmbedder(model)


@pytest.fixture(scope="session")
def semantic_embedder(topic_embedder: CachingEmbedder) -> CachingEmbedder:
    """The same model and cache under the name the assessment tests use."""
    return topic_embedder
