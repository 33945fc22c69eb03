"""A claimed batch, read for the gate: the attempt, its task, customer, numbers, do-not-contact
entries, recent contacts and the script's values, in a few queries for the whole batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer import attempts as books
from dialer.appointments import phone_reachee
from dialer.campaigns import CampaignSpec
from dialer.dispatch_config import DispatchConfig
from dialer.gate import GateInput
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Customer,
    CustomerPhone,
    FollowUpCase,
    ServiceEvent,
)
from dialer.script_text import script_values
from dialer.windows import WindowPolicy


@dataclass(frozen=True)
class Job:
    """One claimed attempt with everything its request needs (read before the gate)."""

    attempt_id: int
    task_id: int
    channel: str
    to: str
    from_: str
    spec: CampaignSpec
    gate: GateInput
    language: str | None
    values: Mapping[str, str]
    claimed_at: datetime
    after_complaint: bool = False  # the follow-up of a resolved complaint


def window_for(spec: CampaignSpec, channel: str, config: DispatchConfig) -> WindowPolicy:
    """The window a request must fit: for calls it stays open through queue, ring and talk."""
    if channel == "sms":
        return spec.window_policy(min_open=timedelta(0))
    queueing = timedelta(seconds=config.claim_batch / max(config.cps, 0.1))
    return spec.window_policy(min_open=spec.min_open(queueing=min(queueing, timedelta(minutes=5))))


def load_jobs(
    session: Session,
    ids: list[int],
    book: books.CampaignBook,
    config: DispatchConfig,
    now: datetime,
) -> list[Job]:
    """The claimed attempts with their gate inputs, read in a few queries for the whole batch."""
    rows = session.execute(
        select(Attempt, CallbackTask, Customer)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(Attempt.id.in_(ids))
    ).all()
    customer_ids = [c.id for _, _, c in rows]
    numbers = [a.phone_e164 for a, _, _ in rows if a.phone_e164]
    phones = {
        (p.customer_id, p.e164): p
        for p in session.scalars(
            select(CustomerPhone).where(CustomerPhone.customer_id.in_(customer_ids))
        )
    }
    dnc: dict[tuple[int | None, str], set[str]] = defaultdict(set)
    for purpose in ("service", "marketing"):
        for k, v in books.do_not_contact(session, purpose, customer_ids, numbers).items():
            dnc[(k[0], k[1] + "|" + purpose)] |= v
    since = now - timedelta(hours=24)
    contacts = {
        cid: (int(n), last)
        for cid, n, last in session.execute(
            select(Attempt.customer_id, func.count(), func.max(Attempt.placed_at))
            .where(
                Attempt.customer_id.in_(customer_ids),
                Attempt.placed_at >= since,
                Attempt.state != AttemptState.CANCELLED,
            )
            .group_by(Attempt.customer_id)
        )
    }
    events = {
        e.id: e
        for e in session.scalars(
            select(ServiceEvent).where(
                ServiceEvent.id.in_([t.service_event_id for _, t, _ in rows if t.service_event_id])
            )
        )
    }
    after_complaint = set(
        session.scalars(
            select(FollowUpCase.follow_up_task_id).where(
                FollowUpCase.follow_up_task_id.in_([t.id for _, t, _ in rows])
            )
        )
    )
    jobs: list[Job] = []
    for attempt, task, cust in rows:
        spec = book.spec(task.campaign_id)
        phone = phones.get((cust.id, attempt.phone_e164 or ""))
        number_ok = phone is not None and books.Phone(
            phone.e164,
            phone.phone_type,
            phone.region,
            phone.voice_ok,
            phone.sms_ok,
            phone.unusable_reason,
        ).takes(attempt.channel)
        blocked = dnc.get((cust.id, "|" + spec.purpose), set()) | dnc.get(
            (None, (attempt.phone_e164 or "") + "|" + spec.purpose), set()
        )
        n, last = contacts.get(cust.id, (0, None))
        who = phone_reachee(cust, phone)
        policy = window_for(spec, attempt.channel, config)
        event = events.get(task.service_event_id or -1)
        jobs.append(
            Job(
                attempt_id=attempt.id,
                task_id=task.id,
                channel=attempt.channel,
                to=attempt.phone_e164 or "",
                from_=attempt.from_e164 or books.SANDBOX_SENDER,
                spec=spec,
                gate=GateInput(
                    channel=attempt.channel,
                    purpose=spec.purpose,
                    who=who,
                    policy=policy,
                    campaign_status=book.status.get(task.campaign_id, "active"),
                    halted=False,
                    blocked_channels=frozenset(blocked),
                    number_ok=number_ok,
                    contacts_last_day=n,
                    last_contact_at=last,
                    contact_cap=config.contact_cap,
                    min_gap=config.min_gap,
                    appointment_at=task.appointment_at,
                ),
                language=cust.language,
                values=script_values(config.company, cust, event),
                claimed_at=attempt.claimed_at or now,
                after_complaint=task.id in after_complaint,
            )
        )
    return jobs
