"""The fast-forward loop `dialer demo` and `dialer simulate` share: the real runner on a test clock.

Each step the runner's own jobs run (plan every `plan_every`, refresh slack every `slack_every`,
escalate every step or every `escalate_every`), any extra work of the caller runs (simulated
agents), the dispatcher ticks (only when something is due, with `skip_idle_ticks`), and the
sandbox advances the clock by one step, running every call and SMS event due on the way (their
webhooks reach the real app over HTTP). The last `drain` of the run takes no new work, as
`dialer run` stops on SIGTERM. Deterministic for a seed and a start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select

from dialer.attempts import OPEN_TASK_STATES, claimable
from dialer.dispatcher import Dispatcher
from dialer.models import IN_FLIGHT_ATTEMPT_STATES, Attempt, CallbackTask
from dialer.runner import Runner
from dialer.store import Store
from dialer.telephony.sandbox.testing import SandboxHarness

PLAN_EVERY = timedelta(minutes=30)  # the runner plans every 5 minutes; nothing new comes in here
SLACK_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Cadence:
    """How often the runner's jobs run in fast-forward (the real runner's are finer)."""

    step: timedelta = timedelta(minutes=10)
    plan_every: timedelta | None = PLAN_EVERY  # None: once, at the start (all imported before)
    slack_every: timedelta = SLACK_EVERY
    escalate_every: timedelta | None = None  # None: every step
    # Tick the dispatcher again within a step while it still claims work (moving the clock to
    # each next call slot), so the calls per step are the CPS's, not one claim batch's.
    drain_each_step: bool = False
    # Skip the dispatcher's tick (a dozen queries) when `dispatch_due` says nothing is due.
    skip_idle_ticks: bool = False
    # The last stretch takes no new work: calls in flight finish before the end.
    drain: timedelta = timedelta(0)


def dispatch_due(store: Store, now: datetime) -> bool:
    """Whether a dispatcher tick has anything to do at `now`: a task whose next try has come, a
    scheduled attempt due, or a lease run out (the reaper's work). One indexed query, so the
    fast-forward skips the tick at night and between retries."""
    postgres = store.engine.dialect.name == "postgresql"
    due = select(
        or_(
            exists().where(
                CallbackTask.state.in_(OPEN_TASK_STATES), CallbackTask.next_attempt_at <= now
            ),
            exists().where(claimable(postgres), Attempt.due_at <= now),
            exists().where(
                Attempt.state.in_(IN_FLIGHT_ATTEMPT_STATES), Attempt.lease_expires_at < now
            ),
        )
    )
    with store.sessions() as session:
        return bool(session.scalar(due))


def fast_forward(
    runner: Runner,
    harness: SandboxHarness,
    end: datetime,
    cadence: Cadence = Cadence(),
    *,
    each_step: Callable[[datetime], None] | None = None,
    after_step: Callable[[], None] | None = None,
    settle: float = 3600,
) -> None:
    """Run `runner` (its dispatcher set) and the sandbox from the clock's now until `end`.

    `each_step(now)` runs before the dispatcher's tick (simulated agents work their queue);
    `after_step()` after the clock moved (progress). Calls still ringing at the end finish
    (at most `settle` seconds later), and slack is refreshed once more.
    """
    clock = harness.clock
    dispatcher = runner.dispatcher
    assert dispatcher is not None
    runner.plan_tick()
    runner.slack_tick()
    planned_at = slack_at = clock.now()
    escalated_at: datetime | None = None
    while clock.now() < end:
        now = clock.now()
        if cadence.plan_every is not None and now - planned_at >= cadence.plan_every:
            runner.plan_tick()
            planned_at = now
        if now - slack_at >= cadence.slack_every:
            runner.slack_tick()
            slack_at = now
        step_end = min(end, now + cadence.step)
        if end - now > cadence.drain:
            every = cadence.escalate_every
            if escalated_at is None or every is None or now - escalated_at >= every:
                runner.escalate_tick()
                escalated_at = now
            if each_step is not None:
                each_step(now)
            if cadence.skip_idle_ticks and not dispatch_due(runner.store, now):
                pass
            elif cadence.drain_each_step:
                _drain_step(dispatcher, harness, step_end)
            else:
                dispatcher.tick()
        left = (end - clock.now()).total_seconds()
        if cadence.drain_each_step:
            left = min(left, (step_end - clock.now()).total_seconds())
        if left > 0:
            harness.advance(min(cadence.step.total_seconds(), left))
        if after_step is not None:
            after_step()
    harness.settle(limit=settle)
    runner.slack_tick()


def _drain_step(dispatcher: Dispatcher, harness: SandboxHarness, step_end: datetime) -> None:
    """Tick while the dispatcher claims work and the step lasts, moving the clock (with the
    sandbox's events on the way) to each next free call slot instead of letting a worker sleep
    towards it: a slow account's calls are minutes apart, and a worker waits in quarter seconds.
    When no call may leave before the step ends, nothing is claimed in this step."""
    clock = harness.clock
    while clock.now() < step_end:
        wait = dispatcher.next_call_in()
        if wait > 0:
            if clock.now() + timedelta(seconds=wait) >= step_end:
                return
            harness.advance(wait)
        if not dispatcher.tick().claimed:
            return
        harness.advance(0)  # the calls and messages due by now run before the next claim


__all__ = ["PLAN_EVERY", "SLACK_EVERY", "Cadence", "dispatch_due", "fast_forward"]
