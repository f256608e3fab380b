"""The catalog's topic model: its vectors clustered by k-means, labelled by class-based TF-IDF.

A fit is versioned (TopicModelVersion): its topics, each dataset's topic and 2-D map point, and
the PCA projection that placed them. Exactly one version is current; older ones are kept (the
last KEEP_VERSIONS) so a page rendered from one never meets half of another.

Method, and why (bench/README.md, "Cluster quality", has the numbers):
- k-means (scikit-learn KMeans, k-means++ with N_INIT starts, fixed `seed`) on the unit-length
  vectors, so squared distance ranks like cosine similarity. The same vectors in the same order
  with the same seed give the same topics; vectors are always read in dataset-id order.
- k = clamp(round(sqrt(n / 2)), 2, 60) (`choose_k`): the classic rule of thumb for k-means, which
  grows slowly with the catalog and gives topics of a readable size (about 30 for 2,000
  datasets, 60 at 7,200 and beyond). A page of more than 60 topics is not a map anyone reads.
- Topics are numbered 1..k by size, largest first (ties: the smallest dataset id), so the
  numbering does not depend on k-means' internal cluster order.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, load_only

from app.embeddings.model import Embedder, embedding_text
from app.embeddings.store import IN_CLAUSE, VECTOR_DTYPE, embed_datasets, vector_from_bytes
from app.models import (
    Dataset,
    DatasetEmbedding,
    DatasetTopic,
    Topic,
    TopicModelVersion,
    utcnow,
)

Progress = Callable[[int, int, str], None]

METHOD = "kmeans"
K_RULE = "clamp(round(sqrt(n / 2)), 2, 60)"
K_MIN, K_MAX = 2, 60
N_INIT = 4  # k-means++ starts; the best (lowest inertia) is kept
TERMS_PER_TOPIC = 8
LABEL_TERMS = 4
CENTRAL_PER_TOPIC = 5
KEEP_VERSIONS = 3
# Refit when the datasets added, removed or re-embedded since the current version reach
# REFIT_SHARE of its catalog or REFIT_COUNT datasets, whichever is fewer: a small catalog
# refits after a few changes, a large one after at most REFIT_COUNT.
REFIT_SHARE = 0.10
REFIT_COUNT = 200
TEXT_CHARS = 2000  # of each dataset's text used for labels: bounds the vectoriser's work
# Words every dataset card uses; they say nothing about a topic.
EXTRA_STOP_WORDS = (
    "data dataset datasets tasks task http https www com org github huggingface hf "
    "card repository contains containing used use using based paper available "
    "information provided provides set sets example examples"
).split()
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # words of two letters or more, no digits


class TopicModelError(RuntimeError):
    """The topic model cannot be fitted (too few embedded datasets)."""


def choose_k(n: int) -> int:
    """The number of topics for `n` datasets (K_RULE), never more than `n`."""
    return min(n, max(K_MIN, min(K_MAX, round(math.sqrt(n / 2)))))


def cluster_vectors(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Topic numbers 0..k'-1 for each row (k' <= k), numbered by size, largest first.

    Used alike for the app's embeddings and the benchmark's TF-IDF baseline. Empty or
    duplicate clusters (identical vectors) are dropped, so k' may be less than k.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Fewer distinct points than k: KMeans warns and we renumber what it found.
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit_predict(vectors)
    first_row = {}
    for row, cluster in enumerate(raw):
        first_row.setdefault(int(cluster), row)
    sizes = np.bincount(raw, minlength=k)
    order = sorted(first_row, key=lambda cluster: (-sizes[cluster], first_row[cluster]))
    renumber = {cluster: number for number, cluster in enumerate(order)}
    return np.array([renumber[int(cluster)] for cluster in raw], dtype=np.int64)


def _normalised(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _overlaps(term: str, chosen: list[str]) -> bool:
    """Near-identical terms: one's words (plurals folded) contain the other's."""
    words = {_normalised(word) for word in term.split()}
    for other in chosen:
        other_words = {_normalised(word) for word in other.split()}
        if words <= other_words or other_words <= words:
            return True
    return False


def topic_terms(
    topic_texts: Sequence[Sequence[str]], count: int = TERMS_PER_TOPIC
) -> list[list[str]]:
    """The most distinctive terms of each topic: class-based TF-IDF, one document per topic.

    Each topic is one document, made of its datasets' terms (unigrams and bigrams) with each
    dataset counting a term once, so a term's frequency is how many of the topic's datasets use
    it: one long card repeating a word cannot name its topic. TF-IDF then weighs that against
    how many topics use the term. A term used by a single dataset of a larger topic is no label;
    a term whose words repeat a better-scored term ("speech" after "speech recognition") is
    skipped.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    analyse = TfidfVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS.union(EXTRA_STOP_WORDS)),
        ngram_range=(1, 2),
        token_pattern=TOKEN_PATTERN,
        strip_accents="unicode",
    ).build_analyzer()
    documents = [
        [term for text in texts for term in sorted(set(analyse(text)))] for texts in topic_texts
    ]
    vectorizer = TfidfVectorizer(analyzer=lambda terms: terms, sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # no words at all (empty descriptions)
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    result = []
    for row in range(matrix.shape[0]):
        weights = matrix.getrow(row).toarray().ravel()
        if len(topic_texts[row]) > 1:
            used = Counter(documents[row])
            weights[[vectorizer.vocabulary_[term] for term, n in used.items() if n < 2]] = 0
        ranked = sorted(np.flatnonzero(weights), key=lambda index: (-weights[index], index))
        chosen: list[str] = []
        for index in ranked:
            term = str(vocabulary[index])
            if not _overlaps(term, chosen):
                chosen.append(term)
            if len(chosen) == count:
                break
        result.append(chosen)
    return result


def label_for(terms: Sequence[str]) -> str:
    return ", ".join(terms[:LABEL_TERMS])[:300] or "(no distinctive terms)"


# --- Reading vectors ---------------------------------------------------------------------------


def load_vectors(session: Session, model_id: str) -> tuple[list[int], np.ndarray]:
    """All stored vectors of this model, in dataset-id order: (ids, matrix n x dims)."""
    ids: list[int] = []
    rows: list[np.ndarray] = []
    after = 0
    while True:  # keyset pages bound the memory of the rows fetched at once
        page = session.execute(
            sa.select(DatasetEmbedding.dataset_id, DatasetEmbedding.vector, DatasetEmbedding.dims)
            .where(DatasetEmbedding.model_id == model_id, DatasetEmbedding.dataset_id > after)
            .order_by(DatasetEmbedding.dataset_id)
            .limit(5000)
        ).all()
        if not page:
            break
        for dataset_id, data, dims in page:
            ids.append(dataset_id)
            rows.append(vector_from_bytes(data, dims))
        after = page[-1][0]
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return ids, np.vstack(rows)


def _texts(session: Session, ids: Sequence[int]) -> dict[int, str]:
    texts: dict[int, str] = {}
    columns = (Dataset.id, Dataset.repo_id, Dataset.pretty_name, Dataset.description)
    for start in range(0, len(ids), IN_CLAUSE):
        part = ids[start : start + IN_CLAUSE]
        for dataset in session.scalars(
            sa.select(Dataset)
            .options(load_only(*columns, Dataset.task_categories))
            .where(Dataset.id.in_(part))
        ):
            texts[dataset.id] = embedding_text(dataset)[:TEXT_CHARS]
    return texts


# --- The map projection ------------------------------------------------------------------------


def projection_bytes(components: np.ndarray, mean: np.ndarray) -> bytes:
    """PCA's 2 x dims components, then its mean (dims), as little-endian float32."""
    return np.concatenate([components.ravel(), mean.ravel()]).astype(VECTOR_DTYPE).tobytes()


def project(projection: bytes, vectors: np.ndarray) -> np.ndarray:
    """Place vectors (n x dims) on a version's map: (n x 2), as the fit placed its own."""
    values = np.frombuffer(projection, dtype=VECTOR_DTYPE).astype(np.float64)
    dims = values.size // 3
    components, mean = values[: 2 * dims].reshape(2, dims), values[2 * dims :]
    return (np.asarray(vectors, dtype=np.float64) - mean) @ components.T


# --- Fitting -----------------------------------------------------------------------------------


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress:
        progress(done, total, message)


def fit_topic_model(
    session: Session,
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    k: int | None = None,
    seed: int = 0,
) -> TopicModelVersion:
    """Embed what is missing, cluster every vector of the embedder's model, store a new version.

    The new version becomes current, and the previous one stops being current, in one
    transaction; versions beyond the last KEEP_VERSIONS are deleted in it too. `progress(done,
    total, message)` hears about each stage (done/total count datasets). `k` overrides
    choose_k. Raises TopicModelError with fewer than two embedded datasets.
    """
    from sklearn.decomposition import PCA

    model_id = embedder.model_id
    total = session.scalar(sa.select(sa.func.count(Dataset.id))) or 0
    _report(progress, 0, total, "Embedding the datasets not embedded yet")
    embed_datasets(
        session,
        embedder,
        progress=(lambda done: _report(progress, done, total, "Embedding datasets"))
        if progress
        else None,
    )

    ids, vectors = load_vectors(session, model_id)
    n = len(ids)
    if n < 2:
        raise TopicModelError(
            f"A topic model needs at least 2 embedded datasets; {n} found for {model_id}."
        )
    chosen_k = min(k, n) if k else choose_k(n)
    _report(progress, n, n, f"Clustering {n:,} datasets into {chosen_k} topics")
    labels = cluster_vectors(vectors, chosen_k, seed)
    topic_count = int(labels.max()) + 1

    _report(progress, n, n, "Labelling the topics")
    texts = _texts(session, ids)
    members = [np.flatnonzero(labels == number) for number in range(topic_count)]
    terms = topic_terms([[texts.get(ids[row], "") for row in rows] for rows in members])

    _report(progress, n, n, "Placing the datasets on the map")
    pca = PCA(n_components=2, svd_solver="full", random_state=seed)
    points = pca.fit_transform(vectors.astype(np.float64))
    if points.shape[1] < 2:  # fewer dimensions than 2 (a catalog of 2 identical texts)
        points = np.hstack([points, np.zeros((n, 2 - points.shape[1]))])
        components = np.zeros((2, vectors.shape[1]))
        components[: pca.components_.shape[0]] = pca.components_
    else:
        components = pca.components_

    _report(progress, n, n, "Saving the new topic model")
    version = TopicModelVersion(
        model_id=model_id,
        created_at=utcnow(),
        is_current=True,
        dataset_count=n,
        topic_count=topic_count,
        params={
            "method": METHOD,
            "k": chosen_k,
            "k_rule": "given" if k else K_RULE,
            "n_init": N_INIT,
            "seed": seed,
            "n": n,
            "labels": "class-based TF-IDF, unigrams and bigrams",
            "map": "PCA, 2 components",
        },
        projection=projection_bytes(components, pca.mean_),
    )
    session.execute(
        sa.update(TopicModelVersion)
        .where(TopicModelVersion.is_current.is_(True))
        .values(is_current=False)
    )
    session.add(version)
    session.flush()
    topic_ids: list[int] = []
    for number, rows in enumerate(members):
        centroid = vectors[rows].mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        similarity = vectors[rows] @ centroid
        central = sorted(range(len(rows)), key=lambda i: (-similarity[i], ids[rows[i]]))
        topic = Topic(
            version_id=version.id,
            number=number + 1,
            label=label_for(terms[number]),
            terms=terms[number],
            size=len(rows),
            central_dataset_ids=[ids[rows[i]] for i in central[:CENTRAL_PER_TOPIC]],
            centroid=centroid.astype(VECTOR_DTYPE).tobytes(),
        )
        session.add(topic)
        session.flush()
        topic_ids.append(topic.id)
    session.execute(
        sa.insert(DatasetTopic),
        [
            {
                "version_id": version.id,
                "dataset_id": dataset_id,
                "topic_id": topic_ids[int(labels[row])],
                "x": float(points[row, 0]),
                "y": float(points[row, 1]),
            }
            for row, dataset_id in enumerate(ids)
        ],
    )
    _prune(session)
    session.commit()
    _report(progress, n, n, f"{topic_count} topics over {n:,} datasets")
    return version


def _prune(session: Session) -> None:
    """Delete versions older than the last KEEP_VERSIONS (their topics and points with them)."""
    old = session.scalars(
        sa.select(TopicModelVersion.id).order_by(TopicModelVersion.id.desc()).offset(KEEP_VERSIONS)
    ).all()
    if not old:
        return
    # Explicit, not left to ON DELETE CASCADE: SQLite connections without the pragma ignore it.
    session.execute(sa.delete(DatasetTopic).where(DatasetTopic.version_id.in_(old)))
    session.execute(sa.delete(Topic).where(Topic.version_id.in_(old)))
    session.execute(sa.delete(TopicModelVersion).where(TopicModelVersion.id.in_(old)))


# --- Reading the current version ---------------------------------------------------------------


def current_version(session: Session) -> TopicModelVersion | None:
    return session.scalars(
        sa.select(TopicModelVersion)
        .where(TopicModelVersion.is_current.is_(True))
        .order_by(TopicModelVersion.id.desc())
        .limit(1)
    ).first()


@dataclass
class RefitCheck:
    """What needs_refit saw: the changes since the current version and the threshold."""

    needed: bool
    changed: int = 0
    threshold: int = 0
    reason: str = ""


def refit_check(session: Session, model_id: str) -> RefitCheck:
    """Whether the catalog changed enough since the current version (see REFIT_SHARE)."""
    version = current_version(session)
    if version is None:
        return RefitCheck(True, reason="there is no topic model yet")
    if version.model_id != model_id:
        return RefitCheck(True, reason=f"the current topic model was fitted on {version.model_id}")
    fitted = sa.select(DatasetTopic.dataset_id).where(DatasetTopic.version_id == version.id)
    # Datasets deleted since: their points went with them (ON DELETE CASCADE).
    remaining = session.scalar(sa.select(sa.func.count()).select_from(fitted.subquery())) or 0
    removed = max(version.dataset_count - remaining, 0)
    # Added (a vector the version has no point for) or re-embedded after the fit.
    added_or_changed = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(DatasetEmbedding)
            .where(
                DatasetEmbedding.model_id == model_id,
                sa.or_(
                    DatasetEmbedding.dataset_id.not_in(fitted),
                    DatasetEmbedding.embedded_at > version.created_at,
                ),
            )
        )
        or 0
    )
    changed = removed + added_or_changed
    threshold = max(1, min(REFIT_COUNT, math.ceil(REFIT_SHARE * version.dataset_count)))
    return RefitCheck(
        changed >= threshold,
        changed,
        threshold,
        f"{changed:,} datasets added, removed or re-embedded since the current version "
        f"(a refit at {threshold:,})",
    )


