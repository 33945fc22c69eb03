"""The do-not-contact list (dialer.dnc) on SQLite and PostgreSQL, and what the dispatcher makes of
an entry added after planning: the real SDK against the sandbox, nothing rings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import select

from dialer import attempts as books
from dialer import dnc
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.errors import InputFileError, NotFoundError
from dialer.models import Attempt, AttemptState, CallbackTask, DoNotContact, TaskState
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Sandbox, SandboxServer
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def entries(store: Store) -> list[tuple[str | None, int | None, str, str, str | None]]:
    with store.sessions() as s:
        return [
            (e.e164, e.customer_id, e.channel, e.scope, e.source)
            for e in s.scalars(select(DoNotContact).order_by(DoNotContact.id))
        ]


def schedule(store: Store, clock: SettableClock) -> None:
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        assert books.schedule_due(s, book, clock.now(), {}).scheduled > 0


def states(store: Store) -> dict[str | None, str]:
    with store.sessions() as s:
        return {a.phone_e164: a.state for a in s.scalars(select(Attempt))}


def test_resolve_customer_id_hash_id_and_local_number(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    seed(store, clock, spec, n=1)
    with store.sessions() as s:
        by_key = dnc.resolve(s, "C0", "TW")
        assert by_key.customer_key == "C0" and by_key.e164 is None
        assert dnc.resolve(s, f"#{by_key.customer_id}", "TW") == by_key
        assert dnc.resolve(s, "0912 345 678", "TW").e164 == "+886912345678"
        assert dnc.resolve(s, "010-1234-5678", "KR").e164 == "+821012345678"
        with pytest.raises(NotFoundError, match="neither a customer ID"):
            dnc.resolve(s, "not-a-number", "TW")
        with pytest.raises(NotFoundError, match="#999"):
            dnc.resolve(s, "#999", "TW")


def test_add_is_idempotent_and_a_wider_entry_covers_a_narrower_one(
    store: Store, clock: SettableClock
) -> None:
    now = clock.now()
    number = dnc.Target(e164="+886912345678")
    with store.transaction() as s:
        first = dnc.add(s, now, number, "voice", reason="asked on the phone")
        again = dnc.add(s, now, number, "voice")
        assert first.created and not again.created and again.entry_id == first.entry_id
        sms = dnc.add(s, now, number, "sms", "marketing")
        assert sms.created
        assert not dnc.add(s, now, number, "sms", "marketing").created
        widened = dnc.add(s, now, number, "all")  # marketing-only sms does not cover all
        assert widened.created
        assert not dnc.add(s, now, number, "sms").created  # covered by "all"
    assert entries(store) == [
        ("+886912345678", None, "voice", "all", "operator"),
        ("+886912345678", None, "sms", "marketing", "operator"),
        ("+886912345678", None, "all", "all", "operator"),
    ]


def test_bad_channel_is_a_usage_error(store: Store, clock: SettableClock) -> None:
    from dialer.errors import UsageError

    with store.transaction() as s, pytest.raises(UsageError, match="fax"):
        dnc.add(s, clock.now(), dnc.Target(e164="+886912345678"), "fax")


def test_an_all_channel_entry_cancels_waiting_attempts_and_ends_the_task(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tasks = seed(store, clock, spec, n=2)
    schedule(store, clock)
    with store.transaction() as s:
        voice_only = dnc.add(s, clock.now(), dnc.Target(e164="+886912345671"), "voice")
    assert voice_only.cancelled == 0  # a one-channel entry is left to the gate (fallback)
    with store.transaction() as s:
        result = dnc.add(s, clock.now(), dnc.Target(e164="+886912345670"), "all", reason="x")
    assert result.cancelled == 1
    assert states(store) == {"+886912345670": "cancelled", "+886912345671": "scheduled"}
    with store.sessions() as s:
        cancelled = s.scalar(select(Attempt).where(Attempt.phone_e164 == "+886912345670"))
        assert cancelled is not None and cancelled.error_message == dnc.CANCEL_MESSAGE
        task = s.get(CallbackTask, tasks[0])
        assert task is not None
        assert (task.state, task.outcome, task.next_attempt_at) == (
            TaskState.NOT_CONTACTABLE,
            "opted_out",
            None,
        )


def test_a_customer_entry_cancels_that_customers_attempts(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    seed(store, clock, spec, n=2)
    schedule(store, clock)
    with store.transaction() as s:
        target = dnc.resolve(s, "C1", "TW")
        assert dnc.add(s, clock.now(), target).cancelled == 1
    assert states(store) == {"+886912345670": "scheduled", "+886912345671": "cancelled"}


def test_a_marketing_only_entry_leaves_service_callbacks_alone(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    seed(store, clock, spec, n=1)  # after-service satisfaction is a service campaign
    schedule(store, clock)
    with store.transaction() as s:
        result = dnc.add(s, clock.now(), dnc.Target(e164="+886912345678"), "all", "marketing")
    assert result.created and result.cancelled == 0
    assert states(store) == {"+886912345678": "scheduled"}


def test_remove_deletes_operator_entries_and_keeps_the_customers_own_opt_out(
    store: Store, clock: SettableClock
) -> None:
    now = clock.now()
    number = dnc.Target(e164="+886912345678")
    with store.transaction() as s:
        dnc.add(s, now, number, "voice")
        dnc.add(s, now, number, "sms")
        s.add(DoNotContact(e164=number.e164, channel="all", scope="all", source="sms reply",
                           reason="STOP", created_at=now))  # fmt: skip
    with store.transaction() as s:
        only_voice = dnc.remove(s, number, "voice")
    assert len(only_voice.removed) == 1 and only_voice.kept == []
    with store.transaction() as s:
        rest = dnc.remove(s, number)
    assert len(rest.removed) == 1 and [src for _, src in rest.kept] == ["sms reply"]
    assert entries(store) == [("+886912345678", None, "all", "all", "sms reply")]
    with store.transaction() as s:
        nothing = dnc.remove(s, dnc.Target(e164="+886900000000"))
    assert nothing.removed == [] and nothing.kept == []


def test_import_reports_bad_rows_by_line_and_adds_the_good_ones_once(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    good = tmp_path / "dnc.csv"
    good.write_text(
        "Number,Channel,Reason\n"
        "0912345678,voice,complained\n"
        "+82 10-1234-5678,,\n"
        "\n"
        "0912345678,voice,twice in the file\n",
        encoding="utf-8-sig",
    )
    rows, bad = dnc.read_import(good, "TW")
    assert bad == [] and [r.line for r in rows] == [2, 3, 5]
    assert rows[1].e164 == "+821012345678" and rows[1].channel == "all"
    with store.transaction() as s:
        result = dnc.import_rows(s, clock.now(), rows)
    assert (result.read, result.added, result.already) == (3, 2, 1)
    with store.transaction() as s:
        again = dnc.import_rows(s, clock.now(), rows)
    assert (again.added, again.already) == (0, 3)
    assert len(entries(store)) == 2

    mixed = tmp_path / "bad.csv"
    mixed.write_text(
        "number,channel\n0912000111,sms\nhello,voice\n0912000222,fax\n,all\n0912000333,marketing\n",
        encoding="utf-8",
    )
    rows, bad = dnc.read_import(mixed, "TW")
    assert [r.line for r in rows] == [2]
    assert [(b.line, b.value) for b in bad] == [
        (3, "hello"),
        (4, "fax"),
        (5, ""),
        (6, "marketing"),
    ]
    assert "fax" in bad[1].reason and bad[2].reason == "no number"


def test_import_without_a_number_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,channel\nA,voice\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="number"):
        dnc.read_import(path, "TW")
    with pytest.raises(InputFileError, match="no file"):
        dnc.read_import(tmp_path / "missing.csv", "TW")


# --- the dispatcher honours an entry added after planning ---------------------------------


@pytest.fixture
def dispatcher(store: Store, clock: SettableClock) -> Iterator[tuple[Dispatcher, SandboxHarness]]:
    sb = Sandbox(clock, account_sid="AC" + "0123456789abcdef" * 2, auth_token="t", cps=1.0, seed=7)
    harness = SandboxHarness(sb, SandboxServer(sb).start(), clock)
    try:
        with AppServer(create_app(store, clock, sb.auth_token)) as hooks:
            config = DispatchConfig(
                worker_id="w1",
                public_base_url=hooks.base_url,
                senders={"TW": "+886200000001", "default": "+15005550006"},
                cps=1.0,
                max_in_flight=1,
                min_gap=timedelta(0),
            )
            telephony = Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url)
            d = Dispatcher(store, clock, telephony, config)
            try:
                yield d, harness
            finally:
                d.close()
    finally:
        harness.close()


@pytest.mark.parametrize("channel", ["voice", "all"])
def test_an_entry_added_after_planning_stops_the_scheduled_call(
    store: Store,
    clock: SettableClock,
    spec: CampaignSpec,
    dispatcher: tuple[Dispatcher, SandboxHarness],
    channel: str,
) -> None:
    d, harness = dispatcher
    clock.set(clock.now().replace(hour=13))  # 21:00 in Taipei: scheduled for 09:00 tomorrow
    tasks = seed(store, clock, spec, n=2)
    first = d.tick()
    assert (first.scheduled, first.placed) == (2, 0)
    assert states(store) == {"+886912345670": "scheduled", "+886912345671": "scheduled"}
    with store.transaction() as s:
        dnc.add(s, clock.now(), dnc.resolve(s, "0912345670", "TW"), channel, reason="asked")
    clock.set(clock.now() + timedelta(hours=12))  # 09:00 in Taipei: the window is open
    assert d.tick().placed == 1
    harness.advance(300)
    rung = {c.to for c in harness.sandbox.contacts()}
    assert rung == {"+886912345671"}
    assert states(store)["+886912345670"] == AttemptState.CANCELLED
    with store.sessions() as s:
        task = s.get(CallbackTask, tasks[0])
        assert task is not None and task.state == TaskState.NOT_CONTACTABLE
