"""The first stop signal is never ignored: during start-up it raises where the main thread is
(`StopSignal.raising`), after it the event is set and the first signal decides the exit."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from dialer.serving import StopRequested, StopSignal


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_a_signal_during_start_up_raises_at_once(handlers: None) -> None:
    stop = StopSignal()
    reached_the_end = False
    with pytest.raises(StopRequested), stop.raising():
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this (the main) thread
        for _ in range(10**7):  # "start-up": a long step the signal must not wait for
            pass
        reached_the_end = True
    assert not reached_the_end and stop.event.is_set() and stop.interrupted


def test_after_start_up_the_signal_only_sets_the_event(handlers: None) -> None:
    stop = StopSignal()
    with stop.raising():
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(5) is False  # SIGTERM: exit 0
    os.kill(os.getpid(), signal.SIGINT)  # a second one does not change the first's exit code
    assert stop.interrupted is False and stop.count == 2


def test_a_signal_before_start_up_stops_it_before_it_begins(handlers: None) -> None:
    stop = StopSignal()
    os.kill(os.getpid(), signal.SIGINT)
    stop.event.wait(5)
    with pytest.raises(StopRequested), stop.raising():
        pytest.fail("start-up ran after the signal")
