"""Engines and sessions.

One :class:`Database` per app holds the engine and a session factory. Flask code asks
for :func:`db_session`, which opens one session per request and closes it at teardown.

Tenant isolation is enforced here, not in each query: once the request knows its
tenant (``scope_to_tenant``), every ORM SELECT, UPDATE and DELETE on a
:class:`~backend.db.models.TenantScoped` model gets ``org_id = :tenant`` added.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.pool import NullPool

from backend.db.models import TenantScoped

TENANT_KEY = "org_id"
IMMEDIATE_OPTION = "doorstep_sqlite_immediate"
# Set while the transaction's only statement so far is the authentication check.
AUTH_READ_ONLY_KEY = "doorstep_auth_read_only"


def make_engine(url: str) -> Engine:
    """Create an engine with the settings each backend needs to be safe under load."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # A connection per checkout: SQLite connections are cheap, and sharing one
            # across threads is what makes SQLite apps lose writes.
            poolclass=NullPool,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" above).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the lock up front (see begin_write), so two writers
    # queue on busy_timeout instead of one failing with "database is locked" when it
    # upgrades from reading to writing. Reads stay deferred and never block.
    if conn.get_execution_options().get(IMMEDIATE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class ReadBeforeWrite(RuntimeError):
    """begin_write was called in a transaction that had already started reading."""


def begin_write(session: Session) -> None:
    """Declare that the session's transaction writes: call it before its first query.

    On SQLite this takes the write lock at BEGIN; on PostgreSQL it changes nothing.
    Calling it again inside the same write transaction is a no-op. Calling it after a
    read in the same transaction raises :class:`ReadBeforeWrite` on every backend: on
    SQLite that transaction began deferred and cannot take the lock any more, so under
    concurrent writers it would fail with "database is locked" (503) instead of queueing.
    """
    if session.info.pop(AUTH_READ_ONLY_KEY, False) and session.in_transaction():
        # Only the request's token check has read: end that read here, so the write
        # takes its lock at BEGIN like any other.
        session.rollback()
    if not session.in_transaction():
        session.connection(execution_options={IMMEDIATE_OPTION: True})
    elif not session.connection().get_execution_options().get(IMMEDIATE_OPTION):
        raise ReadBeforeWrite(
            "begin_write() must come before the transaction's first query; "
            "this one has already read, so it cannot take the write lock"
        )


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


def end_of_auth_read(session: Session) -> None:
    """Mark the transaction as having run only the authentication check so far.

    The check's read and the view's reads then share one transaction and one pooled
    connection (a 304 revalidation is the token check and one read). If the view
    writes, :func:`begin_write` ends the check's read first; any other statement
    clears the mark, so begin_write after a real read still refuses as documented.
    """
    session.info[AUTH_READ_ONLY_KEY] = True


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    state.session.info.pop(AUTH_READ_ONLY_KEY, None)
    org_id = state.session.info.get(TENANT_KEY)
    if org_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.org_id == org_id,
            include_aliases=True,
        )
    )


def scope_to_tenant(session: Session, org_id: int) -> None:
    """From now on, every ORM query in ``session`` sees only ``org_id``'s rows."""
    session.info[TENANT_KEY] = org_id


def init_app(app: Flask, database: Database) -> None:
    app.extensions["doorstep.db"] = database
    app.teardown_appcontext(_close_session)


def get_database(app: Flask | None = None) -> Database:
    database: Database = (app or current_app).extensions["doorstep.db"]
    return database


def db_session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = get_database().session()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        # Anything not explicitly committed by a service function is rolled back:
        # a request that fails half-way leaves no partial state.
        session.rollback()
        session.close()
