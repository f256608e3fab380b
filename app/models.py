"""Database models: the catalog mirror and the accounts."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

REPO_ID_MAX = 200


class Dataset(db.Model):
    """One Hub dataset as mirrored in our database."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(REPO_ID_MAX), unique=True)
    author: Mapped[str | None] = mapped_column(String(100), index=True)
    pretty_name: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    # Tags and task names joined with spaces: what full-text search indexes besides the text.
    keywords: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    task_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    modalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    license: Mapped[str | None] = mapped_column(String(64))
    size_category: Mapped[str | None] = mapped_column(String(32))
    num_rows: Mapped[int | None] = mapped_column(BigInteger)
    num_bytes: Mapped[int | None] = mapped_column(BigInteger)
    downloads: Mapped[int | None] = mapped_column(Integer, index=True)
    likes: Mapped[int | None] = mapped_column(Integer, index=True)
    trending_score: Mapped[float | None] = mapped_column(Float, index=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_modified: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    gated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The catalog version of the write that last inserted or changed the row (NULL before
    # migration 0011): the search index reads only rows changed since its own version.
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    facets: Mapped[list[DatasetFacet]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Dataset {self.repo_id}>"

    @property
    def display_name(self) -> str:
        return self.pretty_name or self.repo_id


class DatasetFacet(db.Model):
    """One (facet, value) pair of a dataset: what the sidebar filters and counts."""

    __tablename__ = "dataset_facets"
    __table_args__ = (Index("ix_dataset_facets_facet_value", "facet", "value", "dataset_id"),)

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)

    dataset: Mapped[Dataset] = relationship(back_populates="facets")


class DatasetAlias(db.Model):
    """An older id of a dataset (the Hub renamed `squad` to `rajpurkar/squad`)."""

    __tablename__ = "dataset_aliases"

    alias: Mapped[str] = mapped_column(String(REPO_ID_MAX), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):
    """A person's account. Everything personal hangs off it and goes with it."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As the person typed it (domain lower-cased); `email_key` is what uniqueness compares.
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of the login id in every session and remember cookie: bumping it signs out everywhere.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The secret part of the user's Atom feed URL; regenerated from /account.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    def get_id(self) -> str:
        """The login id kept in sessions: id and session version (see auth.accounts)."""
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class HubCacheEntry(db.Model):
    """A Hub answer we fetched (details, card, sizes, a commit page) and when we fetched it."""

    __tablename__ = "hub_cache"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SyncState(db.Model):
    """Where catalog sync stands: what is fully synced, and where an interrupted run stopped."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    # Everything modified up to this moment is in the mirror.
    synced_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An unfinished run: the next page to fetch, its lower bound and the newest change it saw.
    resume_url: Mapped[str | None] = mapped_column(Text)
    run_stops_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_newest: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Follow(db.Model):
    """A person following a dataset, and when they last looked at what changed."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("user_id", "dataset_id", name="uq_follows_user_dataset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset] = relationship()


class DatasetSnapshot(db.Model):
    """What mattered about a followed dataset when we last looked: compared to find changes."""

    __tablename__ = "dataset_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sha: Mapped[str | None] = mapped_column(String(64))
    license: Mapped[str | None] = mapped_column(String(64))
    num_rows: Mapped[int | None] = mapped_column(BigInteger)
    num_bytes: Mapped[int | None] = mapped_column(BigInteger)
    downloads: Mapped[int | None] = mapped_column(Integer)
    likes: Mapped[int | None] = mapped_column(Integer)
    gated: Mapped[bool] = mapped_column(Boolean, default=False)
    card_hash: Mapped[str | None] = mapped_column(String(64))


class DatasetChange(db.Model):
    """One thing that changed about a dataset: a commit, or a metadata change in words."""

    __tablename__ = "dataset_changes"
    __table_args__ = (Index("ix_dataset_changes_dataset_time", "dataset_id", "happened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    happened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # commit, license, gated, rows, bytes, ...
    summary: Mapped[str] = mapped_column(Text)
    important: Mapped[bool] = mapped_column(Boolean, default=False)
    sha: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(100))

    dataset: Mapped[Dataset] = relationship()


class Combination(db.Model):
    """A named selection of datasets to train on together, with how to mix them."""

    __tablename__ = "combinations"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_combinations_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The secret of the read-only link; None when the combination is not shared.
    share_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The mixture: how weights are chosen, and what interleave_datasets is told.
    mix_method: Mapped[str] = mapped_column(String(16), default="proportional")
    temperature: Mapped[float] = mapped_column(Float, default=2.0)
    stopping_strategy: Mapped[str] = mapped_column(String(20), default="first_exhausted")
    seed: Mapped[int] = mapped_column(Integer, default=42)

    members: Mapped[list[CombinationMember]] = relationship(
        back_populates="combination",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(CombinationMember.added_at, CombinationMember.dataset_id)",
    )

    def __repr__(self) -> str:
        return f"<Combination {self.id} {self.name!r}>"


class CombinationMember(db.Model):
    """One dataset in a combination, its custom weight and the commit it was assessed at."""

    __tablename__ = "combination_members"

    combination_id: Mapped[int] = mapped_column(
        ForeignKey("combinations.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    weight: Mapped[float | None] = mapped_column(Float)
    assessed_sha: Mapped[str | None] = mapped_column(String(64))

    combination: Mapped[Combination] = relationship(back_populates="members")
    dataset: Mapped[Dataset] = relationship()


class ActiveCombination(db.Model):
    """Which combination the "Add to combination" buttons add to, per person."""

    __tablename__ = "active_combinations"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    combination_id: Mapped[int] = mapped_column(
        ForeignKey("combinations.id", ondelete="CASCADE"), index=True
    )


class DatasetEmbedding(db.Model):
    """A dataset's vector under one embedding model, and a hash of the text it was made from."""

    __tablename__ = "dataset_embeddings"
    __table_args__ = (Index("ix_dataset_embeddings_model_id", "model_id"),)

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    # e.g. "sentence-transformers/all-MiniLM-L6-v2@int8": vectors of two models never mix.
    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # sha256 of the embedded text (app.embeddings.model.text_hash): unchanged text, no re-embed.
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian float32, `dims` of them
    dims: Mapped[int] = mapped_column(Integer)
    embedded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(db.Model):
    """Background work (embedding the catalog, fitting the topic model) and how far it got.

    A job is claimed by one worker with a conditional UPDATE (queued -> running), so two
    workers that both see it queued cannot both run it."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_kind_status", "kind", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. "embed", "topics"
    status: Mapped[str] = mapped_column(String(16), default="queued")  # running, done, failed
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")  # progress or the error, in words
    result: Mapped[dict | None] = mapped_column(JSON)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written by the worker every JOBS_HEARTBEAT_SECONDS while it runs the job: a running job
    # whose heartbeat stopped lost its worker and is queued again (app.jobs.service).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TopicModelVersion(db.Model):
    """One fit of the catalog's topic model; exactly one version is current at a time."""

    __tablename__ = "topic_model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))  # the embedding model it was fitted on
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    dataset_count: Mapped[int] = mapped_column(Integer)
    topic_count: Mapped[int] = mapped_column(Integer)
    # The method, k and how it was chosen, seeds, PCA: what reproduces this fit.
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    # The 2-D projection (PCA) of this fit, kept so new vectors can be placed on the map.
    projection: Mapped[bytes | None] = mapped_column(LargeBinary)

    topics: Mapped[list[Topic]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Topic.number",
    )


class Topic(db.Model):
    """A cluster of the catalog: its distinctive terms, size and most central datasets."""

    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("version_id", "number", name="uq_topics_version_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("topic_model_versions.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))  # the top terms joined, for people
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(Integer)
    central_dataset_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)  # float32, unit length

    version: Mapped[TopicModelVersion] = relationship(back_populates="topics")


class DatasetTopic(db.Model):
    """Where a dataset falls in one topic-model version: its topic and its point on the map."""

    __tablename__ = "dataset_topics"
    __table_args__ = (Index("ix_dataset_topics_version_topic", "version_id", "topic_id"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("topic_model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
