"""Alembic: Sluice's history and a service's own, upgraded from empty with no drift from the
declared tables, downgraded to base; a service's next revision written against its tables only."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, pool

from app.db.migrate import Branch, downgrade, new_revision, upgrade
from app.db.urls import sqlalchemy_url
from app.schema import metadata as platform_metadata
from app.services.outreach import service as outreach_service
from app.services.ward import service as ward_service
from app.views.schema import migrations_branch, service_tables

WARD_TABLES = {"view_ward_board", "view_open_alerts", "view_callout_status"}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def drift(url: str, *declared: MetaData) -> list:
    both = MetaData()
    for metadata in declared:
        for table in metadata.tables.values():
            table.to_metadata(both)
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, both)
    engine.dispose()
    return found


def test_platform_and_ward_upgrade_from_empty_match_their_tables_and_downgrade(
    empty_database_url: str,
) -> None:
    assert tables(empty_database_url) == set()
    ward = migrations_branch(ward_service)
    assert ward is not None
    upgrade(empty_database_url, ward)
    assert {"events", "outbox", "command_log", "snapshots", "alembic_version"} <= tables(
        empty_database_url
    )
    assert tables(empty_database_url) >= WARD_TABLES
    assert drift(empty_database_url, platform_metadata, service_tables(ward_service)) == []

    downgrade(empty_database_url, "base", ward)
    assert tables(empty_database_url) == {"alembic_version"}


def test_outreach_keeps_a_history_of_its_own_that_matches_its_tables(
    empty_database_url: str,
) -> None:
    outreach = migrations_branch(outreach_service)
    assert outreach is not None
    upgrade(empty_database_url, outreach)
    assert {"view_callouts", "view_ward_alerts"} <= tables(empty_database_url)
    assert not WARD_TABLES & tables(empty_database_url)  # the ward's tables are the ward's
    assert drift(empty_database_url, platform_metadata, service_tables(outreach_service)) == []
    downgrade(empty_database_url, "base", outreach)
    assert tables(empty_database_url) == {"alembic_version"}


def test_the_platform_alone_makes_no_service_tables(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert "events" in tables(empty_database_url)
    assert not WARD_TABLES & tables(empty_database_url)
    assert drift(empty_database_url, platform_metadata) == []


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    ward = migrations_branch(ward_service)
    upgrade(empty_database_url, ward)
    upgrade(empty_database_url, ward)
    assert "events" in tables(empty_database_url)


def test_a_database_whose_ward_tables_predate_the_ward_history_upgrades(
    empty_database_url: str,
) -> None:
    """Before services kept their own histories the ward's tables were Sluice's: a database
    from then has them already, and the ward's first revision leaves them be."""
    upgrade(empty_database_url)
    engine = create_engine(sqlalchemy_url(empty_database_url), poolclass=pool.NullPool)
    service_tables(ward_service).create_all(engine)
    engine.dispose()
    with psycopg.connect(empty_database_url) as conn:
        conn.execute(
            "INSERT INTO view_ward_board (patient_id, status, reasons, recent_scores,"
            " updated_at) VALUES ('p1', 'stable', '[]', '[]', now())"
        )
    upgrade(empty_database_url, migrations_branch(ward_service))
    with psycopg.connect(empty_database_url) as conn:
        kept = conn.execute("SELECT patient_id FROM view_ward_board").fetchall()
    assert kept == [("p1",)]


def shop_tables(*, with_price: bool) -> MetaData:
    metadata = MetaData()
    columns = [Column("sku", Text, primary_key=True), Column("name", Text, nullable=False)]
    if with_price:
        columns.append(Column("price", Integer, nullable=True))
    Table("view_shop_items", metadata, *columns)
    return metadata


def test_a_service_s_revisions_touch_its_own_tables_only(
    empty_database_url: str, tmp_path: Path
) -> None:
    url = empty_database_url
    upgrade(url)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE someone_elses (id int PRIMARY KEY)")
    folder = tmp_path / "shop" / "migrations"

    first = new_revision(url, Branch("shop", folder, shop_tables(with_price=False)), "items")
    text = first.read_text()
    assert first.parent == folder
    assert "branch_labels" in text and "('shop',)" in text
    assert "create_table" in text and "view_shop_items" in text
    assert "drop_table" not in text.split("def downgrade")[0], text
    assert "someone_elses" not in text and "events" not in text

    upgrade(url, Branch("shop", folder, shop_tables(with_price=False)))
    assert {"view_shop_items", "someone_elses", "events"} <= tables(url)

    priced = Branch("shop", folder, shop_tables(with_price=True))
    second = new_revision(url, priced, "prices")
    text = second.read_text()
    assert "add_column('view_shop_items'" in text.replace('"', "'"), text
    assert "create_table" not in text and "drop_table" not in text
    upgrade(url, priced)
    left = drift(url, platform_metadata, priced.metadata)
    assert [(change[0], change[1].name) for change in left] == [("remove_table", "someone_elses")]
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'view_shop_items' ORDER BY column_name"
        ).fetchall()
    assert columns == [("name",), ("price",), ("sku",)]
