"""Benchmark `dialer import` against a floor measured in the same run.

Generates a realistic Taiwanese-shop customer file (mixed TW/KR/CN/US numbers, ~30% members,
~5% repeat visits of earlier customers, ~1% bad rows), imports it into a fresh SQLite store with
`dialer.ingest.Importer`, and compares that with a floor on the same file: plain `csv.reader`,
phonenumbers once per distinct raw number, and one raw sqlite3 `executemany` per table into the
same schema (same indexes, same PRAGMAs). Peak memory is compared between a `--also-rows` file
and the full file, each imported in its own fresh subprocess.

Goals: import time <= 1.5x the floor; peak RSS at --rows <= 1.25x the peak at --also-rows.

    .venv/bin/python scripts/bench/ingest.py               # 1,000,000 rows vs 100,000 rows
    .venv/bin/python scripts/bench/ingest.py --quick       # 50,000 rows vs 10,000 rows
    .venv/bin/python scripts/bench/ingest.py --repeat 3    # fastest of 3 alternating runs each

Not part of the test suite: it prints figures, it asserts nothing (`--strict` exits 1 when a
goal is missed).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

TIME_GOAL = 1.5
MEMORY_GOAL = 1.25

HEADER = (
    "客戶編號",
    "姓名",
    "手機",
    "電話",
    "會員",
    "同意行銷",
    "國家",
    "服務日期",
    "服務時間",
    "服務項目",
    "車牌",
    "里程",
    "門市",
)
(
    C_ID,
    C_NAME,
    C_MOBILE,
    C_PHONE,
    C_MEMBER,
    C_CONSENT,
    C_COUNTRY,
    C_DATE,
    C_TIME,
    C_SERVICE,
    C_PLATE,
    C_MILEAGE,
    C_STORE,
) = range(len(HEADER))

# Shares of the generated file (of all rows).
SHARE_REPEAT_VISIT = 0.05  # an earlier customer again, later service date: a second event
SHARE_EXACT_REPEAT = 0.005  # the same line twice (file exported twice): unchanged
SHARE_BAD = 0.01  # invalid phone, bad member value or empty name
SHARE_MEMBER = 0.30
SHARE_SECOND_NUMBER = 0.15
REPEAT_WINDOW = 20_000  # repeat visits pick from the last N customers: bounded generator memory

# --- the generator ---------------------------------------------------------------------------

TW_SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高潘簡朱鍾彭游詹胡施沈余趙盧梁顏柯翁魏孫戴"
TW_GIVEN = "志明美玲雅婷建宏淑芬俊傑家豪怡君宗翰佳穎冠宇欣怡承恩詩涵柏翰子晴宇軒思妤品妍彥廷雅雯文華國偉秀英麗珍"
CN_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
CN_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红玉梅鹏飞宇浩然子涵欣怡俊熙"
KR_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍전고문양손배백허노"
KR_GIVEN = "민준서연지훈하은도윤수빈예준지우현우서윤지민유진성민영호은지태희동현혜진상우"
EN_FIRST = (
    "Emily",
    "Michael",
    "Sarah",
    "David",
    "Jessica",
    "James",
    "Ashley",
    "John",
    "Amanda",
    "Robert",
    "Jennifer",
    "William",
    "Melissa",
    "Daniel",
    "Nicole",
    "Matthew",
    "Stephanie",
    "Christopher",
    "Elizabeth",
    "Andrew",
    "Lauren",
    "Joshua",
    "Megan",
    "Kevin",
    "Rachel",
    "Brian",
    "Olivia",
    "Ethan",
    "Sophia",
    "Noah",
)
EN_LAST = (
    "Johnson",
    "Smith",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Chen",
    "Wang",
    "Lee",
    "Nguyen",
    "Kim",
    "Patel",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "White",
    "Harris",
    "Clark",
    "Lewis",
)

TW_STORES = ("台北內湖店", "新北板橋店", "台中西屯店", "高雄左營店", "桃園中壢店", "台南永康店")
KR_STORES = ("서울 강남점", "부산 해운대점", "인천 송도점", "대구 수성점")
CN_STORES = ("上海浦东店", "北京朝阳店", "深圳南山店", "广州天河店")
US_STORES = ("San Jose", "New York", "Los Angeles", "Seattle", "Chicago")
TW_SERVICES = ("定期保養", "更換輪胎", "冷氣檢修", "鈑金烤漆", "電瓶更換", "洗車美容", "輪胎定位")
KR_SERVICES = ("엔진오일 교환", "타이어 교체", "정기 점검", "브레이크 점검")
CN_SERVICES = ("保养", "更换轮胎", "空调检修", "钣金喷漆")
US_SERVICES = ("Oil change", "Brake inspection", "Tire rotation", "Battery replacement")
KR_PLATE_SYL = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주"
CN_PLATE_PROV = "沪京粤苏浙川鲁"
US_AREA_CODES = ("415", "408", "650", "212", "646", "718", "310", "213", "206", "312", "617")
CN_MOBILE_PREFIXES = (
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
)
TW_MEMBER = (("是", "否"), ("是", "否"), ("是", "否"), ("Y", "N"), ("會員", "非會員"), ("1", "0"))
KR_MEMBER = (("회원", "비회원"), ("Y", "N"))
US_MEMBER = (("yes", "no"), ("Y", "N"))
FULL_WIDTH = str.maketrans("0123456789- ", "０１２３４５６７８９－\u3000")
BAD_PHONES = ("12345", "0912-345", "無", "n/a", "091234567890123")
BAD_MEMBERS = ("也許", "maybe", "不確定")

FIRST_DAY = date(2026, 1, 5)
DAYS = 330


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def _tw_mobile(rng: random.Random) -> str:
    head = f"09{rng.randint(1, 8)}{rng.randrange(10)}"
    a, b = _digits(rng, 3), _digits(rng, 3)
    style = rng.random()
    if style < 0.45:
        return f"{head}-{a}-{b}"
    if style < 0.80:
        return f"{head}{a}{b}"
    if style < 0.90:
        return f"{head} {a} {b}"
    if style < 0.95:
        return f"{head}{a}{b}".translate(FULL_WIDTH)
    return f"+886 {head[1:]} {a} {b}"


def _tw_fixed(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"02-2{_digits(rng, 3)}-{_digits(rng, 4)}"
    if kind < 0.8:
        return f"04-2{_digits(rng, 3)}-{_digits(rng, 4)}"
    return f"07-3{_digits(rng, 2)}-{_digits(rng, 4)}"


def _kr_mobile(rng: random.Random) -> str:
    mid = f"{rng.randint(2, 9)}{_digits(rng, 3)}"
    last = _digits(rng, 4)
    style = rng.random()
    if style < 0.75:
        return f"010-{mid}-{last}"
    if style < 0.92:
        return f"010{mid}{last}"
    return f"+82 10-{mid}-{last}"


def _kr_fixed(rng: random.Random) -> str:
    return f"02-{rng.randint(2, 9)}{_digits(rng, 2)}-{_digits(rng, 4)}"


def _cn_mobile(rng: random.Random) -> str:
    head = rng.choice(CN_MOBILE_PREFIXES)
    a, b = _digits(rng, 4), _digits(rng, 4)
    style = rng.random()
    if style < 0.70:
        return f"{head}{a}{b}"
    if style < 0.92:
        return f"{head} {a} {b}"
    return f"+86 {head} {a} {b}"


def _cn_fixed(rng: random.Random) -> str:
    return f"0{rng.choice(('10', '21'))}-{rng.randint(5, 8)}{_digits(rng, 3)}-{_digits(rng, 4)}"


def _us_number(rng: random.Random) -> str:
    area = rng.choice(US_AREA_CODES)
    exchange = f"{rng.randint(2, 9)}{_digits(rng, 2)}"
    line = _digits(rng, 4)
    style = rng.random()
    if style < 0.6:
        return f"({area}) {exchange}-{line}"
    if style < 0.9:
        return f"{area}-{exchange}-{line}"
    return f"+1 {area} {exchange} {line}"


def _plate(rng: random.Random, country: str) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    if country == "KR":
        return f"{rng.randint(10, 99)}{rng.choice(KR_PLATE_SYL)}{_digits(rng, 4)}"
    if country == "CN":
        return f"{rng.choice(CN_PLATE_PROV)}{rng.choice(letters)}{_digits(rng, 5)}"
    if country == "US":
        return f"{rng.randint(1, 9)}{''.join(rng.choices(letters, k=3))}{_digits(rng, 3)}"
    return f"{''.join(rng.choices(letters, k=3))}-{_digits(rng, 4)}"


def _mileage(rng: random.Random, base: int | None = None) -> tuple[int, str]:
    km = rng.randint(500, 180_000) if base is None else base + rng.randint(300, 8_000)
    return km, (f"{km:,}" if rng.random() < 0.3 else str(km))


class RowGenerator:
    """Deterministic rows for one seed; holds only the last REPEAT_WINDOW customers."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rows = rows
        self.rng = random.Random(seed)
        self.slash_dates = [
            (FIRST_DAY + timedelta(days=d)).strftime("%Y/%m/%d") for d in range(DAYS + 40)
        ]
        self.dash_dates = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(DAYS + 40)]
        self.times = [f"{h:02d}:{m:02d}" for h in range(9, 19) for m in range(0, 60, 5)]
        # (row, day offset, mileage km) of recent customers' last visits.
        self.recent: deque[tuple[list[str], int, int]] = deque(maxlen=REPEAT_WINDOW)
        self.customers = 0

    def __iter__(self) -> Iterator[list[str]]:
        rng = self.rng
        for index in range(self.rows):
            day = index * DAYS // max(self.rows, 1)
            roll = rng.random()
            if self.recent and roll < SHARE_EXACT_REPEAT:
                yield list(self.recent[-1 - rng.randrange(min(len(self.recent), 50))][0])
                continue
            if self.recent and roll < SHARE_EXACT_REPEAT + SHARE_REPEAT_VISIT:
                yield self._repeat_visit(day)
                continue
            row, km = self._new_customer(day)
            if rng.random() < SHARE_BAD / (1 - SHARE_EXACT_REPEAT - SHARE_REPEAT_VISIT):
                self._spoil(row)
            else:
                self.recent.append((row, day, km))
            yield row

    def _dates(self, country: str) -> list[str]:
        return self.dash_dates if country in ("KR", "US") else self.slash_dates

    def _new_customer(self, day: int) -> tuple[list[str], int]:
        rng = self.rng
        self.customers += 1
        cid = f"C{self.customers:07d}"
        kind = rng.random()
        second = rng.random() < SHARE_SECOND_NUMBER
        flags: tuple[str, str]
        stores: tuple[str, ...]
        services: tuple[str, ...]
        if kind < 0.60:
            country = "TW"
            country_cell = "TW" if rng.random() < 0.1 else ""
            name = rng.choice(TW_SURNAMES) + "".join(rng.choices(TW_GIVEN, k=2))
            mobile, fixed = _tw_mobile(rng), (_tw_fixed(rng) if second else "")
            flags = rng.choice(TW_MEMBER)
            stores, services = TW_STORES, TW_SERVICES
        elif kind < 0.75:
            country = country_cell = "KR"
            name = rng.choice(KR_SURNAMES) + "".join(rng.choices(KR_GIVEN, k=2))
            mobile, fixed = _kr_mobile(rng), (_kr_fixed(rng) if second else "")
            flags = rng.choice(KR_MEMBER)
            stores, services = KR_STORES, KR_SERVICES
        elif kind < 0.90:
            country = country_cell = "CN"
            name = rng.choice(CN_SURNAMES) + "".join(rng.choices(CN_GIVEN, k=rng.randint(1, 2)))
            mobile, fixed = _cn_mobile(rng), (_cn_fixed(rng) if second else "")
            flags = rng.choice(TW_MEMBER[:3])
            stores, services = CN_STORES, CN_SERVICES
        else:
            country = country_cell = "US"
            name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
            mobile, fixed = _us_number(rng), (_us_number(rng) if second else "")
            flags = rng.choice(US_MEMBER)
            stores, services = US_STORES, US_SERVICES
        member = flags[0] if rng.random() < SHARE_MEMBER else flags[1]
        yes_no = ("是", "否") if flags[0] == "會員" else flags
        consent_roll = rng.random()
        consent = yes_no[0] if consent_roll < 0.4 else (yes_no[1] if consent_roll < 0.7 else "")
        km, mileage = _mileage(rng)
        row = [
            cid,
            name,
            mobile,
            fixed,
            member,
            consent,
            country_cell,
            self._dates(country)[day],
            rng.choice(self.times),
            rng.choice(services),
            _plate(rng, country),
            mileage,
            rng.choice(stores),
        ]
        return row, km

    def _repeat_visit(self, day: int) -> list[str]:
        rng = self.rng
        slot = rng.randrange(len(self.recent))
        old, old_day, old_km = self.recent[slot]
        row = list(old)
        new_day = max(day, old_day + 1 + rng.randrange(3))
        country = row[C_COUNTRY] or "TW"
        row[C_DATE] = self._dates(country)[new_day]
        row[C_TIME] = rng.choice(self.times)
        services = {"KR": KR_SERVICES, "CN": CN_SERVICES, "US": US_SERVICES}.get(
            country, TW_SERVICES
        )
        row[C_SERVICE] = rng.choice(services)
        km, row[C_MILEAGE] = _mileage(rng, old_km)
        self.recent[slot] = (row, new_day, km)
        return row

    def _spoil(self, row: list[str]) -> None:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            row[C_MOBILE] = rng.choice(BAD_PHONES)
            row[C_PHONE] = ""
        elif kind == 1:
            row[C_MEMBER] = rng.choice(BAD_MEMBERS)
        else:
            row[C_NAME] = ""


