"""`dialer import`: customer files become customers, phones and service events — idempotently.

Rows stream from `customer_file`, are checked one by one (`prepare_row`, pure), and are written
in batches, each batch in one transaction with its rejected rows, so an interrupted import
leaves only whole customers behind and running it again finishes the job. Every accepted row is
counted exactly once as imported (new customer), updated (changed or new event/number) or
unchanged, so read = imported + updated + unchanged + rejected.

Parsing phone numbers is half the work of a big file; with two cores the next batch's numbers
are parsed in a worker process (`dialer.phone_pool`) while this one writes the current batch.
The results are the same either way, and small files or one-core machines never start one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from dialer import audit
from dialer.clock import Clock
from dialer.customer_file import CustomerFile, SourceRow
from dialer.errors import InputFileError, RowError
from dialer.file_region import SAMPLE_ROWS, FileRegion, carries_country_code, infer_file_region
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Customer,
    CustomerPhone,
    ImportRun,
    ImportStatus,
    PhoneType,
    RejectedRow,
    ServiceEvent,
    TaskState,
)
from dialer.phone_pool import Known, PhoneKey, PhonePrefetch, Ticket, worth_a_worker
from dialer.phones import ParsedPhone, PhoneParser, mask_phone, sort_key, split_phone_cell
from dialer.store import Store
from dialer.subdivisions import parse_subdivision
from dialer.values import (
    parse_country,
    parse_date_and_time,
    parse_flag,
    parse_int,
    parse_language,
    parse_optional_flag,
    parse_quiet_hours,
    parse_time_and_offset,
    parse_time_zone,
)

BATCH_ROWS = 20_000
# Distinct country cells remembered by a RowPreparer; a file has a handful, a hostile one more.
_REGION_CACHE_SIZE = 1024
# Automatic garbage collection is paused while batches are written (see Importer.run); this many
# batches go by between two collections of the young generations.
GC_EVERY_BATCHES = 5
CUSTOMER_FIELDS = (
    "external_id",
    "name",
    "title",
    "member",
    "marketing_consent",
    "language",
    "language_source",
    "region",
    "subdivision",
    "quiet_hours",
    "email",
)
# The language a number's country speaks, when the file names none (issue 18, item 4); other
# countries leave the campaign's default_language to apply.
LANGUAGE_OF_REGION: dict[str, str] = {
    "KR": "ko",
    "TW": "zh-TW",
    "CN": "zh-CN",
    "HK": "zh-HK",
    "MO": "zh-HK",
    "JP": "ja",
    "US": "en",
    "GB": "en",
    "CA": "en",
    "AU": "en",
    "NZ": "en",
    "IE": "en",
}
_OPEN_TASKS = (TaskState.PENDING, TaskState.IN_PROGRESS)
Progress = Callable[[int, int], None]
# A phone type's stored text and SMS flag, looked up rather than computed per number.
_TYPE_TEXT: dict[PhoneType, str] = {t: str(t) for t in PhoneType}
_TAKES_SMS: dict[PhoneType, bool] = {t: t.can_receive_sms for t in PhoneType}
# A state's field values in CUSTOMER_FIELDS order, in one C call.
_field_values = operator.itemgetter(*CUSTOMER_FIELDS)
# A customer before its first row: what a row's fields are compared with.
_NEW_FIELDS: dict[str, Any] = {f: None for f in CUSTOMER_FIELDS} | {"member": False}
# Core tables (typed Table, unlike Model.__table__) for the bulk inserts.
_TABLES = Customer.metadata.tables


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    event_key: str
    service_date: date
    service_at: datetime | None
    service_time_local: str | None  # "HH:MM:SS" as written, when it carried no offset
    service_type: str | None
    vehicle: str | None
    mileage_km: int | None
    store: str | None


@dataclass(slots=True)
class PreparedRow:
    """A row that passed every check: what it says about one customer."""

    number: int
    customer_key: str
    fields: dict[str, Any]
    phones: list[tuple[ParsedPhone, str]]
    explicit_zone: str | None
    event: PreparedEvent | None
    phone_zones: list[str] = field(default_factory=list)  # of its numbers; [] if explicit_zone
    dropped: list[Rejection] = field(default_factory=list)  # its numbers that were unusable
    person: str | None = None  # normalised name, for rows keyed by number (no customer ID)
    # Its numbers as the configured default region would read them, when the file is read in
    # another: a customer stored under that reading is this one (and gets corrected).
    alternates: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rejection:
    number: int
    column: str | None
    value: str | None
    reason: str
    member: bool | None
    raw: dict[str, str]
    kind: str = "row"  # "row": not imported; "number"/"field": the row was, without this value


@dataclass(frozen=True, slots=True)
class PossibleDuplicate:
    """Two customers without an ID who share a number under different names: kept apart."""

    row: int
    phone: str  # masked
    names: tuple[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "phone": self.phone, "names": list(self.names)}


@dataclass
class ImportSummary:
    """What one import did; `as_json()` is the `--json` answer."""

    run_id: int
    source: str
    file_format: str
    encoding: str | None
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    members_rejected: int = 0
    events_added: int = 0
    numbers_dropped: int = 0
    fields_dropped: int = 0  # optional values (a state cell) left out of kept rows
    numbers_removed: int = 0
    attempts_cancelled: int = 0
    numbers_valid_in_both: int = 0
    status: str = ImportStatus.RUNNING
    ignored_columns: list[str] = field(default_factory=list)
    region: FileRegion | None = None
    possible_duplicates: list[PossibleDuplicate] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "format": self.file_format,
            "encoding": self.encoding,
            "status": self.status,
            "read": self.read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "members_rejected": self.members_rejected,
            "events_added": self.events_added,
            "numbers_dropped": self.numbers_dropped,
            "fields_dropped": self.fields_dropped,
            "numbers_removed": self.numbers_removed,
            "attempts_cancelled": self.attempts_cancelled,
            "numbers_valid_in_both": self.numbers_valid_in_both,
            "region": self.region.as_json() if self.region else None,
            "possible_duplicates": [d.as_json() for d in self.possible_duplicates],
            "ignored_columns": self.ignored_columns,
        }


class RowPreparer:
    """Checks and normalises rows; holds the bounded phone cache shared by a whole import."""

    def __init__(self, default_region: str, phone_parser: PhoneParser | None = None) -> None:
        self.default_region = default_region
        self.phones = phone_parser or PhoneParser()
        # country cell -> region: a file spells its few countries the same way a million times.
        self._regions: dict[str, str] = {}
        # Set when the file's region was inferred: numbers also valid there are counted.
        self.also_valid_in: str | None = None
        self.valid_in_both = 0
        self._failures: list[tuple[str, str, str]] = []
        self._alternates: list[str] = []

    def prepare(
        self,
        row: SourceRow,
        present: frozenset[str],
        headers: dict[str, str] | None = None,
        known: Known | None = None,
    ) -> PreparedRow | Rejection:
        """Check one row; a rejection names the file's own header, so people can find the cell.

        `known` holds numbers already parsed (by `dialer.phone_pool`); others are parsed here.
        """
        try:
            prepared = self._prepare(row, present, known)
            if headers and any(d.kind == "field" for d in prepared.dropped):
                prepared.dropped = [
                    replace(d, column=headers.get(d.column or "", d.column))
                    if d.kind == "field"
                    else d
                    for d in prepared.dropped
                ]
            return prepared
        except RowError as err:
            column = (headers or {}).get(err.column or "", err.column)
            return Rejection(
                row.number, column, err.value, str(err.reason), _member_hint(row), row.raw
            )

    def phone_keys(self, rows: Iterable[SourceRow]) -> list[PhoneKey]:
        """The distinct (number, region) pairs `prepare` will look up for these rows.

        Rows whose country cell is unusable are skipped: `prepare` rejects them before their
        numbers are looked at.
        """
        keys: dict[PhoneKey, None] = {}
        for row in rows:
            try:
                region = self._region(row.values.get("country"))
            except RowError:
                continue
            region_key = region.strip().upper()
            for _, cell in row.phones:
                for raw in split_phone_cell(cell):  # stripped parts: PhoneParser's key
                    keys[raw, region_key] = None
        return list(keys)

    def _region(self, country: str | None) -> str:
        """The region numbers of a row are read in: its country cell's, else the default."""
        if not country:
            return self.default_region
        region = self._regions.get(country)
        if region is None:
            region = parse_country(country, "country")
            if len(self._regions) >= _REGION_CACHE_SIZE:
                self._regions.clear()
            self._regions[country] = region
        return region

    def _prepare(
        self, row: SourceRow, present: frozenset[str], known: Known | None = None
    ) -> PreparedRow:
        v = row.values
        if row.extra_cells:
            raise RowError(
                f"the row has {row.extra_cells} more cell(s) than the header", None, None
            )
        name = v.get("name", "")
        if not name:
            raise RowError("name is empty", "name", "")
        region = self._region(v["country"]) if v.get("country") else None
        phones = self._phones(row, region or self.default_region, known)
        fields: dict[str, Any] = {"name": name}
        if "customer_id" in present:
            fields["external_id"] = v.get("customer_id") or None
        if "title" in present:
            fields["title"] = v.get("title") or None
        if "member" in present:
            fields["member"] = parse_flag(v.get("member", ""), "member")
        if "consent" in present:
            fields["marketing_consent"] = parse_optional_flag(v.get("consent", ""), "consent")
        if "language" in present:
            fields["language"] = parse_language(v.get("language", ""))
        if "quiet_hours" in present:
            spans = parse_quiet_hours(v.get("quiet_hours", ""), "quiet_hours")
            fields["quiet_hours"] = (
                ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in spans) if spans else None
            )
        if "email" in present:
            fields["email"] = v.get("email") or None
        fields["region"] = region or phones[0][0].region
        field_dropped: list[Rejection] = []
        if "state" in present:
            fields["subdivision"] = None
            if cell := v.get("state"):
                try:
                    fields["subdivision"] = parse_subdivision(cell, fields["region"])
                except RowError as exc:  # an optional field: the row is kept without it
                    field_dropped.append(
                        Rejection(
                            row.number,
                            "state",
                            cell,
                            f"state dropped: {exc.reason}",
                            None,
                            row.raw,
                            "field",
                        )
                    )
        language = fields.get("language")
        if language:
            fields["language_source"] = "file"
        else:
            spoken = LANGUAGE_OF_REGION.get(phones[0][0].region or fields["region"] or "")
            fields["language"], fields["language_source"] = (
                (spoken, "number") if spoken else (None, None)
            )
        explicit_zone = parse_time_zone(v["time_zone"], "time_zone") if v.get("time_zone") else None
        if explicit_zone:
            phone_zones: list[str] = []
        elif len(phones) == 1:  # the common case, without the generator
            phone_zones = list(dict.fromkeys(phones[0][0].time_zones))
        else:
            phone_zones = _zones_of(p for p, _ in phones)
        zone = explicit_zone or (phone_zones[0] if phone_zones else None)
        event = self._event(v, zone)
        external = v.get("customer_id")
        key = external or phone_customer_key(phones[0][0].e164)
        prepared = PreparedRow(
            row.number,
            key,
            fields,
            phones,
            explicit_zone,
            event,
            phone_zones,
            person=None if external else person_key(name),
            alternates=self._alternates if not external else [],
        )
        if self._failures:
            prepared.dropped = [
                Rejection(
                    row.number, header, raw, f"number dropped: {reason}", None, row.raw, "number"
                )
                for reason, raw, header in self._failures
            ]
        prepared.dropped.extend(field_dropped)
        return prepared

    def _phones(
        self, row: SourceRow, region: str, known: Known | None
    ) -> list[tuple[ParsedPhone, str]]:
        found: dict[str, tuple[ParsedPhone, str]] = {}
        # (reason, value, column) of each failure, never the exception: its traceback would tie
        # this frame, and through the callers' frames the whole batch, into a reference cycle.
        failures: list[tuple[str, str, str]] = []
        alternates: list[str] = []  # the same cells read in the configured default region
        region_key = region.strip().upper()
        also = self.also_valid_in if region_key != self.also_valid_in else None
        for header, cell in row.phones:
            for raw in split_phone_cell(cell):  # parts come stripped: (raw, region_key) is the key
                parsed = known.get((raw, region_key)) if known else None
                if parsed is None:
                    parsed = self.phones.lookup(raw, region)
                if isinstance(parsed, str):  # the reason it is unusable
                    failures.append((parsed, raw, header))
                    continue
                if (
                    also is not None
                    and region_key == self.default_region
                    and not carries_country_code(raw)
                ):
                    other = self.phones.lookup(raw, also)
                    if not isinstance(other, str) and other.e164 != parsed.e164:
                        self.valid_in_both += 1
                        alternates.append(other.e164)
                found.setdefault(parsed.e164, (parsed, header))
        self._failures = failures
        self._alternates = alternates
        if not found:
            if failures:
                reason, raw, header = failures[0]
                raise RowError(f"no valid phone number: {reason}", header, raw)
            raise RowError("no phone number", "phone", "")
        if len(found) == 1:
            return list(found.values())
        return sorted(found.values(), key=lambda item: sort_key(item[0]))

    def _event(self, v: dict[str, str], zone: str | None) -> PreparedEvent | None:
        """The service event as written (issue 17, item 3): an offset in the value wins; a time
        in the date column counts when the time column is empty; a naive time is read in the
        customer's zone (and kept as written, for campaigns that read it in their trigger zone).
        """
        date_text = v.get("service_date")
        if not date_text:
            return None
        written_day, date_time, date_offset = parse_date_and_time(date_text, "service_date")
        time_text = v.get("service_time")
        at_time, offset = (
            parse_time_and_offset(time_text, "service_time") if time_text else (None, None)
        )
        when, when_offset = (at_time, offset) if at_time is not None else (date_time, date_offset)
        day = written_day
        service_at = None
        local: str | None = None
        if when is not None and when_offset is not None:
            service_at = _utc_at(written_day, when, when_offset)
            if zone is not None:  # the service day is the customer's local day of that instant
                day = service_at.astimezone(ZoneInfo(zone)).date()
        elif when is not None:
            local = when.isoformat()
            if zone is not None:
                service_at = _utc(written_day, when, zone)
        mileage_text = v.get("mileage")
        mileage = parse_int(mileage_text, "mileage") if mileage_text else None
        service_type = v.get("service_type", "")
        vehicle = v.get("vehicle", "")
        store = v.get("store", "")
        # The fields joined by \x1f: what identifies one visit, stable across re-imports.
        identity = (
            f"{written_day.isoformat()}\x1f{at_time.isoformat() if at_time else ''}"
            f"\x1f{service_type}\x1f{vehicle}\x1f{store}"
        )
        key = hashlib.sha1(identity.encode(), usedforsecurity=False).hexdigest()
        return PreparedEvent(
            key,
            day,
            service_at,
            local,
            service_type or None,
            vehicle or None,
            mileage,
            store or None,
        )


