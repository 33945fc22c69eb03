"""Click-to-call through Twilio: the agent's phone is rung first, then bridged to the customer.

`Ringer` places the agent leg with the official SDK (`Telephony.place_call`) once the call has
passed the gate and its attempt is committed; when the agent answers, Twilio asks
`/console/twilio/bridge/{attempt}` for TwiML and gets `<Dial><Number>customer</Number></Dial>`
with the campaign's caller ID; the Dial's action stores how the customer leg ended on the
attempt. These routes are Twilio's (checked against `X-Twilio-Signature`, like the webhooks),
not the agents'. Without Twilio credentials (`dialer run` on its own sandbox) the console stays
with manual dialling: the agent dials the number shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape, quoteattr

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from dialer.attempts import SANDBOX_SENDER, sender_for
from dialer.models import Attempt, AttemptState, CustomerPhone
from dialer.store import Store
from dialer.telephony.client import Telephony

PATH = "/twilio/bridge"
RING_TIMEOUT = 30  # seconds the agent's phone rings
DIAL_TIMEOUT = 30  # seconds the customer's phone rings


def _twiml(inner: str) -> Response:
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
        media_type="application/xml",
    )


class Ringer:
    """Rings the agent for one attempt: `ringer(agent_phone, customer_number, attempt_id)`."""

    def __init__(
        self, telephony: Telephony, base_url: Callable[[], str], senders: Mapping[str, str]
    ) -> None:
        self.telephony, self.base_url, self.senders = telephony, base_url, senders

    def __call__(self, agent_phone: str, number: str, attempt_id: int) -> None:
        base = f"{self.base_url().rstrip('/')}/console{PATH}/{attempt_id}"
        self.telephony.place_call(
            to=agent_phone,
            from_=sender_for(self.senders, None) or SANDBOX_SENDER,
            url=base,
            status_callback=f"{base}/status",
            ring_timeout=RING_TIMEOUT,
            machine_detection=False,
        )


def add_bridge_routes(
    app: FastAPI,
    store: Store,
    auth_token: str,
    public_base_url: str | None,
    senders: Mapping[str, str],
) -> None:
    """Twilio's side of click-to-call, signed like every webhook."""
    validator = RequestValidator(auth_token)

    async def signed(request: Request) -> dict[str, str] | None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = str(request.url)
        if public_base_url:  # behind a proxy: the URL Twilio signed
            query = f"?{request.url.query}" if request.url.query else ""
            url = f"{public_base_url.rstrip('/')}{request.url.path}{query}"
        signature = request.headers.get("X-Twilio-Signature", "")
        return form if signature and validator.validate(url, form, signature) else None

    def attempt_leg(attempt_id: int) -> tuple[str, str] | None:
        """(customer number, caller ID) of an agent's call still going on."""
        with store.transaction() as session:
            attempt = session.get(Attempt, attempt_id)
            if attempt is None or attempt.channel != "agent" or not attempt.phone_e164:
                return None
            if attempt.state != AttemptState.PLACED:
                return None
            phone = (
                session.query(CustomerPhone)
                .filter_by(customer_id=attempt.customer_id, e164=attempt.phone_e164)
                .first()
            )
            region = phone.region if phone else None
            return attempt.phone_e164, sender_for(senders, region) or SANDBOX_SENDER

    def dial_ended(attempt_id: int, form: dict[str, str]) -> None:
        """How the customer leg ended, kept on the attempt (the agent records the outcome)."""
        status = form.get("DialCallStatus", "")[:30]
        with store.transaction() as session:
            attempt = session.get(Attempt, attempt_id)
            if attempt is not None and attempt.channel == "agent":
                attempt.provider_status = status or attempt.provider_status
                if status == "completed" and form.get("DialCallDuration", "").isdigit():
                    attempt.duration_seconds = int(form["DialCallDuration"])

    @app.post(PATH + "/{attempt_id}")
    async def bridge(attempt_id: int, request: Request) -> Response:
        if await signed(request) is None:
            return Response("bad signature", status_code=403)
        leg = await run_in_threadpool(attempt_leg, attempt_id)
        if leg is None:
            return _twiml("<Hangup/>")
        to, caller = leg
        done = f"{request.scope.get('root_path', '')}{PATH}/{attempt_id}/done"
        return _twiml(
            f'<Dial callerId={quoteattr(caller)} timeout="{DIAL_TIMEOUT}" '
            f"action={quoteattr(done)}><Number>{escape(to)}</Number></Dial>"
        )

    @app.post(PATH + "/{attempt_id}/done")
    async def done(attempt_id: int, request: Request) -> Response:
        form = await signed(request)
        if form is None:
            return Response("bad signature", status_code=403)
        await run_in_threadpool(dial_ended, attempt_id, form)
        return _twiml("<Hangup/>")

    @app.post(PATH + "/{attempt_id}/status")
    async def status(attempt_id: int, request: Request) -> Response:
        """The agent leg's status callbacks: checked and acknowledged (the attempt is the
        agent's to end, with an outcome or "no answer")."""
        if await signed(request) is None:
            return Response("bad signature", status_code=403)
        return Response(status_code=204)
