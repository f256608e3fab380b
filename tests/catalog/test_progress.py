"""The progress line of the long commands (import, sync, embeddings build)."""

from __future__ import annotations

from app.catalog.cli import Progress


def test_a_pass_that_finishes_at_once_shows_no_made_up_rate(capsys):
    Progress(213)(213)
    line = capsys.readouterr().err
    assert "213 datasets, 100%" in line and "/s" not in line and "to go" not in line


def test_after_a_while_the_rate_and_the_time_to_go_are_shown(capsys):
    progress = Progress(300)
    progress.started -= 10  # ten seconds ago
    progress(100)
    line = capsys.readouterr().err
    assert "100 datasets, 10/s, 33%, about 20 s to go" in line


def test_without_a_total_only_the_count_and_rate(capsys):
    progress = Progress(None)
    progress.started -= 4
    progress(40)
    assert "40 datasets, 10/s" in capsys.readouterr().err
