"""delivered results keep what the sink accepted

``delivered_results`` gains ``result`` (the row the sink accepted, as
``parked_results.result``) and ``certificate_expires_at`` (copied out of it, indexed),
so ``syncd results`` can list them and certifications that expire soon can be counted.
Rows delivered before keep both NULL until their result is delivered again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEX = 'ix_delivered_results_connector_sink_certificate_expires_at'


def upgrade() -> None:
    with op.batch_alter_table('delivered_results') as batch:
        batch.add_column(sa.Column('result', sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column('certificate_expires_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_index(INDEX, ['connector', 'sink', 'certificate_expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivered_results') as batch:
        batch.drop_index(INDEX)
        batch.drop_column('certificate_expires_at')
        batch.drop_column('result')
