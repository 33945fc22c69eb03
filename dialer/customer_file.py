"""Reading customer files: CSV/TSV/XLSX exports in Chinese, Korean and English, as a row stream.

`CustomerFile` works out the format, the text encoding and the delimiter, maps the header row
to canonical fields (`build_column_map`) and then streams `SourceRow`s: cells as stripped text,
keyed by field, with the original cells kept for the rejects file. Nothing here judges a value
(phones, dates and flags are parsed by `dialer.phones` and `dialer.values`): a file is either
unreadable as a whole (`InputFileError`, raised on opening) or it yields rows.

CSV files are streamed, never loaded: memory stays flat however long the file is. Workbooks
are read with python-calamine (openpyxl read-only as fallback).

Header matching lives in `dialer.column_map` and encoding detection in `dialer.text_encoding`;
their public names stay importable from here.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import stat
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from dialer.column_map import (
    FIELDS,
    REQUIRED,
    ColumnMap,
    alias_hits,
    build_column_map,
    clean_header,
    header_field,
)
from dialer.errors import InputFileError, UsageError
from dialer.text_encoding import (
    DELIMITERS,
    HEADER_SCAN_ROWS,
    complete_lines,
    decode,
    detect_encoding,
)

__all__ = [
    "FIELDS",
    "FORMATS",
    "REQUIRED",
    "ColumnMap",
    "CustomerFile",
    "SourceRow",
    "build_column_map",
    "cell_text",
    "detect_encoding",
    "header_field",
]

FORMATS = ("csv", "tsv", "xlsx")

SAMPLE_BYTES = 1 << 20  # encoding/delimiter detection; a file this small is also fully checked

# -------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row as found: text only, nothing parsed or judged yet."""

    number: int  # row number a person sees (spreadsheet view: header row 1, first data row 2)
    values: dict[str, str]  # field -> stripped cell text; empty cells are left out
    phones: list[tuple[str, str]]  # (header, cell) of non-empty phone cells, mobile-ish first
    cells: list[str] = dataclasses.field(repr=False)  # the cells as in the file
    labels: Sequence[str] = dataclasses.field(repr=False)  # unique header labels, one per column
    extra_cells: int = 0  # non-empty cells beyond the header's width (a misaligned row)
    extra: dict[str, str] | None = dataclasses.field(default=None, repr=False)  # those, labelled

    @property
    def raw(self) -> dict[str, str]:
        """Header -> cell as in the file, for the rejects file.

        Built on demand: only rejected rows need it, and a dict per row is a tenth of the
        reading cost of a million-row file.
        """
        raw = dict(zip(self.labels, self.cells, strict=False))
        if self.extra:
            raw.update(self.extra)
        return raw


RowBuilder = Callable[[int, list[str]], SourceRow | None]


def _raw_keys(headers: list[str]) -> list[str]:
    """Unique labels for the raw dict: duplicate headers get " (2)", unnamed ones "column N"."""
    seen: Counter[str] = Counter()
    keys = []
    for index, header in enumerate(headers):
        label = header or f"column {index + 1}"
        seen[label] += 1
        keys.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return keys


def _row_builder(column_map: ColumnMap) -> RowBuilder:
    """A closure turning a list of cells into a SourceRow; per-row work kept to the minimum."""
    keys = tuple(_raw_keys(column_map.headers))
    width = len(keys)
    items = tuple(
        (f, i) for f, i in column_map.fields.items() if f not in ("given_name", "family_name")
    )
    phone_items = tuple((i, h) for i, h in column_map.phone_columns)
    given = column_map.fields.get("given_name")
    family = column_map.fields.get("family_name")
    compose = given is not None or family is not None
    padding = [""] * width

    def build(number: int, cells: list[str]) -> SourceRow | None:
        extra = 0
        raw_extra: dict[str, str] | None = None
        if len(cells) != width:
            if len(cells) < width:
                cells = cells + padding[len(cells) :]
            else:
                raw_extra = {
                    f"column {width + k + 1}": cell
                    for k, cell in enumerate(cells[width:])
                    if cell.strip()
                }
                extra = len(raw_extra)
        values = {f: v for f, i in items if (v := cells[i].strip())}
        phones = [(h, v) for i, h in phone_items if (v := cells[i].strip())]
        if compose:
            name = _compose_name(
                cells[given].strip() if given is not None else "",
                cells[family].strip() if family is not None else "",
            )
            if name:
                values["name"] = name
        if not values and not phones and not extra and not any(c.strip() for c in cells):
            return None
        return SourceRow(number, values, phones, cells, keys, extra, raw_extra)

    return build


