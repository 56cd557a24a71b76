"""rate limits keep a throttle

An unexpected 429 (someone else uses the key) lowers a credential's effective limits,
which then grow back; every process sharing the store shares that throttle, so it
lives on the credential's ``rate_limits`` row: ``scale`` (the share of each limit
allowed right after the last decrease) and ``scaled_at`` (when that was).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scale', sa.Float(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('scaled_at', sa.Float(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.drop_column('scaled_at')
        batch_op.drop_column('scale')
