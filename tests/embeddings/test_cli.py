"""`flask embeddings build`."""

from __future__ import annotations

import sqlalchemy as sa

from app.embeddings.cli import embeddings
from app.extensions import db
from app.models import DatasetEmbedding


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(DatasetEmbedding))


def test_build_embeds_only_what_is_missing(runner, small_catalog, app_embedder):
    # By the name the app registers, as `flask embeddings build` runs it.
    result = runner.invoke(args=["embeddings", "build", "--limit", "10"])
    assert result.exit_code == 0, result.output
    assert "10 embedded, 0 unchanged" in result.stdout
    assert count() == 10

    result = runner.invoke(embeddings, ["build"])
    assert result.exit_code == 0, result.output
    assert "35 embedded, 10 unchanged" in result.stdout
    assert "45 datasets" in result.stderr and "100%" in result.stderr  # the progress line
    assert count() == 45

    result = runner.invoke(embeddings, ["build"])
    assert result.exit_code == 0, result.output
    assert "0 embedded, 45 unchanged" in result.stdout
    assert app_embedder.model_id in result.stdout


def test_build_reports_a_model_that_cannot_load(runner, small_catalog, app, monkeypatch, tmp_path):
    from app.embeddings.model import Embedder

    broken = Embedder(cache_dir=tmp_path)
    monkeypatch.setattr(
        "app.embeddings.model.installed_onnx_path", lambda: tmp_path / "missing.onnx"
    )
    monkeypatch.setitem(app.extensions, "embedder", broken)
    result = runner.invoke(embeddings, ["build"])
    assert result.exit_code == 1
    assert "model.onnx" in result.output and "missing" in result.output
    assert count() == 0
