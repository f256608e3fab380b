"""Change detection between two looks at a dataset."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.follows.changes import Facts, card_hash, detect_changes, new_commits
from app.hub.client import Commit

NOW = datetime(2026, 1, 10, tzinfo=UTC)
BEFORE = Facts(
    sha="c1", license="cc-by-4.0", num_rows=1_200_000, num_bytes=5_000_000, downloads=1000,
    likes=10, gated=False, card_hash=card_hash("# Card"),
)  # fmt: skip


def commit(sha: str, title: str, days_ago: int = 0) -> Commit:
    return Commit(sha, title, "", ["ann"], NOW - timedelta(days=days_ago))


def summaries(changes) -> list[str]:
    return [change.summary for change in changes]


def test_the_first_look_is_a_baseline():
    assert detect_changes(None, BEFORE, [commit("c1", "init")], NOW) == []


def test_nothing_changed():
    assert detect_changes(BEFORE, BEFORE, [commit("c1", "init")], NOW) == []


def test_new_commits_are_those_above_the_last_seen():
    history = [commit("c3", "Add test split"), commit("c2", "Fix typo", 1), commit("c1", "init", 2)]
    changes = detect_changes(BEFORE, replace(BEFORE, sha="c3"), history, NOW)
    assert [(c.kind, c.summary, c.sha, c.author) for c in changes] == [
        ("commit", "Add test split", "c3", "ann"),
        ("commit", "Fix typo", "c2", "ann"),
    ]


def test_a_lost_last_commit_reports_the_whole_page():
    assert len(new_commits([commit("x", "a"), commit("y", "b")], "gone")) == 2
    assert new_commits([commit("x", "a")], None) == []


def test_licence_changes_stand_out():
    (change,) = detect_changes(BEFORE, replace(BEFORE, license="cc-by-nc-4.0"), [], NOW)
    assert change.summary == "licence changed from cc-by-4.0 to cc-by-nc-4.0"
    assert change.important


def test_gating_changes_stand_out_both_ways():
    (gated,) = detect_changes(BEFORE, replace(BEFORE, gated=True), [], NOW)
    assert gated.summary == "became gated" and gated.important
    (opened,) = detect_changes(replace(BEFORE, gated=True), BEFORE, [], NOW)
    assert opened.summary == "is no longer gated"


def test_rows_and_size_are_written_with_their_change():
    after = replace(BEFORE, num_rows=1_350_000, num_bytes=4_000_000)
    assert summaries(detect_changes(BEFORE, after, [], NOW)) == [
        "rows 1,200,000 → 1,350,000 (+12.5%)",
        "size 5.0 MB → 4.0 MB (-20.0%)",
    ]


def test_card_edits_likes_and_big_download_swings():
    after = replace(BEFORE, card_hash=card_hash("# Card, edited"), likes=12, downloads=1500)
    assert summaries(detect_changes(BEFORE, after, [], NOW)) == [
        "card edited",
        "likes 10 → 12 (+20.0%)",
        "downloads 1,000 → 1,500 (+50.0%)",
    ]


def test_small_download_drift_is_not_news():
    assert detect_changes(BEFORE, replace(BEFORE, downloads=1050), [], NOW) == []


def test_unknown_sizes_are_not_changes():
    assert detect_changes(BEFORE, replace(BEFORE, num_rows=None), [], NOW) == []
