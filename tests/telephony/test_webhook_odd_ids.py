"""Known 500s of the status-callback route, found by `test_webhook_fuzz.py` (xfail, strict):
its code is the lead's to change. And the call script's routes, fixed, for the same inputs."""

from __future__ import annotations

import pytest
from test_webhook_fuzz import CALL_SID, ROUTES, Hook, Rig, rig, send

__all__ = ["rig"]  # the fixture, shared with the fuzzing module


@pytest.mark.xfail(strict=True, reason="the status-callback route binds any integer path id: "
                   "an id beyond 64 bits is an OverflowError (SQLite) or a DataError (PostgreSQL): a 500")  # fmt: skip
@pytest.mark.parametrize("attempt", [str(2**63), str(-(2**70))])
def test_a_status_callback_for_an_impossible_attempt_id_is_not_a_500(
    rig: Rig, attempt: str
) -> None:
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "3"))
    answer = send(rig, Hook(ROUTES[0], attempt, "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


@pytest.mark.xfail(strict=True, reason="the status-callback route takes SequenceNumber with "
                   "str.isdigit(): '²' passes and int() raises, and 10**30 fits no column: a 500")  # fmt: skip
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


def test_a_status_callback_for_an_attempt_id_past_32_bits_is_not_a_500(
    rig: Rig, request: pytest.FixtureRequest
) -> None:
    if rig.store.dialect == "postgresql":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="attempt ids are 32-bit columns on PostgreSQL: "
                "the event's insert is a DataError and a 500",
            )
        )
    form = (("CallSid", CALL_SID), ("CallStatus", "completed"), ("SequenceNumber", "4"))
    answer = send(rig, Hook(ROUTES[0], str(2**40), "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500


def test_a_status_callback_with_a_nul_character_is_not_a_500(
    rig: Rig, request: pytest.FixtureRequest
) -> None:
    if rig.store.dialect == "postgresql":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="PostgreSQL text refuses NUL: AnsweredBy='\\x00' is a DataError and a 500",
            )
        )
    form = (("CallSid", CALL_SID), ("CallStatus", "ringing"), ("SequenceNumber", "2"),
            ("AnsweredBy", "\x00"))  # fmt: skip
    answer = send(rig, Hook(ROUTES[0], "call", "", (), form, "form", b"", "valid"))
    assert answer.status_code < 500
