"""`flask init-db`: creates or upgrades the schema, seeds on first run only; migrations go both ways."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, inspect, select

from directory import create_app, schema
from directory.extensions import db
from directory.models import Center
from tests.conftest import database_url


def bare_app(tmp_path: Path, **config):
    """An app on a fresh, empty database (no schema): SQLite, or PostgreSQL on the PostgreSQL pass."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url(tmp_path, "cli", empty=True), **config})


def test_init_db_creates_schema_and_is_idempotent(tmp_path):
    app = bare_app(tmp_path)
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    with app.app_context():
        assert schema.is_current(db.engine)
        tables = set(inspect(db.engine).get_table_names())
        assert {"centers", "center_attributes", "users", "referrals", "offers", "outbox"} <= tables
        if db.engine.dialect.name == "sqlite":
            assert "center_locations" in tables  # the R*Tree


def test_init_db_seed_loads_only_on_first_run(tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text(
        "external_id,name,alt_name,street1,street2,city,state,zip,phone,intake_phone,website,latitude,longitude,"
        "levels_of_care,payment_options,medications,populations,languages,accepting_referrals,beds_available,"
        "detox_stay_days,source,source_vintage,last_verified_at\n"
        "test:1,Seed Center,,1 Main St,,Chicago,IL,60601,(312) 555-0100,,,41.8855,-87.6217,"
        "medical_detox,medicaid,naltrexone_oral,adults,es,true,,,test,2026,\n",
        encoding="utf-8",
    )
    app = bare_app(tmp_path, SEED_FILE=str(seed))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db", "--seed"])
    assert first.exit_code == 0, first.output
    assert "1 created" in first.output
    second = runner.invoke(args=["init-db", "--seed"])
    assert "already loaded; not seeding" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Center)) == 1


def test_import_before_init_db_says_what_to_do(tmp_path):
    app = bare_app(tmp_path)
    data = tmp_path / "x.csv"
    data.write_text("external_id\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["centers", "import", str(data)])
    assert result.exit_code != 0
    assert "run `flask --app directory init-db` first" in result.output


def test_migrations_go_down_to_empty_and_back_up(tmp_path):
    app = bare_app(tmp_path)
    with app.app_context():
        schema.upgrade(db.engine)
        schema.downgrade(db.engine, "base")
        # PostGIS's own table stays with the extension (migration 0004 leaves the extension).
        assert set(inspect(db.engine).get_table_names()) - {"spatial_ref_sys"} == {"alembic_version"}
        schema.upgrade(db.engine)
        assert schema.is_current(db.engine)
