"""parked results get their own table

Results of LMS users not yet linked were kept in ``cursors`` under ``parked:<result_id>``
names; they move to ``parked_results`` (and back on downgrade).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 08:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The old names: 'parked:' and the result id (literals: the same SQL on both dialects).
PARKED = "name LIKE 'parked:%'"


def upgrade() -> None:
    op.create_table('parked_results',
    sa.Column('connector', sa.String(length=100), nullable=False),
    sa.Column('result_id', sa.String(length=64), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('parked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('connector', 'result_id', name=op.f('pk_parked_results'))
    )
    op.execute(
        "INSERT INTO parked_results (connector, result_id, result, parked_at) "
        f"SELECT connector, substr(name, 8), value, updated_at FROM cursors WHERE {PARKED}"
    )
    op.execute(f"DELETE FROM cursors WHERE {PARKED}")


def downgrade() -> None:
    op.execute(
        "INSERT INTO cursors (connector, name, value, updated_at) "
        "SELECT connector, 'parked:' || result_id, result, parked_at FROM parked_results"
    )
    op.drop_table('parked_results')
