"""Parse what a person typed into search terms, so no input ever reaches the database as syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TERMS = 12
MIN_PREFIX = 2
WORD_RE = re.compile(r"[^\W_]+")  # letters and digits; `_`, `-`, `/`, `:`, `*`, `"` separate words


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    phrase: bool = False
    prefix: bool = False  # the word being typed: match any word that starts with it


def parse_text_query(text: str) -> list[Term]:
    """Quoted runs become phrases; other words are all required; the last bare word is a prefix."""
    terms: list[Term] = []
    for index, chunk in enumerate(text.split('"')):
        words = tuple(w.lower() for w in WORD_RE.findall(chunk))
        if not words:
            continue
        inside_quotes = index % 2 == 1
        if inside_quotes and len(words) > 1:
            terms.append(Term(words, phrase=True))
        else:
            terms.extend(Term((word,)) for word in words)
    terms = terms[:MAX_TERMS]
    still_typing = text and not text[-1].isspace() and not text.rstrip().endswith('"')
    # A one-letter prefix matches most of the catalog and tells little: wait for the second.
    if terms and still_typing and not terms[-1].phrase and len(terms[-1].words[0]) >= MIN_PREFIX:
        terms[-1] = Term(terms[-1].words, prefix=True)
    return terms


def fts5_match_expression(terms: list[Term]) -> str:
    """SQLite FTS5: each word double-quoted (words hold no quotes), implicit AND between terms."""
    parts = []
    for term in terms:
        quoted = '"' + " ".join(term.words) + '"'
        parts.append(quoted + "*" if term.prefix else quoted)
    return " ".join(parts)