def _compose_name(given: str, family: str) -> str:
    """Family name first and unspaced for CJK names (王 + 小明), "Given Family" otherwise."""
    if not given or not family:
        return given or family
    if any(ord(ch) >= 0x2E80 for ch in family + given):
        return family + given
    return f"{given} {family}"


# ------------------------------------------------------------------------------ cell values


def cell_text(value: Any) -> str:
    """An Excel cell as the text a person sees: 912345678.0 -> "912345678", dates as ISO."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


# ------------------------------------------------------------------------------- the file

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_FORMAT_NAMES = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
}


class CustomerFile:
    """An open customer file: format, encoding and column map known, rows ready to stream.

    Use as a context manager. Everything that can make the whole file unusable is checked in
    the constructor (InputFileError, MissingColumnsError, UsageError), so an importer can fail
    before writing anything. `rows()` may be called more than once; each call reads anew.
    """

    format: str  # "csv" | "tsv" | "xlsx"
    encoding: str | None  # text encoding used (detected or forced); None for workbooks
    delimiter: str | None  # CSV/TSV only
    sheet_name: str | None  # workbooks only
    header_row: int  # row number of the header (1 unless title rows sit above it)
    column_map: ColumnMap
    size_bytes: int

    def __init__(
        self,
        path: Path | str,
        *,
        encoding: str | None = None,
        file_format: str | None = None,
        overrides: dict[str, str] | None = None,
        sheet: str | None = None,
        xlsx_engine: Literal["calamine", "openpyxl"] | None = None,
    ) -> None:
        self.path = Path(path)
        self.encoding = None
        self.delimiter = None
        self.sheet_name = None
        self._skip_first_line = False
        self._binary: IO[bytes] | None = None
        self._rows_done = 0
        self._rows_total = 0
        self._finished = False
        self._closed = False
        self._workbook: Any = None
        self._sheet: Any = None
        self._engine: str | None = None
        self._row_offset = 0
        self._live: list[Iterator[SourceRow]] = []
        head = self._check_path()
        self.format = self._decide_format(file_format, head)
        if self.format == "xlsx":
            first_rows = self._open_workbook(sheet, xlsx_engine)
        else:
            first_rows = self._open_text(encoding)
        try:
            self.header_row, headers = _find_header(first_rows, overrides or {}, self.path)
            self.column_map = build_column_map(headers, overrides)
        except BaseException:
            self.close()
            raise
        self._build = _row_builder(self.column_map)

    # -- context management -------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file and any workbook; unfinished row iterators are stopped."""
        for live in self._live:
            close = getattr(live, "close", None)
            if close is not None:
                close()
        self._live.clear()
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None
            self._sheet = None
        self._closed = True

    # -- progress -------------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        """How far the last rows() has got, in bytes of the file (estimated for workbooks)."""
        if self._finished:
            return self.size_bytes
        if self.format == "xlsx":
            if not self._rows_total:
                return 0
            return min(self.size_bytes, self.size_bytes * self._rows_done // self._rows_total)
        binary = self._binary
        if binary is None or binary.closed:
            return 0
        return min(self.size_bytes, binary.tell())

    @property
    def rows_total(self) -> int | None:
        """Number of rows in the sheet (workbooks only; a CSV is not counted in advance)."""
        return self._rows_total or None if self.format == "xlsx" else None

    # -- rows -------------------------------------------------------------------------------

    def rows(self) -> Iterator[SourceRow]:
        """Data rows after the header, blank rows skipped, numbers true to the file."""
        if self._closed:
            raise ValueError("the customer file is closed")
        iterator = self._workbook_rows() if self.format == "xlsx" else self._text_rows()
        self._live.append(iterator)
        return iterator

    def _text_rows(self) -> Iterator[SourceRow]:
        assert self.encoding is not None and self.delimiter is not None
        build = self._build
        self._finished = False
        number = self.header_row
        with self.path.open("rb") as binary:
            self._binary = binary
            text = io.TextIOWrapper(binary, encoding=self.encoding, errors="strict", newline="")
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                if self._skip_first_line:
                    next(reader, None)
                for _ in islice(reader, self.header_row):
                    pass
                for cells in reader:
                    number += 1
                    if cells:
                        row = build(number, cells)
                        if row is not None:
                            yield row
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{self.path.name}: the text near byte {binary.tell()} (around row "
                    f"{number + 1}) is not valid {self.encoding}; the file mixes encodings: "
                    "re-save it as UTF-8 or name the encoding with --encoding"
                ) from None
            except csv.Error as err:
                raise InputFileError(
                    f"{self.path.name}: row {number + 1} cannot be read as CSV ({err}); "
                    "look for an unbalanced quote or binary data there"
                ) from None
        self._finished = True

    def _workbook_rows(self) -> Iterator[SourceRow]:
        build = self._build
        self._finished = False
        number = self._row_offset
        convert = cell_text
        for cells in self._iter_sheet():
            number += 1
            self._rows_done = number
            if number <= self.header_row:
                continue
            row = build(number, [c if type(c) is str else convert(c) for c in cells])
            if row is not None:
                yield row
        self._finished = True

    # -- opening ------------------------------------------------------------------------------

    def _check_path(self) -> bytes:
        """The first bytes of the file; every reason it cannot be read becomes InputFileError."""
        path = self.path
        if not path.exists():
            raise InputFileError(f"{path}: no such file")
        if path.is_dir():
            raise InputFileError(f"{path} is a directory, not a customer file")
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device: opening it could block forever
                raise InputFileError(f"{path} is not a regular file")
            self.size_bytes = info.st_size
            with path.open("rb") as fh:
                head = fh.read(8)
        except OSError as err:
            raise InputFileError(f"{path} cannot be read: {err.strerror or err}") from None
        if self.size_bytes == 0:
            raise InputFileError(f"{path} is empty")
        return head

    def _decide_format(self, file_format: str | None, head: bytes) -> str:
        suffix = self.path.suffix.lower().lstrip(".")
        if file_format is not None:
            chosen = _FORMAT_NAMES.get(file_format.strip().lower().lstrip("."))
            if chosen is None:
                raise UsageError(f"unknown file format '{file_format}'; use one of: csv, tsv, xlsx")
            if chosen == "xlsx" and head.startswith(_OLE2):
                raise _old_excel(self.path)
            return chosen
        if head.startswith(_OLE2) or suffix == "xls":
            raise _old_excel(self.path)
        if suffix in ("ods", "xlsb", "numbers"):
            raise InputFileError(
                f"{self.path.name}: .{suffix} files are not supported; save it as .xlsx or CSV"
            )
        if head.startswith(_ZIP):
            return "xlsx"
        if suffix in ("xlsx", "xlsm"):
            raise InputFileError(
                f"{self.path.name} is not a valid Excel workbook (not a zip file); "
                "if it is really a CSV file, rename it or pass --format csv"
            )
        return "tsv" if suffix in ("tsv", "tab") else "csv"

    def _open_text(self, forced: str | None) -> list[tuple[int, list[str]]]:
        with self.path.open("rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
        complete = len(sample) == self.size_bytes
        if forced is not None:
            self.encoding = _forced_encoding(forced, sample)
            if decode(sample, self.encoding, complete) is None:
                raise InputFileError(
                    f"{self.path.name} is not valid {forced} text; check the --encoding value"
                )
        else:
            try:
                self.encoding = detect_encoding(sample, complete)
            except InputFileError as err:
                raise InputFileError(f"{self.path.name}: {err}") from None
        text = decode(sample, self.encoding, complete) or ""
        if not complete:
            text = complete_lines(text)
        if m := re.match(r"\ufeff?sep=(.)\r?\n", text):  # Excel's "sep=;" hint line
            self.delimiter = m[1]
            self._skip_first_line = True
            text = text[m.end() :]
        elif self.format == "tsv":
            self.delimiter = "\t"
        else:
            self.delimiter = _sniff_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        try:
            first = list(enumerate(islice(reader, HEADER_SCAN_ROWS * 50), start=1))
            if complete:  # a small file is checked whole now, so rows() cannot fail later
                for _ in reader:
                    pass
        except csv.Error as err:
            raise InputFileError(
                f"{self.path.name} cannot be read as CSV ({err}); it may not be a text file"
            ) from None
        return first

    def _open_workbook(
        self, sheet: str | None, engine: Literal["calamine", "openpyxl"] | None
    ) -> list[tuple[int, list[str]]]:
        calamine_error: Exception | None = None
        if engine in (None, "calamine"):
            try:
                self._open_calamine(sheet)
            except CalamineError as err:
                if engine == "calamine" or "password" in str(err).lower():
                    raise _bad_workbook(self.path, err) from None
                calamine_error = err
        if self._workbook is None:
            try:
                self._open_openpyxl(sheet)
            except (zipfile.BadZipFile, KeyError, ValueError, OSError, InvalidFileException) as err:
                raise _bad_workbook(self.path, calamine_error or err) from None
        first: list[tuple[int, list[str]]] = []
        number = self._row_offset
        for cells in self._iter_sheet():
            number += 1
            texts = [cell_text(c) for c in cells]
            first.append((number, texts))
            if sum(1 for _, t in first if any(c.strip() for c in t)) >= HEADER_SCAN_ROWS:
                break
            if number > HEADER_SCAN_ROWS * 50:
                break
        return first

    def _open_calamine(self, sheet: str | None) -> None:
        workbook = (
            CalamineWorkbook.from_path(str(self.path))
            if self.path.suffix.lower()
            in (
                ".xlsx",
                ".xlsm",
            )
            else CalamineWorkbook.from_filelike(io.BytesIO(self.path.read_bytes()))
        )
        try:
            name = _pick_sheet(
                workbook.sheet_names,
                [
                    m.name
                    for m in workbook.sheets_metadata
                    if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet
                ],
                sheet,
            )
            data = workbook.get_sheet_by_name(name)
        except BaseException:
            workbook.close()
            raise
        self._workbook, self._sheet, self._engine, self.sheet_name = (
            workbook,
            data,
            "calamine",
            name,
        )
        end = data.end
        self._rows_total = end[0] + 1 if end else 0
        start = data.start
        if start and start[0] > 0:
            # Some calamine versions start iter_rows() at the first non-empty row; then row
            # numbers must be offset to stay true to the sheet. Its first row is never blank.
            first = next(iter(data.iter_rows()), None)
            if first is not None and any(c != "" for c in first):
                self._row_offset = start[0]

    def _open_openpyxl(self, sheet: str | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            name = _pick_sheet(
                workbook.sheetnames,
                [ws.title for ws in workbook.worksheets if ws.sheet_state == "visible"],
                sheet,
            )
        except BaseException:
            workbook.close()
            raise
        data = workbook[name]
        self._workbook, self._sheet, self._engine, self.sheet_name = (
            workbook,
            data,
            "openpyxl",
            name,
        )
        self._rows_total = data.max_row or 0

    def _iter_sheet(self) -> Iterator[Iterable[Any]]:
        if self._sheet is None:
            raise ValueError("the customer file is closed")
        if self._engine == "calamine":
            return iter(self._sheet.iter_rows())
        return iter(self._sheet.iter_rows(values_only=True))


def _old_excel(path: Path) -> InputFileError:
    return InputFileError(
        f"{path.name} is in the old .xls format (or a password-protected workbook): "
        "save it as .xlsx or CSV"
    )


def _bad_workbook(path: Path, err: BaseException) -> InputFileError:
    if "password" in str(err).lower():
        return InputFileError(f"{path.name} is password-protected: save a copy without a password")
    return InputFileError(f"{path.name} cannot be read as an Excel workbook ({err})")


def _pick_sheet(names: list[str], visible: list[str], wanted: str | None) -> str:
    """The sheet asked for, else the first visible one."""
    if wanted is not None:
        if wanted in names:
            return wanted
        raise UsageError(
            f"the workbook has no sheet '{wanted}'; its sheets are: {', '.join(names)}"
        )
    if visible:
        return visible[0]
    if names:
        return names[0]
    raise InputFileError("the workbook has no sheets")


def _forced_encoding(name: str, sample: bytes) -> str:
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise UsageError(f"unknown encoding '{name}'; try utf-8, cp950, gb18030 or cp949") from None
    if canonical == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return canonical


def _sniff_delimiter(text: str) -> str:
    """The delimiter under which the header maps most aliases, else csv.Sniffer's, else ","."""
    head = complete_lines(text[:65536])
    scores = []
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        scores.append(
            (max((alias_hits(c) for c in islice(reader, HEADER_SCAN_ROWS)), default=0), delimiter)
        )
    scores.sort(reverse=True)
    if scores[0][0] > 0 and scores[0][0] > scores[1][0]:
        return scores[0][1]
    lines = "".join(io.StringIO(head, newline="").readlines()[:50])
    try:
        return csv.Sniffer().sniff(lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _find_header(
    rows: list[tuple[int, list[str]]], overrides: dict[str, str], path: Path
) -> tuple[int, list[str]]:
    """The header row: among the first non-blank rows, the one naming the most known columns.

    Exports often put a title ("客戶回訪名單 2026-11") above the header; those rows are skipped.
    Without any recognisable row, the first non-blank row is the header (and the column map
    will report what is missing).
    """
    wanted = {c.strip() for c in overrides}
    candidates = [(n, cells) for n, cells in rows if any(c.strip() for c in cells)][
        :HEADER_SCAN_ROWS
    ]
    if not candidates:
        raise InputFileError(f"{path.name} has no header row (it holds only blank lines)")
    best_number, best_cells = candidates[0]
    best_score = 0
    for number, cells in candidates:
        score = alias_hits(cells) + sum(1 for c in cells if c.strip() in wanted)
        if score > best_score:
            best_number, best_cells, best_score = number, cells, score
    return best_number, [clean_header(c) for c in best_cells]
