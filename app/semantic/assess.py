"""What a combination covers, by meaning: groups, redundancy, topic coverage, each member's
value, suggestions and a map, all from the description vectors (issue #7, the report's second
section).

The computations are pure functions over numpy arrays; `semantic_report` is the thin loader
that reads vectors, topics and sizes from the database. Every figure is deterministic for the
same input.

Thresholds (cosine similarity of the bundled all-MiniLM-L6-v2 int8 vectors of
`embedding_text`), calibrated on real catalog pairs (../shared/hub/catalog, 7,433 datasets):

* Unrelated datasets: squad/mnist 0.31, glue/common_voice 0.24, xsum/imdb 0.33; over 499,500
  random catalog pairs the median is 0.23 and the 90th percentile 0.41.
* Same kind of task, different data: squad/natural_questions 0.52, cnn_dailymail/xsum 0.55,
  glue/super_glue 0.57, conll2003/wikiann 0.53, amazon_polarity/yelp_polarity 0.63,
  trivia_qa/squad 0.61, imdb/sst2 0.66.
* Strong overlap (one extends the other, or the same material): squad/squad_v2 0.74,
  snli/multi_nli 0.73, imdb/rotten_tomatoes 0.77, totto/GEM/totto 0.80.
* Near-duplicates (copies, versions, the same card): cnn_dailymail/ccdv/cnn_dailymail 0.99,
  samsum/knkarthick/samsum 1.00, wmt14/wmt16 0.98, common_voice/…common_voice_11_0 0.96,
  cifar10/cifar100 0.92, mc4/c4 0.90.

Hence NEAR_DUPLICATE = 0.90 and STRONG_OVERLAP = 0.70. Pairs between 0.52 and 0.70 are related
but bring different data, so they are not called redundant; they do end up in one group
(GROUP_DISTANCE = 0.48: average-linkage cosine distance, i.e. an average similarity of at
least 0.52 within a group, which puts squad with natural_questions and cnn_dailymail with xsum,
but not imdb with ag_news, 0.51). Descriptions are all the vectors see: a copy whose card was
rewritten can score as low as 0.4 (ethos/SetFit/ethos), so a missing flag proves nothing.

Suggestions use maximal marginal relevance with LAMBDA = 0.5: relevance (similarity to the
combination's mean direction) weighs as much as novelty (distance to the nearest member or
earlier suggestion), and anything within NEAR_DUPLICATE of a member is never suggested.

Diversity is the effective number of topics, exp(entropy) of the row shares per topic; row
counts known only as a range use their estimate (app.combinations.sizes.Amount), and a member
whose rows are unknown counts as the median of the known ones (said in the report).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.combinations.sizes import Amount
from app.embeddings.model import Embedder, ModelError, embedding_text
from app.embeddings.store import embed_datasets, vectors_for
from app.models import Dataset, DatasetTopic, Topic, TopicModelVersion
from app.semantic.similar import CatalogVectors, catalog_vectors

NEAR_DUPLICATE = 0.90
STRONG_OVERLAP = 0.70
GROUP_DISTANCE = 0.48
LAMBDA = 0.5
SUGGESTIONS = 5
SUGGESTION_POOL = 300  # the most relevant catalog datasets MMR chooses among
# Long descriptions embed at ~20 a second here: a dozen keeps a page under a second or so;
# more than that goes to a background job (see app.combinations.views).
MAX_EMBED_IN_REQUEST = 12
GROUP_TERMS = 4

HOW_TO_EMBED = "flask embeddings build"
HOW_TO_FIT = "flask topics fit"


# Pure computations ---------------------------------------------------------------------------


def similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """Cosines between unit rows."""
    return np.clip(vectors @ vectors.T, -1.0, 1.0)


def group_labels(vectors: np.ndarray, threshold: float = GROUP_DISTANCE) -> list[int]:
    """Agglomerative clusters (average linkage, cosine distance < threshold), numbered in the
    order of their first member."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from sklearn.cluster import AgglomerativeClustering

    raw = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
    ).fit_predict(vectors)
    renumber: dict[int, int] = {}
    for label in raw:
        renumber.setdefault(int(label), len(renumber))
    return [renumber[int(label)] for label in raw]


