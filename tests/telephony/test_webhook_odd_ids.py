"""Inputs `test_webhook_fuzz.py` found answered with a 500, pinned: ids no column holds, odd
SequenceNumbers and NUL characters are 4xx or kept by their SID, on every route."""

from __future__ import annotations

import pytest
from test_webhook_fuzz import CALL_SID, ROUTES, Hook, Rig, rig, send

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
