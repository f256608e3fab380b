"""The real embedding model, loaded once for the whole run (about a second)."""

from __future__ import annotations

import pytest

from app.embeddings.model import Embedder


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    model = Embedder(cache_dir=tmp_path_factory.mktemp("models"), threads=2)
    model.embed(["warm up"])  # load now, so no test's timing includes it
    return model


@pytest.fixture
def app_embedder(app, embedder, monkeypatch):
    """The app uses the session's model instead of assembling its own in instance/."""
    monkeypatch.setitem(app.extensions, "embedder", embedder)
    return embedder
