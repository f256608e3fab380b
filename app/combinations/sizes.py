"""Sizes of datasets and of their combination: exact where known, ranges where only a size
category is known, and never a silent zero for what nobody knows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.catalog.vocabulary import SIZE_BUCKETS


@dataclass(frozen=True)
class Amount:
    """A count known exactly (low == high), as a range, as a lower bound (high None) or not at
    all (low None)."""

    low: int | None
    high: int | None

    @classmethod
    def exact(cls, value: int) -> Amount:
        return cls(value, value)

    @classmethod
    def unknown(cls) -> Amount:
        return cls(None, None)

    @property
    def known(self) -> bool:
        return self.low is not None

    @property
    def is_exact(self) -> bool:
        return self.known and self.low == self.high

    @property
    def estimate(self) -> float | None:
        """One number to draw and plan with: the value, a range's geometric middle, or the
        lower bound of an open range."""
        if self.low is None:
            return None
        if self.high is None or self.high == self.low:
            return float(self.low)
        return math.sqrt(max(self.low, 1) * self.high)

    def __add__(self, other: Amount) -> Amount:
        """An unknown part makes the sum open-ended: it is at least the known part."""
        low = (self.low or 0) + (other.low or 0)
        if self.high is None or other.high is None:
            return Amount(low, None)
        return Amount(low, self.high + other.high)


def sum_amounts(amounts: Iterable[Amount]) -> Amount:
    """The total; unknown when no part is known (a sum of unknowns is not "at least 0")."""
    amounts = list(amounts)
    if amounts and not any(amount.known for amount in amounts):
        return Amount.unknown()
    total = Amount.exact(0)
    for amount in amounts:
        total = total + amount
    return total


def rows_for_size_category(category: str | None) -> Amount:
    """The range a Hub size category ("10K<n<100K") stands for."""
    lower = 0
    for name, upper in SIZE_BUCKETS:
        if name == category:
            if math.isinf(upper):
                return Amount(int(lower), None)
            return Amount(int(lower), int(upper) - 1)
        lower = upper
    return Amount.unknown()


@dataclass(frozen=True)
class SplitFacts:
    config: str
    split: str
    rows: int | None
    bytes: int | None


@dataclass(frozen=True)
class SizeFacts:
    """What we know of one dataset's size, and where each figure comes from."""

    rows: Amount
    rows_source: str  # words for the page: "the dataset viewer", "its size category", …
    dataset_bytes: Amount  # prepared (Arrow / in memory)
    download_bytes: Amount
    parquet_bytes: Amount
    splits: list[SplitFacts] = field(default_factory=list)
    splits_source: str | None = None
    split_bytes_kind: str | None = None  # "Parquet" or "in memory"
    configs: list[str] = field(default_factory=list)

    @property
    def primary_config(self) -> str | None:
        """The configuration load_dataset picks without a name: "default", or the only one."""
        if "default" in self.configs or len(self.configs) == 1:
            return "default" if "default" in self.configs else self.configs[0]
        return self.configs[0] if self.configs else None

    def train_rows(self) -> Amount:
        """Rows a mix draws from: the train split of the primary configuration when the splits
        are known, otherwise all rows."""
        primary = self.primary_config
        for split in self.splits:
            if split.split == "train" and split.config == primary and split.rows is not None:
                return Amount.exact(split.rows) if self.rows.is_exact else Amount(split.rows, None)
        return self.rows


def _payload(value: Any) -> Mapping[str, Any]:
    """A cached Hub answer, or nothing when it is missing, gated or never fetched."""
    if not isinstance(value, Mapping) or value.get("missing") or value.get("gated"):
        return {}
    return value


