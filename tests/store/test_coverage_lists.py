"""Why not now, and when: `dialer.coverage_lists` asks the gate about each listed task's next
try at a settable instant, on both engines (the CLI's text is tests/integration's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seeding import SHIPPED_CAMPAIGNS, seed
from sqlalchemy import update

from dialer.attempts import CampaignBook
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.coverage_lists import listed, tries_text
from dialer.models import Attempt, CallbackTask
from dialer.store import Store

SPEC = load_campaign(SHIPPED_CAMPAIGNS / "after-service-satisfaction.toml")
# Monday 2026-11-23 12:30 in Taipei: the lunch rest (12:00-13:30) of the shipped campaign.
LUNCH = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)


def _three(store: Store, clock: SettableClock) -> list[int]:
    ids = seed(store, clock, SPEC, n=3)
    with store.transaction() as s:
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id.in_(ids))
            .values(deadline=clock.now() + timedelta(days=2), slack_seconds=80_000)
        )
    return ids


def test_a_pending_member_at_lunch_says_which_rule_and_when_it_opens(
    store: Store, clock: SettableClock
) -> None:
    clock.set(LUNCH)
    ids = _three(store, clock)
    with store.sessions() as s:
        got = listed(s, CampaignBook(), clock.now(), "pending", limit=10)
    assert [e.task_id for e in got] == ids
    first = got[0]
    assert first.why == "outside calling hours 09:00–12:00, 13:30–20:30 Asia/Taipei"
    assert first.next_at == datetime(2026, 11, 23, 5, 30, tzinfo=UTC)  # 13:30 in Taipei
    assert first.local(first.next_at) == "2026-11-23 13:30 Asia/Taipei"
    assert first.tries == "no try placed" and first.phone is not None


def test_a_scheduled_retry_and_a_breached_member_with_its_tries(
    store: Store, clock: SettableClock
) -> None:
    """A retry scheduled at 15:00 (in the open window): "next voice try scheduled", at 15:00.
    A member past its deadline after two unanswered calls: breached, with its tries."""
    clock.set(LUNCH + timedelta(hours=1, minutes=30))  # 14:00 Taipei: open
    ids = _three(store, clock)
    now = clock.now()
    with store.transaction() as s:
        task = s.get(CallbackTask, ids[0])
        assert task is not None
        s.add(Attempt(task_id=task.id, customer_id=task.customer_id, number=1, channel="voice",
                      state="scheduled", due_at=now + timedelta(hours=1), created_at=now,
                      phone_e164="+886912345670"))  # fmt: skip
        late = s.get(CallbackTask, ids[1])
        assert late is not None
        late.deadline = now - timedelta(hours=1)
        late.next_attempt_at = None
        for n, status in ((1, "no-answer"), (2, "no-answer")):
            s.add(Attempt(task_id=late.id, customer_id=late.customer_id, number=n,
                          channel="voice", state="completed", provider_status=status,
                          due_at=now - timedelta(hours=n + 1), created_at=now - timedelta(hours=5),
                          phone_e164="+886912345671"))  # fmt: skip
    with store.sessions() as s:
        pending = listed(s, CampaignBook(), now, "pending", limit=10)
        breached = listed(s, CampaignBook(), now, "breached", limit=10)
    retry = next(e for e in pending if e.task_id == ids[0])
    assert retry.why == "next voice try scheduled (spacing between tries)"
    assert retry.local(retry.next_at) == "2026-11-23 15:00 Asia/Taipei"
    (gone,) = breached
    assert gone.task_id == ids[1] and gone.tries == "voice no-answer ×2"
    assert gone.why == "deadline passed unreached; no next try planned" and gone.next_at is None


def test_a_capped_member_is_next_eligible_when_the_window_opens_not_at_night(
    store: Store, clock: SettableClock
) -> None:
    """Three calls by 19:00 in Taipei: the cap frees a slot at 03:00, when the window is shut,
    so the next eligible time is 09:00 the next morning, never the cap's own instant."""
    clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # Monday 20:00 in Taipei
    ids = _three(store, clock)
    now = clock.now()
    with store.transaction() as s:
        task = s.get(CallbackTask, ids[0])
        assert task is not None
        task.next_attempt_at = now
        for n in (1, 2, 3):
            placed = now - timedelta(hours=4 - n)
            s.add(Attempt(task_id=task.id, customer_id=task.customer_id, number=n,
                          channel="voice", state="completed", provider_status="no-answer",
                          due_at=placed, created_at=placed, placed_at=placed,
                          phone_e164="+886912345670"))  # fmt: skip
    with store.sessions() as s:
        got = listed(s, CampaignBook(), now, "pending", limit=10)
    capped = next(e for e in got if e.task_id == ids[0])
    assert capped.why.startswith("contact cap: 3 contacts in the last 24 hours")
    assert capped.local(capped.next_at) == "2026-11-24 09:00 Asia/Taipei"


def test_tries_text_folds_repeats_in_order() -> None:
    def a(channel: str, state: str, status: str | None = None, by: str | None = None) -> Attempt:
        return Attempt(channel=channel, state=state, provider_status=status, answered_by=by)

    assert tries_text([]) == "no try placed"
    assert (
        tries_text(
            [
                a("voice", "completed", "no-answer"),
                a("voice", "completed", "no-answer"),
                a("voice", "completed", "completed", "machine_end_beep"),
                a("sms", "completed", "delivered"),
                a("voice", "cancelled"),
                a("voice", "scheduled"),
            ]
        )
        == "voice no-answer ×2, voice voicemail, sms delivered, voice not placed"
    )
