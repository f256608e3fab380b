"""Turn a raw catalog line (starter file, 2023 snapshot, or Hub API item) into a record."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from app.catalog.vocabulary import (
    DOMAIN_MODALITIES,
    MODALITIES,
    SIZE_ORDER,
    TASK_MODALITIES,
    size_bucket_for_rows,
)

REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
REPO_ID_RE = re.compile(rf"^(?:{REPO_PART}/)?{REPO_PART}$")

MAX_DESCRIPTION = 5000
CARD_TITLE_RE = re.compile(r"^\s*(#+\s*)?dataset card for\b", re.IGNORECASE)
MAX_LIST_ITEMS = 100
MAX_VALUE_CHARS = 100
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class RecordError(ValueError):
    """A catalog line that cannot become a dataset record; the message says why."""


@dataclass
class DatasetRecord:
    repo_id: str
    author: str | None = None
    pretty_name: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    task_categories: list[str] = field(default_factory=list)
    modalities: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    license: str | None = None
    size_category: str | None = None
    num_rows: int | None = None
    num_bytes: int | None = None
    downloads: int | None = None
    likes: int | None = None
    trending_score: float | None = None
    created_at: datetime | None = None
    last_modified: datetime | None = None
    gated: bool = False
    aliases: list[str] = field(default_factory=list)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "repo_id", "author", "pretty_name", "description", "keywords", "tags",
        "task_categories", "modalities", "languages", "license", "size_category", "num_rows",
        "num_bytes", "downloads", "likes", "trending_score", "created_at", "last_modified",
        "gated",
    )  # fmt: skip

    @property
    def keywords(self) -> str:
        return keywords_for(self.tags, self.task_categories)

    def facet_pairs(self) -> set[tuple[str, str]]:
        pairs = {("task", task) for task in self.task_categories}
        pairs |= {("modality", modality) for modality in self.modalities}
        pairs |= {("language", language) for language in self.languages}
        if self.license:
            pairs.add(("license", self.license))
        if self.size_category:
            pairs.add(("size", self.size_category))
        return pairs

    def column_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.COLUMNS}


def keywords_for(tags: list[str], task_categories: list[str]) -> str:
    """Tags and task names as words, for full-text search."""
    words = tags + [task.replace("-", " ") for task in task_categories]
    return " ".join(dict.fromkeys(words))


def is_valid_repo_id(value: object) -> bool:
    return isinstance(value, str) and bool(REPO_ID_RE.match(value)) and ".." not in value


def record_from_raw(raw: Any) -> DatasetRecord:
    """Normalise one decoded JSON object; raise RecordError when it is not a dataset."""
    if not isinstance(raw, dict):
        raise RecordError("expected a JSON object")
    repo_id = raw.get("id")
    if not is_valid_repo_id(repo_id):
        raise RecordError(f"invalid or missing dataset id: {repo_id!r:.80}")
    card = raw.get("cardData") if isinstance(raw.get("cardData"), dict) else {}
    prefixed, plain_tags = _split_hub_tags(raw.get("tags"))

    tasks = _strings(raw.get("task_categories") or card.get("task_categories"))
    tasks = tasks or prefixed.get("task_categories", [])
    languages = _strings(raw.get("language") or raw.get("languages") or card.get("language"))
    languages = [value.lower() for value in (languages or prefixed.get("language", []))]

    sizes = raw.get("sizes") if isinstance(raw.get("sizes"), dict) else {}
    num_rows = _count(raw.get("num_rows", sizes.get("num_examples")), BIGINT_MAX)
    num_bytes = _count(raw.get("num_bytes", sizes.get("dataset_size")), BIGINT_MAX)

    size_category = _size_bucket(
        raw.get("size_categories") or card.get("size_categories") or prefixed.get("size_categories")
    ) or size_bucket_for_rows(num_rows)

    modalities = [
        m for m in _strings(raw.get("modalities") or prefixed.get("modality")) if m in MODALITIES
    ]
    modalities = modalities or _implied_modalities(tasks, raw.get("domain"))

    repo_id = str(repo_id)
    author = raw.get("author") if isinstance(raw.get("author"), str) else None
    if author is None and "/" in repo_id:
        author = repo_id.split("/", 1)[0]

    pretty_name = raw.get("pretty_name") or card.get("pretty_name")
    aliases = [a for a in _strings(raw.get("aliases")) if is_valid_repo_id(a) and a != repo_id]
    return DatasetRecord(
        repo_id=repo_id,
        author=_text(author, 100),
        pretty_name=_text(pretty_name, 300) if isinstance(pretty_name, str) else None,
        description=_description(raw.get("description")),
        tags=[t.lower() for t in _strings(plain_tags)][:50],
        task_categories=tasks,
        modalities=modalities,
        languages=languages,
        license=_license(raw.get("license") or card.get("license") or prefixed.get("license")),
        size_category=size_category,
        num_rows=num_rows,
        num_bytes=num_bytes,
        downloads=_count(raw.get("downloads"), INT_MAX),
        likes=_count(raw.get("likes"), INT_MAX),
        trending_score=_number(raw.get("trending_score", raw.get("trendingScore"))),
        created_at=_timestamp(raw.get("created_at", raw.get("createdAt"))),
        last_modified=_timestamp(raw.get("last_modified", raw.get("lastModified"))),
        gated=raw.get("gated") not in (None, False, "false", ""),
        aliases=aliases,
    )


def _split_hub_tags(tags: Any) -> tuple[dict[str, list[str]], list[str]]:
    """Hub items carry facets as `key:value` tags (`language:en`); the rest are topical tags."""
    prefixed: dict[str, list[str]] = {}
    plain: list[str] = []
    for tag in _strings(tags):
        key, sep, value = tag.partition(":")
        if sep and key in {"task_categories", "language", "license", "size_categories", "modality"}:
            prefixed.setdefault(key, []).append(value)
        elif not sep:
            plain.append(tag)
    return prefixed, plain


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    cleaned = [v.strip() for v in value[:MAX_LIST_ITEMS] if isinstance(v, str)]
    return list(dict.fromkeys(v[:MAX_VALUE_CHARS] for v in cleaned if v))


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    collapsed = " ".join(value.split())
    return collapsed[:limit] or None


def _description(value: Any) -> str:
    """The text, unless it is the card's title and headings flattened ("Dataset Card for X...")."""
    text = _text(value, MAX_DESCRIPTION) or ""
    # The Hub's own `description` is the card flattened, title and headings first: worse than
    # any summary we have, so it counts as unknown (see catalog.store.KEEP_WHEN_UNKNOWN).
    return "" if CARD_TITLE_RE.match(text) else text


def _license(value: Any) -> str | None:
    values = _strings(value)
    return values[0].lower()[:64] if values else None


def _size_bucket(value: Any) -> str | None:
    """The largest plain bucket named; per-config values look like `msmarco:1M<n<10M`."""
    buckets = [v.rsplit(":", 1)[-1] for v in _strings(value)]
    known = [b for b in buckets if b in SIZE_ORDER]
    return max(known, key=SIZE_ORDER.__getitem__) if known else None


def _implied_modalities(tasks: list[str], domain: Any) -> list[str]:
    implied: list[str] = []
    for task in tasks:
        implied.extend(TASK_MODALITIES.get(task, ()))
    if not implied and isinstance(domain, str):
        implied.extend(DOMAIN_MODALITIES.get(domain, ()))
    return list(dict.fromkeys(implied))


def _count(value: Any, limit: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value < 0 or value > limit:  # NaN, negative or out of column range
        return None
    return int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
