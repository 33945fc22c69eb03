"""The store's tables: what the callback process records, as SQLAlchemy 2.0 typed models.

Times are aware UTC everywhere (`UTCDateTime`); local time exists only at the calling-window
edge. Business times are bound from the injected Clock, never `server_default=now()`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (naive storage) and PostgreSQL (timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


# --- vocabularies (stored as plain strings so later issues can extend them without migrations) ---


class PhoneType(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    VOIP = "voip"
    TOLL_FREE = "toll_free"
    OTHER = "other"

    @property
    def can_receive_sms(self) -> bool:
        """SMS goes to mobiles and to numbers phonenumbers cannot tell apart, until Twilio says no."""
        return self in (PhoneType.MOBILE, PhoneType.FIXED_LINE_OR_MOBILE, PhoneType.VOIP)


class ImportStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Purpose(StrEnum):
    SERVICE = "service"
    MARKETING = "marketing"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    AGENT = "agent"


class TaskState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    NOT_CONTACTABLE = "not_contactable"
    CANCELLED = "cancelled"


class AttemptState(StrEnum):
    SCHEDULED = "scheduled"
    CLAIMED = "claimed"
    PLACED = "placed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


IN_FLIGHT_ATTEMPT_STATES = (AttemptState.CLAIMED, AttemptState.PLACED)


class OutcomeName(StrEnum):
    """docs/definitions.md's outcome names, used as written everywhere."""

    SATISFIED = "satisfied"
    AVERAGE = "average"
    UNSATISFIED = "unsatisfied"
    CALLBACK_REQUESTED = "callback_requested"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"
    WRONG_NUMBER = "wrong_number"
    NOT_REACHED = "not_reached"
    NOT_CONTACTABLE = "not_contactable"


class CaseState(StrEnum):
    """The complaint loop (投訴處理, docs/definitions.md), as `dialer.cases` moves a case through it.

    open (受理) → judged (判斷: it stands) → investigating (調查, a department) → resolved (方案 and
    實施: the solution, a follow-up callback is scheduled) → followed_up (處理後有回訪: the customer
    answered) → closed. A complaint that does not stand is rejected, answered politely and closed;
    an unsatisfied follow-up answer sends the case back to investigating for another round.
    """

    OPEN = "open"
    JUDGED = "judged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"
    REJECTED = "rejected"


class CaseSource(StrEnum):
    """What opened a case: a complaint answer in the callback, or a new request raised in it."""

    ANSWER = "answer"
    REQUEST = "request"


class AgentRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


# --- customers and their files ---


class Customer(Base):
    """One person the company serves; upserted by `customer_key` on every import."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_key: Mapped[str] = mapped_column(String(200), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(40))
    member: Mapped[bool] = mapped_column(Boolean, default=False)
    marketing_consent: Mapped[bool | None] = mapped_column(Boolean)
    language: Mapped[str | None] = mapped_column(String(20))
    # Where `language` came from: "file" (a language column), "number" (the number's country);
    # None with no language: the campaign's default_language applies.
    language_source: Mapped[str | None] = mapped_column(String(10))
    region: Mapped[str | None] = mapped_column(String(2))
    # The address's state or province, ISO 3166-2 ("US-FL"), from a state column of the file:
    # its floor applies too, and it gives a zone-less number its zones (dialer.subdivisions).
    subdivision: Mapped[str | None] = mapped_column(String(10))
    time_zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    time_zone_explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    quiet_hours: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    last_import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", order_by="CustomerPhone.rank", cascade="all, delete-orphan"
    )
    events: Mapped[list[ServiceEvent]] = relationship(
        back_populates="customer", order_by="ServiceEvent.service_at", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_customers_member", "member"),)


class CustomerPhone(Base):
    """A customer's number in E.164; several per customer, mobile first (`rank` 0 is tried first)."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    phone_type: Mapped[str] = mapped_column(String(24))
    region: Mapped[str | None] = mapped_column(String(2))
    extension: Mapped[str | None] = mapped_column(String(20))
    time_zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    source_column: Mapped[str | None] = mapped_column(String(120))
    voice_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    unusable_reason: Mapped[str | None] = mapped_column(String(200))

    customer: Mapped[Customer] = relationship(back_populates="phones")

    __table_args__ = (
        UniqueConstraint("customer_id", "e164"),
        Index("ix_customer_phones_e164", "e164"),
    )


class ServiceEvent(Base):
    """One service visit (or purchase) that may trigger a callback; never duplicated on re-import."""

    __tablename__ = "service_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(64))
    service_date: Mapped[date] = mapped_column(Date)
    service_at: Mapped[datetime | None]
    # The wall-clock time as written ("HH:MM:SS") when it carried no UTC offset: a campaign with
    # trigger.service_time_zone = "trigger" reads it in its trigger zone. None with an offset.
    service_time_local: Mapped[str | None] = mapped_column(String(8))
    service_type: Mapped[str | None] = mapped_column(String(200))
    vehicle: Mapped[str | None] = mapped_column(String(60))
    mileage_km: Mapped[int | None] = mapped_column(Integer)
    store: Mapped[str | None] = mapped_column(String(200))
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="events")

    __table_args__ = (
        UniqueConstraint("customer_id", "event_key"),
        Index("ix_service_events_service_date", "service_date"),
    )


