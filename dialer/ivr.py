"""The call script as TwiML, one document per step, and what each key press records.

Steps (docs/definitions.md, the script): the opening with the convenience check (1 go on, 2 later, 9
no more calls) → the satisfaction question (1 satisfied, 2 average, 3 unsatisfied) → the branch:
satisfied invites a suggestion (a short recording); average/unsatisfied asks what was wrong (the
campaign's reason menu, else a short recording) → the branch's own closing. "Later" asks for the
hour and keeps it as the appointment. A Gather without (valid) input is asked once more, then the
call ends politely. An answering machine hears the voicemail and hangs up (notified, not
reached). Each step's URL carries the step and the try, so a webhook Twilio repeats produces the
same document; its effects are applied once (the caller checks the event log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from dialer.appointments import appointment_slot, at_hour, customer_reachee, customer_zone
from dialer.attempts import CampaignBook
from dialer.campaign_model import Branch, Script
from dialer.campaigns import CampaignSpec
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    DoNotContact,
    FollowUpCase,
    Outcome,
    OutcomeName,
    ServiceEvent,
    TaskState,
)
from dialer.outcomes import record_outcome
from dialer.script_text import fill, script_values
from dialer.voice_phrases import OPT_OUT_KEY, Phrase, phrase

Step = Literal["convenience", "question", "reason", "words", "when"]
STEPS: frozenset[str] = frozenset({"convenience", "question", "reason", "words", "when"})
ANSWER_KEYS = {"1": "satisfied", "2": "average", "3": "unsatisfied"}
GATHER_TIMEOUT = 6  # seconds of silence before a Gather counts as no input
RECORD_SECONDS = 30  # a suggestion or complaint in the customer's words: calls stay short
SOURCE = "ivr"


@dataclass
class CallContext:
    """One call's attempt, task, customer, campaign and script, read once per webhook."""

    attempt: Attempt
    task: CallbackTask
    customer: Customer
    spec: CampaignSpec
    language: str
    script: Script
    values: dict[str, str]
    after_complaint: bool  # the follow-up call of a resolved complaint


def load(session: Session, book: CampaignBook, attempt_id: int, company: str) -> CallContext | None:
    """The call behind `attempt_id`, or None when there is no such voice attempt.

    Every TwiML step of every call asks for this, so it is one prebuilt query: the attempt, its
    task, customer and service visit, the campaign definition's hash (the book parses it again
    only when it changed) and whether the task is a resolved complaint's follow-up."""
    row = session.execute(_CONTEXT, {"attempt_id": attempt_id}).first()
    if row is None:
        return None
    attempt, task, cust, event, sha256, follow_up = row
    spec = book.spec_of(session, task.campaign_id, sha256)
    language, script = spec.script_for(cust.language)
    values = script_values(company, cust, event)
    return CallContext(attempt, task, cust, spec, language, script, values, bool(follow_up))


_CONTEXT = (
    select(
        Attempt,
        CallbackTask,
        Customer,
        ServiceEvent,
        Campaign.definition_sha256,
        exists().where(FollowUpCase.follow_up_task_id == CallbackTask.id),
    )
    .join(CallbackTask, CallbackTask.id == Attempt.task_id)
    .join(Customer, Customer.id == CallbackTask.customer_id)
    .join(Campaign, Campaign.id == CallbackTask.campaign_id)
    .outerjoin(ServiceEvent, ServiceEvent.id == CallbackTask.service_event_id)
    .where(Attempt.id == bindparam("attempt_id"))
)


