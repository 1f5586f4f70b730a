"""One vocabulary: the sync protocol's words are defined once and both sides use them.

The server still spells some of them as module constants (``backend/sync/ingest.py``);
these tests hold those to the shared enums, and keep the client from comparing
against a raw word where an enum member says the same thing.
"""

from __future__ import annotations

import ast
import enum
from pathlib import Path

import pytest

import driver_client
from backend.domain.events import (
    ChangeOp,
    EventResultStatus,
    EventType,
    EvidenceKind,
    FailureReason,
    WhereLeft,
)
from backend.domain.outcome import ConflictKind
from backend.domain.stops import StopStatus
from backend.sync import changes, ingest
from backend.sync.schemas import ChangeSchema, EventResultSchema
from driver_client.store import ACKNOWLEDGED

PACKAGE = Path(driver_client.__file__).parent
PROTOCOL_ENUMS: tuple[type[enum.StrEnum], ...] = (
    EventType,
    EvidenceKind,
    FailureReason,
    WhereLeft,
    EventResultStatus,
    ChangeOp,
    StopStatus,
    ConflictKind,
)
PROTOCOL_WORDS = frozenset(member.value for words in PROTOCOL_ENUMS for member in words)


def test_the_server_answers_events_in_the_words_the_client_reads() -> None:
    server_words = {ingest.APPLIED, ingest.DUPLICATE, ingest.CONFLICT, ingest.REJECTED}
    assert server_words == set(EventResultStatus)
    documented = EventResultSchema().fields["status"].metadata["enum"]
    assert documented == [status.value for status in EventResultStatus]


def test_the_plan_feed_speaks_the_change_ops_the_client_applies() -> None:
    assert (changes.UPSERT, changes.REMOVE) == (ChangeOp.UPSERT, ChangeOp.REMOVE)
    assert ChangeSchema().fields["op"].metadata["enum"] == [op.value for op in ChangeOp]


def test_every_answer_but_rejected_takes_an_event_out_of_the_outbox() -> None:
    assert set(EventResultStatus) - ACKNOWLEDGED == {EventResultStatus.REJECTED}


def raw_protocol_words(source: str, filename: str = "<source>") -> list[str]:
    """Protocol words written as string literals where the code compares against them
    (``==``, ``in``, ...) or uses them as a default argument, as ``line: word``."""
    tree = ast.parse(source, filename)
    candidates: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            candidates += [node.left, *node.comparators]
        elif isinstance(node, ast.arguments):
            candidates += [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
    found = []
    for candidate in candidates:
        elements = (
            candidate.elts if isinstance(candidate, ast.Tuple | ast.List | ast.Set) else [candidate]
        )
        for element in elements:
            if (
                isinstance(element, ast.Constant)
                and isinstance(element.value, str)
                and element.value in PROTOCOL_WORDS
            ):
                found.append(f"{element.lineno}: {element.value!r}")
    return sorted(found)


@pytest.mark.parametrize(
    "module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_client_compares_against_enums_not_raw_words(module: Path) -> None:
    found = raw_protocol_words(module.read_text(), str(module))
    assert not found, f"{module.relative_to(PACKAGE.parent)}: use the enum member: {found}"


@pytest.mark.parametrize(
    "source",
    [
        'if change["op"] == "upsert": pass',
        'ok = status in ("applied", "conflict", "duplicate")',
        'def deliver(where_left: str = "handed_to_recipient") -> None: pass',
        'def fail(*, reason: str = "recipient_absent") -> None: pass',
        'todo = [s for s in stops if s["status"] != "pending"]',
    ],
)
def test_the_check_catches_a_raw_word(source: str) -> None:
    assert raw_protocol_words(source)


def test_the_check_ignores_words_that_are_not_compared() -> None:
    source = 'payload = {"note": note}\nlabel = "signature"\nif code == "invalid_credentials": pass'
    assert raw_protocol_words(source) == []