class ImportRun(Base):
    """One `dialer import` of one file: what was read, kept and rejected."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.RUNNING)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    members_rejected: Mapped[int] = mapped_column(Integer, default=0)
    events_added: Mapped[int] = mapped_column(Integer, default=0)
    # Numbers of kept rows that could not be used (listed in rejected_rows with kind "number").
    numbers_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    actor: Mapped[str] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class RejectedRow(Base):
    """A row an import could not use, kept with where and why so nothing is silently dropped."""

    __tablename__ = "rejected_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    # "row": the row was not imported; "number": the row was, without this one number.
    kind: Mapped[str] = mapped_column(String(10), default="row", server_default="row")
    column: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    member: Mapped[bool | None] = mapped_column(Boolean)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # sha256 of the row's content (`dialer.ingest.row_digest`): the same row rejected by two
    # imports (a file imported again, the next day's extract repeating it) counts once.
    content_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_rejected_rows_run", "import_run_id", "row_number"),
        Index("ix_rejected_rows_member_content", "member", "content_sha256"),
    )


# --- people and campaigns ---


class Agent(Base):
    """A customer-service agent (客服專員) or supervisor."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=AgentRole.AGENT)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    daily_capacity: Mapped[int] = mapped_column(Integer, default=60)
    skill: Mapped[int] = mapped_column(Integer, default=1)
    skills: Mapped[list[str] | None] = mapped_column(JSON)  # campaign kinds; NULL = all kinds
    work_start: Mapped[str | None] = mapped_column(String(5))  # "09:00" local
    work_end: Mapped[str | None] = mapped_column(String(5))
    work_days: Mapped[list[int] | None] = mapped_column(JSON)  # Monday = 0
    time_zone: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Campaign(Base):
    """A callback run as loaded from `campaigns/*.toml`; the validated file is kept in `definition`."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.DRAFT)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    definition_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CallbackTask(Base):
    """One customer to reach in one campaign, with a deadline; state, slack and reach kept on it."""

    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    service_event_id: Mapped[int | None] = mapped_column(ForeignKey("service_events.id"))
    dedupe_key: Mapped[str] = mapped_column(String(120))
    member: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default=TaskState.PENDING)
    deadline: Mapped[datetime]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    slack_seconds: Mapped[int | None] = mapped_column(BigInteger)
    # Set by the slack refresh when the campaign's capacity (agents, calls per second), serving
    # members first and then the earliest deadline, cannot reach this open task before its
    # deadline (`dialer.capacity_risk`); read by `dialer coverage` as at risk.
    capacity_short: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    attempts_made: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    appointment_at: Mapped[datetime | None]
    reached_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(30))
    # The planner's decision for a task it found infeasible: what it did (sms / extend / flag),
    # why, and the earliest possible time, so the dispatcher and supervisors can see it.
    plan_action: Mapped[str | None] = mapped_column(String(30))
    plan_reason: Mapped[str | None] = mapped_column(Text)
    # Why the window is not the customer's zones with the campaign hours in each (no shared
    # window, a number without a zone, not callable): `windows.effective_zones`, migration 0012.
    zone_reason: Mapped[str | None] = mapped_column(Text)
    earliest_possible_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "dedupe_key"),
        # Leading (campaign, state, member) for per-campaign counts; the rest makes it covering
        # for `dialer coverage` (an index-only pass in index order: migrations 0006, 0009).
        Index(
            "ix_callback_tasks_coverage",
            "campaign_id",
            "state",
            "member",
            "deadline",
            "reached_at",
            "notified_at",
            "slack_seconds",
            "attempts_made",
            "created_at",
            "capacity_short",
        ),
        Index("ix_callback_tasks_agent", "agent_id", "state"),
        Index("ix_callback_tasks_due", "state", "next_attempt_at"),
    )


class Attempt(Base):
    """One call or SMS placed for a task; claimed (with a lease) before the API is called."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    # Denormalised from the task so contact caps across campaigns are one indexed range query.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    from_e164: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default=AttemptState.SCHEDULED)
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    # When the claim was taken: a lost placement is reconciled from calls created after it.
    claimed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    placed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(30))
    answered_by: Mapped[str | None] = mapped_column(String(30))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("task_id", "number"),
        Index("ix_attempts_due", "state", "due_at"),
        Index("ix_attempts_customer_placed", "customer_id", "placed_at"),
        Index("ix_attempts_lease", "state", "lease_expires_at"),
        # The claim's ORDER BY due_at, id straight from the index, however many are pending.
        # On PostgreSQL its predicate is written as the claim writes it (`attempts.claimable`),
        # a form no index led by `state` can serve (migration 0011).
        Index(
            "ix_attempts_claimable",
            "due_at",
            "id",
            sqlite_where=text("state = 'scheduled'"),
            postgresql_where=text("coalesce(state = 'scheduled', false)"),
        ),
        # Schema invariant: at most one in-flight attempt per task (never contact twice).
        Index(
            "uq_attempts_one_in_flight",
            "task_id",
            unique=True,
            sqlite_where=text("state IN ('claimed', 'placed')"),
            postgresql_where=text("state IN ('claimed', 'placed')"),
        ),
    )