def generate(path: Path, rows: int, seed: int) -> int:
    """Write `rows` data rows (plus the header) to `path`; return the number of customers."""
    gen = RowGenerator(rows, seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(gen)
    return gen.customers


def sample_validity(path: Path, limit: int = 3000) -> tuple[int, int]:
    """(valid, checked) phone numbers among the first `limit` non-empty phone cells."""
    import phonenumbers

    valid = checked = 0
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            region = row[C_COUNTRY] or "TW"
            for raw in (row[C_MOBILE], row[C_PHONE]):
                if not raw:
                    continue
                checked += 1
                try:
                    number = phonenumbers.parse(raw, region)
                except phonenumbers.NumberParseException:
                    continue
                valid += phonenumbers.is_valid_number(number)
            if checked >= limit:
                break
    return valid, checked


# --- the floor -------------------------------------------------------------------------------

MEMBER_YES = frozenset({"是", "Y", "y", "yes", "1", "會員", "회원", "예"})
_FloorPhone = tuple[str, str, str | None, str, int]  # e164, type, region, zones json, sms_ok


def _floor_phone_parser() -> Callable[[str, str], _FloorPhone | None]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType
    from phonenumbers.timezone import time_zones_for_number

    type_names = {
        PhoneNumberType.MOBILE: "mobile",
        PhoneNumberType.FIXED_LINE: "fixed_line",
        PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
        PhoneNumberType.VOIP: "voip",
        PhoneNumberType.TOLL_FREE: "toll_free",
    }
    sms_types = {"mobile", "fixed_line_or_mobile", "voip"}

    def parse(raw: str, region: str) -> _FloorPhone | None:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        kind = type_names.get(phonenumbers.number_type(number), "other")
        zones = json.dumps(list(time_zones_for_number(number)))
        where = phonenumbers.region_code_for_number(number)
        return e164, kind, where, zones, int(kind in sms_types)

    return parse


def run_floor(path: Path, db: Path) -> dict[str, Any]:
    """Time the floor on `path` into a fresh store at `db` (schema created untimed)."""
    from dialer.store import Store

    store = Store.open(f"sqlite:///{db}")
    store.close()
    parse = _floor_phone_parser()
    started = time.perf_counter()
    cpu_started = time.process_time()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    cur = conn.execute(
        "INSERT INTO import_runs (source_name, source_sha256, file_format, encoding, status,"
        " rows_read, rows_imported, rows_updated, rows_unchanged, rows_rejected,"
        " members_rejected, events_added, actor, started_at)"
        " VALUES (?, '', 'csv', 'utf-8', 'running', 0, 0, 0, 0, 0, 0, 0, 'floor', ?)",
        (str(path), now),
    )
    run_id = cur.lastrowid
    cache: dict[tuple[str, str], _FloorPhone | None] = {}
    customer_ids: dict[str, int] = {}
    customers: list[tuple[Any, ...]] = []
    phones: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    rejects: list[tuple[Any, ...]] = []
    read = 0
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for number, row in enumerate(reader, start=2):
            read += 1
            region = row[C_COUNTRY] or "TW"
            found: list[tuple[_FloorPhone, str]] = []
            for column in (C_MOBILE, C_PHONE):
                raw = row[column]
                if not raw:
                    continue
                key = (raw, region)
                try:
                    parsed = cache[key]
                except KeyError:
                    parsed = cache[key] = parse(raw, region)
                if parsed is not None:
                    found.append((parsed, header[column]))
            if not found:
                rejects.append(
                    (run_id, number, "phone", row[C_MOBILE], "no valid phone number", None,
                     json.dumps(dict(zip(header, row, strict=False)), ensure_ascii=False))
                )  # fmt: skip
                continue
            cid = customer_ids.get(row[C_ID])
            if cid is None:
                cid = customer_ids[row[C_ID]] = len(customer_ids) + 1
                consent = row[C_CONSENT]
                customers.append(
                    (cid, row[C_ID], row[C_ID], row[C_NAME], int(row[C_MEMBER] in MEMBER_YES),
                     (int(consent in MEMBER_YES) if consent else None), region,
                     found[0][0][3], 0, run_id, now, now)
                )  # fmt: skip
            for rank, (parsed, column_name) in enumerate(found):
                phones.append(
                    (cid, parsed[0], parsed[1], parsed[2], parsed[3], rank, column_name,
                     1, parsed[4])
                )  # fmt: skip
            day = row[C_DATE].replace("/", "-")
            at = f"{day} {row[C_TIME]}:00.000000" if row[C_TIME] else None
            mileage = row[C_MILEAGE].replace(",", "")
            parts = (day, row[C_TIME], row[C_SERVICE], row[C_PLATE], row[C_STORE])
            event_key = hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
            events.append(
                (cid, event_key, day, at, row[C_SERVICE] or None, row[C_PLATE] or None,
                 int(mileage) if mileage else None, row[C_STORE] or None, run_id, now)
            )  # fmt: skip
    conn.executemany(
        "INSERT INTO customers (id, customer_key, external_id, name, member, marketing_consent,"
        " region, time_zones, time_zone_explicit, last_import_run_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        customers,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO customer_phones (customer_id, e164, phone_type, region,"
        " time_zones, rank, source_column, voice_ok, sms_ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        phones,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO service_events (customer_id, event_key, service_date, service_at,"
        " service_type, vehicle, mileage_km, store, import_run_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    conn.executemany(
        'INSERT INTO rejected_rows (import_run_id, row_number, "column", value, reason, member,'
        " raw) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rejects,
    )
    conn.commit()
    conn.close()
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu_started,
        "worker_cpu_seconds": 0.0,
        "read": read,
        "distinct_numbers": len(cache),
        "tables": table_counts(db),
    }


