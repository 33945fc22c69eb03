# ruff: noqa: F811 - the fixtures shared with test_dispatch and test_webhooks are parameters here
"""The call script walked by the sandbox's people over real HTTP, on both engines: every branch
(satisfied with a suggestion, average and unsatisfied with the reason menu, later with an hour,
the opt-out key, silence, a wrong key, an answering machine), what each records, and the
agreed callback that is tried again when it does not get through."""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from seeding import seed
from sqlalchemy import func, select
from test_dispatch import Rig, rig  # noqa: F401 - the fixture
from test_webhooks import CAMPAIGNS, PUBLIC, SID, placed, post, server  # noqa: F401 - fixtures

from dialer import ivr
from dialer.campaigns import load_campaign
from dialer.models import (
    Attempt,
    CallbackTask,
    Customer,
    DoNotContact,
    FollowUpCase,
    Outcome,
    TaskState,
)
from dialer.serving import AppServer
from dialer.store import Store

TPE = ZoneInfo("Asia/Taipei")
PEOPLE: dict[int, tuple[str, ...]] = {
    0: ("1", "1", "服務很好"),  # satisfied, then a suggestion after the beep
    1: ("1", "2", "1"),  # average: reason 1
    2: ("1", "3", "3"),  # unsatisfied: reason 3
    3: ("2", "19"),  # later, at 19:00
    4: ("9",),  # the opt-out key
    5: (),  # silence at the convenience check, twice
    6: ("1",),  # goes on, then silence at the question, twice
    7: ("1", "7", "1", ""),  # a wrong key, then satisfied; nothing to suggest
}
MACHINE = 8


def number(i: int) -> str:
    return f"+88691234567{i}"


def walk(rig: Rig, n: int) -> list[int]:
    tasks = seed(rig.store, rig.clock, rig.spec, n=n)
    sb = rig.sandbox.sandbox
    for i, digits in PEOPLE.items():
        if i < n:
            sb.person(number(i), "human", digits=digits)
    if n > MACHINE:
        sb.person(number(MACHINE), "machine")
    report = rig.dispatcher().tick()
    assert report.placed == n
    rig.sandbox.advance(900)
    return tasks


def outcomes(rig: Rig) -> dict[int, Outcome]:
    with rig.store.sessions() as s:
        return {o.task_id: o for o in s.scalars(select(Outcome))}


def test_every_branch_of_the_script_is_walked_and_recorded(rig: Rig) -> None:
    tasks = walk(rig, 9)
    got = outcomes(rig)
    by_task = {i: got.get(t) for i, t in enumerate(tasks)}
    names = {i: (o.name if o else None) for i, o in by_task.items()}
    assert names == {
        0: "satisfied",
        1: "average",
        2: "unsatisfied",
        3: "callback_requested",
        4: "opted_out",
        5: None,
        6: "refused",
        7: "satisfied",
        8: None,
    }
    o0, o1, o2, o7 = by_task[0], by_task[1], by_task[2], by_task[7]
    assert o0 and o1 and o2 and o7
    assert o0.answer == "satisfied" and o0.digits == "1" and o0.channel == "voice"
    assert o0.note and "recorded" in o0.note and "/Recordings/RE" in o0.note  # the suggestion
    assert (o1.answer, o1.reason) == ("average", "等候時間")
    assert (o2.answer, o2.reason) == ("unsatisfied", "施工品質")
    assert o7.digits == "1" and o7.note is None  # asked again after "7"; silent at the beep
    sb = rig.sandbox.sandbox
    [call0] = sb.contacts(to=number(0))
    assert call0.status == "completed"
    with rig.store.sessions() as s:
        cases = s.scalars(select(FollowUpCase)).all()
        dnc = s.scalars(select(DoNotContact)).all()
        t = {i: s.get(CallbackTask, tid) for i, tid in enumerate(tasks)}
    # Only the unsatisfied answer opens a case (average does not, in this campaign).
    assert [(c.task_id, c.reason) for c in cases] == [(tasks[2], "施工品質")]
    assert [(d.e164, d.channel, d.source) for d in dnc] == [(number(4), "voice", "ivr")]
    reached = {i for i, task in t.items() if task and task.reached_at is not None}
    assert reached == {0, 1, 2, 3, 4, 6, 7}  # not the silent one, not the answering machine
    machine = t[MACHINE]
    assert machine is not None and machine.notified_at is not None  # voicemail: notified only
    for i in (5, MACHINE):  # not reached: tried again after the campaign's spacing
        task = t[i]
        assert task is not None and task.state in (TaskState.PENDING, TaskState.IN_PROGRESS)
        assert task.next_attempt_at is not None and task.outcome is None
    later = t[3]
    assert later is not None and later.appointment_at is not None
    today = rig.clock.now().astimezone(TPE).date()
    assert later.appointment_at.astimezone(TPE) == datetime(
        today.year, today.month, today.day, 19, 0, tzinfo=TPE
    )


