"""Customer files as users export them: real files written to tmp_path, read back through CustomerFile."""

from __future__ import annotations

import csv
import tracemalloc
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.customer_file import (
    FIELDS,
    CustomerFile,
    SourceRow,
    build_column_map,
    cell_text,
    detect_encoding,
    header_field,
)
from dialer.errors import InputFileError, MissingColumnsError, UsageError

ZH_TW = (
    "客戶編號,姓名,手機,電話,會員,服務日期,服務項目\n"
    "C001,陳志明,0912345678,02-23456789,是,2026/11/20,定期保養\n"
    "C002,林淑芬,0922333444,,否,2026/11/21,更換機油\n"
    "C003,黃美玲,0933444555,,是,2026/11/22,輪胎檢查\n"
)
ZH_CN = (
    "客户编号,姓名,手机,电话,会员,服务日期,服务项目\n"
    "C001,王伟,13800138000,010-12345678,是,2026/11/20,定期保养\n"
    "C002,李娜,13900139000,,否,2026/11/21,更换机油\n"
    "C003,张秀英,13700137000,,是,2026/11/22,轮胎检查\n"
)
KO = (
    "고객번호,이름,휴대폰,전화,회원,서비스일자,서비스항목\n"
    "C001,김민준,010-1234-5678,02-123-4567,예,2026-11-20,정기 점검\n"
    "C002,이서연,010-2345-6789,,아니오,2026-11-21,오일 교체\n"
    "C003,박지호,010-3456-7890,,예,2026-11-22,타이어 점검\n"
)
NAMES = {
    ZH_TW: ["陳志明", "林淑芬", "黃美玲"],
    ZH_CN: ["王伟", "李娜", "张秀英"],
    KO: ["김민준", "이서연", "박지호"],
}


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read(path: Path, **kwargs: object) -> tuple[CustomerFile, list[SourceRow]]:
    with CustomerFile(path, **kwargs) as source:  # type: ignore[arg-type]
        return source, list(source.rows())


# ------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("text", "encoding", "detected"),
    [
        (ZH_TW, "utf-8", "utf-8"),
        (ZH_TW, "utf-8-sig", "utf-8-sig"),
        (ZH_TW, "cp950", "cp950"),
        (ZH_TW, "big5", "cp950"),
        (ZH_TW, "utf-16", "utf-16"),
        (ZH_CN, "utf-8", "utf-8"),
        (ZH_CN, "gb18030", "gb18030"),
        (ZH_CN, "gbk", "gb18030"),
        (ZH_CN, "gb2312", "gb18030"),
        (KO, "utf-8-sig", "utf-8-sig"),
        (KO, "cp949", "cp949"),
        (KO, "euc_kr", "cp949"),
    ],
)
def test_encodings_are_detected_and_headers_map(
    tmp_path: Path, text: str, encoding: str, detected: str
) -> None:
    source, rows = read(write(tmp_path, "customers.csv", text, encoding))
    assert source.encoding == detected
    assert source.format == "csv"
    assert source.column_map.fields == {
        "customer_id": 0,
        "name": 1,
        "member": 4,
        "service_date": 5,
        "service_type": 6,
    }
    assert [h for _, h in source.column_map.phone_columns] == text.split(",")[2:4]
    assert [r.values["name"] for r in rows] == NAMES[text]
    assert "\ufeff" not in source.column_map.headers[0]
    assert [r.number for r in rows] == [2, 3, 4]


@pytest.mark.parametrize(
    ("names", "encoding", "detected"),
    [
        (NAMES[ZH_TW], "big5", "cp950"),
        (NAMES[ZH_CN], "gbk", "gb18030"),
        (NAMES[KO], "euc_kr", "cp949"),
    ],
)
def test_encoding_detected_from_the_data_when_headers_are_english(
    tmp_path: Path, names: list[str], encoding: str, detected: str
) -> None:
    text = "id,name,mobile\n" + "".join(f"{i},{n},0912{i:06d}\n" for i, n in enumerate(names))
    source, rows = read(write(tmp_path, "c.csv", text, encoding))
    assert source.encoding == detected
    assert [r.values["name"] for r in rows] == names


