"""The dispatcher end to end: the real SDK against the sandbox over HTTP, our webhook app over
HTTP, the real store (SQLite and PostgreSQL) and a settable clock. Who rang, when and how often
is read from the sandbox's own log."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from concurrent import futures
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from seeding import seed
from sqlalchemy import event, func, select, update
from twilio.request_validator import RequestValidator

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher, stop_all
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    CustomerPhone,
    DoNotContact,
    FollowUpCase,
    Outcome,
    TaskState,
    WebhookEvent,
)
from dialer.pacing import Limit
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app
from dialer.windows import is_open

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
TPE = ZoneInfo("Asia/Taipei")


class CrashedError(Exception):
    """Stands for a dispatcher process dying between the API call and its record."""


@dataclasses.dataclass
class Rig:
    store: Store
    clock: SettableClock
    sandbox: SandboxHarness
    hooks_url: str
    spec: CampaignSpec

    def dispatcher(self, **over: object) -> Dispatcher:
        config = DispatchConfig(
            worker_id="w1",
            public_base_url=self.hooks_url,
            senders={"TW": "+886200000001", "default": "+15005550006"},
            cps=1.0,
            max_in_flight=1,
            min_gap=timedelta(0),
        )
        config = dataclasses.replace(config, **over)  # type: ignore[arg-type]
        sb = self.sandbox.sandbox
        telephony = Telephony(sb.account_sid, sb.auth_token, base_url=self.sandbox.base_url)
        return Dispatcher(self.store, self.clock, telephony, config)

    def attempts(self) -> list[Attempt]:
        with self.store.sessions() as s:
            return list(s.scalars(select(Attempt).order_by(Attempt.id)))

    def task(self, task_id: int) -> CallbackTask:
        with self.store.sessions() as s:
            task = s.get(CallbackTask, task_id)
            assert task is not None
            return task


@pytest.fixture
def rig(store: Store, clock: SettableClock, make_sandbox: object) -> Iterator[Rig]:
    clock.set(clock.now().replace(hour=2, minute=0))  # Monday 10:00 in Taipei
    harness = make_sandbox(cps=1.0, seed=7)  # type: ignore[operator]
    app = create_app(store, clock, harness.sandbox.auth_token)
    with AppServer(app) as server:
        yield Rig(
            store,
            clock,
            harness,
            server.base_url,
            load_campaign(CAMPAIGNS / "after-service-satisfaction.toml"),
        )


def rang_in_window(rig: Rig, policy_channel: str = "voice") -> None:
    """Every phone in the sandbox's log rang inside the customer's open window."""
    from dialer.plan_model import reachee

    policy = rig.spec.window_policy(min_open=timedelta(0))
    who = reachee(("Asia/Taipei",), None, "TW", None)
    for contact in rig.sandbox.sandbox.contacts():
        if contact.rang_at is not None:
            assert is_open(who, policy, contact.rang_at), contact


def test_calls_are_placed_paced_and_their_statuses_recorded(rig: Rig) -> None:
    tasks = seed(rig.store, rig.clock, rig.spec, n=3)
    sb = rig.sandbox.sandbox
    sb.person("+886912345670", "human", digits=())  # answers, then stays silent: not reached
    sb.person("+886912345671", "busy")
    sb.person("+886912345672", "no_answer")
    d = rig.dispatcher()
    report = d.tick()
    assert (report.scheduled, report.claimed, report.placed) == (3, 3, 3)
    arrivals = sb.requests[("POST", "calls")]
    assert len(arrivals) == 3
    assert all((b - a).total_seconds() >= 1.0 for a, b in itertools.pairwise(arrivals))
    rig.sandbox.advance(600)
    states = {a.phone_e164: (a.state, a.provider_status) for a in rig.attempts()}
    assert states == {
        "+886912345670": (AttemptState.COMPLETED, "completed"),
        "+886912345671": (AttemptState.COMPLETED, "busy"),
        "+886912345672": (AttemptState.COMPLETED, "no-answer"),
    }
    with rig.store.sessions() as s:
        events = s.scalars(select(WebhookEvent.status)).all()
    assert events.count("completed") == 1 and "ringing" in events
    assert all(len(sb.contacts(to=f"+88691234567{i}")) == 1 for i in range(3))
    rang_in_window(rig)
    # Nobody was reached (no outcome yet): each retries after the campaign's 2h spacing.
    for tid in tasks:
        assert rig.task(tid).next_attempt_at is not None
    assert d.tick().placed == 0
    rig.clock.advance(timedelta(hours=2, minutes=5))  # 12:05 Taipei: lunch rest, not a call
    report = d.tick()
    assert (report.placed, report.deferred) == (0, 3)
    rig.clock.set(rig.clock.now().replace(hour=5, minute=30))  # 13:30: the window opens
    assert d.tick().placed == 3
    d.close()


def test_no_phone_rings_outside_the_customers_window(rig: Rig) -> None:
    rig.clock.set(rig.clock.now().replace(hour=13))  # 21:00 in Taipei: closed
    seed(rig.store, rig.clock, rig.spec, n=2)
    d = rig.dispatcher()
    report = d.tick()
    assert report.placed == 0 and report.deferred == 2
    assert sb_calls(rig) == 0
    due = {a.due_at for a in rig.attempts()}
    assert due == {rig.clock.now().replace(day=rig.clock.now().day + 1, hour=1)}  # 09:00 next day
    rig.clock.set(min(due))
    assert d.tick().placed == 2
    rig.sandbox.advance(300)
    rang_in_window(rig)
    d.close()


def sb_calls(rig: Rig) -> int:
    return len(rig.sandbox.sandbox.requests.get(("POST", "calls"), []))


def test_a_number_twilio_refuses_is_marked_and_the_next_one_tried(rig: Rig) -> None:
    [tid] = seed(
        rig.store,
        rig.clock,
        rig.spec,
        n=1,
        phones=(("+15005550001", "mobile"), ("+886912000111", "mobile")),
    )
    rig.sandbox.sandbox.person("+886912000111", "busy")
    d = rig.dispatcher()
    first = d.tick()
    assert (first.placed, first.failed) == (0, 1)
    with rig.store.sessions() as s:
        bad = s.scalar(select(CustomerPhone).where(CustomerPhone.e164 == "+15005550001"))
        assert bad is not None and bad.voice_ok is False and "21217" in (bad.unusable_reason or "")
    second = d.tick()  # fell back at once to the other number
    assert second.placed == 1
    attempts = rig.attempts()
    assert [(a.phone_e164, a.error_code) for a in attempts] == [
        ("+15005550001", 21217),
        ("+886912000111", None),
    ]
    assert rig.task(tid).state == TaskState.IN_PROGRESS
    d.close()


def test_an_sms_opt_out_from_the_carrier_goes_on_the_do_not_contact_list(rig: Rig) -> None:
    [tid] = seed(
        rig.store, rig.clock, rig.spec, n=1, phones=(("+15005550004", "mobile"),), plan_action="sms"
    )
    d = rig.dispatcher()
    assert d.tick().failed == 1
    with rig.store.sessions() as s:
        dnc = s.scalars(select(DoNotContact.e164)).all()
    assert dnc == ["+15005550004"]
    d.tick()
    # No other number takes an SMS: the campaign's last channel, a person, gets the task (the
    # number still takes calls).
    task = rig.task(tid)
    assert (task.state, task.plan_action, task.next_attempt_at) == (
        TaskState.IN_PROGRESS,
        "agent",
        None,
    )
    d.close()


def test_sms_is_sent_with_its_validity_capped_and_delivery_notifies(rig: Rig) -> None:
    rig.clock.set(rig.clock.now().replace(hour=3, minute=30))  # 11:30 Taipei: 30 min to lunch
    [tid] = seed(rig.store, rig.clock, rig.spec, n=1, plan_action="sms")
    d = rig.dispatcher()
    assert d.tick().placed == 1
    [msg] = rig.sandbox.sandbox.contacts(kind="sms")
    assert msg.to == "+886912345678"
    rig.sandbox.advance(120)
    [attempt] = rig.attempts()
    assert (attempt.channel, attempt.state, attempt.provider_status) == (
        "sms",
        AttemptState.COMPLETED,
        "delivered",
    )
    assert rig.task(tid).notified_at is not None
    d.close()


def test_429_backs_off_and_nobody_is_called_twice(rig: Rig) -> None:
    seed(rig.store, rig.clock, rig.spec, n=2)
    rig.sandbox.sandbox.fail_next(2, status=429, retry_after=2)
    d = rig.dispatcher()
    first = d.tick()
    assert first.retried >= 1
    for _ in range(5):
        rig.clock.advance(31)
        d.tick()
    placed = [a for a in rig.attempts() if a.provider_sid]
    assert len(placed) == 2
    assert sb_calls(rig) == 4  # two refused with 429, two accepted
    assert len({c.to for c in rig.sandbox.sandbox.contacts()}) == 2
    d.close()


def test_a_crash_between_request_and_record_is_reconciled_not_redialled(rig: Rig) -> None:
    seed(rig.store, rig.clock, rig.spec, n=1)

    def die(_attempt_id: int) -> None:
        raise CrashedError

    crashing = rig.dispatcher()
    crashing._crash_after_request = die
    with pytest.raises(CrashedError):
        crashing.tick()
    crashing.close()
    [lost] = rig.attempts()
    assert lost.state == AttemptState.CLAIMED and lost.provider_sid is None
    assert sb_calls(rig) == 1
    rig.clock.advance(timedelta(minutes=3))  # the lease (2 min) runs out
    survivor = rig.dispatcher(worker_id="w2")
    report = survivor.tick()
    assert report.adopted == 1 and report.placed == 0
    [found] = rig.attempts()
    assert found.state == AttemptState.PLACED and found.provider_sid is not None
    assert sb_calls(rig) == 1  # reconciled from Twilio's list, never dialled again
    rig.sandbox.advance(600)
    [done] = rig.attempts()
    assert done.state == AttemptState.COMPLETED
    survivor.close()


def test_results_are_recorded_in_the_transaction_of_the_next_claim(rig: Rig) -> None:
    """`dialer run` ticks without waiting: what came back since the last tick is recorded in the
    transaction that claims the next batch (one commit per batch, not two)."""
    seed(rig.store, rig.clock, rig.spec, n=2)
    d = rig.dispatcher(claim_batch=1)
    assert d.tick(wait=False).claimed == 1
    futures.wait(list(d._inflight))  # the request is back; nothing recorded yet
    [sent, waiting] = rig.attempts()
    assert (sent.state, sent.provider_sid, waiting.state) == (
        AttemptState.CLAIMED,
        None,
        AttemptState.SCHEDULED,
    )
    transactions: list[list[str]] = [[]]

    def statement(_c: object, _cur: object, sql: str, *_: object) -> None:
        transactions[-1].append(sql)

    def commit(_c: object) -> None:
        transactions.append([])

    event.listen(rig.store.engine, "before_cursor_execute", statement)
    event.listen(rig.store.engine, "commit", commit)
    try:
        report = d.tick(wait=False)
    finally:
        event.remove(rig.store.engine, "before_cursor_execute", statement)
        event.remove(rig.store.engine, "commit", commit)
    assert (report.placed, report.claimed) == (1, 1)
    both = [
        t
        for t in transactions
        if any("provider_sid=" in sql for sql in t) and any("claimed_by=" in sql for sql in t)
    ]
    assert len(both) == 1  # the record of the first and the claim of the second: one commit
    [sent, waiting] = rig.attempts()
    assert (sent.state, waiting.state) == (AttemptState.PLACED, AttemptState.CLAIMED)
    d.close()
    assert [a.state for a in rig.attempts()] == [AttemptState.PLACED, AttemptState.PLACED]
    assert sb_calls(rig) == 2


def test_a_result_held_past_its_lease_is_recorded_not_reaped_by_its_own_dispatcher(
    rig: Rig,
) -> None:
    """The clock ran past the claim's lease while the result waited for the next tick: that
    tick records it (the reaper, which runs first, leaves alone what its dispatcher holds)."""
    seed(rig.store, rig.clock, rig.spec, n=1)
    d = rig.dispatcher()
    assert d.tick(wait=False).claimed == 1
    futures.wait(list(d._inflight))
    rig.clock.advance(timedelta(minutes=3))  # the lease (2 min) has run out
    report = d.tick(wait=False)
    assert (report.reaped, report.adopted, report.placed) == (0, 0, 1)
    [placed] = rig.attempts()
    assert placed.state == AttemptState.PLACED and placed.provider_sid is not None
    assert sb_calls(rig) == 1
    d.close()


def test_pause_holds_and_resume_releases(rig: Rig) -> None:
    seed(rig.store, rig.clock, rig.spec, n=1)
    d = rig.dispatcher()
    d.tick()  # placed
    rig.sandbox.advance(600)
    with rig.store.transaction() as s:
        s.execute(update(Campaign).values(status="paused"))
    rig.clock.advance(timedelta(hours=4))  # 14:00 Taipei, open: only the pause holds it
    report = d.tick()
    assert report.placed == 0 and report.held == 1
    assert sb_calls(rig) == 1
    with rig.store.transaction() as s:
        s.execute(update(Campaign).values(status="active"))
    rig.clock.advance(timedelta(minutes=2))
    assert d.tick().placed == 1
    d.close()


def test_emergency_stop_cancels_queued_calls_and_stops_the_next_request(rig: Rig) -> None:
    seed(rig.store, rig.clock, rig.spec, n=4)
    d = rig.dispatcher()
    telephony = d.telephony
    calls: list[int] = []

    def after_request(attempt_id: int) -> None:
        calls.append(attempt_id)
        if len(calls) == 2:  # an operator hits the emergency stop after the second call
            stop_all(rig.store, rig.clock, telephony, "operator")

    d._crash_after_request = after_request
    report = d.tick()
    assert report.placed == 2 and report.held == 2
    assert sb_calls(rig) == 2
    with rig.store.sessions() as s:
        held = s.scalars(select(Attempt.state).where(Attempt.provider_sid.is_(None))).all()
    assert held == [AttemptState.SCHEDULED, AttemptState.SCHEDULED]
    rig.sandbox.advance(600)
    # Both calls were still queued at Twilio: the one recorded before the stop is cancelled by
    # `stop_all`, the one in flight during it by the dispatcher as it records it.
    assert [c.status for c in rig.sandbox.sandbox.contacts()] == ["canceled", "canceled"]
    assert all(c.rang_at is None for c in rig.sandbox.sandbox.contacts())
    rig.clock.advance(timedelta(hours=3))
    assert d.tick().placed == 0  # still halted
    d.close()


def test_retry_after_on_a_429_blocks_the_sender_that_long(rig: Rig) -> None:
    seed(rig.store, rig.clock, rig.spec, n=1)
    rig.sandbox.sandbox.fail_next(1, status=429, retry_after=7)
    d = rig.dispatcher()
    assert d.tick().retried == 1
    blocked = d.pacer.blocked_for([Limit("account:call", 1.0)])
    assert 6.0 < blocked <= 7.0
    rig.clock.advance(40)  # the attempt is due again after 30 s; the block is over
    assert d.tick().placed == 1
    d.close()


def sms_task(rig: Rig, reply: str) -> tuple[int, list[Attempt]]:
    """One member texted (the plan sent it to SMS); the sandbox customer replies `reply`."""
    rig.sandbox.sandbox.inbound_sms_url = f"{rig.hooks_url}/twilio/sms/inbound"
    [tid] = seed(rig.store, rig.clock, rig.spec, n=1, plan_action="sms")
    rig.sandbox.sandbox.person("+886912345678", "human", sms_reply=reply)
    d = rig.dispatcher()
    assert d.tick().placed == 1
    rig.sandbox.advance(600)
    d.close()
    return tid, rig.attempts()


def test_an_sms_answer_is_the_callback_record_and_a_complaint_opens_a_case(rig: Rig) -> None:
    tid, [attempt] = sms_task(rig, "３")
    with rig.store.sessions() as s:
        task = s.get(CallbackTask, tid)
        outcome = s.scalar(select(Outcome).where(Outcome.task_id == tid))
        cases = s.scalars(select(FollowUpCase.state).where(FollowUpCase.task_id == tid)).all()
    assert task is not None and task.state == TaskState.REACHED and task.reached_at is not None
    assert outcome is not None and (outcome.name, outcome.channel, outcome.attempt_id) == (
        "unsatisfied",
        "sms",
        attempt.id,
    )
    assert cases == ["open"]


def test_an_sms_opt_out_ends_the_task_and_blocks_the_number(rig: Rig) -> None:
    tid, _ = sms_task(rig, "退訂")
    with rig.store.sessions() as s:
        assert s.scalar(select(CallbackTask.outcome).where(CallbackTask.id == tid)) == "opted_out"
        assert s.scalars(select(DoNotContact.e164)).all() == ["+886912345678"]


def test_a_time_in_the_reply_becomes_the_appointment(rig: Rig) -> None:
    tid, _ = sms_task(rig, "明天 19:00")
    task = rig.task(tid)
    assert task.outcome == "callback_requested" and task.reached_at is not None
    assert task.appointment_at is not None
    local = task.appointment_at.astimezone(TPE)
    assert (local.hour, local.minute) == (19, 0) and local.date() > rig.clock.now().astimezone(
        TPE
    ).date()


def test_words_without_an_answer_are_kept_and_get_one_clarifying_message(rig: Rig) -> None:
    tid, [attempt] = sms_task(rig, "服務很好")
    task = rig.task(tid)
    assert task.reached_at is not None and task.outcome is None
    with rig.store.sessions() as s:
        kinds = s.scalars(
            select(WebhookEvent.kind).where(WebhookEvent.attempt_id == attempt.id)
        ).all()
    assert kinds.count("sms_inbound") == 1 and kinds.count("sms_clarified") == 1
    # Twilio retries the same webhook: nothing is recorded twice, no second clarification.
    form = {
        "MessageSid": "SM" + "7" * 32,
        "From": "+886912345678",
        "To": attempt.from_e164 or "",
        "Body": "還可以",
    }
    url = f"{rig.hooks_url}/twilio/sms/inbound"
    sig = RequestValidator(rig.sandbox.sandbox.auth_token).compute_signature(url, form)
    for _ in range(2):
        resp = httpx.post(url, data=form, headers={"X-Twilio-Signature": sig}, timeout=10)
        assert resp.status_code == 200 and "<Message>" not in resp.text
    with rig.store.sessions() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.kind == "sms_clarified")
            )
            == 1
        )
