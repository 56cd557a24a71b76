"""the linked people's digests as one row a connector, and the links by change time

``link_snapshots`` holds, for each connector, its linked people's HR keys and digests as
three values: a no-change push reads that row instead of a million rows, once the links
changed since (found through the new ``(connector, updated_at)`` index) are applied and
the result's counts and sums match the links' own. It starts empty: the next push reads
the links whole, as before, and takes the first snapshot.

Revision ID: 0010
Revises: 0009
Create Date: 2027-03-01 09:00:00.000000
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0010"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "link_snapshots",
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked", sa.BigInteger(), nullable=False),
        sa.Column("hashed", sa.BigInteger(), nullable=False),
        sa.Column("low_sum", sa.BigInteger(), nullable=False),
        sa.Column("high_sum", sa.BigInteger(), nullable=False),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("digests", sa.LargeBinary(), nullable=False),
        sa.Column("unhashed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("connector", name=op.f("pk_link_snapshots")),
    )
    op.create_index(op.f("ix_links_connector_updated_at"), "links", ["connector", "updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_links_connector_updated_at"), table_name="links")
    op.drop_table("link_snapshots")
