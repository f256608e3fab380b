"""Everything the dataset page shows beyond the mirror row: details, card, sizes, commits."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.search import SearchQuery, search
from app.catalog.store import mark_changed, upsert_records
from app.datasets.card import summary_from_card
from app.hub.cache import Cached, cached_fetch
from app.hub.client import HubClient
from app.models import Dataset, DatasetAlias

COMMITS_PER_PAGE = 20


def find_dataset(session: Session, repo_id: str) -> tuple[Dataset | None, str | None]:
    """The mirrored dataset, or the id it was renamed to."""
    dataset = session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is not None:
        return dataset, None
    renamed = session.scalar(
        select(Dataset.repo_id)
        .join(DatasetAlias, DatasetAlias.dataset_id == Dataset.id)
        .where(DatasetAlias.alias == repo_id)
    )
    return None, renamed


def details(session: Session, client: HubClient, repo_id: str, ttl: timedelta) -> Cached:
    """The Hub's details; fetching them also refreshes the dataset's row in the mirror."""

    def fetch() -> dict:
        detail = client.dataset(repo_id)
        upsert_records(session, [detail.record])
        return {
            "sha": detail.sha,
            "disabled": detail.disabled,
            "private": detail.private,
            "gated": detail.gated,
            "used_storage": detail.used_storage,
            "file_count": len(detail.files),
            "card_sizes": [asdict(size) for size in detail.card_sizes],
            "card_configs": [asdict(config) for config in detail.card_configs],
        }

    return cached_fetch(session, f"detail:{repo_id}", ttl, fetch)


def card(session: Session, client: HubClient, repo_id: str, ttl: timedelta) -> Cached:
    """The card; a dataset the catalog knows no description for gets one from it."""

    def fetch() -> dict:
        text = client.card(repo_id)
        dataset = session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
        if text and dataset is not None and not dataset.description:
            dataset.description = summary_from_card(text)
            session.flush()
            mark_changed(session, [dataset.id])  # search finds it by these words now
        return {"text": text}

    return cached_fetch(session, f"card:{repo_id}", ttl, fetch)


def sizes(session: Session, client: HubClient, repo_id: str, ttl: timedelta) -> Cached:
    def fetch() -> dict:
        size = client.viewer_size(repo_id)
        return asdict(size) if size else {"missing": True}

    return cached_fetch(session, f"size:{repo_id}", ttl, fetch)


def columns(session: Session, client: HubClient, repo_id: str, ttl: timedelta) -> Cached:
    """Columns and splits per configuration, from the viewer's /info."""

    def fetch() -> dict:
        configs = client.viewer_info(repo_id)
        return {"configs": [asdict(c) for c in configs]} if configs else {"missing": True}

    return cached_fetch(session, f"info:{repo_id}", ttl, fetch)


def commits(session: Session, client: HubClient, repo_id: str, page: int, ttl: timedelta) -> Cached:
    def fetch() -> dict:
        result = client.commits(repo_id, page=page, per_page=COMMITS_PER_PAGE)
        return asdict(result)

    return cached_fetch(session, f"commits:{repo_id}:{page}", ttl, fetch)


def suggestions(session: Session, repo_id: str, limit: int = 5) -> list[Dataset]:
    """Datasets whose names share words with an id that is not in the catalog."""
    words = repo_id.replace("/", " ").replace("_", " ").replace("-", " ")
    page = search(
        session,
        SearchQuery(text=words.split()[-1] if words.split() else "", sort="relevance", per_page=20),
    )
    return page.datasets[:limit]
