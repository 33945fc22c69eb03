"""The demo's sample customer file: a few thousand realistic customers, generated from a seed.

Taiwan (+886 mobiles, zh-TW names), Korea (+82 10…, Korean names, ko) and the United States
(+1 numbers with real area codes in four zones, English names); about 40% members; service
visits in the two days before the demo starts (in each customer's own zone); and a few dozen
deliberately bad rows (no usable phone, no name, an impossible date) that the import rejects
and counts. Same seed, same start, same file.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HEADER = (
    "客戶編號", "姓名", "稱謂", "手機", "會員", "國家", "時區", "語言",
    "服務日期", "服務時間", "服務項目", "車牌", "里程", "門市",
)  # fmt: skip
SHARES = (("TW", 0.55), ("KR", 0.25), ("US", 0.20))
MEMBER_SHARE = 0.40
BAD_SHARE = 0.012  # about three dozen of 3,000
BAD_KINDS = ("phone", "name", "date")

TW_SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高"
TW_GIVEN = "志明美玲建國淑芬宗憲雅婷家豪怡君俊傑佩珊文華欣怡冠宇詩涵承恩子晴宏志惠娟"
KR_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
KR_GIVEN = "민준서연지훈하은도윤수빈예준지우현우서윤준서하윤은지성민"
US_FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Daniel", "Emily", "Kevin", "Grace", "Jason", "Olivia", "Brian", "Sophia",
)  # fmt: skip
US_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Chen",
    "Nguyen", "Kim", "Walker", "Hall", "Young", "King",
)  # fmt: skip
# Real area codes in four zones (New York, Chicago, Denver, Los Angeles / Seattle / San Jose).
US_AREAS = (
    ("212", "America/New_York", "New York"), ("617", "America/New_York", "Boston"),
    ("404", "America/New_York", "Atlanta"), ("312", "America/Chicago", "Chicago"),
    ("214", "America/Chicago", "Dallas"), ("303", "America/Denver", "Denver"),
    ("213", "America/Los_Angeles", "Los Angeles"), ("206", "America/Los_Angeles", "Seattle"),
    ("408", "America/Los_Angeles", "San Jose"),
)  # fmt: skip
TW_STORES = ("台北內湖店", "新北板橋店", "台中西屯店", "高雄左營店")
KR_STORES = ("서울 강남점", "부산 해운대점", "인천 송도점")
TW_SERVICES = ("定期保養", "更換輪胎", "冷氣檢修", "鈑金烤漆", "更換機油")
KR_SERVICES = ("엔진오일 교환", "타이어 교체", "정기 점검", "에어컨 점검")
US_SERVICES = ("Oil change", "Brake inspection", "Tire rotation", "Scheduled maintenance")
ZONES = {"TW": "Asia/Taipei", "KR": "Asia/Seoul"}


@dataclass(frozen=True)
class SampleSummary:
    path: Path
    rows: int
    bad_rows: int
    members: int
    by_country: dict[str, int]


def _country(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for code, share in SHARES:
        acc += share
        if x < acc:
            return code
    return SHARES[-1][0]


def _row(rng: random.Random, n: int, country: str, start: datetime) -> list[str]:
    member = rng.random() < MEMBER_SHARE
    zone = ZONES.get(country, "")
    if country == "TW":
        name = rng.choice(TW_SURNAMES) + "".join(rng.sample(TW_GIVEN, 2))
        title = rng.choice(("先生", "小姐"))
        phone = f"09{rng.randint(10, 89)}-{rng.randint(0, 999):03d}-{rng.randint(0, 999):03d}"
        lang, service, store = "zh-TW", rng.choice(TW_SERVICES), rng.choice(TW_STORES)
        plate = f"{rng.choice('ABCDEFGHJK')}{rng.choice('ABCDEFGHJK')}{rng.choice('ABCDEFGHJK')}"
        plate += f"-{rng.randint(1000, 9999)}"
        flag = "是" if member else "否"
    elif country == "KR":
        name = rng.choice(KR_SURNAMES) + "".join(rng.sample(KR_GIVEN, 2))
        title = "님"
        phone = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        lang, service, store = "ko", rng.choice(KR_SERVICES), rng.choice(KR_STORES)
        plate = f"{rng.randint(10, 99)}가{rng.randint(1000, 9999)}"
        flag = "회원" if member else "비회원"
    else:
        area, zone, store = rng.choice(US_AREAS)
        name = f"{rng.choice(US_FIRST)} {rng.choice(US_LAST)}"
        title = rng.choice(("Mr.", "Ms."))
        phone = f"({area}) {rng.randint(201, 989)}-{rng.randint(1000, 9999)}"
        lang, service = "en", rng.choice(US_SERVICES)
        plate = f"{rng.randint(1, 9)}{rng.choice('ABCDEFGH')}{rng.choice('KLMNPRST')}"
        plate += f"{rng.choice('UVWXYZ')}{rng.randint(100, 999)}"
        flag = "yes" if member else "no"
    # A visit in the two days before the start, during opening hours in the customer's zone.
    served = start.astimezone(ZoneInfo(zone)) - timedelta(minutes=rng.randint(60, 48 * 60))
    served = served.replace(hour=rng.randint(9, 17), minute=rng.choice((0, 15, 30, 45)))
    if served > start.astimezone(ZoneInfo(zone)):
        served -= timedelta(days=1)
    return [
        f"D{n:05d}", name, title, phone, flag, country, zone, lang,
        f"{served:%Y-%m-%d}", f"{served:%H:%M}", service, plate,
        str(rng.randint(3, 180) * 1000), store,
    ]  # fmt: skip


def _spoil(rng: random.Random, row: list[str], kind: str) -> None:
    if kind == "phone":
        row[3] = rng.choice(("12", "0912-34", "call me", "000"))
    elif kind == "name":
        row[1] = ""
    else:
        row[8] = rng.choice(("2026-13-45", "yesterday", "31/31/2026"))


def generate(path: Path, count: int = 3000, *, seed: int = 6, start: datetime) -> SampleSummary:
    """Write `count` customer rows (bad ones included) to `path` as UTF-8 CSV."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    at = start
    bad = max(1, round(count * BAD_SHARE)) if count >= 10 else 0
    bad_at = set(rng.sample(range(count), bad))
    rows: list[list[str]] = []
    members = 0
    by_country: dict[str, int] = {}
    for i in range(count):
        country = _country(rng)
        row = _row(rng, i + 1, country, at)
        if i in bad_at:
            _spoil(rng, row, BAD_KINDS[len(rows) % len(BAD_KINDS)])
        members += row[4] in ("是", "회원", "yes")
        by_country[country] = by_country.get(country, 0) + 1
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return SampleSummary(path, count, len(bad_at), members, by_country)


__all__ = ["SampleSummary", "generate"]