def distinctive_terms(texts: Sequence[str], labels: Sequence[int], count: int = GROUP_TERMS):
    """Per group: the words its members share most (TF-IDF over the members' texts, weighted by
    the fraction of the group's members that use the word)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    groups = sorted(set(labels))
    try:
        vectorizer = TfidfVectorizer(
            stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b", sublinear_tf=True
        )
        matrix = vectorizer.fit_transform(texts).toarray()
    except ValueError:  # nothing but stop words
        return {group: [] for group in groups}
    vocabulary = vectorizer.get_feature_names_out()
    terms: dict[int, list[str]] = {}
    for group in groups:
        rows = matrix[[i for i, label in enumerate(labels) if label == group]]
        score = rows.mean(axis=0) * (rows > 0).mean(axis=0)
        order = sorted(range(len(vocabulary)), key=lambda j: (-score[j], vocabulary[j]))
        terms[group] = [str(vocabulary[j]) for j in order[:count] if score[j] > 0]
    return terms


def effective_number(weights: Sequence[float]) -> float:
    """exp(Shannon entropy) of the weights' shares: 1 for one topic, n for n equal ones."""
    values = np.asarray([w for w in weights if w > 0], dtype=float)
    if not len(values):
        return 0.0
    shares = values / values.sum()
    return float(math.exp(-(shares * np.log(shares)).sum()))


def share_range(mine: Amount, others: Amount) -> tuple[float, float]:
    """(lowest, highest) share `mine` can have of mine + others, given their ranges."""
    low_mine, high_mine = mine.low or 0, mine.high
    low_others, high_others = others.low or 0, others.high
    if high_others is None:
        lowest = 0.0
    else:
        lowest = low_mine / (low_mine + high_others) if low_mine + high_others else 0.0
    if high_mine is None:
        highest = 1.0
    else:
        highest = high_mine / (high_mine + low_others) if high_mine + low_others else 0.0
    return lowest, highest


def row_weights(amounts: Sequence[Amount]) -> tuple[list[float], list[bool]]:
    """One weight per member (the estimate) and whether it was assumed (median of the known)."""
    known = [a.estimate for a in amounts if a.estimate is not None]
    fallback = float(np.median(known)) if known else 1.0
    weights = [a.estimate if a.estimate is not None else fallback for a in amounts]
    return [max(float(w), 0.0) for w in weights], [a.estimate is None for a in amounts]


def mmr(
    candidates: np.ndarray,
    relevance: np.ndarray,
    chosen: np.ndarray,
    count: int,
    weight: float = LAMBDA,
) -> list[int]:
    """Maximal marginal relevance: indices into `candidates`, picked greedily by
    weight * relevance - (1 - weight) * (highest similarity to `chosen` and earlier picks)."""
    if not len(candidates):
        return []
    nearest = (candidates @ chosen.T).max(axis=1) if len(chosen) else np.zeros(len(candidates))
    picked: list[int] = []
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(min(count, len(candidates))):
        score = weight * relevance - (1 - weight) * nearest
        score = np.where(available, score, -np.inf)
        best = int(np.argmax(score))  # the first of equal scores: deterministic
        if not np.isfinite(score[best]):
            break
        picked.append(best)
        available[best] = False
        nearest = np.maximum(nearest, candidates @ candidates[best])
    return picked


# The report ----------------------------------------------------------------------------------


@dataclass
class Group:
    number: int
    members: list[str]
    terms: list[str]
    shared: list[str]  # languages and tasks every member declares
    cohesion: float | None  # mean similarity within the group (None for one member)

    @property
    def label(self) -> str:
        return " · ".join([*self.shared, ", ".join(self.terms)] if self.terms else self.shared)


