"""One narrow row per center with what the radius search reads: its exact point and its filters as a bitmask.

A filter such as "Medicaid" or "naltrexone" was an `EXISTS` on `center_attributes` for every
candidate the spatial index found: at a million centers most of a filtered search's time.
`center_search_rows` holds, per center, one 64-bit integer with a bit
per code of the four small vocabularies (levels of care, payment options, medications,
populations; `filter_bits` numbers them) and bit 62 for "accepting referrals", so a filter is
`mask & bits != 0` on one narrow row. Languages (95 codes) stay `EXISTS`. The row also holds
the center's exact latitude and longitude (the SQLite R*Tree keeps 32-bit floats), so the
search measures distances without reading the wide `centers` rows.

Triggers keep the masks in step with `centers` and `center_attributes` on every write
(imports, the portal, raw SQL): row triggers on SQLite, statement triggers with transition
tables on PostgreSQL (one UPDATE per statement, so a batched import is not slowed row by row).
A later change to the vocabularies needs a migration that adds its codes to `filter_bits` and
recomputes the masks; `tests/search/test_search_rows.py` fails until it exists.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The codes as they were when this migration was written, numbered in this order from bit 0.
CODES = {
    "levels_of_care": [
        "medical_detox", "outpatient_detox", "hospital_inpatient", "residential", "residential_short",
        "residential_long", "partial_hospitalization", "intensive_outpatient", "outpatient", "transitional_housing",
    ],
    "payment_options": [
        "self_pay", "private_insurance", "medicaid", "medicare", "military_insurance", "state_financed",
        "sliding_scale", "payment_assistance", "free_care", "ihs_tribal", "atr_voucher",
    ],
    "medications": ["naltrexone_oral", "naltrexone_injectable", "buprenorphine", "methadone"],
    "populations": [
        "adolescents", "children", "young_adults", "adults", "seniors", "adult_women", "adult_men", "female",
        "male", "pregnant_postpartum", "residential_beds_for_children", "lgbtq", "veterans",
        "active_duty_military", "military_families", "criminal_justice", "dui_dwi", "co_occurring", "hiv_aids",
        "trauma", "sexual_abuse", "domestic_violence", "methadone_clients_only",
        "methadone_buprenorphine_clients_only", "dui_dwi_clients_only",
    ],
}  # fmt: skip
SQLITE = [
    """CREATE TRIGGER centers_search_row_insert AFTER INSERT ON centers BEGIN
         INSERT OR REPLACE INTO center_search_rows (center_id, latitude, longitude, mask)
         VALUES (new.id, new.latitude, new.longitude,
           (CASE WHEN new.accepting_referrals THEN 1 << 62 ELSE 0 END)
           | coalesce((SELECT sum(1 << b.bit) FROM center_attributes a
                       JOIN filter_bits b ON b.kind = a.kind AND b.code = a.code WHERE a.center_id = new.id), 0));
       END""",
    """CREATE TRIGGER centers_search_row_point AFTER UPDATE OF latitude, longitude ON centers BEGIN
         UPDATE center_search_rows SET latitude = new.latitude, longitude = new.longitude WHERE center_id = new.id;
       END""",
    """CREATE TRIGGER centers_search_row_accepting AFTER UPDATE OF accepting_referrals ON centers BEGIN
         UPDATE center_search_rows
         SET mask = (mask & ~(1 << 62)) | (CASE WHEN new.accepting_referrals THEN 1 << 62 ELSE 0 END)
         WHERE center_id = new.id;
       END""",
    """CREATE TRIGGER centers_search_row_delete AFTER DELETE ON centers BEGIN
         DELETE FROM center_search_rows WHERE center_id = old.id;
       END""",
    """CREATE TRIGGER center_attributes_search_row_insert AFTER INSERT ON center_attributes
       WHEN EXISTS (SELECT 1 FROM filter_bits WHERE kind = new.kind AND code = new.code) BEGIN
         UPDATE center_search_rows
         SET mask = mask | (SELECT 1 << bit FROM filter_bits WHERE kind = new.kind AND code = new.code)
         WHERE center_id = new.center_id;
       END""",
    """CREATE TRIGGER center_attributes_search_row_delete AFTER DELETE ON center_attributes
       WHEN EXISTS (SELECT 1 FROM filter_bits WHERE kind = old.kind AND code = old.code) BEGIN
         UPDATE center_search_rows
         SET mask = mask & ~(SELECT 1 << bit FROM filter_bits WHERE kind = old.kind AND code = old.code)
         WHERE center_id = old.center_id;
       END""",
    """CREATE TRIGGER center_attributes_search_row_update AFTER UPDATE ON center_attributes BEGIN
         UPDATE center_search_rows
         SET mask = (mask & (1 << 62))
           | coalesce((SELECT sum(1 << b.bit) FROM center_attributes a JOIN filter_bits b
                       ON b.kind = a.kind AND b.code = a.code WHERE a.center_id = center_search_rows.center_id), 0)
         WHERE center_id IN (old.center_id, new.center_id);
       END""",
]

# PostgreSQL: the bits of the codes of center `c`, and its whole mask, computed from scratch.
_PG_CODE_BITS = """coalesce((SELECT bit_or(1::bigint << b.bit) FROM center_attributes a
                    JOIN filter_bits b ON b.kind = a.kind AND b.code = a.code WHERE a.center_id = c.id), 0)"""
_PG_MASK = f"(CASE WHEN c.accepting_referrals THEN 1::bigint << 62 ELSE 0 END) | {_PG_CODE_BITS}"

POSTGRESQL = {
    "centers_search_rows_insert": (
        "AFTER INSERT ON centers REFERENCING NEW TABLE AS changed",
        f"""INSERT INTO center_search_rows (center_id, latitude, longitude, mask)
            SELECT c.id, c.latitude, c.longitude, {_PG_MASK} FROM changed c
            ON CONFLICT (center_id) DO UPDATE
            SET latitude = excluded.latitude, longitude = excluded.longitude, mask = excluded.mask""",
    ),
    "centers_search_rows_update": (
        "AFTER UPDATE ON centers REFERENCING NEW TABLE AS changed",
        """UPDATE center_search_rows m
           SET latitude = c.latitude, longitude = c.longitude,
               mask = (m.mask & ~(1::bigint << 62)) | (CASE WHEN c.accepting_referrals THEN 1::bigint << 62 ELSE 0 END)
           FROM changed c
           WHERE m.center_id = c.id
             AND (m.latitude, m.longitude, (m.mask & (1::bigint << 62)) <> 0)
                 IS DISTINCT FROM (c.latitude, c.longitude, c.accepting_referrals)""",
    ),
    "center_attributes_search_rows_insert": (
        "AFTER INSERT ON center_attributes REFERENCING NEW TABLE AS changed",
        """UPDATE center_search_rows m SET mask = m.mask | n.bits
           FROM (SELECT a.center_id, bit_or(1::bigint << b.bit) AS bits FROM changed a
                 JOIN filter_bits b ON b.kind = a.kind AND b.code = a.code GROUP BY a.center_id) n
           WHERE m.center_id = n.center_id""",
    ),
    "center_attributes_search_rows_delete": (
        "AFTER DELETE ON center_attributes REFERENCING OLD TABLE AS changed",
        """UPDATE center_search_rows m SET mask = m.mask & ~n.bits
           FROM (SELECT a.center_id, bit_or(1::bigint << b.bit) AS bits FROM changed a
                 JOIN filter_bits b ON b.kind = a.kind AND b.code = a.code GROUP BY a.center_id) n
           WHERE m.center_id = n.center_id""",
    ),
    "center_attributes_search_rows_update": (
        "AFTER UPDATE ON center_attributes REFERENCING OLD TABLE AS before NEW TABLE AS changed",
        f"""UPDATE center_search_rows m SET mask = (m.mask & (1::bigint << 62)) | {_PG_CODE_BITS}
            FROM centers c
            WHERE c.id = m.center_id
              AND m.center_id IN (SELECT center_id FROM before UNION SELECT center_id FROM changed)""",
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "filter_bits",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("bit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "code", name=op.f("pk_filter_bits")),
        sa.UniqueConstraint("bit", name=op.f("uq_filter_bits_bit")),
    )
    rows = [(kind, code) for kind, codes in CODES.items() for code in codes]
    op.bulk_insert(
        sa.table("filter_bits", sa.column("kind"), sa.column("code"), sa.column("bit")),
        [{"kind": kind, "code": code, "bit": bit} for bit, (kind, code) in enumerate(rows)],
    )
    op.create_table(
        "center_search_rows",
        sa.Column("center_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("mask", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_center_search_rows_center_id_centers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("center_id", name=op.f("pk_center_search_rows")),
    )
    if bind.dialect.name == "postgresql":
        op.execute(
            "INSERT INTO center_search_rows (center_id, latitude, longitude, mask)"
            f" SELECT c.id, c.latitude, c.longitude, {_PG_MASK} FROM centers c"
        )
        for name, (when, body) in POSTGRESQL.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
        op.execute("ANALYZE center_search_rows")
    else:
        op.execute(
            "INSERT INTO center_search_rows (center_id, latitude, longitude, mask)"
            " SELECT c.id, c.latitude, c.longitude,"
            " (CASE WHEN c.accepting_referrals THEN 1 << 62 ELSE 0 END)"
            " | coalesce((SELECT sum(1 << b.bit) FROM center_attributes a"
            " JOIN filter_bits b ON b.kind = a.kind AND b.code = a.code WHERE a.center_id = c.id), 0)"
            " FROM centers c"
        )
        for statement in SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (when, _) in POSTGRESQL.items():
            table = when.split(" ON ")[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for statement in SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    op.drop_table("center_search_rows")
    op.drop_table("filter_bits")
