"""Datasets of the fake Hub: what is stored, and everything derived from it deterministically.

A `FakeDataset` keeps only the fields it was given. Everything else (the `_id`, sha, commit
history, likes, tags, card, sizes, siblings...) is derived from the id with SHA-256, so the
same catalog always produces the same Hub, and tests can set any field to pin it down.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import yamlish

LEGACY_CREATED_AT = datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC)
"""Repos older than this show (about) this createdAt on the real Hub."""
HISTORY_END = datetime(2025, 6, 1, tzinfo=UTC)
"""Synthesized commit histories end before this date."""
PARTIAL_LIMIT = 5_000_000_000
"""The viewer converts about the first 5 GB of a split; bigger splits are reported `partial`."""

HUB_FIELDS = tuple(
    (
        "_id author sha lastModified createdAt private gated disabled downloads downloadsAllTime "
        "likes trendingScore tags description citation paperswithcode_id cardData siblings "
        "usedStorage mainSize resourceGroup"
    ).split()
)
RECORD_FIELDS = tuple(
    (
        "pretty_name summary task_categories task_ids license language size_categories "
        "multilinguality annotations_creators language_creators source_datasets card_tags domain "
        "sizes canonical_sizes first_commit"
    ).split()
)
FAKE_FIELDS = ("card", "commits", "viewer", "is_valid")
ALL_FIELDS = frozenset(HUB_FIELDS + RECORD_FIELDS + FAKE_FIELDS)
ALIASES = {
    "object_id": "_id",
    "last_modified": "lastModified",
    "created_at": "createdAt",
    "downloads_all_time": "downloadsAllTime",
    "trending_score": "trendingScore",
    "card_data": "cardData",
    "used_storage": "usedStorage",
    "main_size": "mainSize",
    "resource_group": "resourceGroup",
}
VIEWER_STATES = ("ok", "partial", "pending", "failed", "not_ready", "none")
CARD_LIST_KEYS = tuple(
    (
        "annotations_creators language_creators language license multilinguality size_categories "
        "source_datasets task_categories task_ids"
    ).split()
)
TAG_PREFIX_ORDER = tuple(
    (
        "task_categories task_ids annotations_creators language_creators multilinguality "
        "source_datasets language license size_categories"
    ).split()
)
DOMAIN_MODALITY = {
    "nlp": "text",
    "computer_vision": "image",
    "audio": "audio",
    "tabular": "tabular",
}
USERS = tuple(
    (
        "lhoestq albertvillanova severo polinaeterna mariosasko julien-c davanstrien osanseviero "
        "system patrickvonplaten thomwolf stevhliu"
    ).split()
)
COMMIT_TITLES = (
    "Upload README.md with huggingface_hub",
    "Update README.md",
    "Upload dataset",
    "Add data files",
    "Convert dataset to Parquet (#{pr})",
    "Update dataset card (#{pr})",
    "Delete loading script",
    "Upload data/train-00000-of-00001.parquet with huggingface_hub",
    "Fix typos in README.md (#{pr})",
    "Add license information (#{pr})",
    "Update citation",
    "Add metadata (#{pr})",
    "Upload folder using huggingface_hub",
)
GITATTRIBUTES = (
    "*.7z filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    "*.parquet filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n"
)
TASK_FEATURES = {
    "text-classification": [("text", "string"), ("label", ["negative", "positive"])],
    "question-answering": [
        ("id", "string"),
        ("title", "string"),
        ("context", "string"),
        ("question", "string"),
        ("answers", "string"),
    ],
    "summarization": [("document", "string"), ("summary", "string")],
    "translation": [("source", "string"), ("target", "string")],
    "token-classification": [("tokens", ["string"]), ("ner_tags", ["int64"])],
    "image-classification": [("image", "image"), ("label", ["0", "1"])],
    "automatic-speech-recognition": [("audio", "audio"), ("text", "string")],
    "text-generation": [("text", "string")],
}


# ---------------------------------------------------------------------------------------------
# Deterministic helpers


def digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def unit(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return int.from_bytes(digest(*parts)[:8], "big") / 2**64


def hexid(length: int, *parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:length]


def iso(moment: datetime) -> str:
    """The Hub's timestamp format: `2023-06-08T06:40:09.000Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> datetime:
    """A datetime from a datetime, an ISO-8601 string (Z or offset) or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise TypeError(f"not a timestamp: {value!r}")


@functools.lru_cache(maxsize=4096)
def avatar(user: str) -> str:
    return (
        "https://cdn-avatars.huggingface.co/v1/production/uploads/"
        f"{hexid(24, 'avatar', user)}/{hexid(22, 'avatar-file', user)}.png"
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []


def _spread(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to `weights` that add up to `total` exactly."""
    if not weights:
        return []
    scale = sum(weights) or 1.0
    raw = [total * weight / scale for weight in weights]
    parts = [int(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda index: raw[index] - parts[index], reverse=True)
    for index in order[: total - sum(parts)]:
        parts[index] += 1
    return parts


# ---------------------------------------------------------------------------------------------
# Sizes: one internal shape for every source


def normalise_sizes(value: Any, dataset_id: str) -> list[dict[str, Any]] | None:
    """Configs as `[{config, splits:[{name,num_bytes,num_examples}], download_size, ...}]`.

    Accepts the catalog summary `{dataset_size, download_size, num_examples, configs: N}`
    (expanded into N configs deterministically), the canonical `{"configs": [...]}` shape,
    a list of configs, or a card `dataset_info` (dict or list of dicts with `config_name`).
    """
    if value is None:
        return None
    if isinstance(value, dict):
        if isinstance(value.get("configs"), list):
            entries = value["configs"]
        elif any(key in value for key in ("splits", "config_name", "features", "config")):
            entries = [value]
        elif any(key in value for key in ("dataset_size", "num_examples", "download_size")):
            return _configs_from_summary(value, dataset_id)
        else:
            raise ValueError(f"unrecognised sizes for {dataset_id}: {sorted(value)}")
    elif isinstance(value, list):
        entries = value
    else:
        raise ValueError(f"unrecognised sizes for {dataset_id}: {value!r:.80}")
    configs = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = entry.get("config") or entry.get("config_name") or "default"
        raw_splits = entry.get("splits") or []
        if isinstance(raw_splits, dict):
            raw_splits = [
                {"name": key, **val} for key, val in raw_splits.items() if isinstance(val, dict)
            ]
        splits = []
        for split in raw_splits:
            if not isinstance(split, dict) or not isinstance(split.get("name"), str):
                continue
            item = {
                "name": split["name"],
                "num_bytes": _int(split.get("num_bytes")),
                "num_examples": _int(split.get("num_examples")),
            }
            if split.get("num_bytes_parquet_files") is not None:
                item["num_bytes_parquet_files"] = _int(split["num_bytes_parquet_files"])
            splits.append(item)
        config: dict[str, Any] = {"config": str(name), "splits": splits}
        for key in ("download_size", "dataset_size", "num_bytes_original_files", "num_columns"):
            if entry.get(key) is not None:
                config[key] = _int(entry[key])
        if config.get("dataset_size") is None:
            config["dataset_size"] = sum(split["num_bytes"] for split in splits)
        if isinstance(entry.get("features"), list | dict):
            config["features"] = entry["features"]
        configs.append(config)
    return configs


def is_summary(value: Any) -> bool:
    """The catalog's per-dataset totals (no per-split detail)."""
    return (
        isinstance(value, dict)
        and not isinstance(value.get("configs"), list)
        and not any(key in value for key in ("splits", "config_name", "features", "config"))
    )


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _configs_from_summary(summary: dict[str, Any], dataset_id: str) -> list[dict[str, Any]]:
    count = max(1, min(_int(summary.get("configs")) or 1, 50))
    names = ["default"] if count == 1 else [f"config_{index + 1}" for index in range(count)]
    weights = [0.2 + unit(dataset_id, "config-weight", index) for index in range(count)]
    total_bytes = _spread(_int(summary.get("dataset_size")), weights)
    total_rows = _spread(_int(summary.get("num_examples")), weights)
    download = _spread(_int(summary.get("download_size")), weights)
    configs = []
    for index, name in enumerate(names):
        if unit(dataset_id, "split-layout", index) < 0.35:
            split_names, fractions = ["train"], [1.0]
        else:
            split_names, fractions = ["train", "validation", "test"], [0.8, 0.1, 0.1]
        split_bytes = _spread(total_bytes[index], fractions)
        split_rows = _spread(total_rows[index], fractions)
        configs.append(
            {
                "config": name,
                "splits": [
                    {"name": split, "num_bytes": split_bytes[i], "num_examples": split_rows[i]}
                    for i, split in enumerate(split_names)
                ],
                "download_size": download[index],
                "dataset_size": total_bytes[index],
            }
        )
    return configs


def _card_feature(name: str, kind: Any) -> dict[str, Any]:
    """A card-style feature entry from a short description used by TASK_FEATURES."""
    if isinstance(kind, list) and kind and kind[0] in ("string", "int64"):
        return {"name": name, "sequence": kind[0]}
    if isinstance(kind, list):
        return {
            "name": name,
            "dtype": {"class_label": {"names": {str(i): label for i, label in enumerate(kind)}}},
        }
    return {"name": name, "dtype": kind}


def synthesized_features(tasks: list[str]) -> list[dict[str, Any]]:
    for task in tasks:
        if task in TASK_FEATURES:
            return [_card_feature(name, kind) for name, kind in TASK_FEATURES[task]]
    return [_card_feature("text", "string")]


def viewer_features(card_features: Any) -> dict[str, Any]:
    """Card `features` (a list of {name, dtype|sequence|list|struct}) as a datasets dict."""
    if isinstance(card_features, dict):
        return card_features
    out: dict[str, Any] = {}
    for entry in card_features or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out[entry["name"]] = _viewer_feature(entry)
    return out


def _viewer_feature(entry: Any) -> Any:
    if isinstance(entry, str):
        return _viewer_dtype(entry)
    if not isinstance(entry, dict):
        return {"dtype": "string", "_type": "Value"}
    if "dtype" in entry:
        dtype = entry["dtype"]
        if isinstance(dtype, str):
            return _viewer_dtype(dtype)
        if isinstance(dtype, dict) and isinstance(dtype.get("class_label"), dict):
            names = dtype["class_label"].get("names") or {}
            if isinstance(names, dict):
                ordered = sorted(names.items(), key=lambda item: _int(item[0]))
                names = [str(label) for _, label in ordered]
            return {"names": [str(label) for label in names], "_type": "ClassLabel"}
        return {"dtype": "string", "_type": "Value"}
    for key, kind in (("sequence", "Sequence"), ("list", "List")):
        if key in entry:
            inner = entry[key]
            if isinstance(inner, list):
                feature: Any = {
                    item["name"]: _viewer_feature(item)
                    for item in inner
                    if isinstance(item, dict) and isinstance(item.get("name"), str)
                }
            else:
                feature = _viewer_feature(inner)
            return {"feature": feature, "_type": kind}
    if isinstance(entry.get("struct"), list):
        return {
            item["name"]: _viewer_feature(item)
            for item in entry["struct"]
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
    return {"dtype": "string", "_type": "Value"}


def _viewer_dtype(dtype: str) -> dict[str, Any]:
    if dtype in ("image", "audio", "video", "pdf"):
        return {"_type": dtype.capitalize()}
    return {"dtype": dtype, "_type": "Value"}


# ---------------------------------------------------------------------------------------------
# Cards


_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG_RE = re.compile(r"<[^>]+>")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_ARXIV_RE = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", re.I)
_CITATION_RE = re.compile(r"^#+\s*.*citation.*$\n+(?:.*\n)*?```[a-z]*\n(.*?)```", re.I | re.M)


def _inline_text(line: str) -> str:
    line = _IMAGE_RE.sub("", line)
    line = _LINK_RE.sub(r"\1", line)
    line = _TAG_RE.sub("", line)
    line = line.replace("**", "").replace("__", "").replace("`", "")
    return html.unescape(" ".join(line.split()))


def hub_description(card_text: str, limit: int = 400) -> str | None:
    """The Hub's auto-extracted description: card text as plain text, headings wrapped in tabs."""
    _, body = yamlish.split_front_matter(card_text)
    body = _COMMENT_RE.sub("", body)
    parts: list[str] = []
    in_code = False
    for line in body.split("\n"):
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code or line.lstrip().startswith("|"):
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            title = _inline_text(heading.group(2))
            if title:
                parts.append(f"\n\t\n\t\t\n\t\t{title}\n\t\n")
            continue
        text = _inline_text(line)
        if text.startswith(("- ", "* ")) and not text[2:].strip():
            continue
        if text:
            parts.append(text + "\n")
    description = "".join(parts).rstrip("\n")
    return description[:limit] if description.strip() else None


def card_citation(card_text: str) -> str | None:
    match = _CITATION_RE.search(card_text)
    if not match:
        return None
    text = match.group(1).strip()
    return text or None


def generated_card(
    title: str, card_data: dict[str, Any] | None, summary: str | None, citation: str | None
) -> str:
    front = ("---\n" + yamlish.dump(card_data) + "---\n\n") if card_data else ""
    return front + generated_body(title, summary, citation)


def generated_body(title: str, summary: str | None, citation: str | None) -> str:
    parts = [f"# Dataset Card for {title}\n"]
    parts.append("## Dataset Description\n")
    parts.append("### Dataset Summary\n")
    parts.append((summary or "[More Information Needed]") + "\n")
    if citation:
        parts.append("### Citation Information\n")
        parts.append(f"```bibtex\n{citation}\n```\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The dataset


class FakeDataset:
    """One dataset repo. `fields` holds what was given; `view()` everything derived from it."""

    def __init__(
        self, dataset_id: str, seq: int, fields: dict[str, Any], validate: bool = False
    ) -> None:
        if not isinstance(dataset_id, str) or not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?", dataset_id
        ):
            raise ValueError(f"invalid dataset id: {dataset_id!r}")
        self.id = dataset_id
        self.seq = seq
        self.fields: dict[str, Any] = {}
        self._view: DatasetView | None = None
        self._version = 0
        self.update(validate=validate, **fields)

    def __repr__(self) -> str:
        return f"<FakeDataset {self.id}>"

    def update(self, *, validate: bool = False, **fields: Any) -> None:
        """Set fields (None removes one); with `validate`, derive now and undo on error."""
        new = dict(self.fields)
        for key, value in fields.items():
            key = ALIASES.get(key, key)
            if key not in ALL_FIELDS:
                raise TypeError(f"unknown dataset field {key!r}")
            if key in ("lastModified", "createdAt", "first_commit") and value is not None:
                value = parse_time(value)
            if key == "gated":
                value = _gated(value)
            if key == "viewer" and value is not None and value not in VIEWER_STATES:
                raise ValueError(f"viewer must be one of {VIEWER_STATES}")
            if key == "commits" and isinstance(value, list):
                value = [_commit(self.id, item, index) for index, item in enumerate(value)]
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        previous = self.fields
        self.fields = new  # swapped whole: server threads never see a half-made change
        self._version += 1
        self._view = None
        if validate:
            try:
                self.view()
            except Exception:
                self.fields = previous
                self._version += 1
                self._view = None
                raise

    def view(self) -> DatasetView:
        view = self._view
        if view is None:
            version = self._version
            view = DatasetView(self)
            if version == self._version:
                self._view = view
        return view

    def commit_list(self) -> list[dict[str, Any]]:
        return list(self.view().commits)


TAG_FACT_KEYS = tuple(
    (
        "task_categories task_ids language license size_categories multilinguality "
        "annotations_creators language_creators source_datasets"
    ).split()
)


def _with_tag_facts(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields plus facets read from explicit Hub tags (`language:en`...) where not given."""
    tags = fields.get("tags")
    if not isinstance(tags, list):
        return fields
    facts = dict(fields)
    found: dict[str, list[str]] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        if sep and key in TAG_FACT_KEYS:
            found.setdefault(key, []).append(value)
    for key, values in found.items():
        facts.setdefault(key, values)
    plain = [tag for tag in tags if isinstance(tag, str) and ":" not in tag]
    if plain:
        facts.setdefault("card_tags", plain)
    return facts


def _gated(value: Any) -> Any:
    if value in (None, False, "false", "False", "", 0):
        return False
    if value is True or value in ("true", "True", 1):
        return "manual"
    if value in ("manual", "auto"):
        return value
    raise ValueError(f"gated must be False, 'auto' or 'manual', not {value!r}")


def _commit(dataset_id: str, item: Any, index: int) -> dict[str, Any]:
    """A commit in API shape (`date` kept as a datetime) from a partial dict."""
    if not isinstance(item, dict):
        raise TypeError("commits must be dicts")
    title = str(item.get("title", "Update README.md"))
    authors = item.get("authors") or [
        {"user": dataset_id.split("/")[0] if "/" in dataset_id else "system"}
    ]
    authors = [
        {"user": a, "avatar": avatar(a)}
        if isinstance(a, str)
        else {"avatar": avatar(a["user"]), **a}
        for a in authors
    ]
    return {
        "id": str(item.get("id") or hexid(40, dataset_id, "explicit-commit", index, title)),
        "title": title,
        "message": str(item.get("message", "")),
        "authors": authors,
        "date": parse_time(item["date"]) if item.get("date") else None,
    }


class DatasetView:
    """Everything the endpoints serve about one dataset, computed once per change."""

    def __init__(self, dataset: FakeDataset) -> None:
        f = dataset.fields
        self.id = dataset_id = dataset.id
        self.seq = dataset.seq
        namespace, _, name = dataset_id.rpartition("/")
        self.name = name
        self.author = f["author"] if "author" in f else (namespace or None)
        self.private = bool(f.get("private", False))
        self.gated = f.get("gated", False)
        self.disabled = bool(f.get("disabled", False))

        # Card, card data and sizes (which one is derived from which depends on what was given).
        card = f.get("card")
        f = self._facts = _with_tag_facts(f)
        given_sizes = f.get("sizes")
        summary = given_sizes if is_summary(given_sizes) else None
        explicit_sizes = None if summary is not None else normalise_sizes(given_sizes, dataset_id)
        self.card_parse_error: str | None = None
        self._given_card = card if isinstance(card, str) else None
        self.has_card = card is not False
        if isinstance(card, str) or "cardData" in f or card is False:
            card_data = f.get("cardData")
            if card_data is None and self._given_card is not None:
                card_data = self._parse_card(self._given_card)
            self.card_data = card_data if isinstance(card_data, dict) else None
            self.configs = (
                explicit_sizes
                or self._card_sizes()
                or self._canonical_sizes(f)
                or normalise_sizes(summary, dataset_id)
            )
            self.has_card = self._given_card is not None or (
                card is not False and self.card_data is not None
            )
        else:
            self.configs = (
                explicit_sizes or self._canonical_sizes(f) or normalise_sizes(summary, dataset_id)
            )
            self.card_data = self._record_card_data(f, with_sizes=True)
        title = f.get("pretty_name") or name
        self._body = (
            yamlish.split_front_matter(self._given_card)[1]
            if self._given_card is not None
            else generated_body(title, f.get("summary"), f.get("citation"))
            if self.has_card
            else None
        )
        if self.configs:
            tasks = self._facet("task_categories", f)
            for config in self.configs:
                config.setdefault("features", synthesized_features(tasks))

        self.tags = list(f["tags"]) if "tags" in f else self._tags(f)
        self.tag_set = frozenset(self.tags)
        if "description" in f:
            self.description = f["description"]
        else:
            self.description = (hub_description(self._body) if self._body else None) or f.get(
                "summary"
            )
        self.citation = f.get("citation") or (
            card_citation(self._body) if self._given_card else None
        )
        pwc = f.get("paperswithcode_id") or (self.card_data or {}).get("paperswithcode_id")
        self.paperswithcode_id = pwc if isinstance(pwc, str) else None

        # Dates and history.
        first = f.get("first_commit") or f.get("createdAt")
        if first is None:
            first = datetime(2022, 3, 3, tzinfo=UTC) + timedelta(
                seconds=int(
                    unit(dataset_id, "created") * 0.8 * (HISTORY_END.timestamp() - 1646265600)
                )
            )
        if "createdAt" in f:
            self.created_at = f["createdAt"]
        elif first < LEGACY_CREATED_AT:
            self.created_at = LEGACY_CREATED_AT + timedelta(
                seconds=int(unit(dataset_id, "legacy") * 30)
            )
        else:
            self.created_at = first
        self._first = first
        self._plan_history(f, first)

        # Popularity.
        self.downloads = (
            int(f["downloads"])
            if "downloads" in f
            else int(10 ** (6 * unit(dataset_id, "downloads") ** 2.5)) - 1
        )
        self.likes = (
            int(f["likes"])
            if "likes" in f
            else int(math.sqrt(self.downloads) * (0.02 + 0.3 * unit(dataset_id, "likes")))
            + int(unit(dataset_id, "likes-base") * 3)
        )
        self.downloads_all_time = (
            int(f["downloadsAllTime"])
            if "downloadsAllTime" in f
            else (self.downloads * (2 + int(20 * unit(dataset_id, "all-time"))))
        )
        self.trending_score = (
            f["trendingScore"]
            if "trendingScore" in f
            else int(self.likes * unit(dataset_id, "trending") ** 4 / 5)
        )

        seconds = int(self.created_at.timestamp()) & 0xFFFFFFFF
        self.object_id = f.get("_id") or f"{seconds:08x}{hexid(16, 'objectid', dataset_id)}"
        self.resource_group = f.get("resourceGroup")
        self.viewer_state = f.get("viewer") or ("ok" if self.configs else "failed")
        self.is_valid = f.get("is_valid")
        self.id_lower = dataset_id.lower()
        self.author_lower = (self.author or "").lower()

    # -- lazily derived (not needed to list datasets) ---------------------------------------

    @functools.cached_property
    def card_text(self) -> str | None:
        """README.md: the given card, or one generated from the card data and summary."""
        if self._given_card is not None or not self.has_card:
            return self._given_card
        front = ("---\n" + yamlish.dump(self.card_data) + "---\n\n") if self.card_data else ""
        return front + (self._body or "")

    @functools.cached_property
    def commits(self) -> list[dict[str, Any]]:
        """Newest first, in API shape except `date`, a datetime."""
        return self._commits(self._facts, self._first)

    @functools.cached_property
    def files(self) -> list[tuple[str, int, bool]]:
        return self._files(self._facts)

    @functools.cached_property
    def used_storage(self) -> int:
        f = self._facts
        if "usedStorage" in f:
            return int(f["usedStorage"])
        lfs_total = sum(size for _, size, lfs in self.files if lfs)
        plain = sum(size for _, size, lfs in self.files if not lfs)
        return int(lfs_total * (1.0 + unit(self.id, "storage")) + plain)

    @functools.cached_property
    def main_size(self) -> int:
        f = self._facts
        return int(f["mainSize"]) if "mainSize" in f else sum(size for _, size, _ in self.files)

    # -- card -------------------------------------------------------------------------------

    def _parse_card(self, text: str) -> dict[str, Any] | None:
        front, _ = yamlish.split_front_matter(text)
        if front is None:
            return None
        try:
            data = yamlish.load(front)
        except (yamlish.YamlError, ValueError, RecursionError) as error:
            self.card_parse_error = str(error)
            return None
        return data if isinstance(data, dict) else None

    def _card_sizes(self) -> list[dict[str, Any]] | None:
        info = (self.card_data or {}).get("dataset_info")
        if not info:
            return None
        try:
            return normalise_sizes(info, self.id) or None
        except ValueError:
            return None

    def _canonical_sizes(self, f: dict[str, Any]) -> list[dict[str, Any]] | None:
        return normalise_sizes(f.get("canonical_sizes"), self.id)

    def _record_card_data(self, f: dict[str, Any], with_sizes: bool) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in CARD_LIST_KEYS:
            values = f.get(key)
            if values:
                data[key] = list(values) if isinstance(values, list | tuple) else values
        if f.get("paperswithcode_id"):
            data["paperswithcode_id"] = f["paperswithcode_id"]
        if f.get("pretty_name"):
            data["pretty_name"] = f["pretty_name"]
        if f.get("card_tags"):
            data["tags"] = list(f["card_tags"])
        if with_sizes and self.configs:
            tasks = _strings(f.get("task_categories"))
            infos = []
            for config in self.configs:
                info: dict[str, Any] = {}
                if len(self.configs) > 1 or config["config"] != "default":
                    info["config_name"] = config["config"]
                info["features"] = config.get("features") or synthesized_features(tasks)
                info["splits"] = [
                    {
                        "name": s["name"],
                        "num_bytes": s["num_bytes"],
                        "num_examples": s["num_examples"],
                    }
                    for s in config["splits"]
                ]
                if config.get("download_size") is not None:
                    info["download_size"] = config["download_size"]
                info["dataset_size"] = config.get("dataset_size", 0)
                infos.append(info)
            data["dataset_info"] = (
                infos[0] if len(infos) == 1 and "config_name" not in infos[0] else infos
            )
        return data

    def _facet(self, key: str, f: dict[str, Any]) -> list[str]:
        if self.card_data is not None:
            return _strings(self.card_data.get(key))
        return _strings(f.get(key))

    def _tags(self, f: dict[str, Any]) -> list[str]:
        source = self.card_data if self.card_data is not None else self._record_card_data(f, False)
        tags: list[str] = []
        for key in TAG_PREFIX_ORDER:
            tags.extend(f"{key}:{value}" for value in _strings(source.get(key)))
        modalities = []
        if f.get("domain") in DOMAIN_MODALITY:
            modalities.append(DOMAIN_MODALITY[f["domain"]])
        for config in self.configs or []:
            for feature in viewer_features(config.get("features")).values():
                kind = feature.get("_type") if isinstance(feature, dict) else None
                if kind in ("Image", "Audio", "Video"):
                    modalities.append(kind.lower())
        tags.extend(f"modality:{modality}" for modality in dict.fromkeys(modalities))
        if self._body:
            tags.extend(
                f"arxiv:{number}" for number in dict.fromkeys(_ARXIV_RE.findall(self._body))
            )
        tags.append("region:us")
        tags.extend(tag for tag in _strings(source.get("tags")) if ":" not in tag)
        return list(dict.fromkeys(tags))

    # -- history ----------------------------------------------------------------------------

    def _plan_history(self, f: dict[str, Any], first: datetime) -> None:
        """Commit count, head sha and lastModified, without building the whole history."""
        dataset_id = self.id
        explicit = f.get("commits")
        if isinstance(explicit, list) and explicit:
            self.commit_count = len(explicit)
            self.sha = f.get("sha") or explicit[0]["id"]
            self.last_modified = f.get("lastModified") or max(
                (c["date"] for c in explicit if c["date"]), default=max(first, self.created_at)
            )
            return
        count = (
            explicit
            if isinstance(explicit, int) and explicit > 0
            else 1 + int(59 * unit(dataset_id, "commit-count") ** 3)
        )
        if f.get("lastModified"):
            end = f["lastModified"]
        elif first < self.created_at:  # legacy repos were all touched after the migration
            count = max(count, 2)
            span = max(0.0, (HISTORY_END - self.created_at).total_seconds())
            end = self.created_at + timedelta(seconds=int(span * unit(dataset_id, "end")))
        elif count == 1:
            end = first
        else:
            span = max(0.0, (HISTORY_END - first).total_seconds())
            end = first + timedelta(seconds=int(span * (0.05 + 0.95 * unit(dataset_id, "end"))))
        self.commit_count = count
        self._history_end = end
        self.sha = f.get("sha") or hexid(40, dataset_id, "commit", count - 1)
        self.last_modified = end

    def _commits(self, f: dict[str, Any], first: datetime) -> list[dict[str, Any]]:
        dataset_id = self.id
        explicit = f.get("commits")
        if isinstance(explicit, list) and explicit:
            commits = [dict(commit) for commit in explicit]
            for index, commit in enumerate(commits):
                if commit["date"] is None:
                    commit["date"] = self.last_modified - timedelta(hours=index)
            return commits
        count, end = self.commit_count, self._history_end
        start = min(first, end)
        fractions = sorted(unit(dataset_id, "commit-date", index) for index in range(count - 2))
        span = (end - start).total_seconds()
        dates = [start] + [start + timedelta(seconds=int(span * x)) for x in fractions]
        dates = (dates + [end])[:count] if count > 1 else [start]
        owner = dataset_id.split("/")[0] if "/" in dataset_id else None
        commits = []
        for index, date in enumerate(dates):
            commit_id = hexid(40, dataset_id, "commit", index)
            if index == 0:
                title, message, users = "initial commit", "", [owner or "system"]
            else:
                pick = int(unit(dataset_id, "title", index) * len(COMMIT_TITLES))
                pr = 1 + index // 2
                title = COMMIT_TITLES[pick].format(pr=pr)
                contributor = USERS[int(unit(dataset_id, "user", index) * len(USERS))]
                if "(#" in title:
                    plain = title.split(" (#")[0]
                    message = f"\n\n\n- {plain} ({hexid(40, dataset_id, 'pr-commit', index)})\n\n"
                    users = [contributor] if not owner else [owner, contributor]
                else:
                    message = ""
                    users = [owner or contributor]
            commits.append(
                {
                    "id": commit_id,
                    "title": title,
                    "message": message,
                    "authors": [
                        {"user": user, "avatar": avatar(user)} for user in dict.fromkeys(users)
                    ],
                    "date": date,
                }
            )
        commits.reverse()
        commits[0]["id"] = self.sha
        return commits

    # -- files ------------------------------------------------------------------------------

    def _files(self, f: dict[str, Any]) -> list[tuple[str, int, bool]]:
        """(path, size, is_lfs) for each file of the main branch."""
        if "siblings" in f:
            names = [s["rfilename"] if isinstance(s, dict) else str(s) for s in f["siblings"]]
            return [
                (
                    name,
                    len(self.card_text.encode())
                    if name == "README.md" and self.card_text
                    else int(unit(self.id, "file", name) * 10**7),
                    not name.endswith((".md", ".py", ".json", ".gitattributes")),
                )
                for name in names
            ]
        files = [(".gitattributes", len(GITATTRIBUTES), False)]
        if self.card_text is not None:
            files.append(("README.md", len(self.card_text.encode()), False))
        if self.configs:
            single = len(self.configs) == 1
            for config in self.configs:
                for split in config["splits"]:
                    folder = "data" if single else config["config"]
                    size = self.parquet_bytes(config, split)
                    files.append((f"{folder}/{split['name']}-00000-of-00001.parquet", size, True))
        elif "/" not in self.id:
            files.append((f"{self.name}.py", 2000 + int(unit(self.id, "script") * 8000), False))
        else:
            files.append(
                (
                    "data/train-00000-of-00001.parquet",
                    int(10 ** (3 + 6 * unit(self.id, "data"))),
                    True,
                )
            )
        return sorted(files)

    @property
    def siblings(self) -> list[dict[str, str]]:
        return [{"rfilename": name} for name, _, _ in self.files]

    def siblings_with_blobs(self) -> list[dict[str, Any]]:
        out = []
        for name, size, lfs in self.files:
            item: dict[str, Any] = {
                "rfilename": name,
                "size": size,
                "blobId": hexid(40, self.id, "blob", name),
            }
            if lfs:
                item["lfs"] = {
                    "size": size,
                    "sha256": digest(self.id, "lfs", name).hex(),
                    "pointerSize": 134,
                }
            out.append(item)
        return out

    def file_content(self, path: str) -> bytes | None:
        if path == "README.md":
            return self.card_text.encode() if self.card_text is not None else None
        if path == ".gitattributes":
            return GITATTRIBUTES.encode()
        if any(name == path for name, _, _ in self.files):
            return f"fakehub placeholder for {self.id}/{path}\n".encode()
        return None

    # -- viewer -----------------------------------------------------------------------------

    def parquet_bytes(self, config: dict[str, Any], split: dict[str, Any]) -> int:
        if "num_bytes_parquet_files" in split:
            return split["num_bytes_parquet_files"]
        ratio = 0.25 + 0.5 * unit(self.id, "parquet", config["config"], split["name"])
        return int(split["num_bytes"] * ratio)

    def _split_sizes(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        columns = config.get("num_columns") or len(viewer_features(config.get("features"))) or 1
        out = []
        for split in config["splits"]:
            memory, rows = split["num_bytes"], split["num_examples"]
            scale = 1.0
            if self.viewer_state == "partial":
                scale = min(0.5, PARTIAL_LIMIT / memory) if memory else 0.5
            elif memory > PARTIAL_LIMIT:
                scale = PARTIAL_LIMIT / memory
            partial = scale < 1.0
            out.append(
                {
                    "dataset": self.id,
                    "config": config["config"],
                    "split": split["name"],
                    "num_bytes_parquet_files": int(self.parquet_bytes(config, split) * scale),
                    "num_bytes_memory": int(memory * scale),
                    "num_rows": int(rows * scale),
                    "num_columns": columns,
                    "estimated_num_rows": rows if partial else None,
                    "_partial": partial,
                }
            )
        return out

    def _config_size(self, config: dict[str, Any], splits: list[dict[str, Any]]) -> dict[str, Any]:
        parquet = sum(s["num_bytes_parquet_files"] for s in splits)
        original = config.get("num_bytes_original_files")
        if original is None:
            original = config.get("download_size") or int(
                parquet * (1 + unit(self.id, "orig", config["config"]))
            )
        partial = any(s["_partial"] for s in splits)
        return {
            "dataset": self.id,
            "config": config["config"],
            "num_bytes_original_files": original,
            "num_bytes_parquet_files": parquet,
            "num_bytes_memory": sum(s["num_bytes_memory"] for s in splits),
            "num_rows": sum(s["num_rows"] for s in splits),
            "num_columns": splits[0]["num_columns"] if splits else (config.get("num_columns") or 1),
            "estimated_num_rows": (
                sum(s["estimated_num_rows"] or s["num_rows"] for s in splits) if partial else None
            ),
            "_partial": partial,
        }

    def config_names(self) -> list[str]:
        return [config["config"] for config in self.configs or []] or ["default"]

    def find_config(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.configs or [] if c["config"] == name), None)

    def size_payload(self, config_name: str | None) -> dict[str, Any]:
        state = self.viewer_state
        if state in ("pending", "failed"):
            jobs = [
                {"kind": "config-size", "dataset": self.id, "config": name, "split": None}
                for name in ([config_name] if config_name else self.config_names())
            ]
            empty = {
                "dataset": self.id,
                "num_bytes_original_files": 0,
                "num_bytes_parquet_files": 0,
                "num_bytes_memory": 0,
                "num_rows": 0,
                "estimated_num_rows": None,
            }
            return {
                "size": {"dataset": empty, "configs": [], "splits": []},
                "pending": jobs if state == "pending" else [],
                "failed": jobs if state == "failed" else [],
                "partial": False,
            }
        configs = [c for c in self.configs or [] if config_name in (None, c["config"])]
        split_rows = {c["config"]: self._split_sizes(c) for c in configs}
        config_rows = [self._config_size(c, split_rows[c["config"]]) for c in configs]
        partial = any(row["_partial"] for row in config_rows)
        all_splits = [_public(row) for c in configs for row in split_rows[c["config"]]]
        if config_name is not None:
            return {
                "size": {"config": _public(config_rows[0]), "splits": all_splits},
                "partial": partial,
            }
        dataset_row = {
            "dataset": self.id,
            "num_bytes_original_files": sum(r["num_bytes_original_files"] for r in config_rows),
            "num_bytes_parquet_files": sum(r["num_bytes_parquet_files"] for r in config_rows),
            "num_bytes_memory": sum(r["num_bytes_memory"] for r in config_rows),
            "num_rows": sum(r["num_rows"] for r in config_rows),
            "estimated_num_rows": (
                sum(r["estimated_num_rows"] or r["num_rows"] for r in config_rows)
                if partial
                else None
            ),
        }
        return {
            "size": {
                "dataset": dataset_row,
                "configs": [_public(r) for r in config_rows],
                "splits": all_splits,
            },
            "pending": [],
            "failed": [],
            "partial": partial,
        }

    def _info_entry(self, config: dict[str, Any]) -> dict[str, Any]:
        splits = self._split_sizes(config)
        return {
            "description": "",
            "citation": "",
            "homepage": "",
            "license": "",
            "features": viewer_features(config.get("features")),
            "builder_name": "parquet",
            "dataset_name": self.name,
            "config_name": config["config"],
            "version": {"version_str": "0.0.0", "major": 0, "minor": 0, "patch": 0},
            "splits": {
                s["split"]: {
                    "name": s["split"],
                    "num_bytes": s["num_bytes_memory"],
                    "num_examples": s["num_rows"],
                    "dataset_name": None,
                }
                for s in splits
            },
            "download_size": config.get("download_size")
            or sum(s["num_bytes_parquet_files"] for s in splits),
            "dataset_size": sum(s["num_bytes_memory"] for s in splits),
        }

    def info_payload(self, config_name: str | None) -> dict[str, Any]:
        state = self.viewer_state
        if state in ("pending", "failed"):
            jobs = [
                {"kind": "config-info", "dataset": self.id, "config": name, "split": None}
                for name in ([config_name] if config_name else self.config_names())
            ]
            return {
                "dataset_info": {},
                "pending": jobs if state == "pending" else [],
                "failed": jobs if state == "failed" else [],
                "partial": False,
            }
        configs = [c for c in self.configs or [] if config_name in (None, c["config"])]
        partial = any(s["_partial"] for c in configs for s in self._split_sizes(c))
        if config_name is not None:
            return {"dataset_info": self._info_entry(configs[0]), "partial": partial}
        return {
            "dataset_info": {c["config"]: self._info_entry(c) for c in configs},
            "pending": [],
            "failed": [],
            "partial": partial,
        }

    def splits_payload(self, config_name: str | None) -> dict[str, Any]:
        state = self.viewer_state
        if state in ("pending", "failed"):
            jobs = [
                {"kind": "config-split-names", "dataset": self.id, "config": name, "split": None}
                for name in ([config_name] if config_name else self.config_names())
            ]
            return {
                "splits": [],
                "pending": jobs if state == "pending" else [],
                "failed": jobs if state == "failed" else [],
            }
        return {
            "splits": [
                {"dataset": self.id, "config": c["config"], "split": s["name"]}
                for c in self.configs or []
                if config_name in (None, c["config"])
                for s in c["splits"]
            ],
            "pending": [],
            "failed": [],
        }

    def is_valid_payload(self) -> dict[str, bool]:
        if self.is_valid is not None:
            flags = {key: False for key in ("preview", "viewer", "search", "filter", "statistics")}
            flags.update({key: bool(value) for key, value in self.is_valid.items()})
            return flags
        ok = self.viewer_state in ("ok", "partial")
        return {"preview": ok, "viewer": ok, "search": ok, "filter": ok, "statistics": ok}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if not key.startswith("_")}


# ---------------------------------------------------------------------------------------------
# Reading catalog files


CATALOG_KEYS = ("card_shard", "description_source", "likely_autogenerated", "card_chars")


def classify(record: Any) -> str | None:
    """'card', 'sizes', 'meta', 'catalog' or 'hub' (a Hub item or fields), None if unusable."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    keys = set(record)
    if keys == {"id", "card"}:
        return "card"
    if keys <= {"id", "configs"} and isinstance(record.get("configs"), list):
        return "sizes"
    if "has_card" in keys:
        return "meta"
    if any(key in keys for key in CATALOG_KEYS):
        return "catalog"
    return "hub"


def fields_from_record(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """Keyword arguments for FakeDataset from a catalog, meta or Hub-shaped record."""
    fields: dict[str, Any] = {}
    if kind in ("catalog", "meta"):
        for key in (
            "pretty_name",
            "task_categories",
            "task_ids",
            "license",
            "language",
            "size_categories",
            "multilinguality",
            "paperswithcode_id",
            "domain",
            "downloads",
        ):
            if record.get(key) not in (None, [], ""):
                fields[key] = record[key]
        if record.get("tags"):
            fields["card_tags"] = record["tags"]
        if record.get("description"):
            fields["summary"] = record["description"]
        if record.get("sizes"):
            fields["sizes"] = record["sizes"]
        if record.get("created_at"):
            fields["first_commit"] = record["created_at"]
        if kind == "meta" and not record.get("has_card"):
            fields["card"] = False
        return fields
    for key, value in record.items():
        key = ALIASES.get(key, key)
        if key in ALL_FIELDS and key != "id" and value is not None:
            fields[key] = value
    return fields


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError:
                    yield number, None


def card_files(cards_dir: str | Path) -> Iterable[Path]:
    return sorted(Path(cards_dir).glob("*.jsonl"))
