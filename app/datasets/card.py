"""Dataset cards: YAML front matter apart, Markdown rendered, everything sanitised."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from app.lru import WeightedLRU

MAX_CARD_CHARS = 200_000
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
}
SAFE_SCHEMES = {"http", "https", "mailto"}
# libyaml's loader when PyYAML was built with it: the front matter of a large card (OSCAR,
# universal_dependencies: 200,000+ characters of configs) parses in tens of milliseconds
# instead of half a second, time in which the pure-Python loader holds the worker's GIL.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Rendered cards kept per process, by their text and base URL, up to this many characters of
# text and HTML together (about 16 MB): a card changes far less often than it is shown, and a
# large one (OSCAR, bigbench) takes 0.1-0.3 s to render. Counted in characters, not cards,
# so that a few 200,000-character cards cannot crowd out hundreds of ordinary ones.
CARD_CHARS_KEPT = 16_000_000


@dataclass(frozen=True)
class RenderedCard:
    html: Markup
    metadata: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML header (as data, when it parses to a mapping) and the Markdown after it."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            header, body = "".join(lines[1:index]), "".join(lines[index + 1 :])
            try:
                data = yaml.load(header, Loader=YAML_LOADER)  # a safe loader, C or Python
            except yaml.YAMLError:
                return {}, body
            return (data if isinstance(data, dict) else {}), body
    return {}, text


def _markdown(base_url: str) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def heading_open(renderer, tokens, index, options, env):
        # The page has its <h1> and the card sits under an <h2>: card headings start at <h3>.
        level = min(6, int(tokens[index].tag[1]) + 2)
        return f"<h{level}>"

    def heading_close(renderer, tokens, index, options, env):
        level = min(6, int(tokens[index].tag[1]) + 2)
        return f"</h{level}>\n"

    def image(renderer, tokens, index, options, env):
        # No hot-linking: an image becomes a link the person may choose to follow.
        token = tokens[index]
        source = _absolute(str(token.attrGet("src") or ""), base_url)
        alt = token.content or "image"
        return f'<a href="{escape(source)}">Image: {escape(alt)}</a>'

    def link_open(renderer, tokens, index, options, env):
        token = tokens[index]
        token.attrSet("href", _absolute(str(token.attrGet("href") or ""), base_url))
        return renderer.renderToken(tokens, index, options, env)

    md.add_render_rule("heading_open", heading_open)
    md.add_render_rule("heading_close", heading_close)
    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


def _absolute(href: str, base_url: str) -> str:
    """Relative links in a card point into the dataset's repository on the Hub."""
    if not href or href.startswith("#") or urlsplit(href).scheme:
        return href
    return urljoin(base_url, href)


def _card_chars(key: Hashable, card: object) -> int:
    return len(key[0]) + len(card.html)


_rendered = WeightedLRU(CARD_CHARS_KEPT, _card_chars)


def render_card(text: str, base_url: str) -> RenderedCard:
    """Markdown to safe HTML: no script, handlers, javascript: URLs, images or hx-* attributes.

    Kept per (text, base URL): the result is frozen, and its metadata is only read."""
    return _rendered.get_or_make((text, base_url), lambda: _render(text, base_url))


def _render(text: str, base_url: str) -> RenderedCard:
    truncated = len(text) > MAX_CARD_CHARS
    metadata, body = split_front_matter(text[:MAX_CARD_CHARS])
    html = _markdown(base_url).render(body)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=SAFE_SCHEMES,
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
    return RenderedCard(html=Markup(clean), metadata=metadata, truncated=truncated)


SUMMARY_HEADINGS = ("dataset summary", "summary", "dataset description", "description")
MAX_SUMMARY_CHARS = 600


def summary_from_card(text: str) -> str:
    """A description from the card: the first paragraph under "Dataset Summary" (or a like
    heading), else the first real paragraph; plain text, links reduced to their words."""
    _, body = split_front_matter(text[:MAX_CARD_CHARS])
    tokens = MarkdownIt("commonmark").parse(body)
    heading = ""
    first_paragraph = ""
    nesting = 0  # inside lists, quotes and tables: links and facts, not prose
    for index, token in enumerate(tokens):
        if token.type in ("bullet_list_open", "ordered_list_open", "blockquote_open", "table_open"):
            nesting += 1
        elif token.type in (
            "bullet_list_close",
            "ordered_list_close",
            "blockquote_close",
            "table_close",
        ):
            nesting -= 1
        elif token.type == "heading_open":
            heading = tokens[index + 1].content.strip().lower()
        elif (
            token.type == "inline"
            and not nesting
            and index
            and tokens[index - 1].type == "paragraph_open"
        ):
            words = _plain_text(token)
            if len(words) < 40 or words.lower().startswith(("[more information", "dataset card")):
                continue
            if any(heading.endswith(name) for name in SUMMARY_HEADINGS):
                return words[:MAX_SUMMARY_CHARS]
            first_paragraph = first_paragraph or words
    return first_paragraph[:MAX_SUMMARY_CHARS]


def _plain_text(inline_token) -> str:
    parts = [
        child.content
        for child in inline_token.children or []
        if child.type in ("text", "code_inline")
    ]
    return " ".join(" ".join(parts).split())
