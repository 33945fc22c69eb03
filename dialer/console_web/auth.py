"""Who is signed in to the agent console: Argon2 passwords, sessions with expiry, the sign-in
rate limit.

Passwords are hashed with Argon2id (argon2-cffi's current parameters; an old hash is rehashed at
the next sign-in). A session is a random token in an HttpOnly cookie; the database keeps only its
SHA-256, the CSRF token its forms carry, and two expiries: idle (`IDLE`, extended on every
request) and absolute (`LIFETIME` from sign-in).

Failed sign-ins are counted in the database (so every worker and a restart see the same count),
twice: per client address across every user name (`ADDRESS_MAX_FAILURES` within `FAILURE_WINDOW`
refuse that address until the oldest ages out: spraying one password over many users is
limited), and per agent from any address, which slows rather than locks: after
`USER_FREE_FAILURES` each further try must wait `USER_DELAY` doubled per failure, at most
`USER_MAX_DELAY`, so nobody can lock an agent out from a shared address. The address is the TCP
peer's: X-Forwarded-For counts only from the proxies named in DIALER_FORWARDED_ALLOW_IPS
(`dialer.serving`). No typed user name is kept: a failure's key and audit actor name a known
agent, else only a keyed hash of what was typed (it may be a password typed in the wrong field).
New passwords that zxcvbn rates easy to guess (common passwords, keyboard runs, the user's own
name) are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from dialer import audit
from dialer.agents import find_agent
from dialer.clock import Clock
from dialer.errors import DialerError, UsageError
from dialer.models import Agent, AgentRole, ConsoleSession, SignInFailure

IDLE: Final = timedelta(hours=2)
LIFETIME: Final = timedelta(hours=12)
FAILURE_WINDOW: Final = timedelta(minutes=15)
ADDRESS_MAX_FAILURES: Final = 30  # per client address, across every user name, per window
USER_FREE_FAILURES: Final = 5  # per agent before each try must wait
USER_DELAY: Final = timedelta(seconds=15)
USER_MAX_DELAY: Final = timedelta(minutes=2)
MIN_PASSWORD: Final = 10
MIN_STRENGTH: Final = 2  # zxcvbn's score 0-4; below 2 is "too guessable" (< 10^6 guesses)
# Keys the hash that stands for a typed user name no agent has (per process: it lets one run's
# audit entries be told apart and matched, never read back).
_ACTOR_KEY: Final = secrets.token_bytes(32)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both answers take the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


class SignInError(DialerError):
    """Wrong username or password (one message for both), or an inactive agent."""

    exit_code = 2


class SignInThrottled(SignInError):
    """Too many failed sign-ins from this address, or this agent's next try must wait."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        minutes = max(1, int(retry_after.total_seconds() + 59) // 60)
        super().__init__(f"too many failed sign-ins; try again in {minutes} minute(s)")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str, *, user_inputs: tuple[str, ...] = ()) -> str:
    """The password, or UsageError: too short, padded, or easy to guess (zxcvbn: common
    passwords, dictionary words with digits, keyboard runs, the agent's own names)."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if password != password.strip():
        raise UsageError("a password may not start or end with spaces")
    if zxcvbn(password, user_inputs=[u for u in user_inputs if u])["score"] < MIN_STRENGTH:
        raise UsageError(
            "that password is too easy to guess (a common password or close to one): "
            "try a few unrelated words"
        )
    return password


def set_password(
    session: Session,
    clock: Clock,
    username: str,
    password: str,
    *,
    actor: str,
    role: str | None = None,
) -> Agent:
    """Give an agent a (new) password, and optionally a role; their open sessions end."""
    agent = find_agent(session, username)
    inputs = (agent.username, agent.display_name)
    agent.password_hash = hash_password(check_password_rules(password, user_inputs=inputs))
    changed = ["password"]
    if role is not None and role != agent.role:
        if role not in (AgentRole.AGENT, AgentRole.SUPERVISOR):
            raise UsageError(f"role must be agent or supervisor, got {role!r}")
        agent.role = role
        changed.append("role")
    session.execute(delete(ConsoleSession).where(ConsoleSession.agent_id == agent.id))
    audit.record(
        session, clock, actor, "agent_password", "agent", agent.id, changed=changed, role=agent.role
    )
    return agent


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's token (never stored) and the CSRF token of its forms."""

    token: str
    csrf_token: str
    agent_id: int
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unknown_actor(typed: str) -> str:
    """The audit actor for a sign-in under a name no agent has: a keyed hash, never the text
    (it may be a password typed into the user-name field)."""
    digest = hmac.new(_ACTOR_KEY, typed.strip().casefold().encode(), hashlib.sha256).hexdigest()
    return f"unknown:{digest[:16]}"


