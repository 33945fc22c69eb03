"""Agreed callbacks: the customer's time is kept inside the legal floor, else the next open slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.appointments import appointment_slot, at_hour
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.plan_model import reachee

TPE = ZoneInfo("Asia/Taipei")
LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TPE).astimezone(UTC)  # Monday 10:00 in Taipei
WHO = reachee(("Asia/Taipei",), None, "TW", None)


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return load_campaign(Path(__file__).parents[2] / "campaigns/after-service-satisfaction.toml")


def local(at: datetime | None) -> datetime:
    assert at is not None
    return at.astimezone(TPE)


def test_a_chosen_time_inside_the_legal_floor_is_kept_even_outside_campaign_hours(
    spec: CampaignSpec,
) -> None:
    wanted = datetime(2026, 11, 23, 20, 45, tzinfo=TPE)  # after the campaign's 20:30
    assert local(appointment_slot(spec, WHO, wanted, NOW)) == wanted


def test_a_time_outside_the_legal_floor_moves_to_the_next_open_slot(spec: CampaignSpec) -> None:
    wanted = datetime(2026, 11, 23, 22, 0, tzinfo=TPE)  # the night: 08:00-21:00 floor
    assert local(appointment_slot(spec, WHO, wanted, NOW)) == datetime(
        2026, 11, 24, 9, 0, tzinfo=TPE
    )


def test_later_without_a_time_is_the_next_open_slot_two_hours_on(spec: CampaignSpec) -> None:
    # 12:00 is the lunch rest (12:00-13:30): the next open slot is 13:30.
    assert local(appointment_slot(spec, WHO, None, NOW)) == datetime(
        2026, 11, 23, 13, 30, tzinfo=TPE
    )


def test_a_time_already_past_becomes_the_next_open_slot(spec: CampaignSpec) -> None:
    past = NOW - timedelta(hours=1)
    assert appointment_slot(spec, WHO, past, NOW) == NOW  # 10:00 is open now


def test_an_hour_is_today_when_still_ahead_else_tomorrow_in_the_customers_zone() -> None:
    assert at_hour(TPE, 19, NOW).astimezone(TPE) == datetime(2026, 11, 23, 19, 0, tzinfo=TPE)
    assert at_hour(TPE, 9, NOW).astimezone(TPE) == datetime(2026, 11, 24, 9, 0, tzinfo=TPE)
    # Los Angeles across the end of DST (2026-11-01): 15:00 local is 23:00 UTC in November.
    la_now = datetime(2026, 10, 31, 16, 0, tzinfo=LA).astimezone(UTC)
    assert at_hour(LA, 15, la_now) == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
