"""errors keep one row per group or course

``sync_errors.target``: the group, course or learning path of a membership or
enrollment error ("" for none), part of the row's key, so a person refused two
courses keeps both reasons and a success closes only its own. Existing rows take
their operation's target.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01 09:00:00.000000
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_KEY = "uq_sync_errors_connector_direction_hr_key_operation"
NEW_KEY = "uq_sync_errors_connector_direction_hr_key_operation_target"


def upgrade() -> None:
    with op.batch_alter_table("sync_errors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.drop_constraint(OLD_KEY, type_="unique")
        batch_op.create_unique_constraint(
            NEW_KEY, ["connector", "direction", "hr_key", "operation", "target"]
        )
    op.execute(
        "UPDATE sync_errors SET target = COALESCE((SELECT operations.target FROM operations "
        "WHERE operations.id = sync_errors.operation_id), '') "
        "WHERE operation_id IS NOT NULL"
    )


def downgrade() -> None:
    # One row per person and operation again: the newest row of each stays.
    op.execute(
        "DELETE FROM sync_errors WHERE id NOT IN (SELECT id FROM (SELECT MAX(id) AS id "
        "FROM sync_errors GROUP BY connector, direction, hr_key, operation) AS kept)"
    )
    with op.batch_alter_table("sync_errors", schema=None) as batch_op:
        batch_op.drop_constraint(NEW_KEY, type_="unique")
        batch_op.create_unique_constraint(
            OLD_KEY, ["connector", "direction", "hr_key", "operation"]
        )
        batch_op.drop_column("target")