class WebhookEvent(Base):
    """Append-only log of every provider callback, stored once per (sid, status, sequence)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("provider_sid", "status", "sequence"),)


class Outcome(Base):
    """The callback record (回訪記錄) of one reached or ended task: one per task."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(
        ForeignKey("callback_tasks.id", ondelete="CASCADE"), unique=True
    )
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    name: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str | None] = mapped_column(String(10))
    answer: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    digits: Mapped[str | None] = mapped_column(String(40))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    recorded_at: Mapped[datetime]


class FollowUpCase(Base):
    """A complaint (跟進個案) opened by an unsatisfied answer or a new request, handled until the
    customer is called back after handling; `dialer.cases` is the only writer of `state`."""

    __tablename__ = "follow_up_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    outcome_id: Mapped[int | None] = mapped_column(ForeignKey("outcomes.id"))
    # The callback of the current round ("we handled your complaint; are you satisfied now?").
    follow_up_task_id: Mapped[int | None] = mapped_column(ForeignKey("callback_tasks.id"))
    state: Mapped[str] = mapped_column(String(20), default=CaseState.OPEN)
    source: Mapped[str] = mapped_column(String(20), default=CaseSource.ANSWER)
    reason: Mapped[str | None] = mapped_column(String(200))  # the reason chosen in the call
    category: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)  # the customer's own words
    stands: Mapped[bool | None] = mapped_column(Boolean)
    judgement: Mapped[str | None] = mapped_column(Text)  # why it stands or not
    reply: Mapped[str | None] = mapped_column(Text)  # the polite answer to a rejected complaint
    department: Mapped[str | None] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(Text)
    follow_up_round: Mapped[int] = mapped_column(Integer, default=1)  # 1 + times reopened
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    opened_by: Mapped[str | None] = mapped_column(String(120))
    opened_at: Mapped[datetime]
    judged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    followed_up_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_follow_up_cases_state", "state"),
        Index("ix_follow_up_cases_follow_up_task", "follow_up_task_id"),
        Index("ix_follow_up_cases_outcome", "outcome_id"),
        Index("ix_follow_up_cases_customer", "customer_id"),
    )


class CaseStep(Base):
    """One step of a case (the who and when of the complaint loop): append-only."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("follow_up_cases.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(20))  # None: the case was opened
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)  # the reason, the polite answer, the words
    department: Mapped[str | None] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_case_steps_case", "case_id", "at"),)


class DoNotContact(Base):
    """A number or customer that must not be contacted (opt-out, STOP, regulator list)."""

    __tablename__ = "do_not_contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10), default="all")
    scope: Mapped[str] = mapped_column(String(20), default="all")
    reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_do_not_contact_e164", "e164"),
        Index("ix_do_not_contact_customer", "customer_id"),
    )


class AuditEntry(Base):
    """Who saw or changed customer data, when, and what: every reveal, export and change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class Control(Base):
    """A switch every dispatcher reads before each request: the emergency stop ("halt")."""

    __tablename__ = "controls"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime]


class TriggerFiring(Base):
    """The last firing of each campaign trigger, so a restart neither misses nor repeats one."""

    __tablename__ = "trigger_firings"

    campaign_slug: Mapped[str] = mapped_column(String(120), primary_key=True)
    occurrence_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    fired_at: Mapped[datetime]


# --- the agent console (sign-in) ---


class ConsoleSession(Base):
    """A signed-in agent's browser session: only the token's SHA-256 is stored, with its expiry
    and the CSRF token every form of the session carries."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_console_sessions_agent", "agent_id"),)


class SignInFailure(Base):
    """One failed sign-in, keyed by username and client address, for the sign-in rate limit
    (kept in the database so every worker process and a restart see the same count)."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]

    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)


class Lease(Base):
    """A named lease one process of the fleet holds for a while (the periodic jobs' runner).

    Taken or renewed in one statement; another process takes it over once it has expired.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PacingBudget(Base):
    """The fleet's pacing for one key (an account, a sender number): the next free start slot.

    Every dispatcher books its requests' start times here, so N workers together keep one
    rate. Times are epoch seconds: slots are handed out at sub-millisecond spacing.
    """

    __tablename__ = "pacing_budget"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_at: Mapped[float] = mapped_column(Double)
    blocked_until: Mapped[float] = mapped_column(Double, default=0.0)
