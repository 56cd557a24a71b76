"""the digests of people out of scope, so they are not evaluated again while unchanged

``out_of_scope`` keeps, for each person the connector's scope leaves out and who has no
link, the digest of the record they were read from: a push passes over an unchanged one
as it passes over an unchanged linked person. It starts empty: the next push evaluates
everyone out of scope once, as before, and fills it.

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-15 09:00:00.000000
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0009"
down_revision: Union[str, None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "out_of_scope",
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("hr_key", sa.String(length=255), nullable=False),
        sa.Column("source_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "hr_key", name=op.f("pk_out_of_scope")),
    )


def downgrade() -> None:
    op.drop_table("out_of_scope")
