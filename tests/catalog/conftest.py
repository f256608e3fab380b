"""Fixtures of the catalog's tests."""

from __future__ import annotations

import pytest

from app.catalog import catalog_index
from app.catalog.search import clear_search_cache


@pytest.fixture
def fresh_index(small_catalog):
    """The small catalog, with no search index or cached search kept from an earlier test."""
    catalog_index.clear()
    clear_search_cache()
    yield small_catalog
    catalog_index.clear()
    clear_search_cache()
