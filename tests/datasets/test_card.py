"""Dataset cards are someone else's HTML: nothing in them may run, load or act for us."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.datasets.card import render_card, split_front_matter, summary_from_card

BASE = "https://huggingface.co/datasets/org/x/blob/main/"

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<svg onload="alert(1)"><circle r="10"/></svg>',
    "<svg><script>alert(1)</script></svg>",
    '<div hx-get="/auth/logout" hx-trigger="load">x</div>',
    '<button data-hx-post="/account/delete" data-hx-trigger="load">x</button>',
    '<form action="/auth/logout" method="post"><button>go</button></form>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    "<style>body{display:none}</style>",
    '<p style="position:fixed;top:0">cover</p>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<a href="https://ok.example" onclick="steal()">ok</a>',
    '<details open ontoggle="alert(1)"><summary>x</summary></details>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<input autofocus onfocus="alert(1)">',
    "![tracker](https://evil.example/pixel.gif)",
    '<img src="https://evil.example/pixel.gif">',
]
BANNED_TAGS = {"script", "style", "iframe", "object", "embed", "form", "input", "button", "meta",
               "base", "svg", "math", "img", "link"}  # fmt: skip


class Inspector(HTMLParser):
    """Everything in the output that could run, load or act: tags, handlers, URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in BANNED_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith(("on", "hx-", "data-hx-", "style")):
                self.problems.append(f"{tag}[{name}]")
            if name in ("href", "src") and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme not in ("", "http", "https", "mailto"):
                    self.problems.append(f"{tag}[{name}={value[:30]}]")


def dangers(html: str) -> list[str]:
    inspector = Inspector()
    inspector.feed(html)
    return inspector.problems


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_card_content_is_neutralised(payload):
    html = str(render_card(f"# Card\n\n{payload}\n\nAfter.", BASE).html)
    assert dangers(html) == [], html
    if "<math>" not in payload:  # an unclosed raw-HTML block may swallow the rest: still safe
        assert "After." in html  # the rest of the card survives


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(HOSTILE + ["text", "**bold**", "\n\n", "<", ">", '"', "`code`", "]("]),
        max_size=12,
    ).map("".join)
)
def test_no_combination_of_hostile_pieces_escapes(card):
    assert dangers(str(render_card(card, BASE).html)) == []


def test_images_become_links_instead_of_loading():
    html = str(render_card("![a chart](https://example.org/chart.png)", BASE).html)
    assert "<img" not in html
    assert '<a href="https://example.org/chart.png"' in html and "Image: a chart" in html


def test_links_are_marked_and_relative_ones_point_into_the_repository():
    html = str(render_card("[data](data/train.csv) [site](https://example.org)", BASE).html)
    assert 'href="https://huggingface.co/datasets/org/x/blob/main/data/train.csv"' in html
    assert html.count('rel="nofollow noopener noreferrer ugc"') == 2


def test_headings_sit_under_the_page_headings():
    html = str(render_card("# Title\n## Part", BASE).html)
    assert "<h3>Title</h3>" in html and "<h4>Part</h4>" in html and "<h1" not in html


def test_tables_and_code_render():
    html = str(render_card("| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx = 1\n```", BASE).html)
    assert "<table>" in html and "<td>1</td>" in html and "<pre><code>x = 1" in html


def test_front_matter_is_metadata_not_text():
    card = "---\nlicense: mit\nlanguage:\n- en\n---\n# Hello\n"
    rendered = render_card(card, BASE)
    assert rendered.metadata == {"license": "mit", "language": ["en"]}
    assert "license" not in str(rendered.html) and "<h3>Hello</h3>" in str(rendered.html)


@pytest.mark.parametrize(
    "card",
    ["---\n: : bad yaml [\n---\nbody", "---\n- a list\n---\nbody", "---\nno end", "plain"],
)
def test_odd_front_matter_never_fails(card):
    metadata, body = split_front_matter(card)
    assert isinstance(metadata, dict)
    assert "body" in body or body in ("---\nno end", "plain")


def test_a_card_shown_again_is_not_rendered_again():
    card = "---\nlicense: mit\n---\n# Again\n"
    first = render_card(card, BASE)
    assert render_card(card, BASE) is first
    assert render_card(card, BASE + "other/") is not first  # links depend on the base
    with pytest.raises(AttributeError):
        first.truncated = True  # shared between requests: read-only


def test_hundreds_of_cards_stay_rendered_and_large_ones_do_not_crowd_them_out():
    ordinary = [f"# Card {n}\n\n" + "Some words about the data. " * 40 for n in range(300)]
    kept = [render_card(card, BASE) for card in ordinary]
    for _ in range(3):  # a few very large cards shown in between
        render_card("# Big\n\n" + "x " * 99_000 + str(_), BASE)
    assert all(render_card(card, BASE) is first for card, first in zip(ordinary, kept, strict=True))


def test_a_huge_card_is_cut_and_says_so():
    rendered = render_card("word " * 100_000, BASE)
    assert rendered.truncated


def test_a_summary_comes_from_the_summary_section_not_from_link_lists():
    card = (
        "---\nlicense: mit\n---\n# Dataset Card for X\n\n## Dataset Description\n\n"
        "- **Homepage:** https://example.org\n- **Paper:** https://arxiv.org/abs/1\n\n"
        "### Dataset Summary\n\nThe X corpus pairs [news articles](https://x.org) with short "
        "human-written summaries for abstractive summarization.\n\n"
        "## Languages\n\nEnglish only here.\n"
    )
    assert summary_from_card(card) == (
        "The X corpus pairs news articles with short human-written summaries for abstractive "
        "summarization."
    )


def test_without_a_summary_section_the_first_real_paragraph_is_used():
    card = (
        "# Title\n\n[More Information Needed]\n\nShort.\n\n"
        "A longer first paragraph that says what the data is about.\n"
    )
    assert summary_from_card(card) == "A longer first paragraph that says what the data is about."
    assert summary_from_card("# Only a title\n") == ""
