"""``driver_client/store.py`` is the only module of the client that speaks SQL.

Capture, sync, the screens and the command line call the store's named methods; a
statement written anywhere else would bypass the transactions the crash tests rely
on. This reads every module of the package, so a new one is checked as soon as it
exists: no SQL keyword starting a statement in a string, and no call that runs one
(a DB-API ``execute``, the store's raw ``query``, a connection of its own).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import driver_client

PACKAGE = Path(driver_client.__file__).parent
STORE = PACKAGE / "store.py"

# Keywords as this code base writes SQL (upper case), so prose ("select a stop") passes;
# SQL in lower case is still caught where it is run, by the calls below.
SQL_STATEMENT = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA|CREATE|DROP|ALTER|BEGIN)\s"
)
# Calls that run SQL: a DB-API connection or cursor, or the store's raw query (kept
# for tests that inspect the file directly).
SQL_RUNNING_CALLS = frozenset({"execute", "executemany", "executescript", "query"})
_PLACEHOLDER = "?"  # what an f-string's {expression} stands for when its text is read


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are docstrings (prose, never run as SQL)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else _PLACEHOLDER for part in node.values
        )
    return None


def sql_in(source: str, filename: str = "<source>") -> list[str]:
    """Where ``source`` holds an SQL statement or drives a DB-API call, as ``line: what``."""
    tree = ast.parse(source, filename)
    docstrings = _docstrings(tree)
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            opens_a_database = node.func.attr == "connect" and (
                isinstance(owner, ast.Name) and owner.id == "sqlite3"
            )
            if node.func.attr in SQL_RUNNING_CALLS or opens_a_database:
                found.append((node.lineno, f".{node.func.attr}()"))
            continue
        if id(node) in docstrings or id(node) in inside_fstrings:
            continue
        text = _text(node)
        if text is not None and SQL_STATEMENT.search(text):
            found.append((getattr(node, "lineno", 0), repr(text.strip()[:60])))
    return [f"{line}: {what}" for line, what in sorted(found)]


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != STORE)


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_but_the_store_speaks_sql(module: Path) -> None:
    found = sql_in(module.read_text(), str(module))
    assert not found, (
        f"{module.relative_to(PACKAGE.parent)} speaks SQL; add a Store method: {found}"
    )


def test_the_check_finds_every_statement_in_the_store_itself() -> None:
    # Were the patterns to go blind, every module would pass; the store keeps them honest.
    found = sql_in(STORE.read_text())
    for statement in ("SELECT", "INSERT INTO", "UPDATE", "PRAGMA", ".execute()"):
        assert any(statement in hit for hit in found), statement


@pytest.mark.parametrize(
    "source",
    [
        'db.execute("anything")',
        'store.query("SELECT stop_id FROM outbox WHERE result IS NULL")',
        "rows = store.query(sql)",
        'db = sqlite3.connect("device.db")',
        'sql = "SELECT 1"',
        'sql = f"DELETE FROM {table} WHERE id = ?"',
        'sql = (\n    "UPDATE outbox "\n    "SET result = ?"\n)',
        'db.executescript("x")',
        'x = "INSERT OR IGNORE INTO files(sha256) VALUES (?)"',
        'x = "PRAGMA user_version"',
    ],
)
def test_the_check_catches_sql_written_outside_the_store(source: str) -> None:
    assert sql_in(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Select a stop from the list, then update the badge."""',
        'message = "Delete from the list? Select one."',
        'label = "waiting to sync: 3 event(s)"',
        'def f() -> None:\n    """Insert into the outbox, via the store."""',
    ],
)
def test_the_check_lets_prose_through(source: str) -> None:
    assert sql_in(source) == []
