"""One store, two engines: SQLite (WAL, foreign keys) embedded by default, PostgreSQL for fleets.

The service layer owns transactions (`Store.transaction()`); query helpers never commit.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from dialer.errors import StoreError

log = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPLICATION_NAME = "dialer"  # how the workers' sessions show in pg_stat_activity
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3 for them;
    a bare file path (`--db demo.db`: a name ending .db, .sqlite or .sqlite3, or a file that
    exists) is a SQLite file."""
    if "://" not in url and not url.startswith("sqlite:") and _sqlite_path(url):
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_path(text: str) -> bool:
    path = Path(text).expanduser()
    return path.suffix.lower() in (".db", ".sqlite", ".sqlite3") or path.is_file()


SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for the write lock


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    echo: bool = False,
    application_name: str = APPLICATION_NAME,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    """Build an engine tuned for its backend; `schema` pins PostgreSQL's search_path (test isolation).

    On PostgreSQL every connection is pinged when taken from the pool, so a session the server
    dropped (a restart, a failover, `pg_terminate_backend`) is replaced instead of failing the
    next transaction, and it carries `application_name`, so an operator can find the workers'
    sessions in `pg_stat_activity`.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"the database URL {url!r} is not a valid SQLAlchemy URL (a SQLite file path ends "
            "in .db, .sqlite or .sqlite3)"
        ) from exc
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise StoreError(f"the folder for the SQLite database {database!r} does not exist")
            if not database.startswith("file:"):
                _create_private(Path(database).expanduser())
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        connect_args: dict[str, Any] = {"application_name": application_name}
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise StoreError(f"{schema!r} is not a plain schema name")
            connect_args["options"] = f"-csearch_path={schema}"
        kwargs["connect_args"] = connect_args
    else:
        raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {url!r}: {exc}") from exc
    if backend == "sqlite":
        event.listen(
            engine, "connect", partial(_sqlite_on_connect, busy_timeout_ms=busy_timeout_ms)
        )
    return engine


def _create_private(path: Path) -> None:
    """A new SQLite database file is created empty with mode 0600 before SQLite opens it: it
    holds customer data, and SQLite gives its -wal and -shm files the database file's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # EEXIST on a symlink
    except FileExistsError:
        return  # an existing database keeps the mode its owner gave it
    except OSError as exc:
        raise StoreError(
            f"cannot create the SQLite database {str(path)!r}: {exc.strerror}"
        ) from exc
    os.close(fd)


def _sqlite_on_connect(
    dbapi_connection: Any, _record: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """WAL for concurrent readers, foreign keys on, and NORMAL sync (safe under WAL)."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # first: WAL may need the lock
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def never_waiting_engine(engine: Engine) -> Engine:
    """One more connection to the same SQLite file whose writes never wait for the write lock
    (`busy_timeout=0`: a taken lock fails at once), for a caller on an event loop that must not
    block. One connection in a `StaticPool`: taking it is cheap, and nothing is left checked
    out when the engine is dropped."""

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_on_connect(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    quick = create_engine(
        engine.url,
        poolclass=StaticPool,
        connect_args={"timeout": 0, "check_same_thread": False},
    )
    event.listen(quick, "connect", on_connect)
    return quick


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def again_if_connection_lost(work: Callable[[], T], *, attempts: int = 3) -> T:
    """`work()`, called again (up to `attempts` times in all) when it lost its connection."""
    for left in range(attempts - 1, -1, -1):
        try:
            return work()
        except DBAPIError as exc:
            if not exc.connection_invalidated or left == 0:
                raise
            log.warning("database connection lost (%s); trying again", first_line(exc.orig))
    raise AssertionError("unreachable")  # pragma: no cover


class Store:
    """The engine plus a session factory; created once per process and passed down."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        upgrade: bool = True,
        application_name: str = APPLICATION_NAME,
        busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    ) -> Store:
        """Open the database, bringing the schema up to date first unless told not to."""
        engine = make_engine(
            url, schema=schema, application_name=application_name, busy_timeout_ms=busy_timeout_ms
        )
        store = cls(engine)
        if upgrade:
            store.upgrade()
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def retrying(self, work: Callable[[Session], T], *, attempts: int = 3) -> T:
        """`work` in a transaction, run again on a fresh connection if the connection was lost.

        A dropped connection rolls the whole transaction back, so running it again is safe for
        work that only touches the database; the one ambiguous case, a connection lost while
        the commit was on its way, is safe for work that is idempotent (every caller's is: the
        books' updates are guarded by the state they move from). Other errors are not retried.
        """

        def once() -> T:
            with self.transaction() as session:
                return work(session)

        return again_if_connection_lost(once, attempts=attempts)

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to `revision`; clear message if the server is unreachable."""
        from dialer.migrate import upgrade

        try:
            upgrade(self.engine, revision)
        except OperationalError as exc:
            raise StoreError(
                f"cannot reach the database {describe_url(str(self.engine.url))}: "
                f"{first_line(exc.orig)}"
            ) from exc

    def check_writable(self) -> None:
        """Fail now, in one sentence, when this process cannot write: a SQLite file another
        process holds locked (after waiting busy_timeout for the lock), a read-only file, a
        server that refuses. A long-running command checks this before it starts its workers,
        which would otherwise each wait for the lock and fail in their own threads."""
        url = describe_url(str(self.engine.url))
        try:
            with self.engine.connect() as conn:
                if self.dialect != "sqlite":
                    conn.execute(text("SELECT 1"))
                    return
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, or busy_timeout waited
                conn.exec_driver_sql("ROLLBACK")
        except DBAPIError as exc:
            reason = first_line(exc.orig)
            if "locked" in reason or "busy" in reason:
                where = self.engine.url.database or url
                waited = self._busy_timeout_s()
                raise StoreError(
                    f"the SQLite database {where} is locked by another process: its write lock "
                    f"was not released within the busy timeout ({waited:g} s)"
                ) from exc
            raise StoreError(f"cannot write to the database {url}: {reason}") from exc

    def _busy_timeout_s(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) / 1000

    def current_revision(self) -> str | None:
        from dialer.migrate import current_revision

        return current_revision(self.engine)

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def first_line(exc: BaseException | None) -> str:
    """The first line of an error's message, for a one-line log entry."""
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else "unknown error"
