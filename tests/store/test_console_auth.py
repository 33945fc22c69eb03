"""Signing in to the console on the real store (SQLite and PostgreSQL): Argon2 passwords,
sessions that expire, the sign-in rate limits (per address; per agent, slowing) kept in the
database, common passwords refused, typed user names never stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dialer.agents import AgentSpec, add_agent, set_active
from dialer.clock import SettableClock
from dialer.console_web import auth
from dialer.errors import NotFoundError, UsageError
from dialer.models import Agent, AuditEntry, SignInFailure
from dialer.store import Store

PASSWORD = "correct horse battery"


def _agent(store: Store, clock: SettableClock, *, supervisor: bool = False) -> None:
    with store.transaction() as s:
        add_agent(s, clock, AgentSpec("alice", "Alice"), actor="test")
        auth.set_password(
            s, clock, "alice", PASSWORD, actor="ops", role="supervisor" if supervisor else None
        )


def _sign_in(
    store: Store, clock: SettableClock, password: str, address: str = "10.0.0.1"
) -> auth.SignedIn | auth.SignInError:
    with store.transaction() as s:
        return auth.sign_in(s, clock, "alice", password, address)


def test_passwords_are_argon2_and_checked_with_rules(store: Store, clock: SettableClock) -> None:
    _agent(store, clock, supervisor=True)
    with store.sessions() as s:
        agent = s.scalars(select(Agent)).one()
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "agent_password")).one()
    assert agent.password_hash is not None and agent.password_hash.startswith("$argon2id$")
    assert PASSWORD not in agent.password_hash and agent.role == "supervisor"
    assert entry.actor == "ops" and entry.detail["changed"] == ["password", "role"]
    with store.transaction() as s:
        with pytest.raises(UsageError, match="at least 10"):
            auth.set_password(s, clock, "alice", "short", actor="ops")
        with pytest.raises(NotFoundError):
            auth.set_password(s, clock, "nobody", PASSWORD, actor="ops")


def test_sign_in_sessions_expire_and_end(store: Store, clock: SettableClock) -> None:
    _agent(store, clock)
    signed = _sign_in(store, clock, PASSWORD)
    assert isinstance(signed, auth.SignedIn)
    with store.transaction() as s:
        me = auth.current(s, clock, signed.token)
        assert me is not None and me.agent.username == "alice" and not me.is_supervisor
        assert me.csrf_token == signed.csrf_token
        assert auth.current(s, clock, signed.token + "x") is None
    clock.advance(auth.IDLE - timedelta(minutes=1))  # still active: the idle expiry slides
    with store.transaction() as s:
        assert auth.current(s, clock, signed.token) is not None
    clock.advance(auth.IDLE + timedelta(seconds=1))  # idle too long
    with store.transaction() as s:
        assert auth.current(s, clock, signed.token) is None
    again = _sign_in(store, clock, PASSWORD)
    assert isinstance(again, auth.SignedIn)
    for _ in range(7):  # active all along, but a session lives at most LIFETIME
        clock.advance(timedelta(hours=1, minutes=50))
        with store.transaction() as s:
            alive = auth.current(s, clock, again.token) is not None
    assert not alive
    third = _sign_in(store, clock, PASSWORD)
    assert isinstance(third, auth.SignedIn)
    with store.transaction() as s:
        auth.sign_out(s, clock, third.token)
    with store.transaction() as s:
        assert auth.current(s, clock, third.token) is None
    fourth = _sign_in(store, clock, PASSWORD)
    assert isinstance(fourth, auth.SignedIn)
    with store.transaction() as s:
        set_active(s, clock, "alice", False, actor="ops")
    with store.transaction() as s:
        assert auth.current(s, clock, fourth.token) is None
    assert type(_sign_in(store, clock, PASSWORD)) is auth.SignInError  # inactive


def test_an_agents_failed_sign_ins_slow_the_next_try_from_any_address_but_never_lock(
    store: Store, clock: SettableClock
) -> None:
    _agent(store, clock)
    for _ in range(auth.USER_FREE_FAILURES):
        assert type(_sign_in(store, clock, "wrong password!")) is auth.SignInError
    throttled = _sign_in(store, clock, PASSWORD, address="10.0.0.2")  # another address waits too
    assert isinstance(throttled, auth.SignInThrottled)
    assert throttled.retry_after == auth.USER_DELAY
    waits = []
    for _ in range(8):  # each failure doubles the wait, up to USER_MAX_DELAY: slowed, not locked
        clock.advance(waits[-1] if waits else auth.USER_DELAY)
        assert type(_sign_in(store, clock, "wrong password!")) is auth.SignInError
        got = _sign_in(store, clock, PASSWORD)
        assert isinstance(got, auth.SignInThrottled)
        waits.append(got.retry_after)
    assert waits[:3] == [auth.USER_DELAY * 2, auth.USER_DELAY * 4, auth.USER_DELAY * 8]
    assert max(waits) == auth.USER_MAX_DELAY < auth.FAILURE_WINDOW
    clock.advance(auth.USER_MAX_DELAY)
    assert isinstance(_sign_in(store, clock, PASSWORD), auth.SignedIn)
    assert type(_sign_in(store, clock, "wrong password!")) is auth.SignInError  # count reset
    with store.sessions() as s:
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "console_sign_in_failed"))
        assert {e.actor for e in failed} == {"alice"}


def test_spraying_many_user_names_from_one_address_is_limited(
    store: Store, clock: SettableClock
) -> None:
    _agent(store, clock)
    for n in range(auth.ADDRESS_MAX_FAILURES):
        with store.transaction() as s:
            got = auth.sign_in(s, clock, f"user{n}", PASSWORD, "10.0.0.9")
        assert type(got) is auth.SignInError
    throttled = _sign_in(store, clock, PASSWORD, address="10.0.0.9")
    assert isinstance(throttled, auth.SignInThrottled)
    assert throttled.retry_after == auth.FAILURE_WINDOW
    assert isinstance(_sign_in(store, clock, PASSWORD, address="10.0.0.1"), auth.SignedIn)
    clock.advance(auth.FAILURE_WINDOW)
    assert isinstance(_sign_in(store, clock, PASSWORD, address="10.0.0.9"), auth.SignedIn)


def test_a_password_typed_as_the_user_name_is_never_stored(
    store: Store, clock: SettableClock
) -> None:
    _agent(store, clock)
    for _ in range(2):
        with store.transaction() as s:
            assert (
                type(auth.sign_in(s, clock, "Hunter2-secret!", "", "10.0.0.1")) is auth.SignInError
            )
    with store.sessions() as s:
        actors = [e.actor for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "console_sign_in_failed"))]  # fmt: skip
        keys = [f.key for f in s.scalars(select(SignInFailure))]
    assert actors[0] == actors[1] and actors[0].startswith("unknown:")  # one hash, matchable
    assert not any("hunter2" in text.casefold() for text in actors + keys)


@pytest.mark.parametrize("password", ["password123", "qwertyuiop", "1234567890", "iloveyou12",
                                      "alice12345", "AliceAlice12"])  # fmt: skip
def test_common_and_guessable_passwords_are_refused(
    store: Store, clock: SettableClock, password: str
) -> None:
    _agent(store, clock)
    with store.transaction() as s, pytest.raises(UsageError, match="too easy to guess"):
        auth.set_password(s, clock, "alice", password, actor="ops")
