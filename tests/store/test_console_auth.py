"""Signing in to the console on the real store (SQLite and PostgreSQL): Argon2 passwords,
sessions that expire, the per-username-and-address rate limit kept in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dialer.agents import AgentSpec, add_agent, set_active
from dialer.clock import SettableClock
from dialer.console_web import auth
from dialer.errors import NotFoundError, UsageError
from dialer.models import Agent, AuditEntry
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


def test_failed_sign_ins_are_rate_limited_per_username_and_address(
    store: Store, clock: SettableClock
) -> None:
    _agent(store, clock)
    for _ in range(auth.MAX_FAILURES):
        assert type(_sign_in(store, clock, "wrong password!")) is auth.SignInError
    throttled = _sign_in(store, clock, PASSWORD)  # even the right password waits
    assert isinstance(throttled, auth.SignInThrottled)
    assert throttled.retry_after == auth.FAILURE_WINDOW
    assert isinstance(_sign_in(store, clock, PASSWORD, address="10.0.0.2"), auth.SignedIn)
    clock.advance(auth.FAILURE_WINDOW)
    assert isinstance(_sign_in(store, clock, PASSWORD), auth.SignedIn)
    with store.sessions() as s:
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "console_sign_in_failed"))
        assert len(list(failed)) == auth.MAX_FAILURES