@dataclass
class Pair:
    first: str
    second: str
    similarity: float

    @property
    def near_duplicate(self) -> bool:
        return self.similarity >= NEAR_DUPLICATE

    @property
    def verdict(self) -> str:
        if self.near_duplicate:
            return (
                "Near-duplicates: the descriptions are almost the same. Likely the same data, "
                "a copy or a version of it; keep one unless you mean to weight it twice."
            )
        return (
            "Strong overlap: much the same kind of material, possibly shared examples. Check "
            "whether one contains the other before training on both."
        )


@dataclass
class TopicCoverage:
    topic_id: int
    number: int
    label: str
    members: list[str]
    share: float  # of the rows, from the estimates
    share_low: float
    share_high: float
    catalog_share: float  # of the catalog's datasets

    @property
    def ranged(self) -> bool:
        return self.share_high - self.share_low > 0.005


@dataclass
class Coverage:
    topics: list[TopicCoverage]
    topic_count: int  # in the catalog's model
    diversity: float  # effective number of topics, by rows
    diversity_by_datasets: float
    catalog_diversity: float  # by datasets, over the whole catalog
    assumed_rows: list[str]  # members whose rows are unknown: weighted as the median


@dataclass
class MemberValue:
    repo_id: str
    uniqueness: float | None  # 1 - highest similarity to another member
    nearest: str | None
    topic: str | None
    topics_lost: list[str] = field(default_factory=list)
    diversity_without: float | None = None

    def diversity_loss(self, coverage: Coverage | None) -> float | None:
        if coverage is None or self.diversity_without is None:
            return None
        return coverage.diversity - self.diversity_without


@dataclass
class Suggestion:
    dataset: Dataset
    relevance: float
    nearest_member: str
    nearest_similarity: float
    new_topic: str | None


@dataclass
class MapPoint:
    repo_id: str
    x: float
    y: float
    kind: str  # "member" or "suggestion"
    group: int | None
    topic: str | None
    raw_x: float
    raw_y: float


@dataclass
class MapCell:
    x: float
    y: float
    size: float
    opacity: float
    count: int


@dataclass
class MapView:
    width: int
    height: int
    cells: list[MapCell]
    points: list[MapPoint]
    catalog_count: int


@dataclass
class SemanticReport:
    status: str  # "ready", or why not: "no-model", "no-vectors", "too-few"
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    coverage: Coverage | None = None
    values: list[MemberValue] = field(default_factory=list)
    least_useful: MemberValue | None = None
    least_useful_reason: str | None = None
    suggestions: list[Suggestion] = field(default_factory=list)
    map: MapView | None = None
    missing: list[str] = field(default_factory=list)  # members without a vector
    embedded_now: int = 0

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    # The thresholds, for the page to state them.
    group_similarity = 1 - GROUP_DISTANCE
    strong_overlap = STRONG_OVERLAP
    near_duplicate = NEAR_DUPLICATE


@dataclass
class MemberInput:
    """What the assessment needs of one member."""

    dataset: Dataset
    rows: Amount

    @property
    def repo_id(self) -> str:
        return self.dataset.repo_id


def groups_of(vectors: np.ndarray, members: Sequence[MemberInput]) -> tuple[list[Group], list[int]]:
    labels = group_labels(vectors)
    terms = distinctive_terms([embedding_text(m.dataset) for m in members], labels)
    similarity = similarity_matrix(vectors)
    groups = []
    for number in sorted(set(labels)):
        rows = [i for i, label in enumerate(labels) if label == number]
        shared: list[str] = []
        for attribute, facet in (("languages", "language"), ("task_categories", "task")):
            common = set(getattr(members[rows[0]].dataset, attribute) or [])
            for i in rows[1:]:
                common &= set(getattr(members[i].dataset, attribute) or [])
            shared += [_facet_text(facet, value) for value in sorted(common)[:2]]
        cohesion = None
        if len(rows) > 1:
            block = similarity[np.ix_(rows, rows)]
            cohesion = float(block[np.triu_indices(len(rows), 1)].mean())
        groups.append(
            Group(number + 1, [members[i].repo_id for i in rows], terms[number], shared, cohesion)
        )
    groups.sort(key=lambda g: (-len(g.members), g.number))
    return groups, labels