def needs_refit(session: Session, model_id: str) -> bool:
    """No current version, one of another model, or enough changes since (refit_check)."""
    return refit_check(session, model_id).needed


def topic_of(session: Session, dataset_ids: Sequence[int]) -> dict[int, Topic]:
    """The current version's topic of each of these datasets (those without one are absent)."""
    version = current_version(session)
    if version is None:
        return {}
    result: dict[int, Topic] = {}
    ids = sorted(set(dataset_ids))
    for start in range(0, len(ids), IN_CLAUSE):
        rows = session.execute(
            sa.select(DatasetTopic.dataset_id, Topic)
            .join(Topic, Topic.id == DatasetTopic.topic_id)
            .where(
                DatasetTopic.version_id == version.id,
                DatasetTopic.dataset_id.in_(ids[start : start + IN_CLAUSE]),
            )
        )
        result.update({dataset_id: topic for dataset_id, topic in rows})
    return result


# --- What the pages show -----------------------------------------------------------------------

MAP_POINTS = 3000  # at most, on the page's map: keeps the SVG small
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 640, 400, 8
# Okabe-Ito and Tableau hues, distinguishable on light and dark backgrounds; cycled by topic.
PALETTE = (
    "#1f77b4",
    "#e69f00",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
SEARCH_TERMS = 3


def colour_for(number: int) -> str:
    return PALETTE[(number - 1) % len(PALETTE)]


@dataclass
class TopicSummary:
    topic: Topic
    colour: str
    examples: list[Dataset]
    search_terms: str  # for a catalog search that approximates the topic


@dataclass
class MapGroup:
    number: int
    label: str
    colour: str
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class TopicMap:
    version: TopicModelVersion
    topics: list[TopicSummary]
    groups: list[MapGroup]
    shown_points: int
    width: int = MAP_WIDTH
    height: int = MAP_HEIGHT


def search_terms_for(topic: Topic) -> str:
    """The topic's top unigrams (bigrams split), for the catalog's free-text search."""
    words: list[str] = []
    for term in topic.terms:
        for word in term.split():
            if word not in words:
                words.append(word)
    return " ".join(words[:SEARCH_TERMS])


def _datasets_by_id(session: Session, ids: Sequence[int]) -> dict[int, Dataset]:
    found: dict[int, Dataset] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), IN_CLAUSE):
        found.update(
            (dataset.id, dataset)
            for dataset in session.scalars(
                sa.select(Dataset).where(Dataset.id.in_(unique[start : start + IN_CLAUSE]))
            )
        )
    return found