def test_utf8_cut_inside_a_character_by_the_sample_is_still_utf8() -> None:
    data = ("name,phone\n" + "陳志明,0912345678\n" * 10).encode()
    cut = data[: data.index("志".encode()) + 1]  # ends mid-character
    assert detect_encoding(cut, complete=False) == "utf-8"
    with pytest.raises(InputFileError):  # ...but a whole file may not end that way
        detect_encoding(b"\xff\x81\x90", complete=True)


def test_large_utf8_file_with_multibyte_char_at_the_sample_boundary(tmp_path: Path) -> None:
    line = "陳志明,0912345678\n".encode()
    body = b"name,phone\n" + line * ((1 << 20) // len(line) + 50)
    source, rows = read(write(tmp_path, "big.csv", body))
    assert source.encoding == "utf-8"
    assert rows[-1].values["name"] == "陳志明"


def test_forced_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", ZH_TW, "big5")
    source, rows = read(path, encoding="big5")
    assert source.encoding == "big5"
    assert rows[0].values["name"] == "陳志明"
    with pytest.raises(InputFileError, match="not valid utf-8 text; check the --encoding"):
        CustomerFile(path, encoding="utf-8")
    with pytest.raises(UsageError, match="unknown encoding 'klingon'"):
        CustomerFile(path, encoding="klingon")


def test_forced_utf8_strips_a_bom(tmp_path: Path) -> None:
    source, _ = read(write(tmp_path, "c.csv", KO, "utf-8-sig"), encoding="utf8")
    assert source.encoding == "utf-8-sig"
    assert source.column_map.headers[0] == "고객번호"


def test_undecodable_file_names_the_encoding_option(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", b"name,phone\n\xff\x81\x90,1\n")
    with pytest.raises(InputFileError) as info:
        CustomerFile(path)
    message = str(info.value)
    assert message.startswith("c.csv: cannot tell the text encoding")
    assert "--encoding" in message


def test_nul_bytes_are_not_a_csv(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="NUL bytes"):
        CustomerFile(write(tmp_path, "c.csv", b"name,phone\n\x00\x01\x02,1\n"))


def test_utf16_without_bom(tmp_path: Path) -> None:
    source, rows = read(write(tmp_path, "c.txt", KO, "utf-16-le"))
    assert source.encoding == "utf-16-le"
    assert rows[0].values["name"] == "김민준"


def test_windows_1252_as_last_resort(tmp_path: Path) -> None:
    source, rows = read(write(tmp_path, "c.csv", "name,phone\nJosé Müller,0912345678\n", "cp1252"))
    assert source.encoding == "cp1252"
    assert rows[0].values["name"] == "José Müller"


def test_encoding_changing_after_the_sample_fails_clearly(tmp_path: Path) -> None:
    line = b"Alice,0912345678\n"
    body = b"name,phone\n" + line * ((1 << 20) // len(line) + 10) + "陳志明,1\n".encode("big5")
    path = write(tmp_path, "mixed.csv", body)
    with CustomerFile(path) as source:
        assert source.encoding == "utf-8"
        with pytest.raises(InputFileError, match=r"mixes encodings.*--encoding"):
            for _ in source.rows():
                pass


# ------------------------------------------------------------------------------ delimiters


def test_tsv_by_extension(tmp_path: Path) -> None:
    source, rows = read(write(tmp_path, "c.tsv", ZH_TW.replace(",", "\t")))
    assert (source.format, source.delimiter) == ("tsv", "\t")
    assert rows[1].values == {
        "customer_id": "C002",
        "name": "林淑芬",
        "member": "否",
        "service_date": "2026/11/21",
        "service_type": "更換機油",
    }


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_sniffed_in_csv(tmp_path: Path, delimiter: str) -> None:
    source, rows = read(write(tmp_path, "c.csv", KO.replace(",", delimiter)))
    assert source.delimiter == delimiter
    assert rows[0].phones == [("휴대폰", "010-1234-5678"), ("전화", "02-123-4567")]


def test_delimiter_sniffed_without_known_headers(tmp_path: Path) -> None:
    text = "foo;bar;baz\n1;2,5;3\n4;5;6\n"
    with pytest.raises(MissingColumnsError) as info:
        CustomerFile(write(tmp_path, "c.csv", text))
    assert info.value.headers == ["foo", "bar", "baz"]


def test_excel_sep_line(tmp_path: Path) -> None:
    source, rows = read(write(tmp_path, "c.csv", "sep=;\nname;phone\nAmy;0912\n"))
    assert source.delimiter == ";"
    assert rows[0].values == {"name": "Amy"}
    assert rows[0].number == 2


def test_quoted_cells_with_delimiters_and_newlines(tmp_path: Path) -> None:
    text = 'name,phone,store\n"Wang, Amy","0912345678","Taipei\nMain"\nBob,0922,\n'
    _, rows = read(write(tmp_path, "c.csv", text))
    assert rows[0].values == {"name": "Wang, Amy", "store": "Taipei\nMain"}
    assert [r.number for r in rows] == [2, 3]  # a multi-line cell is still one row


# -------------------------------------------------------------------------------- workbooks


def make_workbook(path: Path) -> Path:
    """Excel stores wall-clock datetimes without a zone, hence the naive datetimes here."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "客戶"
    ws["A1"] = "2026年11月 回訪名單"  # a title row above the header
    ws.append(["姓名", "手機", "電話", "會員", "服務日期", "服務時間", "里程", "客戶編號"])
    ws.append(
        ["陳志明", 912345678, "02-23456789", True, date(2026, 11, 20), time(14, 30), 12345, "00123"]
    )
    ws.append([])  # blank row 4
    second_visit = datetime(2026, 11, 21, 9, 15)  # noqa: DTZ001
    ws.append(["林淑芬", "0922333444", None, False, second_visit, None, 12345.6, 7])
    third_visit = datetime(2026, 11, 22)  # noqa: DTZ001
    ws.append(["黃美玲", 912345678.0, None, "是", third_visit, None, None, None])
    wb.save(path)
    return path


@pytest.mark.parametrize("engine", [None, "calamine", "openpyxl"])
def test_xlsx_cells_become_text(tmp_path: Path, engine: str | None) -> None:
    source, rows = read(make_workbook(tmp_path / "c.xlsx"), xlsx_engine=engine)
    assert (source.format, source.encoding, source.sheet_name) == ("xlsx", None, "客戶")
    assert source.header_row == 2
    assert [r.number for r in rows] == [3, 5, 6]
    first, second, third = rows
    assert first.phones == [("手機", "912345678"), ("電話", "02-23456789")]
    assert first.values == {
        "name": "陳志明",
        "member": "true",
        "service_date": "2026-11-20",
        "service_time": "14:30:00",
        "mileage": "12345",
        "customer_id": "00123",
    }
    assert second.phones == [("手機", "0922333444")]  # a text cell keeps its leading zero
    assert second.values["service_date"] == "2026-11-21T09:15:00"
    assert second.values["member"] == "false"
    assert second.values["mileage"] == "12345.6"
    assert second.values["customer_id"] == "7"
    assert third.phones == [("手機", "912345678")]
    assert third.values["service_date"] == "2026-11-22"
    assert source.bytes_read == source.size_bytes


@pytest.mark.parametrize("engine", ["calamine", "openpyxl"])
def test_xlsx_data_away_from_the_corner_keeps_true_row_numbers(tmp_path: Path, engine: str) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws["C4"], ws["D4"] = "이름", "휴대폰"
    ws["C5"], ws["D5"] = "김민준", "010-1234-5678"
    ws["C8"], ws["D8"] = "이서연", "010-2345-6789"
    path = tmp_path / "c.xlsx"
    wb.save(path)
    source, rows = read(path, xlsx_engine=engine)
    assert source.header_row == 4
    assert [(r.number, r.values["name"]) for r in rows] == [(5, "김민준"), (8, "이서연")]
    assert rows[1].phones == [("휴대폰", "010-2345-6789")]


def test_xlsx_sheet_choice(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    hidden = wb.active
    assert hidden is not None
    hidden.title = "notes"
    hidden.sheet_state = "hidden"
    hidden.append(["nothing here"])
    data = wb.create_sheet("list")
    data.append(["name", "phone"])
    data.append(["Amy", "0912"])
    other = wb.create_sheet("other")
    other.append(["name", "mobile"])
    other.append(["Bob", "0922"])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    source, rows = read(path)
    assert source.sheet_name == "list"  # the first visible sheet
    assert rows[0].values["name"] == "Amy"
    source, rows = read(path, sheet="other")
    assert rows[0].values["name"] == "Bob"
    with pytest.raises(UsageError, match="no sheet 'missing'; its sheets are: notes, list, other"):
        CustomerFile(path, sheet="missing")


def test_xlsx_progress_is_reported(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["name", "phone"])
    for i in range(100):
        ws.append([f"n{i}", f"09{i:08d}"])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    with CustomerFile(path) as source:
        assert source.rows_total == 101
        seen = []
        for row in source.rows():
            if row.number == 51:
                seen.append(source.bytes_read)
        assert 0 < seen[0] < source.size_bytes
        assert source.bytes_read == source.size_bytes


def test_old_xls_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"old \.xls format.*save it as \.xlsx or CSV"):
        CustomerFile(write(tmp_path, "c.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100))
    with pytest.raises(InputFileError, match=r"old \.xls format"):
        CustomerFile(write(tmp_path, "d.xls", "name,phone\nA,1\n"))
    with pytest.raises(InputFileError, match=r"old \.xls format"):  # whatever its name says
        CustomerFile(write(tmp_path, "e.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100))


def test_broken_or_misnamed_workbooks(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"not a valid Excel workbook.*--format csv"):
        CustomerFile(write(tmp_path, "c.xlsx", "name,phone\nA,1\n"))
    source, rows = read(write(tmp_path, "c.xlsx", "name,phone\nA,1\n"), file_format="csv")
    assert rows[0].values == {"name": "A"}
    good = make_workbook(tmp_path / "good.xlsx")
    with pytest.raises(InputFileError, match="cannot be read as an Excel workbook"):
        CustomerFile(write(tmp_path, "broken.xlsx", good.read_bytes()[:2000]))
    renamed = write(tmp_path, "export.csv", good.read_bytes())  # a workbook named .csv
    source, rows = read(renamed)
    assert source.format == "xlsx"
    assert rows[0].values["name"] == "陳志明"
    with pytest.raises(UsageError, match="unknown file format 'pdf'"):
        CustomerFile(renamed, file_format="pdf")


# ------------------------------------------------------------------------ unusable files


def test_missing_empty_and_blank_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        CustomerFile(tmp_path / "nope.csv")
    with pytest.raises(InputFileError, match="is a directory"):
        CustomerFile(tmp_path)
    with pytest.raises(InputFileError, match="is empty"):
        CustomerFile(write(tmp_path, "empty.csv", b""))
    with pytest.raises(InputFileError, match="has no header row"):
        CustomerFile(write(tmp_path, "blank.csv", "\n \n,,\n\r\n"))


def test_missing_required_columns_lists_the_headers_found(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "客戶編號,聯絡人,地址\nC1,王先生,台北\n")
    with pytest.raises(MissingColumnsError) as info:
        CustomerFile(path)
    err = info.value
    assert isinstance(err, InputFileError)
    assert err.missing == ["name", "phone"]
    assert err.headers == ["客戶編號", "聯絡人", "地址"]
    assert str(err) == (
        "the file is missing required column(s) name, phone; "
        "headers found: '客戶編號', '聯絡人', '地址'"
    )


def test_a_file_without_service_dates_is_fine(tmp_path: Path) -> None:
    source, rows = read(write(tmp_path, "c.csv", "姓名,手機\n王小明,0912345678\n"))
    assert "service_date" not in source.column_map.fields
    assert rows[0].values == {"name": "王小明"}


# -------------------------------------------------------------------------- column mapping


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-Mail", "email"),
        ("e_mail", "email"),
        ("ＥＭＡＩＬ", "email"),
        ("Customer No.", "customer_id"),
        ("會員編號", "customer_id"),
        ("마케팅 수신동의", "consent"),
        ("同意行銷", "consent"),
        ("手機(必填)", "phone:mobile"),
        ("手機號碼", "phone:mobile"),
        ("휴대폰번호", "phone:mobile"),
        ("Mobile Phone", "phone:mobile"),
        ("電話2", "phone:other"),
        ("phone 1", "phone:other"),
        ("연락처", "phone:other"),
        ("Time Zone", "time_zone"),
        ("勿擾時段", "quiet_hours"),
        ("車牌號碼", "vehicle"),
        ("주행거리", "mileage"),
        ("服務據點", "store"),
        ("來店日期", "service_date"),
        ("서비스 날짜", "service_date"),
        ("稱謂", "title"),
        ("Last Name", "family_name"),
    ],
)
def test_header_aliases(header: str, field: str) -> None:
    hit = header_field(header)
    assert hit is not None and hit[0] == field


@pytest.mark.parametrize("header", ["備註", "地址", "聯絡人", "name2", "序號", ""])
def test_headers_that_mean_nothing(header: str) -> None:
    assert header_field(header) is None


def test_phone_columns_mobile_first_and_empty_cells_left_out(tmp_path: Path) -> None:
    text = "電話,公司電話,姓名,手機,備註\n02-1111,,王小明,0912,VIP\n,,李小華,,\n"
    source, rows = read(write(tmp_path, "c.csv", text))
    assert source.column_map.phone_columns == [(3, "手機"), (0, "電話"), (1, "公司電話")]
    assert source.column_map.ignored == ["備註"]
    assert rows[0].phones == [("手機", "0912"), ("電話", "02-1111")]
    assert rows[1].phones == []  # the importer rejects it; reading it is not an error
    assert rows[1].raw == {"電話": "", "公司電話": "", "姓名": "李小華", "手機": "", "備註": ""}


def test_specific_alias_beats_a_generic_one() -> None:
    cmap = build_column_map(["date", "name", "phone", "服務日期", "id", "客戶編號"])
    assert cmap.fields["service_date"] == 3
    assert cmap.fields["customer_id"] == 5
    assert cmap.ignored == ["date", "id"]


def test_overrides() -> None:
    headers = ["聯絡人", "手機", "住家", "備註", "電話"]
    cmap = build_column_map(headers, {"聯絡人": "name", "住家": "phone", "電話": "ignore"})
    assert cmap.fields == {"name": 0}
    assert cmap.phone_columns == [(1, "手機"), (2, "住家")]
    assert cmap.ignored == ["備註", "電話"]
    moved = build_column_map(["姓名", "暱稱", "手機"], {"暱稱": "Name"})
    assert moved.fields == {"name": 1}
    assert moved.ignored == ["姓名"]


def test_override_errors() -> None:
    headers = ["聯絡人", "手機"]
    with pytest.raises(UsageError) as info:
        build_column_map(headers, {"聯絡人": "nickname"})
    assert "unknown field 'nickname'" in str(info.value)
    assert all(f in str(info.value) for f in FIELDS)
    with pytest.raises(UsageError) as info:
        build_column_map(headers, {"聯系人": "name"})
    assert str(info.value) == (
        "--map 聯系人=name: the file has no column '聯系人'; headers are: '聯絡人', '手機'"
    )
    with pytest.raises(UsageError, match="gives the field name to 2 columns"):
        build_column_map(["a", "b", "手機"], {"a": "name", "b": "name"})
    with pytest.raises(MissingColumnsError):
        build_column_map(headers, {"手機": "ignore", "聯絡人": "name"})


def test_override_through_customer_file(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "聯絡人,手機\n王先生,0912\n")
    with pytest.raises(MissingColumnsError):
        CustomerFile(path)
    _, rows = read(path, overrides={"聯絡人": "name"})
    assert rows[0].values == {"name": "王先生"}
    with pytest.raises(UsageError):
        CustomerFile(path, overrides={"聯絡人": "nickname"})


def test_name_parts_are_joined() -> None:
    cmap = build_column_map(["First Name", "Last Name", "Phone"])
    assert cmap.fields == {"given_name": 0, "family_name": 1}


def test_name_parts_in_rows(tmp_path: Path) -> None:
    text = "First Name,Last Name,Phone\nAmy,Wang,0912\n,Lee,0922\n小明,王,0933\n"
    _, rows = read(write(tmp_path, "c.csv", text))
    assert [r.values["name"] for r in rows] == ["Amy Wang", "Lee", "王小明"]
    assert "given_name" not in rows[0].values


# --------------------------------------------------------------------------- row shapes


def test_blank_rows_skipped_and_numbers_stay_true(tmp_path: Path) -> None:
    text = "客戶回訪名單\n\n姓名,手機\n王一,0911\n\n,\n  , \n李二,0922\n\n"
    source, rows = read(write(tmp_path, "c.csv", text))
    assert source.header_row == 3  # the title row is skipped
    assert [(r.number, r.values["name"]) for r in rows] == [(4, "王一"), (8, "李二")]


def test_short_and_long_rows(tmp_path: Path) -> None:
    text = "姓名,手機,會員\n王一\n李二,0922,是,extra,,more\n陳三,0933,否,,\n"
    _, rows = read(write(tmp_path, "c.csv", text))
    short, long, trailing = rows
    assert short.values == {"name": "王一"} and short.phones == []
    assert short.raw == {"姓名": "王一", "手機": "", "會員": ""}
    assert short.extra_cells == 0
    assert long.values == {"name": "李二", "member": "是"}
    assert long.extra_cells == 2
    assert long.raw == {
        "姓名": "李二",
        "手機": "0922",
        "會員": "是",
        "column 4": "extra",
        "column 6": "more",
    }
    assert trailing.extra_cells == 0  # empty trailing cells are Excel noise, not misalignment


def test_cells_are_stripped_but_raw_is_kept(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "c.csv", "姓名,手機\n  王一 , 0911 \n"))
    assert rows[0].values == {"name": "王一"}
    assert rows[0].phones == [("手機", "0911")]
    assert rows[0].raw == {"姓名": "  王一 ", "手機": " 0911 "}


def test_duplicate_and_unnamed_headers_keep_raw_keys_unique(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "c.csv", "姓名,手機,備註,,備註\nA,1,x,y,z\n"))
    assert rows[0].raw == {"姓名": "A", "手機": "1", "備註": "x", "column 4": "y", "備註 (2)": "z"}


def test_rows_can_be_read_twice_and_closing_stops_them(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", ZH_TW)
    source = CustomerFile(path)
    assert len(list(source.rows())) == len(list(source.rows())) == 3
    rows = source.rows()
    next(rows)
    source.close()
    with pytest.raises(StopIteration):
        next(rows)
    with pytest.raises(ValueError, match="closed"):
        source.rows()


# ---------------------------------------------------------------------------- cell text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("0912", "0912"),
        (912345678.0, "912345678"),
        (886912345678.0, "886912345678"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.3"),
        (42, "42"),
        (True, "true"),
        (False, "false"),
        (date(2026, 11, 20), "2026-11-20"),
        (datetime(2026, 11, 20), "2026-11-20"),  # noqa: DTZ001 - Excel has no zones
        (datetime(2026, 11, 20, 14, 30), "2026-11-20T14:30:00"),  # noqa: DTZ001
        (time(14, 30), "14:30:00"),
        (timedelta(hours=30, minutes=5), "30:05:00"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


# ---------------------------------------------------------------------- streaming, progress


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客戶編號", "姓名", "手機", "會員", "服務日期", "服務項目", "門市"])
        for i in range(200_000):
            writer.writerow(
                [f"C{i:06d}", "陳志明", f"09{i:08d}", "是", "2026/11/20", "定期保養", "台北"]
            )
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with CustomerFile(path) as source:
            _, open_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            count = 0
            progress = []
            for _row in source.rows():
                count += 1
                if count % 50_000 == 0:
                    progress.append(source.bytes_read)
            _, rows_peak = tracemalloc.get_traced_memory()
            end = source.bytes_read
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert size > 10 << 20
    assert open_peak < 8 << 20  # the detection sample (1 MiB) and its decodings
    assert rows_peak < 1 << 20  # streaming: a read buffer and a row, whatever the file size
    assert progress == sorted(progress) and 0 < progress[0] < size
    assert end == size


# ------------------------------------------------------------------------------- fuzzing

HEADER = "姓名,手機,會員,服務日期\n".encode()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=400).map(lambda b: HEADER + b),
        st.text(st.sampled_from(',;\t"\r\n 陳志明0912會員-'), max_size=200).map(
            lambda t: HEADER + t.encode()
        ),
    )
)
def test_arbitrary_bytes_either_fail_on_open_or_read(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        source = CustomerFile(path)
    except InputFileError:
        event("refused on open")
        return
    event("opened")
    with source:
        for row in source.rows():
            assert row.number > source.header_row
            assert all(v == v.strip() and v for v in row.values.values())