@dataclass
class Flow:
    """Builds the TwiML of one step; `live` False (a repeated webhook) skips every effect."""

    ctx: CallContext
    session: Session
    now: datetime
    base_url: str
    live: bool = True
    parts: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ TwiML pieces

    def text(self, value: str | None) -> str:
        return fill(value, self.ctx.values) if value else ""

    def say(self, *texts: str | None) -> str:
        words = " ".join(t for t in (self.text(x) for x in texts) if t)
        return (
            f"<Say voice={quoteattr(self.ctx.script.voice)}>{escape(words)}</Say>" if words else ""
        )

    def phrase(self, name: Phrase) -> str:
        return phrase(name, self.ctx.language, getattr(self.ctx.script, name, None))

    def url(self, step: Step, attempt: int, **extra: str) -> str:
        query = "".join(f"&{k}={v}" for k, v in extra.items())
        return f"{self.base_url}/twilio/voice/{self.ctx.attempt.id}/{step}?try={attempt}{query}"

    def gather(
        self, step: Step, attempt: int, prompt: str, *, digits: int = 1, **extra: str
    ) -> str:
        """Ask once; silence falls through to the Redirect, which posts the same step empty."""
        url = quoteattr(self.url(step, attempt, **extra))
        finish = ' finishOnKey="#"' if digits > 1 else ""
        return (
            f'<Gather input="dtmf" numDigits="{digits}" timeout="{GATHER_TIMEOUT}"{finish} '
            f'action={url} method="POST">{prompt}</Gather>'
            f'<Redirect method="POST">{escape(self.url(step, attempt, **extra))}</Redirect>'
        )

    def record(self, answer: str) -> str:
        """A short recording; with no audio Twilio skips the action and goes on (the closing)."""
        url = quoteattr(self.url("words", 1, answer=answer))
        return (
            f'<Record action={url} method="POST" maxLength="{RECORD_SECONDS}" '
            f'timeout="5" finishOnKey="#" playBeep="true"/>'
        )

    def effect(self, action: Callable[[], object]) -> None:
        if self.live:
            action()

    # ------------------------------------------------------------------ the steps

    def start(self, answered_by: str) -> str:
        """The first document: voicemail for machines, else the opening and the first question."""
        s = self.ctx.script
        if answered_by.startswith(("machine", "fax")):
            return self.say(s.voicemail or s.opening) + "<Hangup/>"
        opening = self.say(s.opening)
        if s.convenience:
            return opening + self.ask_convenience(1)
        return opening + self.after_convenience()

    def ask_convenience(self, attempt: int, sorry: bool = False) -> str:
        s = self.ctx.script
        prompt = self.say(
            self.phrase("sorry") if sorry else None, s.convenience, self.phrase("opt_out")
        )
        return self.gather("convenience", attempt, prompt)

    def convenience(self, digits: str, attempt: int) -> str:
        if digits == "1":
            return self.after_convenience()
        if digits == "2":
            self.effect(lambda: self.agree_later(None, "2"))
            return self.gather("when", 1, self.say(self.phrase("when")), digits=2)
        if digits == OPT_OUT_KEY:
            return self.opt_out(digits)
        if attempt < 2:
            return self.ask_convenience(attempt + 1, sorry=True)
        return self.say(self.phrase("no_input")) + "<Hangup/>"

    def after_convenience(self) -> str:
        """Past the convenience check: the question, or the campaign's message and closing."""
        s = self.ctx.script
        if self.question_text():
            return self.ask_question(1)
        self.effect(self.mark_reached)
        return self.say(s.message, s.closing) + "<Hangup/>"

    def question_text(self) -> str | None:
        s = self.ctx.script
        return (s.after_complaint or s.question) if self.ctx.after_complaint else s.question

    def ask_question(self, attempt: int, sorry: bool = False) -> str:
        s = self.ctx.script
        opt = self.phrase("opt_out") if not s.convenience else None
        prompt = self.say(self.phrase("sorry") if sorry else None, self.question_text(), opt)
        return self.gather("question", attempt, prompt)

    def question(self, digits: str, attempt: int) -> str:
        answer = ANSWER_KEYS.get(digits)
        if answer is not None:
            self.effect(lambda: self.record_answer(answer, digits))
            return self.branch(answer)
        if digits == OPT_OUT_KEY:
            return self.opt_out(digits)
        if attempt < 2:
            return self.ask_question(attempt + 1, sorry=True)
        self.effect(
            lambda: self.record_answer(OutcomeName.REFUSED, None, "no answer to the question")
        )
        return self.say(self.phrase("no_input")) + "<Hangup/>"

    def branch_of(self, answer: str) -> Branch | None:
        b = self.ctx.script.branches
        return b.for_answer(answer) if b is not None and answer in ANSWER_KEYS.values() else None  # type: ignore[arg-type]

    def closing(self, answer: str) -> str:
        b = self.branch_of(answer)
        return self.say(b.closing if b else self.ctx.script.closing) + "<Hangup/>"

    def branch(self, answer: str) -> str:
        b = self.branch_of(answer)
        if b is None:
            return self.closing(answer)
        reasons = self.ctx.script.reasons
        if answer != "satisfied" and reasons is not None:
            return self.say(b.follow_up) + self.ask_reason(1, answer)
        return self.say(b.follow_up) + self.record(answer) + self.closing(answer)

    def ask_reason(self, attempt: int, answer: str, sorry: bool = False) -> str:
        reasons = self.ctx.script.reasons
        assert reasons is not None
        prompt = self.say(self.phrase("sorry") if sorry else None, reasons.prompt)
        return self.gather("reason", attempt, prompt, answer=answer)

    def reason(self, digits: str, attempt: int, answer: str) -> str:
        reasons = self.ctx.script.reasons
        options = reasons.options if reasons is not None else []
        if digits.isdigit() and 1 <= int(digits) <= len(options):
            chosen = options[int(digits) - 1]
            self.effect(lambda: self.set_reason(chosen))
            return self.closing(answer)
        if attempt < 2 and options:
            return self.ask_reason(attempt + 1, answer, sorry=True)
        return self.closing(answer)

    def words(self, form: dict[str, str], answer: str) -> str:
        url, seconds = form.get("RecordingUrl", ""), form.get("RecordingDuration", "")
        if url:
            note = f"recorded {seconds or '?'} s: {url}"
            self.effect(lambda: self.add_words(note))
        return self.closing(answer)

    def when(self, digits: str) -> str:
        hour = int(digits) if digits.isdigit() and len(digits) <= 2 else None
        if hour is not None and hour <= 23:
            self.effect(lambda: self.agree_later(hour, digits))
        return self.say(self.ctx.script.later) + "<Hangup/>"

    def opt_out(self, digits: str) -> str:
        self.effect(lambda: self.add_opt_out(digits))
        return self.say(self.phrase("opted_out")) + "<Hangup/>"

    # ------------------------------------------------------------------ effects

    def record_answer(self, name: str, digits: str | None, note: str | None = None) -> None:
        c = self.ctx
        record_outcome(
            self.session, c.spec, c.task, name, self.now,
            channel="voice", attempt_id=c.attempt.id, digits=digits, note=note,
        )  # fmt: skip

    def agree_later(self, hour: int | None, digits: str) -> None:
        c = self.ctx
        wanted = (
            at_hour(customer_zone(c.spec, c.customer), hour, self.now) if hour is not None else None
        )
        slot = appointment_slot(c.spec, customer_reachee(c.customer), wanted, self.now)
        if c.task.outcome == OutcomeName.CALLBACK_REQUESTED and c.task.appointment_at is not None:
            c.task.appointment_at = slot  # the hour chosen after pressing 2
            c.task.next_attempt_at = slot or self.now
            c.task.updated_at = self.now
            self._outcome_digits(digits)
            return
        record_outcome(
            self.session, c.spec, c.task, OutcomeName.CALLBACK_REQUESTED, self.now,
            channel="voice", attempt_id=c.attempt.id, digits=digits, appointment_at=slot,
        )  # fmt: skip

    def _outcome_digits(self, digits: str) -> None:
        outcome = self.session.scalar(select(Outcome).where(Outcome.task_id == self.ctx.task.id))
        if outcome is not None:
            outcome.digits = f"{outcome.digits or ''} {digits}".strip()[:40]

    def set_reason(self, reason: str) -> None:
        """The reason chosen from the menu: on the callback record and the case it opened."""
        self._amend(reason=reason)

    def add_words(self, note: str) -> None:
        """The customer's words (a recording): on the callback record and the case."""
        self._amend(note=note)

    def _amend(self, *, reason: str | None = None, note: str | None = None) -> None:
        c = self.ctx
        if c.task.outcome:
            record_outcome(
                self.session, c.spec, c.task, c.task.outcome, self.now,
                channel="voice", attempt_id=c.attempt.id, reason=reason, note=note,
            )  # fmt: skip

    def add_opt_out(self, digits: str) -> None:
        c = self.ctx
        self.session.add(
            DoNotContact(
                e164=c.attempt.phone_e164, customer_id=c.customer.id, channel="voice",
                scope="all", reason="pressed the opt-out key during a call", source=SOURCE,
                created_at=self.now,
            )
        )  # fmt: skip
        self.record_answer(OutcomeName.OPTED_OUT, digits)

    def mark_reached(self) -> None:
        """A message heard by a person (greeting, reminder): reached, with no answer to record."""
        task = self.ctx.task
        if task.reached_at is not None:
            return
        task.reached_at = self.now
        task.state = TaskState.REACHED
        task.next_attempt_at = None
        task.updated_at = self.now
        self.session.execute(
            update(Attempt)
            .where(Attempt.task_id == task.id, Attempt.state == AttemptState.SCHEDULED)
            .values(state=AttemptState.CANCELLED, error_message="task ended: reached")
        )


def respond(flow: Flow, step: str, form: dict[str, str], attempt: int, answer: str) -> str:
    """The TwiML (inside <Response>) for one step's webhook; `attempt` is the Gather's try."""
    digits = form.get("Digits", "").strip()
    if digits == "hangup":
        digits = ""
    if answer not in ANSWER_KEYS.values():
        answer = "unsatisfied"
    if step == "convenience":
        return flow.convenience(digits, attempt)
    if step == "question":
        return flow.question(digits, attempt)
    if step == "reason":
        return flow.reason(digits, attempt, answer)
    if step == "words":
        return flow.words(form, answer)
    return flow.when(digits.rstrip("#"))
