"""An attempt ended here (cancelled, or failed by the reaper) stays as it ended when Twilio's late
`ringing` / `in-progress` / `completed` callbacks come in, on the short path (status_route, the
status writer) and on the FastAPI route (webhooks.py) alike: they are logged, nothing moves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from seeding import seed
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.models import Attempt, AttemptState, WebhookEvent
from dialer.serving import AppServer
from dialer.store import Store
from dialer.webhooks import create_app

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
TOKEN = "late-callbacks-token"
SID = "CA" + "7" * 32
ENDINGS = {
    "cancelled": (AttemptState.CANCELLED, "cancelled by the operator"),
    "reaped": (AttemptState.FAILED, "lease expired; the call was never found"),
}


def _row(store: Store, attempt_id: int) -> tuple[Any, ...]:
    with store.sessions() as s:
        a = s.get(Attempt, attempt_id)
        assert a is not None
        return (a.state, a.provider_status, a.ended_at, a.duration_seconds, a.error_message)


@pytest.mark.parametrize("route", ["short", "fastapi"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_locally_ended_attempt_is_not_moved_by_late_callbacks(
    store: Store, clock: SettableClock, route: str, ending: str
) -> None:
    clock.set(clock.now().replace(hour=2, minute=0))
    seed(store, clock, SPEC, n=1)
    now = clock.now()
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, now, {"default": "+15005550006"})
        [aid] = books.claim(s, "w1", now, timedelta(minutes=2), 1)
        books.mark_placed(s, aid, SID, "queued", now, timedelta(minutes=2))
    clock.advance(60)
    state, message = ENDINGS[ending]
    with store.transaction() as s:
        books.fail_attempt(s, aid, clock.now(), code=None, message=message, state=state)
    before = _row(store, aid)
    assert before[0] == state
    clock.advance(30)
    with AppServer(create_app(store, clock, TOKEN)) as server:
        # A query string takes the request past the short path to the FastAPI route.
        url = f"{server.base_url}/twilio/status/call/{aid}" + (
            "?late=1" if route == "fastapi" else ""
        )
        for seq, status in enumerate(["ringing", "in-progress", "completed"]):
            form = {"CallSid": SID, "CallStatus": status, "SequenceNumber": str(seq),
                    "AccountSid": "AC" + "0" * 32, "To": "+886912345678"}  # fmt: skip
            if status == "completed":
                form |= {"CallDuration": "42", "AnsweredBy": "human"}
            signature = RequestValidator(TOKEN).compute_signature(url, form)
            answer = requests.post(url, data=form, headers={"X-Twilio-Signature": signature},
                                   timeout=10)  # fmt: skip
            assert answer.status_code == 204, answer.text
    assert _row(store, aid) == before  # nothing moved: state, status, end, duration, reason
    with store.sessions() as s:
        logged = s.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.provider_sid == SID))  # fmt: skip
    assert logged == 3  # but every callback is in the event log
