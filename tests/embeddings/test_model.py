"""The bundled model: assembled offline from checked files, real vectors, truncation, order."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from tokenizers import Tokenizer

from app.embeddings.model import (
    BUNDLED_FOLDER,
    BUNDLED_MODEL,
    DIMS,
    MAX_TOKENS,
    MODEL_SHA256,
    Embedder,
    ModelError,
    bundled_model_dir,
    default_threads,
    embedder_for,
    embedding_text,
    file_sha256,
    installed_onnx_path,
    package_data_dir,
    text_hash,
)


def test_bundled_model_loads_offline_from_checked_files(embedder):
    assert embedder.model_id == BUNDLED_MODEL == "sentence-transformers/all-MiniLM-L6-v2@int8"
    assert embedder.loaded
    folder = embedder.cache_dir / BUNDLED_FOLDER
    assert file_sha256(folder / "model.onnx") == MODEL_SHA256
    assert sorted(path.name for path in folder.iterdir()) == [
        "config.json",
        "model.onnx",
        "pooling_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    vectors = embedder.embed(["A dataset of movie reviews.", "Speech recordings."])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, DIMS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_a_tampered_model_file_is_refused(tmp_path):
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(installed_onnx_path(), tampered)
    with tampered.open("r+b") as stream:
        stream.seek(1000)
        byte = stream.read(1)
        stream.seek(1000)
        stream.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="sha256"):
        bundled_model_dir(tmp_path / "cache", onnx_source=tampered)
    assert not (tmp_path / "cache" / BUNDLED_FOLDER / "model.onnx").exists()


def test_a_tampered_tokenizer_file_is_refused(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(package_data_dir(), data)
    (data / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    with pytest.raises(ModelError, match="tokenizer_config.json"):
        bundled_model_dir(tmp_path / "cache", data_dir=data)


def test_a_damaged_assembled_copy_is_replaced(tmp_path):
    folder = bundled_model_dir(tmp_path)
    target = folder / "model.onnx"
    target.unlink()  # never write in place: the copy may be a hard link to the installed file
    target.write_bytes(b"not a model")
    assert bundled_model_dir(tmp_path) == folder
    assert file_sha256(target) == MODEL_SHA256


def test_a_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        bundled_model_dir(tmp_path / "cache", onnx_source=tmp_path / "nowhere.onnx")


def test_similar_descriptions_score_higher_than_unrelated_ones(embedder):
    movies, products, speech, chest = embedder.embed(
        [
            "Movie reviews labelled positive or negative for sentiment analysis.",
            "Customer reviews of products with star ratings, for sentiment classification.",
            "One-second audio clips of people saying short spoken command words.",
            "Chest X-ray images",
        ]
    )
    assert movies @ products > 0.4
    assert movies @ products > movies @ speech + 0.2
    assert movies @ products > movies @ chest + 0.2


def test_vectors_come_back_in_input_order(embedder):
    texts = [
        ("word " * length) + topic
        for length, topic in [
            (40, "weather"),
            (1, "speech"),
            (90, "chess"),
            (5, "images"),
            (0, "reviews"),
            (60, "code"),
            (12, "medicine"),
            (3, "law"),
        ]
    ]
    together = embedder.embed(texts, batch_size=3)  # sorted by length, three batches
    alone = np.vstack([embedder.embed([text]) for text in texts])
    similarity = together @ alone.T
    assert list(similarity.argmax(axis=1)) == list(range(len(texts)))
    assert np.diag(similarity).min() > 0.99
    assert embedder.embed([]).shape == (0, DIMS)


def test_text_is_cut_at_256_tokens_as_sentence_transformers_does(embedder):
    tokenizer = Tokenizer.from_file(str(package_data_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    long = " ".join(f"reading{n} comprehension questions about encyclopedia" for n in range(200))
    (cut,) = embedder.truncate([long])
    assert long.startswith(cut) and len(cut) < len(long)
    assert len(tokenizer.encode(cut).ids) == MAX_TOKENS  # special tokens included
    # What lies beyond the limit does not change the vector; what lies within it does.
    base, changed_tail, changed_head = embedder.embed(
        [long, long + " and a different ending about audio", "Audio. " + long]
    )
    assert base @ changed_tail > 0.9999
    assert base @ changed_head < 0.999
    short = "Movie reviews."
    assert embedder.truncate([short]) == [short]


def test_embedding_text_and_hash():
    dataset = SimpleNamespace(
        repo_id="acme/movie-reviews",
        pretty_name="Movie Reviews",
        description="Film reviews,\n\n  labelled   positive or negative.",
        task_categories=["text-classification", "sentiment-analysis"],
    )
    text = embedding_text(dataset)
    assert text == (
        "Movie Reviews\nTasks: text classification, sentiment analysis.\n"
        "Film reviews, labelled positive or negative."
    )
    bare = SimpleNamespace(repo_id="imdb", pretty_name=None, description=None, task_categories=[])
    assert embedding_text(bare) == "imdb"
    assert len(text_hash(text)) == 64
    assert text_hash(text) != text_hash(text + ".")


def test_threads_share_the_cores_among_web_workers():
    assert default_threads(1) >= 1
    assert default_threads(10_000) == 1


def test_the_app_embedder_follows_configuration(make_app, tmp_path):
    application = make_app({"EMBEDDING_THREADS": "1", "EMBEDDING_CACHE_DIR": str(tmp_path)})
    embedder = embedder_for(application)
    assert embedder is embedder_for(application)  # one per app (and process)
    assert (embedder.model_id, embedder.threads, embedder.cache_dir) == (BUNDLED_MODEL, 1, tmp_path)
    assert not embedder.loaded  # loading waits for the first embed (after gunicorn's fork)

    other = make_app({"EMBEDDING_MODEL": "BAAI/bge-small-en-v1.5", "WEB_CONCURRENCY": 10_000})
    assert (embedder_for(other).model_id, embedder_for(other).threads) == (
        "BAAI/bge-small-en-v1.5",
        1,
    )


def test_embedder_without_cache_dir_is_a_clear_error():
    with pytest.raises(ModelError, match="cache_dir"):
        Embedder().embed(["x"])
