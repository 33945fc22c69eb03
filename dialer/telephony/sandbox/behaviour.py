"""Who the simulated customers are: the default population (docs/definitions.md), per-number
overrides, faults.

Draws are deterministic: one `random.Random` per (seed, number, channel, nth contact), so a run
replays exactly and a retry to the same number may get a different answer, as in life.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

CallKind = Literal["human", "busy", "no_answer", "machine", "failed"]
SmsDelivery = Literal["delivered", "undelivered", "failed"]
CALL_KINDS: tuple[CallKind, ...] = ("human", "busy", "no_answer", "machine", "failed")

DEFAULT_SMS_REPLIES: tuple[tuple[str, float], ...] = (
    ("1", 0.45),
    ("2", 0.15),
    ("3", 0.10),
    ("服務很好", 0.10),
    ("please call me later", 0.05),
    ("STOP", 0.08),
    ("退訂", 0.07),
)


def _check_rates(name: str, rates: tuple[float, ...]) -> None:
    if any(r < 0 for r in rates) or abs(sum(rates) - 1.0) > 1e-6:
        raise ValueError(f"{name} rates must be non-negative and sum to 1, got {rates}")


@dataclass(frozen=True)
class Behaviour:
    """The default customer population: docs/definitions.md's, and binding for the demo."""

    human: float = 0.65
    busy: float = 0.10
    no_answer: float = 0.20
    machine: float = 0.05
    failed: float = 0.0
    satisfied: float = 0.70
    average: float = 0.20
    unsatisfied: float = 0.10
    call_later: float = 0.05
    sms_reply: float = 0.40
    sms_delivered: float = 0.97
    sms_undelivered: float = 0.02
    sms_failed: float = 0.01
    sms_replies: tuple[tuple[str, float], ...] = DEFAULT_SMS_REPLIES
    ring_seconds: tuple[float, float] = (3.0, 20.0)
    busy_seconds: float = 2.0
    say_seconds_per_char: float = 0.08
    play_seconds: float = 5.0
    press_seconds: float = 2.0
    talk_seconds: float = 90.0  # a bridged conversation (<Dial>) before the customer hangs up
    sms_send_seconds: float = 1.0
    sms_deliver_seconds: tuple[float, float] = (1.0, 5.0)
    sms_reply_seconds: tuple[float, float] = (30.0, 600.0)

    def __post_init__(self) -> None:
        _check_rates(
            "call outcome", (self.human, self.busy, self.no_answer, self.machine, self.failed)
        )
        _check_rates("satisfaction", (self.satisfied, self.average, self.unsatisfied))
        _check_rates("sms delivery", (self.sms_delivered, self.sms_undelivered, self.sms_failed))
        _check_rates("sms reply mix", tuple(w for _, w in self.sms_replies))
        for name in ("call_later", "sms_reply"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        lo, hi = self.ring_seconds
        if not 0 <= lo <= hi:
            raise ValueError(
                f"ring_seconds must be (low, high) with 0 <= low <= high, got {lo, hi}"
            )


@dataclass(frozen=True)
class Person:
    """How one number behaves on one contact.

    `digits` answer successive prompts: the keys pressed at a <Gather>, the words said at a
    <Record> (then "#"); "" is silence.
    """

    kind: CallKind = "human"
    digits: tuple[str, ...] = ("1", "1")
    sms_reply: str | None = None
    sms_delivery: SmsDelivery = "delivered"
    ring_seconds: float = 5.0
    then: str = ""  # pressed at every <Gather> after `digits` run out ("" = silence)

    def __post_init__(self) -> None:
        if self.kind not in CALL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CALL_KINDS)}, got {self.kind!r}")


def _rng(seed: int, number: str, channel: str, nth: int) -> random.Random:
    return random.Random(f"{seed}:{channel}:{number}:{nth}")


def _pick(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def draw_call_person(behaviour: Behaviour, seed: int, number: str, nth: int) -> Person:
    """The person who picks up (or not) the nth call to `number` in the default population."""
    b = behaviour
    rng = _rng(seed, number, "call", nth)
    kind = _pick(
        rng,
        [
            ("human", b.human),
            ("busy", b.busy),
            ("no_answer", b.no_answer),
            ("machine", b.machine),
            ("failed", b.failed),
        ],
    )
    convenience = "2" if rng.random() < b.call_later else "1"
    satisfaction = _pick(rng, [("1", b.satisfied), ("2", b.average), ("3", b.unsatisfied)])
    ring = rng.uniform(*b.ring_seconds)
    hour = rng.choice(("", "10", "19"))  # asked "when?" after pressing 2: any time, 10:00, 19:00
    return Person(
        kind=kind,  # type: ignore[arg-type]
        digits=(convenience, hour) if convenience == "2" else (convenience, satisfaction),
        ring_seconds=ring,
        then="1",
    )


def draw_sms_person(behaviour: Behaviour, seed: int, number: str, nth: int) -> Person:
    """Whether the nth SMS to `number` is delivered and what (if anything) the customer replies.

    Only a delivered SMS can be answered, so the reply is drawn with sms_reply / sms_delivered:
    `sms_reply` of all SMS sent get a reply, as docs/definitions.md counts it.
    """
    b = behaviour
    rng = _rng(seed, number, "sms", nth)
    delivery = _pick(
        rng,
        [
            ("delivered", b.sms_delivered),
            ("undelivered", b.sms_undelivered),
            ("failed", b.sms_failed),
        ],
    )
    answer_rate = min(1.0, b.sms_reply / b.sms_delivered) if b.sms_delivered else 0.0
    replies = delivery == "delivered" and rng.random() < answer_rate
    reply = _pick(rng, list(b.sms_replies)) if replies else None
    return Person(sms_delivery=delivery, sms_reply=reply)  # type: ignore[arg-type]


@dataclass
class Faults:
    """Mutable fault rates, applied per API request (HTTP errors, latency) or per callback."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    retry_after: float | None = None
    latency: float = 0.0
    drop_callbacks: float = 0.0
    duplicate_callbacks: float = 0.0
    reorder_callbacks: float = 0.0


@dataclass
class ForcedFailure:
    """One queued `fail_next` answer."""

    status: int
    retry_after: float | None = None


@dataclass
class FaultState:
    """The faults plus the queue of forced failures and the rng that rolls the dice."""

    faults: Faults = field(default_factory=Faults)
    forced: list[ForcedFailure] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    injected: Counter[str] = field(default_factory=Counter)  # "429", "500", "dropped", ...