def _facet_text(facet: str, value: str) -> str:
    from app.templating import facet_label

    return facet_label(facet, value)


def redundant_pairs(vectors: np.ndarray, names: Sequence[str]) -> list[Pair]:
    similarity = similarity_matrix(vectors)
    pairs = [
        Pair(names[i], names[j], float(similarity[i, j]))
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if similarity[i, j] >= STRONG_OVERLAP
    ]
    return sorted(pairs, key=lambda p: (-round(p.similarity, 6), p.first, p.second))


@dataclass
class TopicTable:
    """The current topic model, as arrays."""

    version_id: int
    ids: list[int]
    labels: dict[int, str]
    numbers: dict[int, int]
    sizes: dict[int, int]
    centroids: np.ndarray  # rows in the order of `ids`

    def nearest(self, vectors: np.ndarray) -> list[int]:
        return [self.ids[int(i)] for i in np.argmax(np.atleast_2d(vectors) @ self.centroids.T, 1)]


def coverage_of(
    topic_ids: Sequence[int], members: Sequence[MemberInput], topics: TopicTable
) -> Coverage:
    weights, assumed = row_weights([m.rows for m in members])
    total = sum(weights)
    catalog_total = sum(topics.sizes.values()) or 1
    reached: dict[int, list[int]] = {}
    for index, topic_id in enumerate(topic_ids):
        reached.setdefault(topic_id, []).append(index)
    entries = []
    for topic_id, rows in reached.items():
        mine = sum_amounts_of([members[i].rows for i in rows])
        others = sum_amounts_of([m.rows for i, m in enumerate(members) if i not in rows])
        low, high = share_range(mine, others)
        estimate = sum(weights[i] for i in rows) / total if total else 1 / len(reached)
        entries.append(
            TopicCoverage(
                topic_id=topic_id,
                number=topics.numbers[topic_id],
                label=topics.labels[topic_id],
                members=[members[i].repo_id for i in rows],
                share=estimate,
                share_low=min(low, estimate),
                share_high=max(high, estimate),
                catalog_share=topics.sizes[topic_id] / catalog_total,
            )
        )
    entries.sort(key=lambda t: (-t.share, t.number))
    by_topic = [sum(weights[i] for i in rows) for rows in reached.values()]
    return Coverage(
        topics=entries,
        topic_count=len(topics.ids),
        diversity=effective_number(by_topic) if total else float(len(reached)),
        diversity_by_datasets=effective_number([len(rows) for rows in reached.values()]),
        catalog_diversity=effective_number(list(topics.sizes.values())),
        assumed_rows=[m.repo_id for m, flag in zip(members, assumed, strict=True) if flag],
    )


def sum_amounts_of(amounts: Sequence[Amount]) -> Amount:
    """A sum where an unknown part counts as "0 or more" (the share then has no upper bound)."""
    total = Amount.exact(0)
    for amount in amounts:
        total = total + (amount if amount.known else Amount(0, None))
    return total


def member_values(
    vectors: np.ndarray,
    members: Sequence[MemberInput],
    topic_ids: Sequence[int] | None,
    topics: TopicTable | None,
) -> list[MemberValue]:
    similarity = similarity_matrix(vectors)
    np.fill_diagonal(similarity, -np.inf)
    values = []
    for i, member in enumerate(members):
        nearest = int(np.argmax(similarity[i])) if len(members) > 1 else None
        value = MemberValue(
            repo_id=member.repo_id,
            uniqueness=None if nearest is None else 1.0 - float(similarity[i, nearest]),
            nearest=None if nearest is None else members[nearest].repo_id,
            topic=topics.labels[topic_ids[i]] if topics and topic_ids else None,
        )
        if topics and topic_ids:
            rest = [j for j in range(len(members)) if j != i]
            if rest:
                without = coverage_of(
                    [topic_ids[j] for j in rest], [members[j] for j in rest], topics
                )
                kept = {t.topic_id for t in without.topics}
                value.topics_lost = (
                    [topics.labels[topic_ids[i]]] if topic_ids[i] not in kept else []
                )
                value.diversity_without = without.diversity
        values.append(value)
    return values


