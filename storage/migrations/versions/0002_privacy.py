"""flood caps: outbox.sender_key and the indexes that count the last hour's mail

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_key', sa.String(length=320), nullable=True))
        batch_op.create_index('ix_outbox_sender_key_created_at', ['sender_key', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_outbox_kind_created_at', ['kind', 'created_at'], unique=False)
        batch_op.create_index('ix_outbox_recipient_kind_created_at',
                              ['recipient', 'kind', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient_kind_created_at')
        batch_op.drop_index('ix_outbox_kind_created_at')
        batch_op.drop_index('ix_outbox_sender_key_created_at')
        batch_op.drop_column('sender_key')
