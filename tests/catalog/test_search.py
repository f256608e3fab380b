"""Search as a person experiences it: what is found, in what order, with which counts."""

from __future__ import annotations

import pytest

from app.catalog.search import SearchQuery, search
from app.extensions import db


def ids(page) -> list[str]:
    return [dataset.repo_id for dataset in page.datasets]


def find(**kwargs):
    return search(db.session, SearchQuery(**kwargs))


@pytest.fixture(autouse=True)
def catalog(small_catalog):
    return small_catalog


def test_words_match_description_and_stems():
    page = find(text="reviews sentiment ", sort="relevance")
    assert set(ids(page)) == {"acme/movie-reviews", "acme/product-reviews"}
    assert page.total == 2
    # Porter stemming: "labelled" in a description matches "labels".
    assert "acme/movie-reviews" in ids(find(text="movie labels "))


def test_every_word_must_match():
    assert ids(find(text="reviews weather ")) == []


def test_exact_name_match_ranks_first():
    page = find(text="squad", sort="relevance")
    assert ids(page)[0] == "squad"
    assert "someone/squad-translated-it" in ids(page)


def test_name_and_tags_outrank_a_passing_mention():
    page = find(text="python ", sort="relevance")
    assert ids(page)[0] == "acme/python-functions"


def test_prefix_matches_while_typing():
    assert "acme/handwritten-digits" in ids(find(text="handwr"))
    assert ids(find(text="handwr ")) == []  # a finished word must match whole


def test_quoted_phrase_needs_adjacent_words():
    assert set(ids(find(text='"speech recognition"'))) == {"acme/read-speech", "acme/gated-voices"}
    assert ids(find(text='"recognition speech"')) == []


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        "*",
        ":",
        "-",
        "-movie",
        "movie*",
        'title:"x',
        "AND OR NOT",
        "NEAR(a b)",
        "'; --",
        "' OR 1=1--",
        "\\",
        "%",
        "_",
        "^",
        "{}",
        "()",
        "\x00",
        "🙂",
        "a" * 200,
    ],
)
def test_hostile_input_never_raises_and_finds_nothing_extra(hostile):
    page = find(text=hostile, sort="relevance")
    assert page.total <= 45
    if hostile == "' OR 1=1--":
        # Searched as the words "or 1 1": at most the one station numbered 1, never everything.
        assert ids(page) in ([], ["filler/weather-station-01"])
    if hostile == "AND OR NOT":
        assert page.total == 0


def test_repo_id_words_are_searchable():
    assert ids(find(text="acme/census-income")) == ["acme/census-income"]


def test_facet_values_within_one_facet_are_alternatives():
    page = find(filters={"modality": ("audio", "tabular")}, sort="name")
    assert ids(page) == [
        "acme/census-income",
        "acme/gated-voices",
        "acme/read-speech",
        "acme/speech-commands",
    ]


def test_different_facets_narrow_each_other():
    page = find(filters={"modality": ("audio",), "license": ("cc0-1.0",)})
    assert ids(page) == ["acme/gated-voices"]


def test_facet_counts_follow_the_query_and_the_other_facets():
    page = find(text="speech", filters={"modality": ("audio",)})
    licence_counts = {v.value: v.count for v in page.facets["license"]}
    assert licence_counts == {"cc-by-4.0": 2, "cc0-1.0": 1}
    # The selected facet counts as if it were not selected, so alternatives stay visible.
    modality_counts = {v.value: (v.count, v.selected) for v in page.facets["modality"]}
    assert modality_counts["audio"] == (3, True)
    assert modality_counts["text"] == (1, False)


def test_facet_counts_over_the_whole_catalog():
    page = find()
    tasks = {v.value: v.count for v in page.facets["task"]}
    assert tasks["time-series-forecasting"] == 30
    assert tasks["question-answering"] == 3
    assert page.facets["task"][0].value == "time-series-forecasting"  # most common first
    sizes = [v.value for v in page.facets["size"]]
    assert sizes == sorted(sizes, key=["1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"].index)


def test_a_selected_value_absent_from_the_results_is_still_shown_with_zero():
    page = find(text="weather", filters={"license": ("mit",)})
    licences = {v.value: (v.count, v.selected) for v in page.facets["license"]}
    assert page.total == 0
    assert licences["mit"] == (0, True)


def test_unknown_facet_values_are_dropped_with_a_notice():
    page = find(filters={"license": ("no-such-licence", "mit")})
    assert page.query.filters == {"license": ("mit",)}
    assert any("no-such-licence" in notice for notice in page.notices)
    assert page.total == 4


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("downloads", "squad"),
        ("likes", "acme/movie-reviews"),
        ("trending", "acme/product-reviews"),
        ("updated", "acme/python-functions"),
        ("created", "acme/medical-questions"),
        ("name", "acme/census-income"),
    ],
)
def test_every_sort(sort, first):
    page = find(sort=sort)
    assert ids(page)[0] == first


def test_unknown_values_sort_last():
    page = find(sort="likes", per_page=50)
    likes = [d.likes for d in page.datasets]
    known = [n for n in likes if n is not None]
    assert likes[: len(known)] == sorted(known, reverse=True)
    assert all(n is None for n in likes[len(known) :])
    # Ties (unknown likes) fall back to downloads.
    tail = [d.downloads for d in page.datasets[len(known) :]]
    assert tail == sorted(tail, reverse=True)


def test_relevance_without_words_sorts_by_downloads():
    assert ids(find(sort="relevance")) == ids(find(sort="downloads"))


def test_pages_split_the_results_without_gaps_or_repeats():
    seen = []
    for number in (1, 2, 3):
        page = find(page=number, per_page=20)
        assert page.total == 45 and page.page_count == 3
        seen += ids(page)
    assert len(seen) == 45 == len(set(seen))
    last = find(page=3, per_page=20)
    assert (last.first_index, last.last_index) == (41, 45)


def test_a_page_past_the_end_shows_the_last_page_with_a_notice():
    page = find(page=9, per_page=20)
    assert page.query.page == 3
    assert page.notices == ["Page 9 is past the end; showing page 3 of 3."]


def test_empty_results_have_one_page_and_no_rows():
    page = find(text="nonexistentword")
    assert (page.total, page.page_count, page.first_index, page.last_index) == (0, 1, 0, 0)
