"""Zones on the real store (SQLite and PostgreSQL): the window of the number tried first, the
reason `effective_zones` gives stored on the task, and `coverage --list` naming it."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dialer.appointments import customer_reachee, phone_reachee
from dialer.attempts import CampaignBook
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.coverage import at_risk
from dialer.ingest import Importer, rejected_rows
from dialer.models import CallbackTask, Customer
from dialer.planner import plan_campaign
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
HEADER = "customer id,name,phone,member,service date,service time,quiet hours,time zone\n"
NYC = ZoneInfo("America/New_York")
CHI = ZoneInfo("America/Chicago")
ROWS = (
    # A New York mobile tried first, a Taipei landline second: the first number's zone binds.
    "NY,Ann,+1 212 555 0123 / +886 2 2345 6789,yes,2026/11/22,10:00,,\n"
    # Toll-free only: the safe window of the United States, never Taipei.
    "TF,Ben,+1 800 555 0123,yes,2026/11/22,10:00,,\n"
    # Toll-free with the customer's own evidence, a time-zone column: that zone, no reason.
    "TZ,Dan,+1 800 555 0199,yes,2026/11/22,10:00,,America/Chicago\n"
    # Alaska (Adak and Anchorage, an hour apart) with quiet hours leaving 09:00-10:00 local:
    # no moment is legal in both zones at once, so the task is not callable and says so.
    "AK,Cat,+1 907 555 0123,yes,2026/11/22,10:00,10:00-09:00,\n"
)


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def planned(store: Store, clock: SettableClock, tmp_path: Path, spec: CampaignSpec) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    Importer(store, clock, default_region="TW", actor="tester").run(path)
    result = plan_campaign(store, clock, spec)
    assert result.created == 4
    return path


def by_key(store: Store) -> dict[str, CallbackTask]:
    with store.sessions() as s:
        rows = s.execute(
            select(Customer.customer_key, CallbackTask).join(
                Customer, Customer.id == CallbackTask.customer_id
            )
        ).all()
        return {key: task for key, task in rows}


def test_zone_reasons_are_stored_and_the_window_is_the_first_numbers(
    store: Store, clock: SettableClock, tmp_path: Path, spec: CampaignSpec
) -> None:
    planned(store, clock, tmp_path, spec)
    t = by_key(store)
    # New York first: its own zone, no reason needed, first try inside New York's day.
    assert t["NY"].zone_reason is None and t["NY"].plan_action is None
    first = t["NY"].next_attempt_at
    assert first is not None and time(9) <= first.astimezone(NYC).time() < time(20, 30)
    # Toll-free: the reason is on the row, the first try is open in New York and Los Angeles.
    assert t["TF"].zone_reason is not None and "number has no time zone" in t["TF"].zone_reason
    tf = t["TF"].next_attempt_at
    assert tf is not None
    assert time(12) <= tf.astimezone(NYC).time() < time(21)  # 09:00 in Los Angeles at the earliest
    assert t["TZ"].zone_reason is None
    tz = t["TZ"].next_attempt_at
    assert tz is not None and tz.astimezone(CHI).time() == time(9)
    # Alaska: not callable, flagged for a person, by name.
    ak = t["AK"]
    assert ak.zone_reason is not None and "not callable" in ak.zone_reason
    assert ak.next_attempt_at is None and ak.plan_action == "flag"
    assert ak.plan_reason is not None and ak.plan_reason.startswith("not callable")


def test_coverage_list_names_the_zone_reason(
    store: Store, clock: SettableClock, tmp_path: Path, spec: CampaignSpec
) -> None:
    planned(store, clock, tmp_path, spec)
    with store.sessions() as s:
        found = at_risk(s, CampaignBook(), clock.now(), campaign=spec.slug)
    alaska = [e for e in found if e.name == "Cat"]
    assert len(alaska) == 1
    assert "zones" in alaska[0].causes and "not callable" in alaska[0].reason
    assert all(e.name != "Ann" for e in found)  # the New York customer is not at risk
    assert clock.now() == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_each_call_is_judged_in_the_dialled_numbers_zones(
    store: Store, clock: SettableClock, tmp_path: Path, spec: CampaignSpec
) -> None:
    planned(store, clock, tmp_path, spec)
    with store.sessions() as s:
        customers = {c.customer_key: c for c in s.scalars(select(Customer))}
        ann = customers["NY"]
        assert [p.e164 for p in ann.phones] == ["+12125550123", "+886223456789"]
        assert phone_reachee(ann, ann.phones[0]).time_zones == ("America/New_York",)
        assert phone_reachee(ann, ann.phones[1]).time_zones == ("Asia/Taipei",)
        assert customer_reachee(ann).time_zones == ("America/New_York",)  # tried first
        dan = customers["TZ"]
        assert phone_reachee(dan, dan.phones[0]).time_zones == ("America/Chicago",)
        ben = customers["TF"]
        assert phone_reachee(ben, ben.phones[0]).time_zones == ()  # the safe window then


STATE_HEADER = "customer id,name,phone,member,service date,service time,州\n"
STATE_ROWS = (
    # Toll-free, the address in Texas: the window is that of Chicago and Denver, and says so.
    "TX,Eve,+1 800 555 0123,yes,2026/11/22,10:00,TX\n"
    # A New York number of a Floridian: Florida is stored (its floor applies to marketing).
    "FL,Fay,+1 212 555 0123,yes,2026/11/22,10:00,佛羅里達\n"
    # A state nobody knows: the row is kept without it and the value is in the rejects.
    "BAD,Gil,+1 212 555 0199,yes,2026/11/22,10:00,Atlantis\n"
    "NO,Hal,+1 212 555 0177,yes,2026/11/22,10:00,\n"
)
DEN = ZoneInfo("America/Denver")


def test_a_state_column_is_stored_and_gives_a_toll_free_number_its_states_zones(
    store: Store, clock: SettableClock, tmp_path: Path, spec: CampaignSpec
) -> None:
    path = tmp_path / "states.csv"
    path.write_text(STATE_HEADER + STATE_ROWS, encoding="utf-8")
    summary = Importer(store, clock, default_region="TW", actor="tester").run(path)
    assert (summary.imported, summary.rejected, summary.numbers_dropped) == (4, 0, 0)
    assert summary.fields_dropped == 1
    with store.sessions() as s:
        states = dict(s.execute(select(Customer.customer_key, Customer.subdivision)).all())
    assert states == {"TX": "US-TX", "FL": "US-FL", "BAD": None, "NO": None}
    rejects = list(rejected_rows(store, summary.run_id))
    assert [(r.row_number, r.kind, r.column, r.value) for r in rejects] == [
        (4, "field", "州", "Atlantis")
    ]
    assert rejects[0].reason.startswith("state dropped: ") and "ISO 3166-2" in rejects[0].reason

    assert plan_campaign(store, clock, spec).created == 4
    t = by_key(store)
    reason = t["TX"].zone_reason
    assert reason is not None and "from the address (US-TX" in reason
    first = t["TX"].next_attempt_at
    assert first is not None
    # Campaign hours in both Chicago and Denver: from 09:00 Denver, before 20:30 Chicago.
    assert time(9) <= first.astimezone(DEN).time() and first.astimezone(CHI).time() < time(20, 30)
    with store.sessions() as s:
        fay = s.scalars(select(Customer).where(Customer.customer_key == "FL")).one()
        assert customer_reachee(fay).address == "US-FL"
        assert phone_reachee(fay, fay.phones[0]).floor_keys() == ("US-FL",)

    # A later file without the column keeps what the earlier one said.
    again = tmp_path / "again.csv"
    again.write_text("customer id,name,phone\nTX,Eve,+1 800 555 0123\n", encoding="utf-8")
    Importer(store, clock, default_region="TW", actor="tester").run(again)
    with store.sessions() as s:
        eve = s.scalars(select(Customer).where(Customer.customer_key == "TX")).one()
        assert eve.subdivision == "US-TX"
