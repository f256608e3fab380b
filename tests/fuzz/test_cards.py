"""Hostile dataset cards: whatever Markdown and HTML a card holds, what the page shows of it has
no script, no event handler, no javascript: (or other non-web) URL, no element outside the
renderer's allow-list and no attribute outside it (so no hx-* attribute either).

The output is parsed as a browser would tokenise it (html.parser decodes entities in
attribute values), so `&#106;avascript:` or a tab inside the scheme is caught too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from app.datasets.card import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, SAFE_SCHEMES, render_card
from tests.fuzz.conftest import TALLY, fuzz_settings

BASE = "https://huggingface.co/datasets/acme/reviews/blob/main/"

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle/></svg>",
    "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    "<iframe src='javascript:alert(1)'></iframe>",
    "<object data='javascript:alert(1)'></object>",
    "<embed src='javascript:alert(1)'>",
    "<form action='javascript:alert(1)'><button>go</button></form>",
    "<base href='//evil.example/'>",
    "<meta http-equiv='refresh' content='0;url=javascript:alert(1)'>",
    "<link rel=stylesheet href='//evil.example/x.css'>",
    "<style>body { background: url(javascript:alert(1)) }</style>",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "<a href='javascript:alert(1)'>x</a>",
    "<a href='JaVaScRiPt:alert(1)'>x</a>",
    "<a href='java\tscript:alert(1)'>x</a>",
    "<a href='&#106;avascript:alert(1)'>x</a>",
    "<a href='&#x6A;avascript&colon;alert(1)'>x</a>",
    "<a href=' \x01javascript:alert(1)'>x</a>",
    "<a href='vbscript:msgbox(1)'>x</a>",
    "<a href='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>x</a>",
    "<a href='x' onclick='alert(1)' onmouseover=alert(1)>x</a>",
    "<a hx-get='/account/delete' hx-trigger='load' hx-post='/auth/logout'>x</a>",
    "<div hx-on:click='alert(1)' data-x='1'>x</div>",
    "<p title='</p><script>alert(1)</script>'>x</p>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<textarea><script>alert(1)</script></textarea>",
    "<template><script>alert(1)</script></template>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1) 'title')",
    "[x](<javascript:alert(1)>)",
    "[x](java%0ascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "![x](javascript:alert(1))",
    '![x](x.png" onerror="alert(1))',
    "[ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "[x](//evil.example/)",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |",
    "```html\n<script>alert(1)</script>\n```",
    "    <script>alert(1)</script>",
    "---\ntitle: <script>alert(1)</script>\nlicense: [mit\n---\n# Card",
    "---\n!!python/object/apply:os.system ['echo hi']\n---\n",
    "<h1 onclick=alert(1)>Title</h1>",
    "<td colspan=2 onmouseover=alert(1)>x</td>",
    "<ol start='1' type='javascript:alert(1)'><li>x</li></ol>",
    "<abbr title='x' onfocus=alert(1) tabindex=1>x</abbr>",
    "<a href='https://ok.example/' target=_blank rel=opener>ok</a>",
    "<a href='mailto:someone@example.org'>mail</a>",
]

cards = st.lists(
    st.sampled_from(ATTACKS)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
    | st.sampled_from(["\n", "\n\n", "<", ">", "'", '"', "&", "`", "*", "_", "[", "](", ")", "#"]),
    min_size=1,
    max_size=14,
).map("".join)

ALWAYS_FORBIDDEN_ATTRIBUTE = re.compile(r"^(on|hx-|data-|style$|src$|srcdoc$|formaction$)")


class Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.escapes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ALLOWED_TAGS:
            self.escapes.append(f"element <{tag}>")
        # nh3 keeps `title` and `lang` on any element (ammonia's generic attributes): harmless.
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | {"title", "lang"}
        for name, raw in attrs:
            if ALWAYS_FORBIDDEN_ATTRIBUTE.match(name):
                self.escapes.append(f"attribute {name} on <{tag}>")
            elif name not in allowed and name != "rel":
                self.escapes.append(f"attribute {name} outside the allow-list on <{tag}>")
            if name == "href":
                self.check_url(tag, raw or "")

    handle_startendtag = handle_starttag

    def check_url(self, tag: str, url: str) -> None:
        # Browsers drop ASCII whitespace and control characters before reading the scheme.
        squeezed = re.sub(r"[\x00-\x20\x7f]+", "", url)
        scheme = urlsplit(squeezed).scheme.lower() if ":" in squeezed.split("/")[0] else ""
        if scheme and scheme not in SAFE_SCHEMES:
            self.escapes.append(f"{scheme}: URL in <{tag} href>")


@fuzz_settings()
@given(card=cards)
def test_no_hostile_card_survives_the_renderer(card):
    html = str(render_card(card, BASE).html)
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    TALLY["card renderer (app/datasets/card.py)"]["escape" if inspector.escapes else "clean"] += 1
    assert not inspector.escapes, f"{inspector.escapes}\ncard: {card!r}\nhtml: {html!r}"


def test_every_listed_attack_alone_is_neutralised():
    """Each attack by itself (the fuzzer mixes them; this keeps the list honest on its own)."""
    for attack in ATTACKS:
        inspector = Inspector()
        inspector.feed(str(render_card(attack, BASE).html))
        inspector.close()
        assert not inspector.escapes, (attack, inspector.escapes)
