"""dataset changed_at: the catalog version of the write that last changed a dataset's row

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 17:00:00

Expand only (a nullable column and its index): the previous release runs against this schema
unchanged. Rows written before it stay NULL: they are read by every full build of the search
index (app.catalog.catalog_index), and only rows changed since an index's version are read to
bring it up to date. A plain ADD COLUMN, not a batch rebuild: rebuilding `datasets` on SQLite
would drop the full-text triggers.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('datasets', sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_datasets_changed_at', 'datasets', ['changed_at'])


def downgrade():
    op.drop_index('ix_datasets_changed_at', table_name='datasets')
    # SQLite (3.35+) drops a column in place; a batch rebuild would lose the FTS triggers and
    # the expression indexes of 0005.
    op.execute('ALTER TABLE datasets DROP COLUMN changed_at')
