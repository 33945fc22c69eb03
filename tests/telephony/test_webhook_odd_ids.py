"""Inputs `test_webhook_fuzz.py` found answered with a 500, pinned: ids no column holds, odd
SequenceNumbers and NUL characters are 4xx or kept by their SID, on every route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from test_webhook_fuzz import CALL_SID, ROUTES, Hook, Rig, _serve, rig, send, snapshot

from dialer.models import Attempt, WebhookEvent
from dialer.store import Store

__all__ = ["rig"]  # the fixture, shared with the fuzzing module


@pytest.mark.parametrize("attempt", [str(2**63), str(-(2**70))])
def test_a_status_callback_for_an_impossible_attempt_id_is_not_a_500(
    rig: Rig, attempt: str
) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "3"))
    answer = send(rig, Hook(ROUTES[0], attempt, "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


@pytest.mark.parametrize("sequence", ["²", str(10**30)])
def test_a_status_callback_with_an_odd_sequence_number_is_not_a_500(
    rig: Rig, sequence: str
) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "ringing"), ("SequenceNumber", sequence))
    answer = send(rig, Hook(ROUTES[0], "call", "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


@pytest.mark.parametrize("route", ["/twilio/voice/{id}", "/twilio/voice/{id}/{step}"])
def test_the_call_script_for_an_impossible_attempt_id_hangs_up(rig: Rig, route: str) -> None:
    form = (("CallSid", CALL_SID), ("AnsweredBy", "human"), ("Digits", "1"))
    for attempt in (str(2**31), str(2**63), str(-(2**70)), "0"):
        answer = send(rig, Hook(route, attempt, "question", (("try", "1"),), form, "form", b"", "valid"))  # fmt: skip
        assert answer.status_code == 200 and "<Hangup/>" in answer.text


def test_a_status_callback_for_an_attempt_id_past_32_bits_is_not_a_500(rig: Rig) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "4"))
    answer = send(rig, Hook(ROUTES[0], str(2**40), "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


def test_a_status_callback_with_a_nul_character_is_not_a_500(rig: Rig) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "ringing"), ("SequenceNumber", "2"),
            ("AnsweredBy", "\x00"))  # fmt: skip
    answer = send(rig, Hook(ROUTES[0], "call", "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


@pytest.fixture
def fresh(store: Store) -> Iterator[Rig]:
    """The fuzzing rig on this test's own store: a test that would move its attempts."""
    yield from _serve(store)


def _call_attempt(rig: Rig) -> tuple[str, str | None, str | None]:
    with rig.store.sessions() as s:
        a = s.get(Attempt, rig.call_attempt)
        assert a is not None
        return a.state, a.provider_sid, a.provider_status


@pytest.mark.parametrize("field", ["CallDuration", "Duration", "ErrorCode"])
def test_a_signed_status_with_a_huge_number_is_a_400_and_changes_nothing(
    fresh: Rig, field: str
) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "5"),
            (field, str(10**30)))  # fmt: skip
    before = snapshot(fresh.store)
    answer = send(fresh, Hook(ROUTES[0], "call", "", (), form, "form", b"", "valid"))
    assert answer.status_code == 400 and field in answer.text
    assert snapshot(fresh.store) == before


@pytest.mark.parametrize("url_id", ["999999", str(2**40)])
def test_a_callback_moves_only_the_attempt_its_url_names(fresh: Rig, url_id: str) -> None:
    before = _call_attempt(fresh)
    assert before[1:] == (CALL_SID, "queued")
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "6"),
            ("CallDuration", "42"))  # fmt: skip
    answer = send(fresh, Hook(ROUTES[0], url_id, "", (), form, "form", b"", "valid"))
    assert answer.status_code == 204  # kept in the event log by its SID...
    assert _call_attempt(fresh) == before  # ...but the attempt holding that SID did not move
    with fresh.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    # The attempt's own URL with its own SID still moves it.
    own = (*form[:2], ("SequenceNumber", "7"), form[3])
    assert send(fresh, Hook(ROUTES[0], "call", "", (), own, "form", b"", "valid")).ok
    assert _call_attempt(fresh)[2] == "completed"