def test_an_agreed_callback_that_does_not_get_through_is_tried_again(rig: Rig) -> None:
    [task_id] = seed(rig.store, rig.clock, rig.spec, n=1)
    sb = rig.sandbox.sandbox
    phone = "+886912345678"
    sb.person(phone, "human", digits=("2", "19"))
    d = rig.dispatcher()
    assert d.tick().placed == 1
    rig.sandbox.advance(600)
    task = rig.task(task_id)
    assert task.outcome == "callback_requested" and task.appointment_at is not None
    appointment = task.appointment_at
    assert appointment.astimezone(TPE).hour == 19
    # At 19:00 nobody answers: the agreed call is tried again, the agreement stands.
    sb.person(phone, "no_answer")
    rig.clock.set(appointment)
    assert d.tick().placed == 1
    rig.sandbox.advance(600)
    task = rig.task(task_id)
    assert task.outcome == "callback_requested"
    assert task.state in (TaskState.PENDING, TaskState.IN_PROGRESS)
    assert task.next_attempt_at is not None and task.next_attempt_at > appointment
    # Every automated try used up: a person keeps the agreement (the campaign's last channel);
    # the task waits in the agents' queue, the customer still counted as reached, never
    # not_reached.
    for _ in range(12):
        nxt = rig.task(task_id)
        if nxt.state not in (TaskState.PENDING, TaskState.IN_PROGRESS) or (
            nxt.plan_action == "agent" and nxt.next_attempt_at is None
        ):
            break
        rig.clock.set(max(rig.clock.now(), nxt.next_attempt_at or rig.clock.now()))
        d.tick()
        rig.sandbox.advance(600)
        rig.clock.advance(timedelta(hours=3))
    final = rig.task(task_id)
    assert (final.state, final.outcome, final.plan_action) == (
        TaskState.IN_PROGRESS,
        "callback_requested",
        "agent",
    )
    assert final.reached_at is not None and final.next_attempt_at is None
    assert len(sb.contacts(to=phone)) >= 3


# ---------------------------------------------------------------- the webhooks, one by one


def step(server: AppServer, placed: int, name: str, digits: str | None, tries: int = 1) -> str:
    form = {"CallSid": SID, "CallStatus": "in-progress"}
    if digits is not None:
        form["Digits"] = digits
    resp = post(server, f"/twilio/voice/{placed}/{name}?try={tries}", form)
    assert resp.status_code == 200, resp.text
    return resp.text


def test_a_repeated_gather_records_nothing_twice(
    server: AppServer, placed: int, store: Store
) -> None:
    first = step(server, placed, "question", "3")
    again = step(server, placed, "question", "3")
    assert first == again and "請選擇主要原因" in first  # the same document: the reason menu
    step(server, placed, "reason", "2")
    step(server, placed, "reason", "2")
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(FollowUpCase)) == 1
        [outcome] = s.scalars(select(Outcome)).all()
    assert (outcome.name, outcome.digits, outcome.reason) == ("unsatisfied", "3", "價格")


def test_a_forged_gather_is_refused_and_changes_nothing(
    server: AppServer, placed: int, store: Store
) -> None:
    form = {"CallSid": SID, "Digits": "9"}
    resp = post(server, f"/twilio/voice/{placed}/convenience?try=1", form, sign="forged")
    assert resp.status_code == 403
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DoNotContact)) == 0
        assert s.scalar(select(func.count()).select_from(Outcome)) == 0


def test_bad_steps_and_tries_are_4xx(server: AppServer, placed: int) -> None:
    form = {"CallSid": SID, "Digits": "1"}
    assert post(server, f"/twilio/voice/{placed}/nowhere?try=1", form).status_code == 404
    assert post(server, f"/twilio/voice/{placed}/question?try=7", form).status_code == 404
    bad_sid = {"CallSid": "nope", "Digits": "1"}
    assert post(server, f"/twilio/voice/{placed}/question?try=1", bad_sid).status_code == 400


def test_silence_is_asked_once_more_then_the_call_ends_politely(
    server: AppServer, placed: int, store: Store
) -> None:
    again = step(server, placed, "convenience", None, 1)
    assert "抱歉，我沒有聽清楚" in again and "convenience?try=2" in again
    bye = step(server, placed, "convenience", None, 2)
    assert "沒有收到您的回覆" in bye and bye.endswith("<Hangup/></Response>")
    assert "<Gather" not in bye
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outcome)) == 0  # not reached


def test_an_answer_before_its_question_is_out_of_order_and_harmless(
    server: AppServer, placed: int, store: Store
) -> None:
    step(server, placed, "reason", "4")  # a late retry of an older call's reason menu
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outcome)) == 0
    step(server, placed, "question", "1")
    with store.sessions() as s:
        [outcome] = s.scalars(select(Outcome)).all()
    assert (outcome.name, outcome.reason) == ("satisfied", None)


def test_without_a_reason_menu_the_customer_says_what_was_wrong_after_the_beep() -> None:
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    language, script = spec.script_for("en")
    script = script.model_copy(update={"reasons": None})
    ctx = ivr.CallContext(
        Attempt(id=5, channel="voice"), CallbackTask(id=1), Customer(name="Lee"), spec,
        language, script, {"name": "Lee"}, after_complaint=False,
    )  # fmt: skip
    flow = ivr.Flow(ctx, None, datetime(2026, 1, 1, tzinfo=TPE), PUBLIC, live=False)  # type: ignore[arg-type]
    twiml = flow.branch("unsatisfied")
    assert (
        '<Record action="https://dialer.example.com/twilio/voice/5/words?try=1&amp;answer=unsatisfied"'
        in twiml
    )
    assert 'maxLength="30"' in twiml and twiml.endswith("<Hangup/>")
    assert script.branches is not None
    assert escape(script.branches.unsatisfied.closing) in twiml
    assert '<Say voice="Google.en-US-Standard-C">' in twiml
