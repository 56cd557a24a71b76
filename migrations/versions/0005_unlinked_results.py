"""results of unlinked LMS accounts are counted apart, not failures

``sync_status.unlinked_results`` and ``sync_runs.unlinked`` count them; the "not
linked" errors earlier versions recorded for them (operation ``pull``) are resolved,
since such a result is no longer a failure of the cycle.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sync_status') as batch:
        batch.add_column(
            sa.Column('unlinked_results', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('sync_runs') as batch:
        batch.add_column(sa.Column('unlinked', sa.Integer(), nullable=False, server_default='0'))
    op.execute(
        "UPDATE sync_errors SET resolved_at = CURRENT_TIMESTAMP "
        "WHERE direction = 'pull' AND operation = 'pull' AND resolved_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('sync_runs') as batch:
        batch.drop_column('unlinked')
    with op.batch_alter_table('sync_status') as batch:
        batch.drop_column('unlinked_results')
