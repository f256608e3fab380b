"""The one way the benchmark scripts write their results into bench/README.md."""

from __future__ import annotations

from pathlib import Path


def replace_section(readme: Path, start: str, end: str, section: str) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the text
    between those markers, or at the end of the file when the markers are not there yet."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    first, last = text.find(start), text.find(end)
    if first != -1 and last != -1:
        text = text[:first] + section + text[last + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")