def _user_delay(failures: int) -> timedelta:
    """How long after the last failure an agent's next try waits (0 for the first few)."""
    if failures < USER_FREE_FAILURES:
        return timedelta(0)
    doubled: timedelta = USER_DELAY * (1 << min(failures - USER_FREE_FAILURES, 16))
    return min(doubled, USER_MAX_DELAY)


def sign_in(
    session: Session, clock: Clock, username: str, password: str, address: str
) -> SignedIn | SignInError:
    """Check the password and open a session; audited. A refusal is returned, not raised, so
    the caller commits the failure it counts (a raise would roll it back)."""
    now = clock.now()
    since = now - FAILURE_WINDOW
    session.execute(delete(SignInFailure).where(SignInFailure.at <= since))
    name = username.strip()
    agent = (
        session.scalars(select(Agent).where(Agent.username == name)).first()
        if name and "\x00" not in name
        else None
    )
    by_address, by_user = f"address:{address[:100]}", f"agent:{agent.id if agent else '?'}"
    count, oldest = _failures(session, by_address, since)
    if count >= ADDRESS_MAX_FAILURES and oldest is not None:
        return SignInThrottled(oldest + FAILURE_WINDOW - now)
    if agent is not None:
        count, _ = _failures(session, by_user, since)
        last = session.scalar(
            select(func.max(SignInFailure.at)).where(SignInFailure.key == by_user)
        )
        if last is not None and now < last + _user_delay(count):
            return SignInThrottled(last + _user_delay(count) - now)
    stored = agent.password_hash if agent is not None else None
    ok = _verify(stored or _dummy_hash(), password)
    if not ok or stored is None or agent is None or not agent.active:
        session.add(SignInFailure(key=by_address, at=now))
        if agent is not None:
            session.add(SignInFailure(key=by_user, at=now))
        actor = agent.username if agent is not None else unknown_actor(name) if name else "?"
        audit.record(session, clock, actor, "console_sign_in_failed")
        return SignInError("wrong username or password")
    if _hasher.check_needs_rehash(stored):
        agent.password_hash = hash_password(password)
    session.execute(delete(SignInFailure).where(SignInFailure.key == by_user))
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = min(now + IDLE, now + LIFETIME)
    session.add(
        ConsoleSession(
            token_hash=_token_hash(token),
            agent_id=agent.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
        )
    )
    audit.record(session, clock, agent.username, "console_sign_in", "agent", agent.id)
    return SignedIn(token, csrf, agent.id, expires)


def _failures(session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures `key` has in the window, and the oldest one's time."""
    count, oldest = session.execute(
        select(func.count(), func.min(SignInFailure.at)).where(
            SignInFailure.key == key, SignInFailure.at > since
        )
    ).one()
    return int(count), oldest


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Current:
    """The agent behind a request's session cookie."""

    agent: Agent
    csrf_token: str

    @property
    def is_supervisor(self) -> bool:
        return self.agent.role == AgentRole.SUPERVISOR


def current(session: Session, clock: Clock, token: str | None) -> Current | None:
    """The signed-in agent for `token`, sliding the idle expiry; None when absent or expired."""
    if not token:
        return None
    row = session.get(ConsoleSession, _token_hash(token))
    now = clock.now()
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        return None
    agent = session.get(Agent, row.agent_id)
    if agent is None or not agent.active:
        session.delete(row)
        return None
    row.last_seen_at = now
    row.expires_at = min(now + IDLE, row.created_at + LIFETIME)
    return Current(agent, row.csrf_token)


def sign_out(session: Session, clock: Clock, token: str | None) -> None:
    if not token:
        return
    row = session.get(ConsoleSession, _token_hash(token))
    if row is not None:
        agent = session.get(Agent, row.agent_id)
        session.delete(row)
        if agent is not None:
            audit.record(session, clock, agent.username, "console_sign_out", "agent", agent.id)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, given or "")