def least_useful(values: Sequence[MemberValue], coverage: Coverage | None):
    """The member whose removal costs least: no topic lost if possible, then the least unique,
    then the smallest diversity loss."""
    if len(values) < 2:
        return None, None
    candidates = [v for v in values if not v.topics_lost] or list(values)

    def cost(value: MemberValue):
        loss = value.diversity_loss(coverage)
        return (value.uniqueness or 0.0, loss if loss is not None else 0.0, value.repo_id)

    chosen = min(candidates, key=cost)
    parts = [
        f"it is the closest to another member ({chosen.nearest}, "
        f"uniqueness {chosen.uniqueness:.2f})"
    ]
    if coverage is not None:
        loss = chosen.diversity_loss(coverage) or 0.0
        parts.insert(
            0,
            "removing it loses no topic"
            if not chosen.topics_lost
            else "every member brings a topic of its own",
        )
        parts.append(
            f"diversity would {'fall' if loss > 0 else 'rise'} by {abs(loss):.2f} topics"
            if abs(loss) >= 0.005
            else "diversity would hardly change"
        )
    return chosen, "; ".join(parts) + "."


def map_view(
    catalog: CatalogVectors,
    members: Sequence[MemberInput],
    member_vectors: np.ndarray,
    labels: Sequence[int],
    suggestions: Sequence[Suggestion],
    suggestion_vectors: np.ndarray,
    topic_names: Sequence[str | None],
    width: int = 640,
    height: int = 400,
    cells_across: int = 64,
) -> MapView:
    """The catalog as a density grid, members and suggestions as points, in SVG coordinates."""
    _, _, catalog_points = catalog.projection()
    own = catalog.project(member_vectors)
    extra = catalog.project(suggestion_vectors) if len(suggestion_vectors) else np.zeros((0, 2))
    everything = (
        np.vstack([catalog_points, own, extra]) if len(catalog_points) else np.vstack([own, extra])
    )
    low = np.quantile(everything, 0.005, axis=0)
    high = np.quantile(everything, 0.995, axis=0)
    low, high = np.minimum(low, own.min(axis=0)), np.maximum(high, own.max(axis=0))
    span = np.where(high - low > 1e-9, high - low, 1.0)
    margin = 24
    scale = min((width - 2 * margin) / span[0], (height - 2 * margin) / span[1])

    def to_svg(point: np.ndarray) -> tuple[float, float]:
        x = margin + (point[0] - low[0]) * scale
        y = height - margin - (point[1] - low[1]) * scale  # up is up
        return round(float(np.clip(x, 4, width - 4)), 1), round(float(np.clip(y, 4, height - 4)), 1)

    cell = (width - 2 * margin) / cells_across
    counts: dict[tuple[int, int], int] = {}
    if len(catalog_points):  # to_svg for every catalog point at once: thousands of them
        xs = np.round(np.clip(margin + (catalog_points[:, 0] - low[0]) * scale, 4, width - 4), 1)
        ys = height - margin - (catalog_points[:, 1] - low[1]) * scale
        ys = np.round(np.clip(ys, 4, height - 4), 1)
        keys = np.stack([(xs - margin) // cell, (ys - margin) // cell], axis=1).astype(int)
        found, numbers = np.unique(keys, axis=0, return_counts=True)
        counts = {(int(cx), int(cy)): int(n) for (cx, cy), n in zip(found, numbers, strict=True)}
    peak = max(counts.values(), default=1)
    cells = [
        MapCell(
            round(margin + cx * cell, 1),
            round(margin + cy * cell, 1),
            round(cell, 1),
            round(0.12 + 0.68 * math.sqrt(count / peak), 2),
            count,
        )
        for (cx, cy), count in sorted(counts.items())
    ]
    points = []
    for i, member in enumerate(members):
        x, y = to_svg(own[i])
        points.append(
            MapPoint(
                member.repo_id,
                x,
                y,
                "member",
                labels[i] + 1,
                topic_names[i],
                float(own[i][0]),
                float(own[i][1]),
            )
        )
    for i, suggestion in enumerate(suggestions):
        x, y = to_svg(extra[i])
        points.append(
            MapPoint(
                suggestion.dataset.repo_id,
                x,
                y,
                "suggestion",
                None,
                suggestion.new_topic,
                float(extra[i][0]),
                float(extra[i][1]),
            )
        )
    return MapView(width, height, cells, points, len(catalog_points))


# Loading -------------------------------------------------------------------------------------


def current_topics(session: Session, model_id: str) -> TopicTable | None:
    """The current topic-model version fitted on `model_id`'s vectors, or None."""
    version = session.scalar(
        sa.select(TopicModelVersion)
        .where(TopicModelVersion.is_current.is_(True), TopicModelVersion.model_id == model_id)
        .order_by(TopicModelVersion.id.desc())
        .limit(1)
    )
    if version is None:
        return None
    rows = session.execute(
        sa.select(Topic.id, Topic.number, Topic.label, Topic.size, Topic.centroid)
        .where(Topic.version_id == version.id)
        .order_by(Topic.number)
    ).all()
    if not rows:
        return None
    centroids = np.vstack(
        [np.frombuffer(row.centroid, dtype="<f4").astype(np.float32) for row in rows]
    )
    return TopicTable(
        version_id=version.id,
        ids=[row.id for row in rows],
        labels={row.id: row.label for row in rows},
        numbers={row.id: row.number for row in rows},
        sizes={row.id: row.size for row in rows},
        centroids=centroids,
    )


def topics_for(
    session: Session, topics: TopicTable, dataset_ids: Sequence[int], vectors: np.ndarray
) -> list[int]:
    """Each dataset's topic in the current version; the nearest centroid for datasets the
    model has not placed (embedded after it was fitted)."""
    placed = dict(
        session.execute(
            sa.select(DatasetTopic.dataset_id, DatasetTopic.topic_id).where(
                DatasetTopic.version_id == topics.version_id,
                DatasetTopic.dataset_id.in_(list(dataset_ids)),
            )
        ).all()
    )
    nearest = topics.nearest(vectors) if len(vectors) else []
    return [placed.get(dataset_id, nearest[i]) for i, dataset_id in enumerate(dataset_ids)]


def semantic_report(
    session: Session,
    embedder: Embedder,
    members: Sequence[MemberInput],
    embed_missing: bool = True,
) -> SemanticReport:
    """The assessment of these members. Members without a vector are embedded now (at most
    MAX_EMBED_IN_REQUEST, which commits the session) when `embed_missing`; what cannot be
    computed is said in the report's status and notes, never raised."""
    if len(members) < 2:
        return SemanticReport("too-few", "The assessment needs at least two datasets.")
    model_id = embedder.model_id
    ids = [m.dataset.id for m in members]
    found = vectors_for(session, model_id, ids)
    missing = [m for m in members if m.dataset.id not in found]
    report = SemanticReport("ready")
    if missing and embed_missing and len(missing) <= MAX_EMBED_IN_REQUEST:
        try:
            summary = embed_datasets(session, embedder, dataset_ids=[m.dataset.id for m in missing])
            report.embedded_now = summary.embedded
            found = vectors_for(session, model_id, ids)
        except ModelError as error:
            report.notes.append(f"The embedding model could not be loaded: {error}")
    report.missing = [m.repo_id for m in members if m.dataset.id not in found]
    members = [m for m in members if m.dataset.id in found]
    if len(members) < 2:
        report.status = "no-vectors"
        report.message = (
            "Too few of these datasets have been embedded to compare them. "
            f"An administrator embeds the catalog with “{HOW_TO_EMBED}”."
        )
        return report
    if report.missing:
        report.notes.append(f"Not embedded, so left out below: {', '.join(report.missing)}.")
    vectors = np.vstack([found[m.dataset.id] for m in members])
    names = [m.repo_id for m in members]

    report.groups, labels = groups_of(vectors, members)
    report.pairs = redundant_pairs(vectors, names)

    topics = current_topics(session, model_id)
    topic_ids = (
        topics_for(session, topics, [m.dataset.id for m in members], vectors) if topics else None
    )
    if topics and topic_ids:
        report.coverage = coverage_of(topic_ids, members, topics)
        if report.coverage.assumed_rows:
            report.notes.append(
                "Row counts unknown, weighted as the median of the others: "
                + ", ".join(report.coverage.assumed_rows)
                + "."
            )
    else:
        report.notes.append(
            "The catalog's topic model has not been fitted yet, so topic coverage and diversity "
            f"are not shown; it is built by {HOW_TO_FIT}."
        )
    report.values = member_values(vectors, members, topic_ids, topics)
    report.least_useful, report.least_useful_reason = least_useful(report.values, report.coverage)

    catalog = catalog_vectors(session, model_id)
    suggestion_vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    if len(catalog) > len(members):
        report.suggestions, suggestion_vectors = suggest(
            session, catalog, members, vectors, topics, topic_ids
        )
        report.map = map_view(
            catalog,
            members,
            vectors,
            labels,
            report.suggestions,
            suggestion_vectors,
            [topics.labels[t] for t in topic_ids]
            if topics and topic_ids
            else [None] * len(members),
        )
    return report


def suggest(
    session: Session,
    catalog: CatalogVectors,
    members: Sequence[MemberInput],
    vectors: np.ndarray,
    topics: TopicTable | None,
    topic_ids: Sequence[int] | None,
    count: int = SUGGESTIONS,
) -> tuple[list[Suggestion], np.ndarray]:
    """Catalog datasets for the combination's tasks that add the most new ground (MMR)."""
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    relevance = catalog.matrix @ centre
    nearest = (catalog.matrix @ vectors.T).max(axis=1)
    member_ids = {m.dataset.id for m in members}
    eligible = [
        row
        for row in np.argsort(-relevance, kind="stable")
        if int(catalog.ids[row]) not in member_ids and nearest[row] < NEAR_DUPLICATE
    ][: SUGGESTION_POOL * 2]
    tasks = {task for m in members for task in (m.dataset.task_categories or [])}
    if tasks:
        # Only the pool's task lists here (hundreds of rows); whole rows for the chosen few.
        pool_ids = [int(catalog.ids[row]) for row in eligible]
        pool_tasks = dict(
            session.execute(
                sa.select(Dataset.id, Dataset.task_categories).where(Dataset.id.in_(pool_ids))
            ).all()
        )
        eligible = [
            row for row in eligible if set(pool_tasks.get(int(catalog.ids[row])) or []) & tasks
        ] or eligible
    eligible = eligible[:SUGGESTION_POOL]
    if not eligible:
        return [], np.zeros((0, vectors.shape[1]), dtype=np.float32)
    candidates = catalog.matrix[eligible]
    picked = mmr(candidates, relevance[eligible], vectors, count)
    chosen_vectors = candidates[picked]
    chosen_ids = [int(catalog.ids[eligible[i]]) for i in picked]
    datasets = {
        d.id: d for d in session.scalars(sa.select(Dataset).where(Dataset.id.in_(chosen_ids)))
    }
    reached = set(topic_ids or [])
    new_topics = (
        topics_for(session, topics, [int(catalog.ids[eligible[i]]) for i in picked], chosen_vectors)
        if topics
        else [None] * len(picked)
    )
    suggestions = []
    for i, topic_id in zip(picked, new_topics, strict=True):
        row = eligible[i]
        similarities = vectors @ catalog.matrix[row]
        closest = int(np.argmax(similarities))
        suggestions.append(
            Suggestion(
                dataset=datasets[int(catalog.ids[row])],
                relevance=float(relevance[row]),
                nearest_member=members[closest].repo_id,
                nearest_similarity=float(similarities[closest]),
                new_topic=topics.labels[topic_id] if topics and topic_id not in reached else None,
            )
        )
    return suggestions, chosen_vectors


def members_from_facts(facts) -> list[MemberInput]:
    """The report's MemberFacts (app.combinations.report) as the assessment's input."""
    return [MemberInput(fact.dataset, fact.size.rows) for fact in facts]
