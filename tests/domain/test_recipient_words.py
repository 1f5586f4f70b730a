"""The recipient reads words, never codes: every code the protocol defines has them."""

from __future__ import annotations

from backend.domain.events import FailureReason, WhereLeft
from backend.domain.tracking import (
    FAILURE_LABELS,
    WHERE_LEFT_LABELS,
    failure_in_words,
    failure_label,
    where_left_label,
)


def test_every_failure_reason_and_place_left_has_words() -> None:
    assert set(FAILURE_LABELS) == set(FailureReason)
    assert set(WHERE_LEFT_LABELS) == set(WhereLeft)


def test_the_message_sentence_reads_the_page_label_mid_sentence() -> None:
    assert failure_label("recipient_absent") == "Nobody was there to receive it"
    assert failure_in_words("recipient_absent") == "nobody was there to receive it"


def test_an_unknown_code_reads_as_the_generic_words_not_the_code() -> None:
    assert failure_in_words("meteor_strike") == "the driver could not deliver it"
    assert where_left_label("under_the_mat") == "Somewhere else (see the proof)"
    assert where_left_label(None) == "Handed to you"
