"""Every code the driver may see has a human label, in one gettext catalogue.

No Kivy here: the catalogue, the labels and the local times are plain functions. The
running app's widget tree is searched for raw codes in test_phone_sizes.py.
"""

from __future__ import annotations

import enum
import gettext
import io
from zoneinfo import ZoneInfo

import pytest

from backend.domain.events import (
    EventResultStatus,
    EventType,
    EvidenceKind,
    FailureReason,
    WhereLeft,
)
from backend.domain.outcome import ConflictKind
from backend.domain.stops import StopStatus
from driver_client import i18n
from driver_client.ui.display import local_time, next_open_stop, window_text

# Each set of codes the domain defines and the driver can be shown, with its kind.
SHOWN_CODES: list[tuple[str, type[enum.StrEnum]]] = [
    (i18n.WHERE_LEFT, WhereLeft),
    (i18n.FAILURE_REASON, FailureReason),
    (i18n.STOP_STATUS, StopStatus),
    (i18n.CONFLICT_KIND, ConflictKind),
    (i18n.EVENT_TYPE, EventType),
    (i18n.EVIDENCE_KIND, EvidenceKind),
    (i18n.RESULT_STATUS, EventResultStatus),
]


@pytest.mark.parametrize(("kind", "codes"), SHOWN_CODES, ids=[k for k, _ in SHOWN_CODES])
def test_every_code_the_domain_defines_has_a_label(kind: str, codes: type[enum.StrEnum]) -> None:
    unlabelled = [c.value for c in codes if i18n.label(kind, c.value) == c.value]
    assert unlabelled == [], f"add these {kind} codes to the .po and rebuild: {unlabelled}"


def test_the_same_word_in_two_sets_reads_as_each_set_means_it() -> None:
    assert i18n.label(i18n.WHERE_LEFT, "other") != i18n.label(i18n.FAILURE_REASON, "other")
    assert i18n.label(i18n.STOP_STATUS, "failed") == "Not delivered"


def test_a_refused_capture_reads_why_and_an_unknown_code_reads_generically() -> None:
    assert i18n.rejection("note_required") == "another reason needs a note"
    assert i18n.rejection("a_code_from_a_newer_server") == "the server refused it"


def test_the_checked_in_catalogue_is_its_po_compiled() -> None:
    for po in i18n.catalogues():
        compiled = i18n.compile_mo(i18n.parse_po(po.read_text(encoding="utf-8")))
        assert po.with_suffix(".mo").read_bytes() == compiled, (
            f"{po} changed: run .venv/bin/python -m driver_client.i18n"
        )
    assert i18n.catalogues(), "the English catalogue is missing"


def test_a_language_without_a_catalogue_reads_english_not_codes() -> None:
    catalogue = i18n.load(["de_DE", "C"])
    assert catalogue.pgettext(i18n.WHERE_LEFT, "neighbour") == "With a neighbour"


def test_the_languages_come_from_the_environment_with_english_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in i18n.LANGUAGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert i18n.preferred_languages() == ["en"]
    monkeypatch.setenv("LANGUAGE", "fr_CA:fr")
    assert i18n.preferred_languages() == ["fr_CA", "fr", "en"]


def test_the_compiled_catalogue_reads_like_msgfmts(tmp_path: object) -> None:
    """Our compiler's .mo loads in gettext with contexts and a UTF-8 header."""
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", "k\x04a_b": "Über", "Hi": "Hé"}
    path = tmp_path / "x.mo"  # type: ignore[operator]
    path.write_bytes(i18n.compile_mo(entries))
    with path.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    assert (catalogue.pgettext("k", "a_b"), catalogue.gettext("Hi")) == ("Über", "Hé")


def test_times_show_in_the_organizations_zone_and_windows_as_from_to() -> None:
    seattle = ZoneInfo("America/Los_Angeles")
    stop = {"time_window": {"start": "2026-11-24T22:00:00Z", "end": "2026-11-25T00:00:00Z"}}
    assert window_text(stop, seattle) == "14:00-16:00"
    assert window_text(stop, ZoneInfo("UTC")) == "22:00-00:00"
    assert window_text({"time_window": None}, seattle) == "any time"
    assert local_time("2026-11-24T17:05:09.123+00:00", seattle) == "09:05"
    assert local_time(None, seattle) == ""


def test_the_next_stop_offered_is_the_next_one_to_do_then_any_left_behind() -> None:
    statuses = ["pending", "delivered", "failed", "arrived", "cancelled", "pending"]
    stops = [{"id": 10 + n, "status": status} for n, status in enumerate(statuses)]
    assert next_open_stop(stops, 11) == 13  # skips the failed one
    assert next_open_stop(stops, 13) == 15  # skips the cancelled one
    assert next_open_stop(stops, 15) == 10  # the first one, left behind
    done = [{**stop, "status": "delivered"} for stop in stops]
    assert next_open_stop(done, 12) is None
    assert next_open_stop(stops, 999) == 10  # a stop no longer listed: from the top


def test_the_words_the_core_builds_for_the_screens_go_through_the_catalogue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A made-up language that translates them: English would show if a module built
    # its sentence outside the catalogue.
    from datetime import UTC, datetime

    from driver_client.barcodes import check_scans
    from driver_client.capture import Fix
    from driver_client.fixes import describe_fix

    words = {
        "": "Content-Type: text/plain; charset=UTF-8\n",
        "Scanned {done} of {total}.": "XX {done}/{total} XX",
        "{code} belongs to {stop}, not this stop.": "XX {code} -> {stop} XX",
        "stop {number}": "XX-stop {number}",
        "Position within {metres} m, just now.": "XX {metres} m XX",
        "No position fix: the delivery will be saved without a position.": "XX no fix XX",
    }
    catalogue = gettext.GNUTranslations(io.BytesIO(i18n.compile_mo(words)))
    catalogue.add_fallback(i18n.load(["en"]))
    monkeypatch.setattr(i18n, "_catalogue", lambda: catalogue)
    day = [
        {"id": 1, "sequence": 1, "parcels": [{"barcode": "P1"}]},
        {"id": 2, "sequence": 2, "parcels": [{"barcode": "P2"}]},
    ]
    summary = check_scans(["P1", "P2"], day[0], day).summary()
    assert summary == "XX 1/1 XX\nXX P2 -> XX-stop 2 XX"
    now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert describe_fix(Fix(47.6, -122.3, 6.0, now), now) == "XX 6 m XX"
    assert describe_fix(None, now) == "XX no fix XX"