def _scale(values: np.ndarray, size: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    return MAP_MARGIN + (values - low) / span * (size - 2 * MAP_MARGIN)


def topics_page(session: Session) -> TopicMap | None:
    """The current version's topics with examples, and its map sampled to MAP_POINTS."""
    version = current_version(session)
    if version is None:
        return None
    topics = list(version.topics)
    examples = _datasets_by_id(
        session, [dataset_id for topic in topics for dataset_id in topic.central_dataset_ids]
    )
    summaries = [
        TopicSummary(
            topic=topic,
            colour=colour_for(topic.number),
            # Central datasets deleted since the fit are simply not shown.
            examples=[examples[i] for i in topic.central_dataset_ids if i in examples],
            search_terms=search_terms_for(topic),
        )
        for topic in topics
    ]
    rows = session.execute(
        sa.select(DatasetTopic.dataset_id, DatasetTopic.topic_id, DatasetTopic.x, DatasetTopic.y)
        .where(DatasetTopic.version_id == version.id)
        .order_by(DatasetTopic.dataset_id)
    ).all()
    groups = {
        topic.id: MapGroup(topic.number, topic.label, colour_for(topic.number)) for topic in topics
    }
    if rows:
        # Every step-th dataset by id: the same sample on every request, spread over all topics.
        step = math.ceil(len(rows) / MAP_POINTS)
        sample = rows[::step]
        xs = _scale(np.array([row.x for row in rows]), MAP_WIDTH)
        # SVG's y grows downwards; flip it so the map reads like a plot.
        ys = MAP_HEIGHT - _scale(np.array([row.y for row in rows]), MAP_HEIGHT)
        for index in range(0, len(rows), step):
            row = rows[index]
            groups[row.topic_id].points.append(
                (round(float(xs[index]), 1), round(float(ys[index]), 1))
            )
        shown = len(sample)
    else:
        shown = 0
    return TopicMap(
        version=version,
        topics=summaries,
        groups=[group for group in groups.values() if group.points],
        shown_points=shown,
    )


@dataclass
class TopicDatasets:
    version: TopicModelVersion
    topic: Topic
    datasets: list[Dataset]
    total: int
    page: int
    per_page: int

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def topic_datasets(
    session: Session, number: int, page: int = 1, per_page: int = 50
) -> TopicDatasets | None:
    """One page of a current topic's datasets, most downloaded first; None if no such topic."""
    version = current_version(session)
    if version is None:
        return None
    topic = session.scalars(
        sa.select(Topic).where(Topic.version_id == version.id, Topic.number == number)
    ).first()
    if topic is None:
        return None
    members = (
        sa.select(Dataset)
        .join(DatasetTopic, DatasetTopic.dataset_id == Dataset.id)
        .where(DatasetTopic.version_id == version.id, DatasetTopic.topic_id == topic.id)
    )
    total = session.scalar(sa.select(sa.func.count()).select_from(members.subquery())) or 0
    datasets = session.scalars(
        members.order_by(Dataset.downloads.desc().nulls_last(), Dataset.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return TopicDatasets(version, topic, list(datasets), total, page, per_page)
