"""Jinja filters and globals shared by all templates."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from flask import Flask, current_app, url_for
from markupsafe import Markup, escape

from app.catalog.vocabulary import FACETS, PER_PAGE_CHOICES, SORTS
from app.lru import WeightedLRU

if TYPE_CHECKING:
    from app.models import Dataset

# htmx settings, in a <meta> tag: no eval (the CSP forbids it), indicator styles come from our
# CSS, history restores ask for the whole page, and error responses are swapped so people see them.
HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "historyRestoreAsHxRequest": False,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "422", "swap": True},  # a form with mistakes: expected, not an error
        {"code": "409", "swap": True},  # a limit reached (a full combination): said in place
        {"code": "[45]..", "swap": True, "error": True},
    ],
}

LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Chinese",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "ru": "Russian",
    "ja": "Japanese",
    "ar": "Arabic",
    "pt": "Portuguese",
    "it": "Italian",
    "ko": "Korean",
    "hi": "Hindi",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "id": "Indonesian",
    "sv": "Swedish",
    "fa": "Persian",
    "uk": "Ukrainian",
    "cs": "Czech",
    "fi": "Finnish",
    "el": "Greek",
    "he": "Hebrew",
    "th": "Thai",
    "bn": "Bengali",
    "ta": "Tamil",
    "ur": "Urdu",
    "ro": "Romanian",
    "hu": "Hungarian",
    "da": "Danish",
    "no": "Norwegian",
    "ca": "Catalan",
    "sw": "Swahili",
    "code": "Code",
}


def compact_number(value: int | None) -> str:
    """12345 -> '12.3k', for tight table cells (the exact figure goes in a title)."""
    if value is None:
        return "—"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}" if scaled < 100 else f"{scaled:.0f}"
            return text.removesuffix(".0") + suffix
    return str(value)


def amount(value, kind: str = "rows") -> str:
    """An Amount in words: exact, a range, a lower bound, or "unknown" (never a zero)."""
    show = file_size if kind == "bytes" else "{:,}".format
    if value is None or value.low is None:
        return "unknown"
    if value.high is None:
        return f"at least {show(value.low)}"
    if value.high == value.low:
        return show(value.low)
    return f"{show(value.low)} – {show(value.high)}"


def percent(fraction: float | None) -> str:
    if fraction is None:
        return "—"
    return f"{fraction * 100:.1f}%" if fraction >= 0.001 else "<0.1%"


def file_size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{value} B"


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 days ago', for a date people scan; the absolute date sits beside it in <time>."""
    if moment is None:
        return "—"
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "just now"
    for span, name in (
        (31_536_000, "year"),
        (2_592_000, "month"),
        (604_800, "week"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
    ):
        if seconds >= span:
            count = int(seconds // span)
            return f"{count} {name}{'s' if count != 1 else ''} ago"
    return "just now"


def parse_datetime(value: str | datetime | None) -> datetime | None:
    """ISO text (as cached JSON holds it) back to a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def iso_datetime(moment: datetime | str | None) -> str:
    moment = parse_datetime(moment)
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dom_id(value: str) -> str:
    """A stable, selector-safe id fragment for any text (so htmx can keep focus across swaps)."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:40]
    return f"{slug}-{zlib.crc32(value.encode()):08x}"


def return_path(path: str | None) -> str | None:
    """A path to come back to after signing in; never an auth page itself."""
    if not path or path.startswith(("/auth/", "/static/")):
        return None
    return path.rstrip("?")


def facet_label(facet: str, value: str) -> str:
    if facet == "language":
        name = LANGUAGE_NAMES.get(value)
        return f"{name} ({value})" if name else value
    if facet in ("task", "modality"):
        return value.replace("-", " ").capitalize()
    return value


def form_field_errors(form) -> list[tuple]:
    """(field, first message) for each field with an error, in form order."""
    return [(field, field.errors[0]) for field in form if field.errors]


class RowUrls(NamedTuple):
    """Where one dataset row's link and two forms go."""

    show: str
    follow: str
    select: str


ROW_ENDPOINTS = ("datasets.show", "follows.set_following", "combinations.select_dataset")
_PROBE = "probe"


class DatasetUrls:
    """url_for(endpoint, repo_id=...) for the row's three endpoints, at one quote per dataset.

    Each of their rules is a fixed prefix then <path:repo_id>, so url_for's answer is that
    prefix (built here once, by url_for itself) followed by the repo id as the path converter
    quotes it. An endpoint whose URL is not of that shape (another rule, a default added by a
    url_defaults hook) keeps calling url_for. tests/catalog/test_row_rendering.py holds the two
    equal for awkward ids.
    """

    def __init__(self) -> None:
        url_map = current_app.url_map
        self._quote: Callable[[str], str] = url_map.converters["path"](url_map).to_url
        self.prefixes: list[str | None] = [self._prefix(endpoint) for endpoint in ROW_ENDPOINTS]

    @staticmethod
    def _prefix(endpoint: str) -> str | None:
        rules = list(current_app.url_map.iter_rules(endpoint))
        if len(rules) != 1 or rules[0].arguments != {"repo_id"} or rules[0].defaults:
            return None
        if not rules[0].rule.endswith("/<path:repo_id>"):
            return None
        probe = url_for(endpoint, repo_id=_PROBE)
        return probe[: -len(_PROBE)] if probe.endswith("/" + _PROBE) else None

    def __call__(self, repo_id: str) -> RowUrls:
        path = self._quote(repo_id)
        return RowUrls(
            *(
                prefix + path if prefix is not None else url_for(endpoint, repo_id=repo_id)
                for prefix, endpoint in zip(self.prefixes, ROW_ENDPOINTS, strict=True)
            )
        )


class DatasetRows:
    """What every dataset row of one page shares, worked out once for the page.

    Made by the template (dataset_rows(...)) and handed to the row macro: the CSRF token is the
    one csrf_token() returns for this request, the way back is the page's own URL.
    """

    def __init__(
        self,
        back: str,
        csrf_token: str,
        followed_ids: Collection[int],
        selected_ids: Collection[int],
        follower_counts: Mapping[int, int],
    ) -> None:
        self.back = back
        self.csrf_token = csrf_token
        self.followed_ids = followed_ids
        self.selected_ids = selected_ids
        self.follower_counts = follower_counts
        self.urls = DatasetUrls()
        self.now = datetime.now(UTC)  # "3 days ago" against one clock for the whole page
        # The summary macro, looked up once for the page's rows.
        self._render_summary = current_app.jinja_env.get_template(
            SUMMARY_TEMPLATE
        ).module.dataset_summary

    def summary(self, dataset: Dataset, show_url: str, similarity: float | None = None) -> Markup:
        """The row's catalog/_dataset_summary.html, kept rendered under everything it shows (a
        rewritten row or a day passing makes a new entry): rendering it was about a quarter of a
        results page's template time, and the same rows come back page after page."""
        render = self._render_summary
        if similarity is not None:  # a score per query: not worth keeping
            return render(dataset, show_url, self.now, similarity)
        moment = dataset.last_modified or dataset.created_at
        key = (
            show_url, dataset.repo_id, dataset.pretty_name, dataset.description,
            tuple(dataset.modalities or ()), tuple(dataset.task_categories or ()),
            dataset.license, dataset.size_category, dataset.downloads, dataset.likes,
            dataset.last_modified, dataset.created_at, relative_time(moment, self.now),
        )  # fmt: skip
        return _summaries.get_or_make(key, lambda: render(dataset, show_url, self.now))


SUMMARY_TEMPLATE = "catalog/_dataset_summary.html"
SUMMARY_CHARS_KEPT = 8_000_000  # per process: some 5,000 rows, 10-20 MB
# An entry weighs its HTML, the description in its key and a little for the rest of the key.
_summaries = WeightedLRU(SUMMARY_CHARS_KEPT, lambda key, html: len(html) + len(key[3] or "") + 200)


def clear_summaries() -> None:
    _summaries.clear()


class Lazy:
    """A context value worked out only when a template prints it: context processors run for
    every template, most fragments print none of the navigation's figures."""

    def __init__(self, compute: Callable[[], object]) -> None:
        self._compute = compute
        self._done = False
        self._value: object = None

    @property
    def value(self) -> object:
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value

    def __str__(self) -> str:
        return str(self.value)

    def __html__(self) -> str:
        return str(escape(self.value))


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(
        compact_number=compact_number,
        file_size=file_size,
        amount=amount,
        percent=percent,
        relative_time=relative_time,
        iso_datetime=iso_datetime,
        parse_datetime=parse_datetime,
        dom_id=dom_id,
        return_path=return_path,
        form_field_errors=form_field_errors,
    )
    app.jinja_env.globals.update(
        FACETS=FACETS,
        SORTS=SORTS,
        PER_PAGE_CHOICES=PER_PAGE_CHOICES,
        HTMX_CONFIG=HTMX_CONFIG,
        facet_label=facet_label,
        dataset_rows=DatasetRows,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
