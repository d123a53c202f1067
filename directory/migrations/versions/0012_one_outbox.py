"""One outbox for routing tasks and notices: notice rows in `outbox` (with the offer they are
about), and no `held_notices` table.

Notices still held in `held_notices` become outbox rows never sent, for beat's next round.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ROUTE = "route_referral"
NEW_OFFER = "notify_center_staff"
STATUS_CHANGE = "notify_referrer"

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("task", sa.String),
    sa.column("referral_id", sa.String),
    sa.column("offer_id", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("dispatched_at", sa.DateTime),
    sa.column("attempts", sa.Integer),
)
held_notices = sa.table(
    "held_notices",
    sa.column("id", sa.Integer),
    sa.column("offer_ids", sa.JSON),
    sa.column("referral_ids", sa.JSON),
    sa.column("created_at", sa.DateTime),
)
offers = sa.table("offers", sa.column("id", sa.Integer), sa.column("referral_id", sa.String))
referrals = sa.table("referrals", sa.column("id", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_offer_id_offers"), "offers", ["offer_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_outbox_offer_id", ["offer_id"], unique=False)
    connection = op.get_bind()
    rows = []
    for offer_ids, referral_ids, created_at in connection.execute(
        sa.select(held_notices.c.offer_ids, held_notices.c.referral_ids, held_notices.c.created_at).order_by(
            held_notices.c.id
        )
    ):
        found = dict(
            connection.execute(sa.select(offers.c.id, offers.c.referral_id).where(offers.c.id.in_(offer_ids))).all()
        )
        known = set(connection.scalars(sa.select(referrals.c.id).where(referrals.c.id.in_(referral_ids))))
        common = {"created_at": created_at, "dispatched_at": None, "attempts": 0}
        rows += [{"task": NEW_OFFER, "referral_id": found[i], "offer_id": i, **common} for i in offer_ids if i in found]
        rows += [
            {"task": STATUS_CHANGE, "referral_id": r, "offer_id": None, **common} for r in referral_ids if r in known
        ]
    if rows:
        connection.execute(sa.insert(outbox), rows)
    op.drop_table("held_notices")


def downgrade() -> None:
    op.create_table(
        "held_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_ids", sa.JSON(), nullable=False),
        sa.Column("referral_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_notices")),
    )
    connection = op.get_bind()
    notices = connection.execute(
        sa.select(outbox.c.task, outbox.c.referral_id, outbox.c.offer_id, outbox.c.created_at)
        .where(outbox.c.task != ROUTE)
        .order_by(outbox.c.id)
    ).all()
    if notices:
        connection.execute(
            sa.insert(held_notices),
            [
                {
                    "offer_ids": [n.offer_id for n in notices if n.task == NEW_OFFER],
                    "referral_ids": list(dict.fromkeys(n.referral_id for n in notices if n.task == STATUS_CHANGE)),
                    "created_at": notices[0].created_at,
                }
            ],
        )
    connection.execute(sa.delete(outbox).where(outbox.c.task != ROUTE))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_offer_id")
        batch_op.drop_constraint(batch_op.f("fk_outbox_offer_id_offers"), type_="foreignkey")
        batch_op.drop_column("offer_id")