@lru_cache(maxsize=8192)  # rows come in date order: the same few days, times and zones recur
def _utc(day: date, at: time, zone: str) -> datetime:
    """A local wall-clock reading in `zone` as an aware UTC time."""
    return datetime.combine(day, at, ZoneInfo(zone)).astimezone(UTC)


@lru_cache(maxsize=8192)
def _utc_at(day: date, at: time, offset: tzinfo) -> datetime:
    """A reading with its own UTC offset as an aware UTC time."""
    return datetime.combine(day, at, offset).astimezone(UTC)


def phone_customer_key(e164: str, person: str | None = None) -> str:
    """The key of a customer known only by number: stable for upserts, yet no number in listings.

    The first person on a number gets the number's key; another name on the same number (a
    family's shared landline) gets one qualified by the name.
    """
    text = e164 if person is None else f"{e164}\x1f{person}"
    return "tel-" + hashlib.sha256(text.encode()).hexdigest()[:16]


_SPACES = re.compile(r"\s+")


def person_key(name: str) -> str:
    """A name as compared for "the same person": NFKC, case-folded, without spaces."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", name).casefold())


def _zones_of(phones: Iterable[ParsedPhone]) -> list[str]:
    zones: dict[str, None] = {}
    for phone in phones:
        for zone in phone.time_zones:
            zones.setdefault(zone, None)
    return list(zones)


def _member_hint(row: SourceRow) -> bool | None:
    """Whether a rejected row looked like a member's, so coverage can show rejected members."""
    try:
        return parse_flag(row.values.get("member", ""), "member")
    except RowError:
        return None


