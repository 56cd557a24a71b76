"""links keep their record digest as a 64-bit integer

``links.source_hash`` was a 32-character hex text; it is now the 8-byte digest of
the record's raw cells, seeded with the mapping, as a BIGINT: a no-change cycle
reads one per person. The old texts are digests of something else, so they are
dropped, not converted: every linked person is re-read once by the next push
(rendered and diffed: nothing is sent unless the LMS differs), then it is quiet.
An index covering (connector, status, hr_key, source_hash) lets that read, and the
guard's count of linked people, skip the rows' JSON columns.

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-08 09:00:00.000000
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0008"
down_revision: Union[str, None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEX = "ix_links_connector_status_hr_key_source_hash"


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("source_hash")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_hash", sa.BigInteger(), nullable=True))
        batch_op.create_index(INDEX, ["connector", "status", "hr_key", "source_hash"])


def downgrade() -> None:
    # The integers mean nothing to the older release: it re-reads everyone once too.
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column("source_hash")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_hash", sa.String(length=64), nullable=True))
