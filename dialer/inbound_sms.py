"""A customer's SMS reply, acted on: the answer recorded, an opt-out obeyed, a time kept.

Any reply counts as reached (docs/definitions.md). The reply is matched to the latest SMS sent to
that number from that sender; it is stored once (by MessageSid) in the event log, so a webhook
Twilio retries changes nothing twice. Words that are not an answer are kept on the callback record;
when no answer has come yet, the customer gets one clarifying message (and only one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dialer.appointments import appointment_slot, customer_reachee
from dialer.attempt_status import insert_event
from dialer.attempts import CampaignBook
from dialer.models import (
    Attempt,
    CallbackTask,
    Customer,
    DoNotContact,
    OutcomeName,
    ServiceEvent,
    WebhookEvent,
)
from dialer.outcomes import record_outcome
from dialer.script_text import fill, script_values
from dialer.sms_replies import parse_reply

log = logging.getLogger(__name__)

CLARIFY = {
    "zh-TW": "抱歉，我們沒有看懂您的回覆。",
    "zh-CN": "抱歉，我们没有看懂您的回复。",
    "ko": "죄송합니다. 답장을 이해하지 못했습니다.",
    "en": "Sorry, we did not understand your reply.",
}
SOURCE = "sms reply"


@dataclass(frozen=True, slots=True)
class Handled:
    kind: str  # what the reply meant, or "duplicate" / "unmatched"
    task_id: int | None = None
    clarify: str | None = None  # a message to send back (TwiML <Message>)


def handle_reply(
    session: Session, book: CampaignBook, now: datetime, form: Mapping[str, str], company: str = ""
) -> Handled:
    """Act on one inbound SMS (Twilio's form fields From, To, Body, MessageSid)."""
    sid, frm, to = form.get("MessageSid", ""), form.get("From", ""), form.get("To", "")
    row = session.execute(
        select(Attempt, CallbackTask, Customer)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(Attempt.channel == "sms", Attempt.phone_e164 == frm, Attempt.from_e164 == to)
        .order_by(Attempt.placed_at.desc(), Attempt.id.desc())
        .limit(1)
    ).first()
    attempt_id = row[0].id if row else None
    if not insert_event(session, sid, "sms_inbound", "received", 0, attempt_id, form, now):
        return Handled("duplicate")
    if row is None:
        log.warning("an SMS reply matches no SMS we sent; kept in the event log")
        return Handled("unmatched")
    attempt, task, cust = row
    spec = book.spec(task.campaign_id)
    language, script = spec.script_for(cust.language)
    sms = script.sms
    zone = (cust.time_zones or [spec.default_time_zone])[0]
    reply = parse_reply(
        form.get("Body", ""),
        sms.replies if sms else {},
        sms.opt_out if sms else (),
        now,
        zone,
    )
    channel, aid = "sms", attempt.id
    if reply.kind == "opt_out":
        session.add(
            DoNotContact(
                e164=frm, customer_id=cust.id, channel="all", scope="all", reason=reply.text,
                source=SOURCE, created_at=now,
            )
        )  # fmt: skip
        record_outcome(
            session,
            spec,
            task,
            OutcomeName.OPTED_OUT,
            now,
            note=reply.text,
            channel=channel,
            attempt_id=aid,
        )
    elif reply.kind == "opt_in":
        session.execute(
            delete(DoNotContact).where(DoNotContact.e164 == frm, DoNotContact.source == SOURCE)
        )
    elif reply.kind == "answer" and reply.outcome:
        record_outcome(
            session,
            spec,
            task,
            reply.outcome,
            now,
            digits=reply.text,
            channel=channel,
            attempt_id=aid,
        )
    elif reply.kind == "later":
        record_outcome(
            session, spec, task, OutcomeName.CALLBACK_REQUESTED, now, note=reply.text,
            appointment_at=appointment_slot(spec, customer_reachee(cust), reply.at, now),
            channel=channel,
            attempt_id=aid,
        )  # fmt: skip
    elif task.outcome:  # words after an answer: the suggestion or the complaint
        record_outcome(
            session, spec, task, task.outcome, now, note=reply.text, channel=channel, attempt_id=aid
        )
    else:  # no answer yet: reached, the words kept, and one clarifying message
        task.reached_at = task.reached_at or now
        task.next_attempt_at = None
        asked = session.scalar(
            select(WebhookEvent.id).where(
                WebhookEvent.kind == "sms_clarified", WebhookEvent.attempt_id == attempt.id
            )
        )
        if asked is None and sms is not None:
            insert_event(session, f"{sid}:clarify", "sms_clarified", "sent", 0, attempt.id, {}, now)
            prefix = CLARIFY.get(language) or CLARIFY.get(language.split("-")[0], CLARIFY["en"])
            event = (
                session.get(ServiceEvent, task.service_event_id) if task.service_event_id else None
            )
            text = fill(sms.text, script_values(company, cust, event))
            return Handled(reply.kind, task.id, f"{prefix}{text}")
    return Handled(reply.kind, task.id)