# --- the import (always in a child process) -------------------------------------------------


def run_import(path: Path, db: Path) -> dict[str, Any]:
    from dialer.clock import SystemClock
    from dialer.ingest import Importer
    from dialer.store import Store

    store = Store.open(f"sqlite:///{db}")
    importer = Importer(store, SystemClock(), default_region="TW", actor="bench")
    started = time.perf_counter()
    cpu_started = time.process_time()
    summary = importer.run(path)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    store.close()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "worker_cpu_seconds": children_cpu_seconds(),
        "read": summary.read,
        "imported": summary.imported,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": summary.rejected,
        "events_added": summary.events_added,
        "status": str(summary.status),
        "tables": table_counts(db),
    }


def table_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("customers", "customer_phones", "service_events", "rejected_rows")
        }
    finally:
        conn.close()


def peak_rss_mib() -> float:
    """This process's own peak resident set (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children: the import's phone-number worker."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_peak_rss_mib() -> float:
    """Peak resident set of this process's largest finished child (the import's phone worker)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def child_main(mode: str, path: Path, db: Path) -> None:
    result = run_import(path, db) if mode == "import" else run_floor(path, db)
    # The import's phone-number worker process counts: own peak + the worker's peak (an upper
    # bound of what both held at once).
    result["worker_rss_mib"] = children_peak_rss_mib()
    result["peak_rss_mib"] = peak_rss_mib() + result["worker_rss_mib"]
    print(json.dumps(result))


