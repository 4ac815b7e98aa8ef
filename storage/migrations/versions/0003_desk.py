"""the agents' desk: users, internal notes, not-a-complaint, the next deadline, full-text search

Revision ID: 0003
Revises: 0002

`case.next_due` is a generated column (the next deadline not yet met, NULL when closed),
indexed with the status: the desk's list sorts and filters by it from the index alone.

Full-text search lives outside the ORM's tables (`storage.search` queries it):
- SQLite: `case_fts`, an FTS5 table over the case's subject, description and customer, with
  `case` as its external content and triggers keeping it in step. A later migration that
  makes SQLite copy `case` into a new table (batch mode) must create the triggers again.
- PostgreSQL: `case.search`, a stored generated tsvector (the 'simple' configuration: no
  language's stemming, as customers write in several), with a GIN index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.schema

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEXT_DUE_SQL = (
    "CASE WHEN status = 'closed' THEN NULL"
    " WHEN acknowledged_at IS NULL AND acknowledge_due IS NOT NULL THEN acknowledge_due"
    " WHEN assigned_at IS NULL AND investigate_due IS NOT NULL THEN investigate_due"
    " WHEN resolved_at IS NULL AND resolve_due IS NOT NULL THEN resolve_due"
    " WHEN followup_sent_at IS NULL THEN followup_due END")
FTS_COLUMNS = "subject, description, customer_name, customer_address"
_OLD = "old.id, old.subject, old.description, old.customer_name, old.customer_address"
_NEW = "new.id, new.subject, new.description, new.customer_name, new.customer_address"
SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE case_fts USING fts5({FTS_COLUMNS}, content='case', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER case_fts_insert AFTER INSERT ON "case" BEGIN
        INSERT INTO case_fts(rowid, {FTS_COLUMNS}) VALUES ({_NEW}); END""",
    f"""CREATE TRIGGER case_fts_delete AFTER DELETE ON "case" BEGIN
        INSERT INTO case_fts(case_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {_OLD}); END""",
    f"""CREATE TRIGGER case_fts_update AFTER UPDATE OF {FTS_COLUMNS} ON "case" BEGIN
        INSERT INTO case_fts(case_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {_OLD});
        INSERT INTO case_fts(rowid, {FTS_COLUMNS}) VALUES ({_NEW}); END""",
    "INSERT INTO case_fts(case_fts) VALUES ('rebuild')",
]
# At most 100,000 characters of a description are indexed: a tsvector holds 1 MB at most,
# and a mail's text over that must not fail its case's INSERT.
POSTGRESQL_FTS = [
    """ALTER TABLE "case" ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector(
        'simple'::regconfig, left(coalesce(subject, ''), 2000) || ' ' ||
        left(coalesce(description, ''), 100000) || ' ' || coalesce(customer_name, '') || ' ' ||
        translate(coalesce(customer_address, ''), '@.+', '   '))) STORED""",
    """CREATE INDEX ix_case_search ON "case" USING gin (search)""",
]


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.schema.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('case_note',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('at', storage.schema.UtcDateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_note_case_id'), ['case_id'], unique=False)
    op.add_column('case', sa.Column('not_complaint', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    # storage.schema.NEXT_DUE_SQL as of this revision; virtual on SQLite (ALTER TABLE adds
    # no other kind), stored on PostgreSQL (which has no other kind before 18)
    op.add_column('case', sa.Column('next_due', storage.schema.UtcDateTime(timezone=True),
                                    sa.Computed(NEXT_DUE_SQL, persisted=not sqlite),
                                    nullable=True))
    op.create_index('ix_case_next_due_status', 'case', ['next_due', 'status'], unique=False)
    op.create_index('ix_case_status_received_at', 'case', ['status', 'received_at'],
                    unique=False)
    for statement in SQLITE_FTS if sqlite else POSTGRESQL_FTS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for trigger in ('case_fts_insert', 'case_fts_delete', 'case_fts_update'):
            op.execute(f'DROP TRIGGER {trigger}')
        op.execute('DROP TABLE case_fts')
    else:
        op.execute('DROP INDEX ix_case_search')
        op.execute('ALTER TABLE "case" DROP COLUMN search')
    op.drop_index('ix_case_status_received_at', table_name='case')
    op.drop_index('ix_case_next_due_status', table_name='case')
    op.drop_column('case', 'next_due')
    op.drop_column('case', 'not_complaint')
    with op.batch_alter_table('case_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_note_case_id'))
    op.drop_table('case_note')
    op.drop_table('app_user')
