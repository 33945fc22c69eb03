"""The fast-forward loop `dialer demo` and `dialer simulate` share: the real runner on a test clock.

Each step the runner's own jobs run (plan every `plan_every`, refresh slack every `slack_every`,
escalate every step or every `escalate_every`), any extra work of the caller runs (simulated agents), the dispatcher
ticks, and the sandbox advances the clock by one step, running every call and SMS event due on
the way (their webhooks reach the real app over HTTP). Deterministic for a seed and a start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.dispatcher import Dispatcher
from dialer.runner import Runner
from dialer.telephony.sandbox.testing import SandboxHarness

PLAN_EVERY = timedelta(minutes=30)  # the runner plans every 5 minutes; nothing new comes in here
SLACK_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Cadence:
    """How often the runner's jobs run in fast-forward (the real runner's are finer)."""

    step: timedelta = timedelta(minutes=10)
    plan_every: timedelta = PLAN_EVERY
    slack_every: timedelta = SLACK_EVERY
    escalate_every: timedelta | None = None  # None: every step
    # Tick the dispatcher again within a step while it still claims work (moving the clock to
    # each next call slot), so the calls per step are the CPS's, not one claim batch's.
    drain_each_step: bool = False


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
        if now - planned_at >= cadence.plan_every:
            runner.plan_tick()
            planned_at = now
        if now - slack_at >= cadence.slack_every:
            runner.slack_tick()
            slack_at = now
        every = cadence.escalate_every
        if escalated_at is None or every is None or now - escalated_at >= every:
            runner.escalate_tick()
            escalated_at = now
        if each_step is not None:
            each_step(now)
        step_end = min(end, now + cadence.step)
        if cadence.drain_each_step:
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


__all__ = ["PLAN_EVERY", "SLACK_EVERY", "Cadence", "fast_forward"]