@dataclass(slots=True)
class _CustomerState:
    """A customer as the batch sees it: loaded from the store, then changed row by row.

    `phones` are the numbers stored before this batch (e164 -> (rank, zones)); `stated` the
    numbers this run's rows give. On the first batch of a run that touches a known customer
    (`replacing`), the stated numbers replace the stored ones: the file is the source of truth
    for what it states (issue 18, item 3).
    """

    id: int | None
    fields: dict[str, Any]
    time_zones: list[str]
    zone_explicit: bool
    phones: dict[str, tuple[int, tuple[str, ...]]]
    replacing: bool = False
    stated: dict[str, tuple[ParsedPhone, str]] = field(default_factory=dict)
    new_phones: list[tuple[Any, ...]] = field(default_factory=list)  # _PHONE_COLUMNS[1:] order
    reranked: list[tuple[str, int]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    event_keys: set[str] = field(default_factory=set)
    new_events: list[PreparedEvent] = field(default_factory=list)
    changed: bool = False
    counted: bool = False  # a row of it in this batch already counts as imported/updated
    unchanged_rows: int = 0


class Importer:
    """Runs one import run: open the file, stream, check, write batch by batch, summarise."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        default_region: str,
        actor: str,
        region: str | None = None,
        allow_empty: bool = False,
        batch_rows: int = BATCH_ROWS,
        phone_parser: PhoneParser | None = None,
        phone_worker: bool | None = None,
    ) -> None:
        """`region`: `--region`, read for numbers without a country code (no inference);
        `default_region` otherwise, unless the file clearly says another (`dialer.file_region`).
        `allow_empty`: an empty or header-only file is a completed run of 0 rows, not an error.
        `phone_worker`: parse numbers in a second process (None: when the file is big
        enough and the machine has two cores, see `dialer.phone_pool.worth_a_worker`)."""
        self.store = store
        self.clock = clock
        self.actor = actor
        self.batch_rows = batch_rows
        self.phone_worker = phone_worker
        self.default_region = default_region
        self.region = region
        self.allow_empty = allow_empty
        self.preparer = RowPreparer(region or default_region, phone_parser)
        self._duplicate_pairs: set[tuple[str, str]] = set()
        # Known customers this run left unchanged (their last_import_run_id stays older): a
        # later batch must not replace the numbers an earlier batch already stated for them.
        self._kept: set[int] = set()

    def run(
        self,
        path: Path,
        *,
        encoding: str | None = None,
        file_format: str | None = None,
        overrides: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import `path`. Raises InputFileError before writing anything if the file is unusable,
        empty (unless allow_empty), or in a country that is not clear (`RegionUnclearError`)."""
        if self.allow_empty and path.is_file() and path.stat().st_size == 0:
            return self._empty_run(path, file_format)
        with CustomerFile(
            path, encoding=encoding, file_format=file_format, overrides=overrides
        ) as source:
            cmap = source.column_map
            present = frozenset(cmap.fields)
            headers = {name: cmap.headers[index] for name, index in cmap.fields.items()}
            ahead = source.rows()
            sample = list(islice(ahead, SAMPLE_ROWS))
            close = getattr(ahead, "close", None)
            if close is not None:
                close()
            if not sample and not self.allow_empty:
                raise InputFileError(
                    f"{path.name} has a header but no data rows: nothing to import "
                    "(pass --allow-empty to accept an empty file)"
                )
            file_region = self._file_region(path, source, sample)
            del sample  # read again with the rest: not held while the file is written
            summary = self._start(path, source)
            summary.region = file_region
            # A batch keeps ~100k objects alive while it is written, so CPython's automatic GC
            # would run a full collection (every live object, ~0.2 s) more than once per batch.
            # Nothing here needs it: it is paused, and the young generations are collected every
            # few batches instead; gc.freeze() keeps the startup objects (SQLAlchemy, phonenumbers
            # metadata) out of those collections.
            gc_was_enabled = gc.isenabled()
            gc.freeze()
            gc.disable()
            worker = self.phone_worker
            if worker is None:
                worker = worth_a_worker(source.size_bytes)
            try:
                with PhonePrefetch(self.preparer.phones, enabled=worker) as prefetch:
                    parsed = self._parsed_batches(source, prefetch)
                    for count, (batch, known) in enumerate(parsed, 1):
                        self._write_batch(summary, batch, present, headers, known)
                        del batch, known
                        if count % GC_EVERY_BATCHES == 0:
                            gc.collect(1)
                        if progress is not None:
                            progress(source.bytes_read, source.size_bytes)
            except BaseException as exc:
                self._finish(summary, _status_for(exc), repr(exc)[:500])
                raise
            finally:
                gc.unfreeze()
                if gc_was_enabled:
                    gc.enable()
            summary.numbers_valid_in_both = self.preparer.valid_in_both
            self._finish(summary, ImportStatus.COMPLETED, None)
            return summary

    def _file_region(
        self, path: Path, source: CustomerFile, sample: Sequence[SourceRow]
    ) -> FileRegion:
        """--region when given, else the default or a clear inference (raises when unclear)."""
        if self.region is not None:
            return self._file_region_chosen()
        found = infer_file_region(
            sample,
            source.column_map.headers,
            source.encoding,
            self.default_region,
            self.preparer.phones,
            name=path.name,
        )
        self.preparer.default_region = found.region
        self.preparer.also_valid_in = self.default_region if found.inferred else None
        return found

    def _file_region_chosen(self) -> FileRegion:
        """--region: no inference; numbers also valid in the default region are still counted."""
        assert self.region is not None
        if self.region != self.default_region:
            self.preparer.also_valid_in = self.default_region
        return FileRegion(self.region, "--region", self.default_region)

    def _empty_run(self, path: Path, file_format: str | None) -> ImportSummary:
        """A zero-byte file accepted with allow_empty: a completed run that read nothing."""
        fmt = (file_format or path.suffix.lstrip(".") or "csv").lower()[:10]
        run_id = self._add_run(path, fmt, None, ImportStatus.COMPLETED)
        return ImportSummary(
            run_id=run_id,
            source=str(path),
            file_format=fmt,
            encoding=None,
            status=ImportStatus.COMPLETED,
        )

    def _add_run(self, path: Path, fmt: str, encoding: str | None, status: ImportStatus) -> int:
        """One import run row, committed on its own (a completed run is finished at once)."""
        now = self.clock.now()
        with self.store.transaction() as session:
            run = ImportRun(
                source_name=str(path),
                source_sha256=_sha256(path),
                file_format=fmt,
                encoding=encoding,
                status=status,
                actor=self.actor,
                started_at=now,
                finished_at=now if status == ImportStatus.COMPLETED else None,
            )
            session.add(run)
            session.flush()
            return run.id

    def _parsed_batches(
        self, source: CustomerFile, prefetch: PhonePrefetch
    ) -> Iterator[tuple[list[SourceRow], Known | None]]:
        """Batches with their numbers parsed; with a worker, the next batch's are being parsed
        while the caller writes this one (so two batches are held, never more)."""
        batches = _batches(source.rows(), self.batch_rows)
        if not prefetch.active:
            for batch in batches:
                yield batch, None
            return
        pending: tuple[list[SourceRow], Ticket] | None = None
        for batch in batches:
            keys = self.preparer.phone_keys(batch)
            if pending is None:
                pending = (batch, prefetch.submit(keys))
                continue
            done, known = pending[0], prefetch.result(pending[1])
            pending = (batch, prefetch.submit(keys))  # parsed while `done` is written
            del batch, keys
            yield done, known
            del done, known
        if pending is not None:
            yield pending[0], prefetch.result(pending[1])

    def _start(self, path: Path, source: CustomerFile) -> ImportSummary:
        run_id = self._add_run(path, source.format, source.encoding, ImportStatus.RUNNING)
        return ImportSummary(
            run_id=run_id,
            source=str(path),
            file_format=source.format,
            encoding=source.encoding,
            ignored_columns=list(source.column_map.ignored),
        )

    def _finish(self, summary: ImportSummary, status: str, error: str | None) -> None:
        summary.status = status
        with self.store.transaction() as session:
            session.execute(
                update(ImportRun)
                .where(ImportRun.id == summary.run_id)
                .values(status=status, error=error, finished_at=self.clock.now())
            )

    def _write_batch(
        self,
        summary: ImportSummary,
        rows: list[SourceRow],
        present: frozenset[str],
        headers: dict[str, str],
        known: Known | None = None,
    ) -> None:
        prepared: list[PreparedRow] = []
        rejections: list[Rejection] = []
        dropped: list[Rejection] = []
        for row in rows:
            result = self.preparer.prepare(row, present, headers, known)
            if isinstance(result, PreparedRow):
                prepared.append(result)
                if result.dropped:
                    dropped.extend(result.dropped)
            else:
                rejections.append(result)
        counts = {"imported": 0, "updated": 0, "unchanged": 0, "events": 0}
        now = self.clock.now()
        with self.store.transaction() as session:
            self._resolve_people(session, prepared, summary)
            states = self._load(session, {p.customer_key for p in prepared}, summary.run_id)
            for good in prepared:
                counts[self._apply(states, good, now, summary.run_id)] += 1
            for state in states.values():
                if self._settle(state) and not state.counted and state.unchanged_rows:
                    counts["unchanged"] -= 1  # its numbers or zones changed: an update
                    counts["updated"] += 1
            counts["events"] = self._save(session, states, now, summary)
            if rejections or dropped:
                session.execute(
                    insert(_TABLES["rejected_rows"]),
                    [
                        {
                            "import_run_id": summary.run_id,
                            "row_number": r.number,
                            "kind": r.kind,
                            "column": r.column,
                            "value": r.value,
                            "reason": r.reason,
                            "member": r.member,
                            "raw": r.raw,
                            "content_sha256": row_digest(r.raw),
                        }
                        for r in sorted((*rejections, *dropped), key=lambda r: r.number)
                    ],
                )
            summary.read += len(rows)
            summary.imported += counts["imported"]
            summary.updated += counts["updated"]
            summary.unchanged += counts["unchanged"]
            summary.rejected += len(rejections)
            summary.members_rejected += sum(1 for r in rejections if r.member)
            summary.events_added += counts["events"]
            summary.numbers_dropped += sum(1 for d in dropped if d.kind == "number")
            summary.fields_dropped += sum(1 for d in dropped if d.kind == "field")
            session.execute(
                update(ImportRun)
                .where(ImportRun.id == summary.run_id)
                .values(
                    rows_read=summary.read,
                    rows_imported=summary.imported,
                    rows_updated=summary.updated,
                    rows_unchanged=summary.unchanged,
                    rows_rejected=summary.rejected,
                    members_rejected=summary.members_rejected,
                    events_added=summary.events_added,
                    numbers_dropped=summary.numbers_dropped,
                )
            )

    def _resolve_people(
        self, session: Session, prepared: list[PreparedRow], summary: ImportSummary
    ) -> None:
        """Keys of rows without a customer ID (issue 18, item 5): one person once.

        The same normalised number and the same name is the customer already known (in the
        store or earlier in the file); the same number under another name is another person,
        kept apart and listed as a possible duplicate.
        """
        rows = [p for p in prepared if p.person is not None]
        if not rows:
            return
        numbers = sorted(
            {phone.e164 for p in rows for phone, _ in p.phones}
            | {alt for p in rows for alt in p.alternates}
        )
        holders: dict[str, list[tuple[str, str, str]]] = {}  # e164 -> (person, key, name)
        shown: dict[str, str] = {}  # key -> the name as first seen
        for chunk in _chunks(numbers, 900):
            for e164, key, name in session.execute(
                select(CustomerPhone.e164, Customer.customer_key, Customer.name)
                .join(Customer, Customer.id == CustomerPhone.customer_id)
                .where(CustomerPhone.e164.in_(chunk))
                .order_by(Customer.id)
            ):
                holders.setdefault(e164, []).append((person_key(name), key, name))
                shown.setdefault(key, name)
        for p in rows:
            assert p.person is not None
            name = str(p.fields["name"])
            match: str | None = None
            others: list[tuple[str, str, str]] = []
            for phone, _ in p.phones:
                for person, key, other in holders.get(phone.e164, ()):
                    if person == p.person:
                        match = match or key
                    else:
                        others.append((phone.e164, key, other))
            for alt in p.alternates:  # stored earlier as read in another country
                for person, key, _ in holders.get(alt, ()):
                    if person == p.person:
                        match = match or key
            if match is not None:
                p.customer_key = match
                name = shown.get(match, name)
            else:
                first = p.phones[0][0].e164
                taken = first in holders
                p.customer_key = phone_customer_key(first, p.person if taken else None)
            for e164, key, other in others:
                pair = (min(key, p.customer_key), max(key, p.customer_key))
                if key != p.customer_key and pair not in self._duplicate_pairs:
                    self._duplicate_pairs.add(pair)
                    summary.possible_duplicates.append(
                        PossibleDuplicate(p.number, mask_phone(e164), (other, name))
                    )
            for phone, _ in p.phones:
                held = holders.setdefault(phone.e164, [])
                if all(key != p.customer_key for _, key, _ in held):
                    held.append((p.person, p.customer_key, name))
            shown.setdefault(p.customer_key, name)

    def _load(self, session: Session, keys: set[str], run_id: int) -> dict[str, _CustomerState]:
        states: dict[str, _CustomerState] = {}
        if keys and session.get_bind().dialect.name == "sqlite":
            # Most keys of a big file are new: find the few known ones with a plain query
            # (no SQLAlchemy compilation of 900-item IN lists), then load only those.
            keys = {key for key, _ in _sqlite_ids(session, keys)}
        if not keys:
            return states
        cols = [getattr(Customer, f) for f in CUSTOMER_FIELDS]
        by_id: dict[int, _CustomerState] = {}
        for key_chunk in _chunks(sorted(keys), 900):
            result = session.execute(
                select(
                    Customer.id,
                    Customer.customer_key,
                    Customer.time_zones,
                    Customer.time_zone_explicit,
                    Customer.last_import_run_id,
                    *cols,
                ).where(Customer.customer_key.in_(key_chunk))
            )
            for rec in result:
                state = _CustomerState(
                    id=rec[0],
                    fields=dict(zip(CUSTOMER_FIELDS, rec[5:], strict=True)),
                    time_zones=list(rec[2] or []),
                    zone_explicit=bool(rec[3]),
                    phones={},
                    replacing=rec[4] != run_id and rec[0] not in self._kept,
                )
                states[rec[1]] = state
                by_id[rec[0]] = state
        for id_chunk in _chunks(sorted(by_id), 900):
            for cid, e164, rank, zones in session.execute(
                select(
                    CustomerPhone.customer_id,
                    CustomerPhone.e164,
                    CustomerPhone.rank,
                    CustomerPhone.time_zones,
                ).where(CustomerPhone.customer_id.in_(id_chunk))
            ):
                by_id[cid].phones[e164] = (rank, tuple(zones or ()))
            for cid, event_key in session.execute(
                select(ServiceEvent.customer_id, ServiceEvent.event_key).where(
                    ServiceEvent.customer_id.in_(id_chunk)
                )
            ):
                by_id[cid].event_keys.add(event_key)
        return states

    def _apply(
        self, states: dict[str, _CustomerState], row: PreparedRow, now: datetime, run_id: int
    ) -> str:
        """Fold one row into its customer's state; say whether it imported, updated or changed nothing."""
        state = states.get(row.customer_key)
        is_new = state is None
        changed = False
        fields = row.fields
        if state is None:
            state = _CustomerState(
                id=None,
                fields=_NEW_FIELDS | fields,
                time_zones=[],
                zone_explicit=False,
                phones={},
            )
            states[row.customer_key] = state
            changed = True
        else:
            if fields.get("language_source") != "file" and (
                state.fields.get("language_source") == "file"
            ):
                # A language the file stated once stands until a file states another.
                fields = {
                    k: v for k, v in fields.items() if k not in ("language", "language_source")
                }
            if row.person is not None and person_key(str(state.fields.get("name"))) == row.person:
                # Found by number and name: another spelling of the name is no change.
                fields = {k: v for k, v in fields.items() if k != "name"}
            for name, value in fields.items():
                if state.fields.get(name) != value:
                    state.fields[name] = value
                    changed = True
        for parsed, header in row.phones:
            if parsed.e164 not in state.stated:
                state.stated[parsed.e164] = (parsed, header)
                if parsed.e164 not in state.phones:
                    changed = True
        if row.explicit_zone and (
            not state.zone_explicit or state.time_zones != [row.explicit_zone]
        ):
            state.time_zones, state.zone_explicit = [row.explicit_zone], True
            changed = True
        if row.event is not None and row.event.event_key not in state.event_keys:
            state.event_keys.add(row.event.event_key)
            state.new_events.append(row.event)
            changed = True
        state.changed = state.changed or changed
        if is_new or changed:
            state.counted = True
            return "imported" if is_new else "updated"
        state.unchanged_rows += 1
        return "unchanged"

    def _settle(self, state: _CustomerState) -> bool:
        """Work out the customer's numbers, their order and the derived zones after the batch's
        rows; True when that changed something the rows alone did not show."""
        if not state.stated:
            return False
        loaded = state.phones
        if state.id is None or state.replacing:
            order = list(state.stated)
            state.removed = [e for e in loaded if e not in state.stated]
        else:  # touched earlier in this run: what it stated then stays, new ones follow
            order = sorted(loaded, key=lambda e: loaded[e][0])
            order += [e for e in state.stated if e not in loaded]
        state.new_phones = []
        state.reranked = []
        zones: dict[str, None] = {}
        for rank, e164 in enumerate(order):
            if e164 in loaded:
                if loaded[e164][0] != rank:
                    state.reranked.append((e164, rank))
                zones.update(dict.fromkeys(loaded[e164][1]))
                continue
            parsed, header = state.stated[e164]
            kind = parsed.phone_type
            state.new_phones.append(
                (
                    parsed.e164,
                    _TYPE_TEXT[kind],
                    parsed.region,
                    parsed.extension,
                    rank,
                    header,
                    True,
                    _TAKES_SMS[kind],
                    parsed.time_zones,
                )
            )
            zones.update(dict.fromkeys(parsed.time_zones))
        moved = bool(state.removed or state.reranked)
        if not state.zone_explicit and list(zones) != state.time_zones:
            state.time_zones = list(zones)
            moved = True
        if moved:
            state.changed = True
        return moved and state.id is not None

    def _save(
        self,
        session: Session,
        states: dict[str, _CustomerState],
        now: datetime,
        summary: ImportSummary,
    ) -> int:
        """Write the batch's net changes: new customers, changed customers, numbers and events.

        New rows go in with one executemany per table: on SQLite the driver's own, with values
        already in the form SQLAlchemy stores them (a third of the cost of a Core insert and its
        per-row type processing), elsewhere a Core insert. Never the ORM bulk insert: it drops
        None values and splits the batch by key set, and with RETURNING sorted by parameter
        order it falls back to one INSERT per row on SQLite.
        """
        run_id = summary.run_id
        raw = session.get_bind().dialect.name == "sqlite"
        stamp = _sqlite_stamp(now)
        new_keys = [k for k, s in states.items() if s.id is None]
        new_ids: set[int | None] = set()
        if new_keys:
            result: Iterable[Any]
            if raw:
                session.connection().exec_driver_sql(
                    _SQLITE_INSERT_CUSTOMER,
                    [
                        (
                            k,
                            *_field_values(s.fields),
                            _zones_json(s.time_zones),
                            s.zone_explicit,
                            run_id,
                            stamp,
                            stamp,
                        )
                        for k in new_keys
                        for s in (states[k],)
                    ],
                )
                result = [(cid, key) for key, cid in _sqlite_ids(session, new_keys)]
            else:
                table = _TABLES["customers"]
                result = session.execute(
                    insert(table).returning(table.c.id, table.c.customer_key),
                    [
                        {
                            "customer_key": k,
                            **states[k].fields,
                            "time_zones": states[k].time_zones,
                            "time_zone_explicit": states[k].zone_explicit,
                            "last_import_run_id": run_id,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for k in new_keys
                    ],
                )
            for cid, key in result:
                states[key].id = cid
                new_ids.add(cid)
        changed = [s for s in states.values() if s.changed and s.id not in new_ids]
        self._kept.update(s.id for s in states.values() if not s.changed and s.id is not None)
        if changed:
            session.execute(
                update(Customer),
                [
                    {
                        "id": s.id,
                        **s.fields,
                        "time_zones": s.time_zones,
                        "time_zone_explicit": s.zone_explicit,
                        "last_import_run_id": run_id,
                        "updated_at": now,
                    }
                    for s in changed
                ],
            )
            for s in changed:
                if s.removed:
                    self._remove_numbers(session, s, now, summary)
                if s.reranked:
                    session.execute(
                        update(_TABLES["customer_phones"])
                        .where(
                            _TABLES["customer_phones"].c.customer_id == s.id,
                            _TABLES["customer_phones"].c.e164 == bindparam("b_e164"),
                        )
                        .values(rank=bindparam("b_rank")),
                        [{"b_e164": e, "b_rank": r} for e, r in s.reranked],
                    )
        if raw:
            phone_rows = [
                (s.id, *p[:-1], _zones_json(p[-1])) for s in states.values() for p in s.new_phones
            ]
            if phone_rows:
                session.connection().exec_driver_sql(_SQLITE_INSERT_PHONE, phone_rows)
            event_rows = [
                (
                    s.id,
                    e.event_key,
                    e.service_type,
                    e.vehicle,
                    e.mileage_km,
                    e.store,
                    e.service_date.isoformat(),
                    _sqlite_event_stamp(e.service_at) if e.service_at else None,
                    e.service_time_local,
                    stamp,
                    run_id,
                )
                for s in states.values()
                for e in s.new_events
            ]
            if event_rows:
                session.connection().exec_driver_sql(_SQLITE_INSERT_EVENT, event_rows)
            return len(event_rows)
        phones = [
            dict(zip(_PHONE_COLUMNS, (s.id, *p[:-1], list(p[-1])), strict=True))
            for s in states.values()
            for p in s.new_phones
        ]
        if phones:
            session.execute(insert(_TABLES["customer_phones"]), phones)
        events = [
            {
                "customer_id": s.id,
                "event_key": e.event_key,
                "service_type": e.service_type,
                "vehicle": e.vehicle,
                "mileage_km": e.mileage_km,
                "store": e.store,
                "service_date": e.service_date,
                "service_at": e.service_at,
                "service_time_local": e.service_time_local,
                "created_at": now,
                "import_run_id": run_id,
            }
            for s in states.values()
            for e in s.new_events
        ]
        if events:
            session.execute(insert(_TABLES["service_events"]), events)
        return len(events)

    def _remove_numbers(
        self, session: Session, state: _CustomerState, now: datetime, summary: ImportSummary
    ) -> None:
        """Numbers the file no longer states: deleted, audited, and attempts still waiting to
        dial them cancelled (their tasks fall back to the customer's remaining numbers)."""
        removed = state.removed
        session.execute(
            delete(CustomerPhone).where(
                CustomerPhone.customer_id == state.id, CustomerPhone.e164.in_(removed)
            )
        )
        waiting = session.execute(
            select(Attempt.id, Attempt.task_id, Attempt.due_at, Attempt.phone_e164).where(
                Attempt.task_id.in_(
                    select(CallbackTask.id).where(CallbackTask.customer_id == state.id)
                ),
                Attempt.phone_e164.in_(removed),
                Attempt.state == AttemptState.SCHEDULED,
            )
        ).all()
        if waiting:
            session.execute(
                update(Attempt)
                .where(
                    Attempt.id.in_([w.id for w in waiting]),
                    Attempt.state == AttemptState.SCHEDULED,
                )
                .values(
                    state=AttemptState.CANCELLED,
                    error_message=f"the number was removed by import run #{summary.run_id}",
                    ended_at=now,
                    lease_expires_at=None,
                )
            )
            for w in waiting:  # tried again, at the time it was due, on a number still held
                session.execute(
                    update(CallbackTask)
                    .where(
                        CallbackTask.id == w.task_id,
                        CallbackTask.state.in_(_OPEN_TASKS),
                        CallbackTask.next_attempt_at.is_(None),
                    )
                    .values(next_attempt_at=w.due_at, updated_at=now)
                )
        for e164 in removed:
            cancelled = sum(1 for w in waiting if w.phone_e164 == e164)
            audit.record(
                session,
                self.clock,
                self.actor,
                "import.number_removed",
                "customer",
                state.id,
                number=mask_phone(e164),
                import_run=summary.run_id,
                attempts_cancelled=cancelled,
            )
        summary.numbers_removed += len(removed)
        summary.attempts_cancelled += len(waiting)


# Bounded by the data: phonenumbers and the tz database know a finite set of zone lists.
_ZONES_JSON: dict[tuple[str, ...], str] = {}


def _zones_json(zones: Sequence[str]) -> str:
    """json.dumps of a number's zones, as the JSON type stores them; few distinct lists exist."""
    key = tuple(zones)
    text = _ZONES_JSON.get(key)
    if text is None:
        text = _ZONES_JSON[key] = json.dumps(zones)
    return text


def _sqlite_stamp(at: datetime) -> str:
    """An aware time as UTCDateTime stores it on SQLite: naive UTC with microseconds."""
    if at.tzinfo is not UTC:  # service times already are (_utc): convert once, not twice
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_ids(session: Session, keys: Iterable[str]) -> Iterator[tuple[str, int]]:
    """(customer_key, id) of the keys that exist, by plain SQL on SQLite, 900 keys a query."""
    conn = session.connection()
    for chunk in _chunks(sorted(keys), 900):
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT customer_key, id FROM customers WHERE customer_key IN ({marks})"  # noqa: S608
        yield from conn.exec_driver_sql(sql, tuple(chunk))


@lru_cache(maxsize=8192)  # service times come from _utc's cache: the same objects recur
def _sqlite_event_stamp(at: datetime) -> str:
    """_sqlite_stamp of a service time."""
    return _sqlite_stamp(at)


def _sqlite_insert(table: str, columns: tuple[str, ...]) -> str:
    """Built once at import time from the constants below, never from data."""
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


# The tuples _save builds for SQLite follow these column orders.
_CUSTOMER_COLUMNS = (
    "customer_key",
    *CUSTOMER_FIELDS,
    "time_zones",
    "time_zone_explicit",
    "last_import_run_id",
    "created_at",
    "updated_at",
)
_PHONE_COLUMNS = (
    "customer_id",
    "e164",
    "phone_type",
    "region",
    "extension",
    "rank",
    "source_column",
    "voice_ok",
    "sms_ok",
    "time_zones",
)
_EVENT_COLUMNS = (
    "customer_id",
    "event_key",
    "service_type",
    "vehicle",
    "mileage_km",
    "store",
    "service_date",
    "service_at",
    "service_time_local",
    "created_at",
    "import_run_id",
)
_SQLITE_INSERT_CUSTOMER = _sqlite_insert("customers", _CUSTOMER_COLUMNS)
_SQLITE_INSERT_PHONE = _sqlite_insert("customer_phones", _PHONE_COLUMNS)
_SQLITE_INSERT_EVENT = _sqlite_insert("service_events", _EVENT_COLUMNS)


def _batches(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def row_digest(raw: dict[str, Any]) -> str:
    """The sha256 of a row's content (header -> cell, in any column order): what makes two
    rejected rows the same row, for the member rows rejected shown beside coverage."""
    text = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _status_for(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return ImportStatus.INTERRUPTED
    return ImportStatus.FAILED


def rejected_rows(store: Store, run_id: int) -> Iterator[RejectedRow]:
    """The rejected rows of one run in file order, streamed."""
    with store.sessions() as session:
        yield from session.scalars(
            select(RejectedRow)
            .where(RejectedRow.import_run_id == run_id)
            .order_by(RejectedRow.row_number)
            .execution_options(yield_per=2000)
        )
