"""errors say whether they are transient

``sync_errors.transient``: the failure is a vendor's passing fault (a 5xx, a timeout,
a job that never ended) and its operation is tried again by later cycles; false for
a refusal of the record (validation), which must change. Existing rows are refusals.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-11 09:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sync_errors', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('transient', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('sync_errors', schema=None) as batch_op:
        batch_op.drop_column('transient')
