"""A session scoped to a tenant cannot see another tenant's rows, whatever the query."""

from __future__ import annotations

from sqlalchemy import func, select, update

from backend.db.models import Manifest, Stop, User
from backend.db.session import Database, scope_to_tenant
from tests.factories import make_manifest, make_org, make_user


def _two_tenants(database: Database) -> tuple[int, int]:
    with database.session() as session:
        acme, globex = make_org(session, "acme"), make_org(session, "globex")
        make_manifest(session, acme.id, make_user(session, acme, "a1", "driver").id, stops=2)
        make_manifest(session, globex.id, make_user(session, globex, "g1", "driver").id, stops=5)
        session.commit()
        return acme.id, globex.id


def test_queries_without_a_tenant_filter_still_see_one_tenant(database: Database) -> None:
    acme, _globex = _two_tenants(database)
    with database.session() as session:
        scope_to_tenant(session, acme)
        assert session.scalar(select(func.count()).select_from(Stop)) == 2
        assert [u.username for u in session.scalars(select(User))] == ["a1"]


def test_joins_and_lookups_by_id_are_scoped_too(database: Database) -> None:
    acme, globex = _two_tenants(database)
    with database.session() as session:
        other_stop_id = session.scalar(select(Stop.id).where(Stop.org_id == globex))
        scope_to_tenant(session, acme)
        assert session.scalars(select(Stop).where(Stop.id == other_stop_id)).first() is None
        joined = session.scalars(select(Stop).join(Manifest, Stop.manifest_id == Manifest.id))
        assert {s.org_id for s in joined} == {acme}


def test_bulk_updates_cannot_reach_another_tenant(database: Database) -> None:
    acme, globex = _two_tenants(database)
    with database.session() as session:
        scope_to_tenant(session, acme)
        session.execute(update(Stop).values(instructions="changed"))
        session.commit()
    with database.session() as session:
        untouched = session.scalars(select(Stop).where(Stop.org_id == globex)).all()
        assert untouched
        assert all(s.instructions == "" for s in untouched)
