"""The catalog in memory for search: facets, sort keys and word frequencies, one copy per process.

The database's full-text columns decide which datasets match the words. On SQLite the FTS5
table is asked (its inverted index answers in a few milliseconds). On PostgreSQL the copy keeps
each dataset's lexemes as its `search_vector` holds them, and the query's words are turned into
lexemes by PostgreSQL itself, so a match here is the match `@@` would find; only phrases (which
need positions) go to SQL. `@@` over a broad word reads tens of thousands of rows (45-70 ms at
100,000 datasets for "dataset"; a GIN bitmap scan still 20), the copy answers in one or two.
Everything else a search needs is answered here too, from numpy and scipy arrays:

- facet counts: a sparse dataset × (facet, value) matrix; the counts under a set of matches are
  one sparse product, instead of SQL reading every match's facet rows;
- pages in any order: the sort keys are kept, so an order is one `lexsort`;
- relevance: each dataset's word frequencies (a sparse dataset × word matrix, weighted by column
  like the former SQL ranking: repo id 10, pretty name 10, keywords 4, description 1), so BM25
  over 75,000 matches is a few vector operations instead of FTS5's `bm25()` reading each match's
  position lists (about 70 ms at 100,000 datasets).

Keeping it current: every catalog write bumps the catalog version and stamps the rows it changed
with it (`datasets.changed_at`, app.catalog.store). A search that reads a newer version than the
copy's reads only the rows changed since, and replaces them: the base matrices stay as they are,
the new rows go to a small overlay, and the base's copy of a replaced row is ignored. When the
overlay grows past a share of the base, the two are folded into a new base in memory. A full read
happens once per process (about 4 s at 100,000 datasets, mostly splitting and stemming words;
0.3 s at 7,433), or when a patch would be large.

The words are split the way the SQLite table does (unicode61: letters and digits, Latin
diacritics removed) and stemmed by Porter's algorithm (Snowball's `porter`; FTS5 uses the
reference C version, which also shortens -logi and -bli: "technology" is `technologi` here and
`technolog` there). The query's words go through the same function as the datasets', so a word
the database matched is counted here too (tests/catalog/test_catalog_index.py checks every word
of the test catalog on both databases); where PostgreSQL's parser splits a text differently, a
match ranks as if that word were absent.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
import unicodedata
from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from itertools import chain

import numpy as np
import Stemmer
from scipy import sparse
from sqlalchemy import Float, Select, cast, func, literal_column, select
from sqlalchemy.orm import Session

from app.catalog.textquery import WORD_RE, Term
from app.database import fetch_chunks, fetch_rows
from app.models import Dataset, DatasetFacet

log = logging.getLogger(__name__)

TEXT_WEIGHTS = (10.0, 10.0, 4.0, 1.0)  # repo id, pretty name, keywords, description
BM25_K1 = 1.2
BM25_B = 0.75
SORT_KEYS = ("downloads", "likes", "trending", "updated", "created")  # columns of sort_values
# Writes changing more than this share of the catalog (and more than PATCH_ROWS) are read
# whole instead of patched in.
PATCH_SHARE = 0.05
PATCH_ROWS = 500
# The overlay is folded into the base once it holds this share of the base's entries (and
# more than FOLD_ENTRIES: below that, rebuilding the overlay on each patch costs little).
FOLD_SHARE = 0.05
FOLD_ENTRIES = 50_000
# PostgreSQL's generated tsvector column (app.catalog.fulltext_ddl); not mapped on the model.
PG_SEARCH_VECTOR = literal_column("datasets.search_vector")


class Vocabulary:
    """Keys (words, or (facet, value) pairs) numbered in order of arrival, shared by every copy.

    Append-only, so a copy made before a key arrived simply has fewer columns: `get` and
    `with_prefix` take the number of columns the caller's matrix has.
    """

    def __init__(self) -> None:
        self.ids: dict[Hashable, int] = {}
        self._sorted: list = []  # for prefix lookups (words only)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def add_all(self, keys: Iterable[Hashable], sort: bool = False) -> None:
        with self._lock:
            fresh = [key for key in dict.fromkeys(keys) if key not in self.ids]
            for key in fresh:
                self.ids[key] = len(self.ids)
            if sort and fresh:
                if len(fresh) > 1000:
                    self._sorted = sorted(self.ids)
                else:
                    for key in fresh:
                        insort(self._sorted, key)

    def get(self, key: Hashable, limit: int) -> int | None:
        column = self.ids.get(key)
        return column if column is not None and column < limit else None

    def with_prefix(self, prefix: str, limit: int) -> list[int]:
        words = self._sorted
        found = []
        at = bisect_left(words, prefix)
        while at < len(words) and words[at].startswith(prefix):
            column = self.ids[words[at]]
            if column < limit:
                found.append(column)
            at += 1
        return found


class RowMatrix:
    """Datasets (rows, by position) × columns, with rows replaceable without a rebuild."""

    def __init__(
        self,
        base: sparse.csc_matrix,
        replaced: np.ndarray,
        overlay: tuple[np.ndarray, np.ndarray, np.ndarray],
        shape: tuple[int, int],
    ) -> None:
        self.base = base  # the rows as first read; `replaced` marks the outdated ones
        self.replaced = replaced
        self.overlay_entries = overlay  # (rows, columns, values) of the rows written since
        self.shape = shape
        rows, columns, values = overlay
        self.overlay = (
            sparse.csc_matrix((values, (rows, columns)), shape=shape) if len(rows) else None
        )

    @classmethod
    def build(cls, rows, columns, values, shape: tuple[int, int]) -> RowMatrix:
        base = sparse.csc_matrix(
            (np.asarray(values, dtype=np.float32), (np.asarray(rows), np.asarray(columns))),
            shape=shape,
        )
        base.sum_duplicates()
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        return cls(base, np.zeros(shape[0], dtype=bool), empty, shape)

    def patched(self, written: np.ndarray, rows, columns, values, shape) -> RowMatrix:
        """The matrix with the rows `written` (positions) replaced by the given entries."""
        replaced = self.replaced.copy()
        replaced[written[written < len(replaced)]] = True
        old_rows, old_columns, old_values = self.overlay_entries
        keep = ~np.isin(old_rows, written)
        overlay = (
            np.concatenate([old_rows[keep], np.asarray(rows, dtype=np.int64)]),
            np.concatenate([old_columns[keep], np.asarray(columns, dtype=np.int64)]),
            np.concatenate([old_values[keep], np.asarray(values, dtype=np.float32)]),
        )
        patched = RowMatrix(self.base, replaced, overlay, shape)
        if len(overlay[0]) > max(FOLD_SHARE * self.base.nnz, FOLD_ENTRIES):
            return patched.folded()
        return patched

    def folded(self) -> RowMatrix:
        """Base and overlay as one new base."""
        base = self.base.tocoo()
        keep = ~self.replaced[base.row]
        rows, columns, values = self.overlay_entries
        return RowMatrix.build(
            np.concatenate([base.row[keep], rows]),
            np.concatenate([base.col[keep], columns]),
            np.concatenate([base.data[keep], values]),
            self.shape,
        )

    def column_sums(self, weights: np.ndarray) -> np.ndarray:
        """Per column: the sum over rows of weight × entry (facet counts under a mask)."""
        weights = weights.astype(np.float32)
        base_rows, base_columns = self.base.shape
        base_weights = weights[:base_rows].copy()
        base_weights[self.replaced] = 0
        sums = np.zeros(self.shape[1], dtype=np.float32)
        sums[:base_columns] = self.base.T @ base_weights
        if self.overlay is not None:
            sums += self.overlay.T @ weights
        return sums

    def row_sums(self, columns: Sequence[int]) -> np.ndarray:
        """Per row: the sum of its entries in the columns (a word's frequency in each dataset)."""
        sums = np.zeros(self.shape[0], dtype=np.float32)
        base_rows, base_columns = self.base.shape
        in_base = [column for column in columns if column < base_columns]
        if in_base:
            sums[:base_rows] = _column_total(self.base, in_base)
            sums[:base_rows][self.replaced] = 0
        if self.overlay is not None and columns:
            sums += _column_total(self.overlay, list(columns))
        return sums


def _column_total(matrix: sparse.csc_matrix, columns: list[int]) -> np.ndarray:
    """Per row, the sum of the columns' entries; the columns' slices gathered in one pass (a
    prefix such as "da" names hundreds of columns)."""
    rows = matrix.shape[0]
    if not columns:
        return np.zeros(rows, dtype=np.float32)
    wanted = np.asarray(columns, dtype=np.int64)
    starts, ends = matrix.indptr[wanted], matrix.indptr[wanted + 1]
    lengths = ends - starts
    entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return np.bincount(
        matrix.indices[entries], weights=matrix.data[entries], minlength=rows
    ).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Splitting text into words the way the SQLite FTS5 table does.
# --------------------------------------------------------------------------------------------
_stemmer = Stemmer.Stemmer("porter")
_stems: dict[str, str] = {}
STEMS_KEPT = 500_000


def _latin_without_diacritics() -> dict[int, str]:
    """FTS5's remove_diacritics: Latin letters only (a Japanese or Korean letter is kept)."""
    table = {}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        bare = "".join(
            c for c in unicodedata.normalize("NFD", chr(code)) if not unicodedata.combining(c)
        )
        if bare != chr(code) and bare:
            table[code] = bare
    return table


_WITHOUT_DIACRITICS = _latin_without_diacritics()


def words_of(text: str) -> list[str]:
    """Lower-cased, Latin letters without diacritics, split on anything but letters and digits,
    stemmed."""
    text = text.lower()
    if not text.isascii():
        text = text.translate(_WITHOUT_DIACRITICS)
    return [stem(word) for word in WORD_RE.findall(text)]


def stem(word: str) -> str:
    """Porter's stem; as in FTS5, words under 3 or over 64 characters are kept whole."""
    found = _stems.get(word)
    if found is None:
        if len(_stems) > STEMS_KEPT:
            _stems.clear()
        kept_whole = len(word) < 3 or len(word.encode()) > 64
        found = _stems[word] = word if kept_whole else _stemmer.stemWord(word)
    return found


# --------------------------------------------------------------------------------------------
# The index.
# --------------------------------------------------------------------------------------------
def _descending(value: float) -> float:
    """One value as np.nan_to_num(-column, nan=np.inf) makes it in _sort_columns (NaN, unknown,
    sorts last; infinities become the largest finite values)."""
    if math.isnan(value):
        return math.inf
    return min(max(-value, -sys.float_info.max), sys.float_info.max)


class CatalogIndex:
    """One copy of the catalog: dataset ids in ascending order, each a position in the arrays."""

    def __init__(
        self,
        version: datetime | None,
        ids: np.ndarray,
        names: list[str],
        sort_values: np.ndarray,
        lengths: np.ndarray,
        facets: RowMatrix,
        words: RowMatrix,
        lexemes: RowMatrix | None,
        patched: bool = False,
    ) -> None:
        self.version = version
        self.patched_in = patched  # made from an older copy, not read whole
        self.ids = ids
        self.names = names  # lower-cased repo ids
        self.sort_values = sort_values  # one column per SORT_KEYS, NaN where unknown
        self.lengths = lengths  # words per dataset, all text columns together
        self.facets = facets
        self.words = words
        self.lexemes = lexemes  # PostgreSQL only: dataset × lexeme of its search_vector
        self._orders: dict[str, np.ndarray] = {}
        self._by_name: dict[str, list[int]] | None = None
        self._present: dict[tuple[str, str], int] | None = None
        self._by_facet: dict[str, list[tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self) -> None:
        """Work out now what searches would otherwise work out on first use: every sort order
        (25-130 ms each at 100,000 datasets), the exact names and the facet values present.
        Patched copies carry the first two over (app.catalog.index_upkeep calls this)."""
        for sort in (*SORT_KEYS, "name"):
            self.order(sort)
        self.exact_name("")
        self._present_values()

    # Facets ----------------------------------------------------------------------------------
    def has_value(self, facet: str, value: str) -> bool:
        return (facet, value) in self._present_values()

    def _present_values(self) -> dict[tuple[str, str], int]:
        """The (facet, value) pairs some dataset of this copy has, with their columns (the
        vocabulary also holds values of other databases and values no dataset has any more)."""
        if self._present is None:
            with self._lock:
                if self._present is None:
                    held = self.facets.column_sums(np.ones(len(self.ids), dtype=bool))
                    present = {
                        key: column
                        for key, column in list(_FACETS.ids.items())
                        if column < len(held) and held[column] > 0
                    }
                    by_facet: dict[str, list[tuple[str, int]]] = {}
                    for (facet, value), column in present.items():
                        by_facet.setdefault(facet, []).append((value, column))
                    self._by_facet = by_facet
                    self._present = present
        return self._present

    def mask_of_ids(self, dataset_ids: Iterable[int]) -> np.ndarray:
        """The catalog's datasets among `dataset_ids` (ids not in this copy are ignored)."""
        if isinstance(dataset_ids, np.ndarray):
            wanted = dataset_ids
        else:
            wanted = np.fromiter(dataset_ids, dtype=np.int64)
        mask = np.zeros(len(self.ids), dtype=bool)
        if len(wanted) and len(self.ids):
            positions = np.searchsorted(self.ids, wanted).clip(0, len(self.ids) - 1)
            mask[positions[self.ids[positions] == wanted]] = True
        return mask

    def mask_of_values(self, facet: str, values: Iterable[str]) -> np.ndarray:
        """Datasets with any of the values (values of one facet are alternatives)."""
        present = self._present_values()
        columns = [present[(facet, value)] for value in values if (facet, value) in present]
        return self.facets.row_sums(columns) > 0

    def counts(self, mask: np.ndarray, facets: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """Each facet's values with their counts among the masked datasets, most common first."""
        per_column = self.facets.column_sums(mask)
        self._present_values()
        counted = {}
        for facet in facets:
            found = [
                (value, int(per_column[column]))
                for value, column in self._by_facet.get(facet, ())
                if per_column[column] > 0
            ]
            found.sort(key=lambda pair: (-pair[1], pair[0]))
            counted[facet] = found
        return counted

    # Matching (PostgreSQL) -------------------------------------------------------------------
    def lexeme_mask(self, terms: Sequence[tuple[Sequence[str], bool]]) -> np.ndarray:
        """The datasets whose search_vector holds every term, as `@@` decides: a term is its
        lexemes, each required (plainto_tsquery), or for a prefix one lexeme that any of the
        dataset's lexemes starts with (to_tsquery 'lexeme:*'). A term without lexemes (a stop
        word) is left out, as PostgreSQL leaves it out of the query; nothing left matches
        nothing."""
        assert self.lexemes is not None, "lexemes are kept for PostgreSQL only"
        limit = self.lexemes.shape[1]
        mask = None
        for lexemes, prefix in terms:
            for lexeme in lexemes:
                if prefix:
                    columns = _LEXEMES.with_prefix(lexeme, limit)
                else:
                    column = _LEXEMES.get(lexeme, limit)
                    columns = [] if column is None else [column]
                held = self.lexemes.row_sums(columns) > 0
                mask = held if mask is None else mask & held
        return np.zeros(len(self.ids), dtype=bool) if mask is None else mask

    # Orders ----------------------------------------------------------------------------------
    def page(self, mask: np.ndarray, sort: str, offset: int, limit: int) -> tuple[int, ...]:
        """Ids of the masked datasets from `offset` in a sort order."""
        order = self.order(sort)
        hits = order[np.flatnonzero(mask[order])[offset : offset + limit]]
        return tuple(int(i) for i in self.ids[hits])

    def order(self, sort: str) -> np.ndarray:
        """Positions in a sort order: by name, or by a key (unknown last), then downloads, id."""
        order = self._orders.get(sort)
        if order is None:
            with self._lock:
                order = self._orders.get(sort)
                if order is None:
                    order = self._orders[sort] = self._sorted_positions(sort)
        return order

    def _sorted_positions(self, sort: str) -> np.ndarray:
        if sort == "name":  # a stable sort: equal names stay in id order
            return np.asarray(sorted(range(len(self.names)), key=self.names.__getitem__))
        first, second = self._sort_columns(sort)
        return np.lexsort((second, first))  # stable: ties stay in id (position) order

    def _sort_columns(self, sort: str) -> tuple[np.ndarray, np.ndarray]:
        """A numeric sort's key, then downloads: descending, unknown values last."""
        key = self.sort_values[:, SORT_KEYS.index(sort)]
        downloads = self.sort_values[:, 0]
        return np.nan_to_num(-key, nan=np.inf), np.nan_to_num(-downloads, nan=np.inf)

    def _orders_patched_from(self, older: CatalogIndex, written: np.ndarray) -> None:
        """Take over the older copy's orders: the written rows are taken out and put back where
        they sort now (a binary search each), instead of sorting 100,000 rows again (4-30 ms
        per order) after every catalog write."""
        written = np.unique(written)
        for sort, order in list(older._orders.items()):
            sort_key = self._sort_key(sort)
            kept = order[~np.isin(order, written)]
            moved = sorted(written.tolist(), key=sort_key)
            at = [bisect_left(kept, sort_key(position), key=sort_key) for position in moved]
            self._orders[sort] = np.insert(kept, at, moved)

    def _sort_key(self, sort: str) -> Callable[[int], tuple]:
        """A position's place in an order, as a comparable tuple (the tie-break is the position,
        as in the stable sorts above)."""
        if sort == "name":
            names = self.names
            return lambda position: (names[position], position)
        # Only the positions a binary search visits, as _sort_columns makes them: the whole
        # columns would cost a millisecond per order.
        values, column = self.sort_values, SORT_KEYS.index(sort)

        def key(position: int) -> tuple:
            row = values[position].tolist()
            return (_descending(row[column]), _descending(row[0]), position)

        return key

    # Relevance -------------------------------------------------------------------------------
    def relevance_page(
        self, mask: np.ndarray, terms: list[Term], text: str, offset: int, limit: int
    ) -> tuple[int, ...]:
        """Ids of the masked datasets from `offset` by relevance: a dataset named exactly as
        typed first, then BM25 lifted a little by popularity, then id."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return ()
        scores = self.relevance(terms, positions)
        exact = np.isin(positions, self.exact_name(text))
        wanted = offset + limit
        if len(positions) > 2 * wanted:  # only what can reach the page is sorted
            threshold = -np.partition(-scores, wanted - 1)[wanted - 1]
            near = (scores >= threshold) | exact
            positions, scores, exact = positions[near], scores[near], exact[near]
        order = np.lexsort((positions, -scores, ~exact))
        return tuple(int(i) for i in self.ids[positions[order[offset:wanted]]])

    def relevance(self, terms: list[Term], positions: np.ndarray) -> np.ndarray:
        """BM25 as SQLite's FTS5 computes it (k1 1.2, b 0.75, column weights), times
        1 + 0.1 × the number of digits of the downloads, for the datasets at `positions`."""
        count = len(self.ids)
        average = max(float(self.lengths.mean()), 1.0) if count else 1.0
        norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths[positions] / average)
        score = np.zeros(len(positions), dtype=np.float64)
        for term in terms:
            frequency = self._frequency(term)
            hits = int(np.count_nonzero(frequency))
            idf = math.log((count - hits + 0.5) / (hits + 0.5))
            found = frequency[positions].astype(np.float64)
            score += max(idf, 1e-6) * found * (BM25_K1 + 1) / (found + norm)
        downloads = np.nan_to_num(self.sort_values[positions, 0], nan=0.0)
        digits = np.where(downloads >= 1, np.floor(np.log10(np.maximum(downloads, 1))) + 1, 1)
        return score * (1.0 + 0.1 * digits)

    def _frequency(self, term: Term) -> np.ndarray:
        """The term's weighted frequency in each dataset. A phrase counts as often as its rarest
        word (SQL found the phrase; positions are not kept here)."""
        limit = self.words.shape[1]
        if term.prefix:  # FTS5 stems the prefix too, then matches the words it starts
            return self.words.row_sums(_WORDS.with_prefix(stem(term.words[0]), limit))
        found = None
        for word in term.words:
            column = _WORDS.get(stem(word), limit)
            frequency = self.words.row_sums([column] if column is not None else [])
            found = frequency if found is None else np.minimum(found, frequency)
        return found

    def exact_name(self, text: str) -> list[int]:
        """Positions of datasets whose id, or the name after the owner, is the text."""
        if self._by_name is None:
            with self._lock:
                if self._by_name is None:
                    by_name: dict[str, list[int]] = {}
                    for position, name in enumerate(self.names):
                        for key in _name_keys(name):
                            by_name.setdefault(key, []).append(position)
                    self._by_name = by_name
        return self._by_name.get(text.strip().lower(), [])

    def _names_patched_from(self, older: CatalogIndex, written: np.ndarray) -> None:
        """Take over the older copy's names for exact matches (reading them afresh takes about
        160 ms at 100,000 datasets), with the renamed and new datasets moved."""
        by_name = older._by_name
        if by_name is None:
            return
        copied = False
        for position in np.unique(written).tolist():
            before = older.names[position] if position < len(older.names) else ""
            after = self.names[position]
            if before == after:
                continue
            if not copied:  # the older copy's lookup stays as it was
                by_name, copied = dict(by_name), True
            for key in _name_keys(before):
                rest = [held for held in by_name.get(key, ()) if held != position]
                if rest:
                    by_name[key] = rest
                else:
                    by_name.pop(key, None)
            for key in _name_keys(after):
                by_name[key] = [*by_name.get(key, ()), position]
        self._by_name = by_name

    # Keeping current -------------------------------------------------------------------------
    def patched(self, session: Session, version: datetime) -> CatalogIndex:
        """This copy brought to `version` by reading the rows changed since its own."""
        changed = np.fromiter(
            session.scalars(select(Dataset.id).where(Dataset.changed_at > self.version)),
            dtype=np.int64,
        )
        changed.sort()
        if len(changed) > max(PATCH_SHARE * len(self.ids), PATCH_ROWS):
            return build(session, version)
        postgresql = self.lexemes is not None
        read = _read(session, changed.tolist()) if len(changed) else _Read.empty(postgresql)
        positions = np.searchsorted(self.ids, read.ids).clip(0, max(len(self.ids) - 1, 0))
        known = self.ids[positions] == read.ids if len(self.ids) else np.zeros(len(read.ids), bool)
        new_ids = read.ids[~known]
        total = session.scalar(select(func.count()).select_from(Dataset))
        if (len(new_ids) and len(self.ids) and new_ids[0] < self.ids[-1]) or (
            total != len(self.ids) + len(new_ids)
        ):
            # An id below the highest (committed out of order) or a row deleted or written
            # without a stamp: read everything.
            return build(session, version)
        ids = np.concatenate([self.ids, new_ids])
        at = np.where(known, positions, len(self.ids) + np.cumsum(~known) - 1)
        names = list(self.names) + [""] * len(new_ids)
        for position, name in zip(at.tolist(), read.names, strict=True):
            names[position] = name
        sort_values = np.concatenate([self.sort_values, np.zeros((len(new_ids), len(SORT_KEYS)))])
        sort_values[at] = read.sort_values
        lengths = np.concatenate([self.lengths, np.zeros(len(new_ids), dtype=np.float32)])
        lengths[at] = read.lengths
        rows = len(ids)
        facets = self.facets.patched(
            at, at[read.facet_rows], read.facet_columns, np.ones(len(read.facet_rows)),
            (rows, len(_FACETS)),
        )  # fmt: skip
        words = self.words.patched(
            at, at[read.word_rows], read.word_columns, read.word_values, (rows, len(_WORDS))
        )
        lexemes = None
        if self.lexemes is not None:
            lexemes = self.lexemes.patched(
                at, at[read.lexeme_rows], read.lexeme_columns, np.ones(len(read.lexeme_rows)),
                (rows, len(_LEXEMES)),
            )  # fmt: skip
        copy = CatalogIndex(version, ids, names, sort_values, lengths, facets, words, lexemes, True)
        copy._names_patched_from(self, at)
        copy._orders_patched_from(self, at)
        return copy


def _name_keys(name: str) -> list[str]:
    """What finds a dataset by exact name: its id and, after an owner, the name alone."""
    if not name:
        return []
    return [name, name.rsplit("/", 1)[1]] if "/" in name else [name]


# Shared by every copy in the process (append-only).
_FACETS = Vocabulary()
_WORDS = Vocabulary()
_LEXEMES = Vocabulary()


class _Read:
    """Rows read from the database, with their facet and word entries by row index."""

    def __init__(
        self,
        rows: list[tuple],
        facet_rows: list[tuple],
        lexeme_chunks: Iterable[list[tuple]] | None = None,
    ) -> None:
        self.ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        self.names = [(row[1] or "").lower() for row in rows]
        self.sort_values = np.array([row[5:10] for row in rows], dtype=np.float64).reshape(
            len(rows), len(SORT_KEYS)
        )
        self.lengths = np.zeros(len(rows), dtype=np.float32)
        word_rows, word_keys, word_values = array("q"), [], array("f")
        for index, row in enumerate(rows):
            frequencies: dict[str, float] = {}
            length = 0
            for weight, text in zip(TEXT_WEIGHTS, row[1:5], strict=True):
                if text:
                    found = words_of(text)
                    length += len(found)
                    for word in found:
                        frequencies[word] = frequencies.get(word, 0.0) + weight
            self.lengths[index] = length
            word_rows.extend([index] * len(frequencies))
            word_keys.extend(frequencies)
            word_values.extend(frequencies.values())
        _WORDS.add_all(word_keys, sort=True)
        self.word_rows = np.frombuffer(word_rows, dtype=np.int64)
        self.word_columns = np.fromiter(
            (_WORDS.ids[key] for key in word_keys), dtype=np.int64, count=len(word_keys)
        )
        self.word_values = np.frombuffer(word_values, dtype=np.float32)

        row_of = {int(dataset_id): index for index, dataset_id in enumerate(self.ids)}
        keys = [(facet, value) for _, facet, value in facet_rows]
        _FACETS.add_all(keys)
        self.facet_rows = np.fromiter(
            (row_of[row[0]] for row in facet_rows), dtype=np.int64, count=len(facet_rows)
        )
        self.facet_columns = np.fromiter(
            (_FACETS.ids[key] for key in keys), dtype=np.int64, count=len(keys)
        )

        # (dataset id, its lexemes) on PostgreSQL, in chunks; None elsewhere
        self.lexemes_read = lexeme_chunks is not None
        rows_of, columns_of = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for chunk in lexeme_chunks or ():
            held = [row[1] or () for row in chunk]
            lexemes = list(chain.from_iterable(held))
            _LEXEMES.add_all(lexemes, sort=True)
            rows_of.append(
                np.repeat(
                    np.fromiter((row_of[row[0]] for row in chunk), np.int64, len(chunk)),
                    np.fromiter(map(len, held), np.int64, len(held)),
                )
            )
            columns_of.append(
                np.fromiter(map(_LEXEMES.ids.__getitem__, lexemes), np.int64, len(lexemes))
            )
        self.lexeme_rows = np.concatenate(rows_of)
        self.lexeme_columns = np.concatenate(columns_of)

    @classmethod
    def empty(cls, postgresql: bool) -> _Read:
        return cls([], [], [] if postgresql else None)


def _rows_statement(session: Session) -> Select:
    if session.get_bind().dialect.name == "sqlite":
        updated, created = func.julianday(Dataset.last_modified), func.julianday(Dataset.created_at)
    else:
        updated = cast(func.extract("epoch", Dataset.last_modified), Float)
        created = cast(func.extract("epoch", Dataset.created_at), Float)
    return select(
        Dataset.id, Dataset.repo_id, Dataset.pretty_name, Dataset.keywords, Dataset.description,
        Dataset.downloads, Dataset.likes, Dataset.trending_score, updated, created,
    ).order_by(Dataset.id)  # fmt: skip


def _read(session: Session, only: list[int] | None = None) -> _Read:
    """Every dataset's row and facets, or only those of the ids in `only`."""
    rows = _rows_statement(session)
    facet_rows = select(DatasetFacet.dataset_id, DatasetFacet.facet, DatasetFacet.value)
    lexeme_rows = None
    if session.get_bind().dialect.name == "postgresql":
        lexeme_rows = select(Dataset.id, func.tsvector_to_array(PG_SEARCH_VECTOR))
    if only is not None:
        rows = rows.where(Dataset.id.in_(only))
        facet_rows = facet_rows.where(DatasetFacet.dataset_id.in_(only))
        if lexeme_rows is not None:
            lexeme_rows = lexeme_rows.where(Dataset.id.in_(only))
    return _Read(
        fetch_rows(session, rows),
        fetch_rows(session, facet_rows),
        None if lexeme_rows is None else fetch_chunks(session, lexeme_rows),
    )


def build(session: Session, version: datetime | None) -> CatalogIndex:
    """Read the whole catalog as the session sees it now."""
    read = _read(session)
    rows = len(read.ids)
    facets = RowMatrix.build(
        read.facet_rows, read.facet_columns, np.ones(len(read.facet_rows)), (rows, len(_FACETS))
    )
    words = RowMatrix.build(
        read.word_rows, read.word_columns, read.word_values, (rows, len(_WORDS))
    )
    lexemes = None
    if read.lexemes_read:
        lexemes = RowMatrix.build(
            read.lexeme_rows, read.lexeme_columns, np.ones(len(read.lexeme_rows)),
            (rows, len(_LEXEMES)),
        )  # fmt: skip
    return CatalogIndex(
        version, read.ids, read.names, read.sort_values, read.lengths, facets, words, lexemes
    )


# The newest copy per database; a search that read an older version uses it too (its data is
# at least as new as the version the search read).
_newest: dict[Hashable, CatalogIndex] = {}
_locks: dict[Hashable, threading.Lock] = {}
_lock = threading.Lock()


def for_version(session: Session, database: Hashable, version: datetime | None) -> CatalogIndex:
    """The copy at `version` of the database's catalog: kept, patched, or read whole.

    Without a version (no catalog write since the tables were made or emptied) nothing is kept.
    """
    if version is None:
        return build(session, None)
    index = _newest.get(database)
    if index is not None and index.version >= version:
        return index
    with _lock:
        lock = _locks.setdefault(database, threading.Lock())
    with lock:  # one reader per process brings the copy up to date; the others wait for it
        index = _newest.get(database)
        if index is not None and index.version >= version:
            return index
        began = time.perf_counter()
        older = index
        index = build(session, version) if older is None else older.patched(session, version)
        _newest[database] = index
    log.info(
        "search index %s at version %s: %d datasets in %.0f ms",
        "patched" if index.patched_in else "read whole",
        version.isoformat(),
        len(index),
        (time.perf_counter() - began) * 1000,
    )
    return index


def clear() -> None:
    """Forget every kept copy (the benchmark times a full read)."""
    with _lock:
        _newest.clear()
