"""paths and revisions: a file's versions (path, supersedes, the current content at each path) and
the revision counter that numbers a report's later events

Revision ID: 0005
Revises: 0004

Existing data: each report's path is the path of its first sighting, and each path's current
content is its latest sighting by modification time. Reports stored before this revision have no
`supersedes` link (which version replaced which was not recorded then).
"""

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    paths = op.create_table(
        'paths',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('mtime', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['report_id'], ['reports.id'], name=op.f('fk_paths_report_id_reports'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_paths')),
    )
    with op.batch_alter_table('paths', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paths_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('path', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('supersedes', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))

    op.execute(
        "UPDATE reports SET path = (SELECT s.path FROM sightings s WHERE s.report_id = reports.id "
        "ORDER BY s.seen_at, s.id LIMIT 1)"
    )
    rows: list[dict[str, Any]] = []
    for row in _latest_per_path():
        rows.append(row)
        if len(rows) >= _BATCH:
            op.bulk_insert(paths, rows)
            rows = []
    if rows:
        op.bulk_insert(paths, rows)


def _latest_per_path() -> Iterator[dict[str, Any]]:
    """The latest sighting of each path (by mtime, then id), as a `paths` row."""
    sightings = sa.table(
        'sightings',
        sa.column('id', sa.BigInteger()),
        sa.column('report_id', sa.BigInteger()),
        sa.column('path', sa.Text()),
        sa.column('mtime', sa.DateTime(timezone=True)),
    )
    query = sa.select(sightings.c.path, sightings.c.report_id, sightings.c.mtime).order_by(
        sightings.c.path, sightings.c.mtime, sightings.c.id
    )
    now = datetime.now(UTC)
    last: dict[str, Any] | None = None
    for path, report_id, mtime in op.get_bind().execute(query):
        if last is not None and last['path'] != path:
            yield last
        key = hashlib.sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()
        last = {'key': key, 'path': path, 'report_id': report_id, 'mtime': mtime, 'updated_at': now}
    if last is not None:
        yield last


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('revision')
        batch_op.drop_column('supersedes')
        batch_op.drop_column('path')

    with op.batch_alter_table('paths', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paths_report_id'))

    op.drop_table('paths')