def in_child(mode: str, path: Path, db: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter so its peak memory is its own."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(path), str(db)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{mode} of {path.name} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the report ------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")


def _fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, carrying the highest peak RSS seen in any of them."""
    best = dict(min(runs, key=lambda r: float(r["seconds"])))
    best["peak_rss_mib"] = max(float(r["peak_rss_mib"]) for r in runs)
    return best


def _n(value: int) -> str:
    return f"{value:,}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the main file")
    parser.add_argument(
        "--also-rows", type=int, default=100_000, help="rows of the memory-baseline file"
    )
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--workdir", type=Path, help="where files and databases go (temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--quick", action="store_true", help="50,000 rows vs 10,000 rows")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run floor and import N times, alternating, and compare the fastest of each",
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, file, db = args.child
        child_main(mode, Path(file), Path(db))
        return 0
    if args.quick:
        args.rows, args.also_rows = 50_000, 10_000
    out = sys.stdout
    made_workdir = args.workdir is None
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="dialer-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        big = workdir / f"customers-{args.rows}.csv"
        small = workdir / f"customers-{args.also_rows}.csv"
        t0 = time.perf_counter()
        customers = generate(big, args.rows, args.seed)
        generate(small, args.also_rows, args.seed)
        valid, checked = sample_validity(big)
        out.write(
            f"generated {_n(args.rows)} rows ({_n(customers)} customers,"
            f" {big.stat().st_size / 2**20:.0f} MiB) + {_n(args.also_rows)} rows"
            f" in {time.perf_counter() - t0:.1f}s; {valid}/{checked} sampled numbers valid;"
            f" work dir {workdir}\n"
        )
        out.flush()
        floors: list[dict[str, Any]] = []
        imports: list[dict[str, Any]] = []
        for attempt in range(1, args.repeat + 1):
            floors.append(in_child("floor", big, workdir / "floor.db"))
            imports.append(in_child("import", big, workdir / "import.db"))
            out.write(
                f"run {attempt}/{args.repeat}: floor {floors[-1]['seconds']:.1f}s"
                f" (cpu {floors[-1]['cpu_seconds']:.1f}s),"
                f" import {imports[-1]['seconds']:.1f}s"
                f" (cpu {imports[-1]['cpu_seconds']:.1f}s"
                f" + worker {imports[-1]['worker_cpu_seconds']:.1f}s)"
                f" (peak {imports[-1]['peak_rss_mib']:.0f} MiB,"
                f" of which worker {imports[-1]['worker_rss_mib']:.0f} MiB)\n"
            )
            out.flush()
        floor = _fastest(floors)
        full = _fastest(imports)
        base = in_child("import", small, workdir / "import-small.db")
        out.write(
            f"memory baseline: import of {_n(base['read'])} rows {base['seconds']:.1f}s"
            f" (peak {base['peak_rss_mib']:.0f} MiB, of which worker {base['worker_rss_mib']:.0f} MiB)\n"
        )
        time_ratio = full["seconds"] / floor["seconds"]
        mem_ratio = full["peak_rss_mib"] / base["peak_rss_mib"]

        out.write("\n")
        _table(
            [
                (
                    "run" if args.repeat == 1 else f"run (fastest of {args.repeat})",
                    "rows",
                    "seconds",
                    "rows/s",
                    "peak RSS",
                ),
                (
                    "floor (csv + phonenumbers + executemany)",
                    _n(floor["read"]),
                    f"{floor['seconds']:.1f}",
                    _n(round(floor["read"] / floor["seconds"])),
                    f"{floor['peak_rss_mib']:.0f} MiB",
                ),
                (
                    "dialer import",
                    _n(full["read"]),
                    f"{full['seconds']:.1f}",
                    _n(round(full["read"] / full["seconds"])),
                    f"{full['peak_rss_mib']:.0f} MiB",
                ),
                (
                    "dialer import (--also-rows)",
                    _n(base["read"]),
                    f"{base['seconds']:.1f}",
                    _n(round(base["read"] / base["seconds"])),
                    f"{base['peak_rss_mib']:.0f} MiB",
                ),
            ],
            out,
        )
        out.write(
            f"\n  import summary: read {_n(full['read'])}, imported {_n(full['imported'])},"
            f" updated {_n(full['updated'])}, unchanged {_n(full['unchanged'])},"
            f" rejected {_n(full['rejected'])}, events added {_n(full['events_added'])}"
            f" ({full['status']})\n\n"
        )
        tables = ("customers", "customer_phones", "service_events", "rejected_rows")
        _table(
            [
                ("rows written", *tables),
                ("floor", *(_n(floor["tables"][t]) for t in tables)),
                ("import", *(_n(full["tables"][t]) for t in tables)),
            ],
            out,
        )
        out.write(f"  distinct raw numbers in the file: {_n(floor['distinct_numbers'])}\n\n")
        out.write(
            f"ingest: {time_ratio:.2f}x floor (goal ≤ {TIME_GOAL}x),"
            f" memory {mem_ratio:.2f}x (goal ≤ {MEMORY_GOAL}x)\n"
        )
        missed = time_ratio > TIME_GOAL or mem_ratio > MEMORY_GOAL
        return 1 if args.strict and missed else 0
    finally:
        if made_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            out.write(f"kept {workdir}\n")


if __name__ == "__main__":
    raise SystemExit(main())
