"""The default population (docs/definitions.md) within statistical tolerance; seeded, so it cannot
flake.

These run the simulation without HTTP: draws directly, and whole calls on the Sandbox with
inline TwiML and no webhooks.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest

from dialer.clock import SettableClock
from dialer.telephony.sandbox import Behaviour, Person, Sandbox
from dialer.telephony.sandbox.behaviour import draw_call_person, draw_sms_person

N = 4000


def within(observed: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_call_outcome_and_answer_rates_match_domain_md() -> None:
    b = Behaviour()
    people = [draw_call_person(b, 0, f"+8869{i:08d}", 0) for i in range(N)]
    kinds: Counter[str] = Counter(p.kind for p in people)
    for kind, p in [("human", 0.65), ("busy", 0.10), ("no_answer", 0.20), ("machine", 0.05)]:
        assert within(kinds[kind], N, p), (kind, kinds)
    assert kinds["failed"] == 0
    later = Counter(p.digits[0] for p in people)
    assert within(later["2"], N, 0.05)
    answers = Counter(p.digits[1] for p in people)
    for digit, p in [("1", 0.70), ("2", 0.20), ("3", 0.10)]:
        assert within(answers[digit], N, p), (digit, answers)
    assert all(3.0 <= p.ring_seconds <= 20.0 and p.then == "1" for p in people)


def test_sms_reply_and_delivery_rates() -> None:
    b = Behaviour()
    people = [draw_sms_person(b, 0, f"+8869{i:08d}", 0) for i in range(N)]
    assert within(sum(p.sms_reply is not None for p in people), N, 0.40)  # of all SMS sent
    assert all(p.sms_delivery == "delivered" for p in people if p.sms_reply)
    delivered = Counter(p.sms_delivery for p in people)
    assert within(delivered["delivered"], N, 0.97)
    replies = Counter(p.sms_reply for p in people if p.sms_reply)
    assert {"1", "STOP", "退訂", "服務很好"} <= set(replies)


def test_draws_are_deterministic_per_seed_and_vary_per_attempt() -> None:
    b = Behaviour()
    assert draw_call_person(b, 7, "+886912345678", 0) == draw_call_person(b, 7, "+886912345678", 0)
    attempts = {draw_call_person(b, 7, "+886912345678", n).kind for n in range(40)}
    assert len(attempts) > 1


def test_behaviour_is_configurable_and_validated() -> None:
    always_busy = Behaviour(human=0, busy=1, no_answer=0, machine=0)
    assert draw_call_person(always_busy, 0, "+886912345678", 0).kind == "busy"
    with pytest.raises(ValueError, match="sum to 1"):
        Behaviour(human=0.9)
    with pytest.raises(ValueError, match="kind must be"):
        Person(kind="robot")  # type: ignore[arg-type]


def test_a_simulated_campaign_without_http() -> None:
    """3,000 whole calls on the Sandbox itself; final statuses follow the population."""
    clock = SettableClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    sb = Sandbox(clock, seed=3, cps=1000.0, speed=60.0)
    twiml = "<Response><Gather numDigits='1'><Say>press</Say></Gather><Say>bye</Say></Response>"
    n = 3000
    for i in range(n):
        sb.calls.create(
            {"To": f"+8869{i:08d}", "From": "+15005550006", "Twiml": twiml, "Timeout": "30"}
        )
    while (nxt := sb.next_event_at()) is not None:
        clock.set(max(nxt, clock.now()))
        sb.pump()
    final = Counter(c.status for c in sb.contacts())
    answered = final["completed"]
    assert within(answered, n, 0.70)  # people and machines both complete
    assert within(final["busy"], n, 0.10) and within(final["no-answer"], n, 0.20)
    rang = [c for c in sb.contacts() if c.rang_at is not None]
    assert within(len(rang), n, 0.90)
    machine = sum(c.answered_by == "machine" for c in sb.contacts())
    assert within(machine, n, 0.05)
    sb.close()


def test_simulated_sms_without_http() -> None:
    clock = SettableClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    sb = Sandbox(clock, seed=5, mps=1000.0)
    n = 3000
    for i in range(n):
        sb.messages.create({"To": f"+8869{i:08d}", "From": "+15005550006", "Body": "您好"})
    while (nxt := sb.next_event_at()) is not None:
        clock.set(max(nxt, clock.now()))
        sb.pump()
    sms = sb.contacts(kind="sms")
    assert len(sms) == n
    assert within(sum(c.sms_reply is not None for c in sms), n, 0.40)
    assert within(sum(c.status == "delivered" for c in sms), n, 0.97)
    assert all(c.rang_at is not None for c in sms if c.status == "delivered")
    sb.close()
