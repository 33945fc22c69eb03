"""An in-process `dialer` for CLI tests on both engines: the real commands, the test's store and
settable clock in place of dialer.cli's Context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import typer
from sqlalchemy import select

from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.models import AuditEntry
from dialer.store import Store


@dataclass
class Root:
    """Stands in for dialer.cli's Context: store, clock and settings."""

    db: Store
    clock: SettableClock
    settings: Settings

    def store(self) -> Store:
        return self.db


def cli_app(
    store: Store, clock: SettableClock, register: Callable[[typer.Typer], None]
) -> typer.Typer:
    """A Typer app acting as operator "ops-tester" (region TW) with the commands `register` adds."""
    app = typer.Typer()
    settings = Settings(operator="ops-tester", default_region="TW")

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Root(store, clock, settings)

    register(app)
    return app


def audits(store: Store) -> list[AuditEntry]:
    """The audit log, oldest first."""
    with store.sessions() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def refuse_audit_entries(store: Store) -> None:
    """Make the database itself refuse every new audit entry (a trigger), as a full disk or a
    revoked grant would: a command that shows data must then show none."""
    from sqlalchemy import text

    with store.transaction() as s:
        if store.dialect == "postgresql":
            s.execute(
                text(
                    "CREATE FUNCTION refuse_audit() RETURNS trigger AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit log refused'; END $$ LANGUAGE plpgsql"
                )
            )
            s.execute(
                text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                )
            )
        else:
            s.execute(
                text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit log refused'); END"
                )
            )
