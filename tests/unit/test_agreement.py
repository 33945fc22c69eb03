"""Tries counted from the agreement (`dialer.agreement`): the rule itself, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.agreement import agreed, counted
from dialer.models import OutcomeName

AGREED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # the outcome's recorded_at


def test_only_a_customer_who_agreed_another_time_gets_the_tries_afresh() -> None:
    assert agreed("callback_requested")
    others = [o.value for o in OutcomeName if o != OutcomeName.CALLBACK_REQUESTED]
    assert len(others) == 8  # the other outcomes (docs/definitions.md): none restarts the count
    assert not any(agreed(o) for o in [*others, None])


@pytest.mark.parametrize(
    ("created_at", "counts"),
    [
        (AGREED - timedelta(minutes=3), False),  # the call in which the customer agreed
        (AGREED - timedelta(microseconds=1), False),
        (AGREED, True),  # made in the very instant of the agreement
        (AGREED + timedelta(hours=16), True),  # the agreed 19:00 call
    ],
)
def test_attempts_count_from_the_moment_of_the_agreement(
    created_at: datetime, counts: bool
) -> None:
    assert counted(created_at, AGREED) is counts


def test_without_an_agreement_every_attempt_counts() -> None:
    assert counted(AGREED - timedelta(days=30), None)
