"""sort indexes: one per sort order, matching its ORDER BY

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Without them every sort without a search sorted the whole catalog (bench/README.md). PostgreSQL
needs NULLS LAST spelt out to use them; in SQLite, DESC already puts NULLs last and the clause
is not allowed in an index.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

THEN_BY_DOWNLOADS = ("likes", "trending_score", "last_modified", "created_at")


def upgrade():
    nulls_last = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(
        f"CREATE INDEX ix_datasets_sort_downloads ON datasets (downloads DESC{nulls_last}, id)"
    )
    for column in THEN_BY_DOWNLOADS:
        op.execute(
            f"CREATE INDEX ix_datasets_sort_{column} ON datasets "
            f"({column} DESC{nulls_last}, downloads DESC{nulls_last}, id)"
        )
    op.execute("CREATE INDEX ix_datasets_sort_name ON datasets (lower(repo_id), id)")


def downgrade():
    for name in ("downloads", *THEN_BY_DOWNLOADS, "name"):
        op.execute(f"DROP INDEX IF EXISTS ix_datasets_sort_{name}")
