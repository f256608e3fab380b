"""job heartbeat: when a running job's worker last said it was alive

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:45:00

Expand only (a nullable column): the previous release runs against this schema unchanged.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