def size_facts(
    catalog_rows: int | None,
    catalog_bytes: int | None,
    size_category: str | None,
    detail: Any = None,
    viewer: Any = None,
    info: Any = None,
) -> SizeFacts:
    """Combine the catalog row with cached Hub answers (detail, viewer /size, viewer /info),
    preferring what is measured (the viewer) over what is declared (the card)."""
    detail, viewer, info = _payload(detail), _payload(viewer), _payload(info)
    card_splits = [s for s in detail.get("card_sizes") or [] if isinstance(s, Mapping)]
    card_configs = [c for c in detail.get("card_configs") or [] if isinstance(c, Mapping)]
    info_configs = [c for c in info.get("configs") or [] if isinstance(c, Mapping)]
    info_splits = [s for c in info_configs for s in c.get("splits") or [] if isinstance(s, Mapping)]
    viewer_splits = [s for s in viewer.get("splits") or [] if isinstance(s, Mapping)]

    rows, source = _rows(catalog_rows, size_category, viewer, card_splits, info_splits)
    if viewer_splits:
        splits, splits_source, kind = viewer_splits, "the dataset viewer", "Parquet"
    elif card_splits:
        splits, splits_source, kind = card_splits, "the dataset card", "in memory"
    elif info_splits:
        splits, splits_source, kind = info_splits, "the dataset viewer", "in memory"
    else:
        splits, splits_source, kind = [], None, None
    configs = list(
        dict.fromkeys(
            [str(c.get("name")) for c in info_configs if c.get("name")]
            + [str(c.get("config")) for c in card_configs if c.get("config")]
            + [str(s.get("config")) for s in splits if s.get("config")]
        )
    )
    return SizeFacts(
        rows=rows,
        rows_source=source,
        dataset_bytes=_dataset_bytes(catalog_bytes, viewer, card_configs, card_splits),
        download_bytes=_declared_total(card_configs, "download_bytes"),
        parquet_bytes=_exact_or_unknown(viewer.get("num_bytes")),
        splits=[
            SplitFacts(
                str(s.get("config", "")),
                str(s.get("split", "")),
                s.get("num_rows"),
                s.get("num_bytes"),
            )
            for s in splits
        ],
        splits_source=splits_source,
        split_bytes_kind=kind,
        configs=configs,
    )


def _rows(
    catalog_rows: int | None,
    size_category: str | None,
    viewer: Mapping[str, Any],
    card_splits: list[Mapping[str, Any]],
    info_splits: list[Mapping[str, Any]],
) -> tuple[Amount, str]:
    if isinstance(viewer.get("num_rows"), int):
        if viewer.get("partial"):
            return Amount(viewer["num_rows"], None), "the dataset viewer (part of the data)"
        return Amount.exact(viewer["num_rows"]), "the dataset viewer"
    for splits, source in ((card_splits, "the dataset card"), (info_splits, "the dataset viewer")):
        counts = [s.get("num_rows") for s in splits]
        if counts and all(isinstance(n, int) for n in counts):
            return Amount.exact(sum(counts)), source
    if catalog_rows is not None:
        return Amount.exact(catalog_rows), "the catalog"
    by_category = rows_for_size_category(size_category)
    if by_category.known:
        return by_category, f"its size category ({size_category})"
    return Amount.unknown(), "nowhere: no size is known"


def _dataset_bytes(
    catalog_bytes: int | None,
    viewer: Mapping[str, Any],
    card_configs: list[Mapping[str, Any]],
    card_splits: list[Mapping[str, Any]],
) -> Amount:
    declared = _declared_total(card_configs, "dataset_bytes")
    if declared.known:
        return declared
    if isinstance(viewer.get("memory_bytes"), int):
        return Amount.exact(viewer["memory_bytes"])
    split_bytes = [s.get("num_bytes") for s in card_splits]
    if split_bytes and all(isinstance(n, int) for n in split_bytes):
        return Amount.exact(sum(split_bytes))
    return _exact_or_unknown(catalog_bytes)


def _declared_total(configs: list[Mapping[str, Any]], key: str) -> Amount:
    values = [c.get(key) for c in configs]
    if values and all(isinstance(v, int) for v in values):
        return Amount.exact(sum(values))
    return Amount.unknown()


def _exact_or_unknown(value: Any) -> Amount:
    return Amount.exact(value) if isinstance(value, int) and value >= 0 else Amount.unknown()
