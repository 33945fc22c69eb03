"""Reading campaign files: TOML to `CampaignSpec`, every problem with its file, line and field.

`load_campaign(path)` reads and checks one file; `scan_campaigns(folder)` checks every `*.toml`
in a folder without stopping at the first bad one.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
)

from dialer.errors import ConfigError

if TYPE_CHECKING:
    pass
from dialer.campaign_checks import CampaignError, Problem, _cross_problems
from dialer.campaign_model import CampaignSpec
from dialer.campaign_values import Loc, _hint, format_duration


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is not None and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _model_at(loc: Loc) -> Any:
    """The model (or type) found at a field path, walking lists and dict values."""
    tp: Any = CampaignSpec
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif get_origin(tp) in (list, tuple, frozenset, set):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _plain(value: object) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value)
    return _hint(value)


def _pydantic_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
        found = _model_at(loc[:-1]) if loc else None
        parent = found if isinstance(found, type) and issubclass(found, BaseModel) else None
        if kind == "extra_forbidden":
            names = list(parent.model_fields) if parent else []
            near = difflib.get_close_matches(str(loc[-1]), names, n=1)
            guess = f"did you mean {near[0]}? " if near else ""
            message = f"unknown field; {guess}allowed here: {', '.join(names)}"
        elif kind == "missing":
            info = parent.model_fields.get(str(loc[-1])) if parent else None
            message = "is missing" + (f": {info.description}" if info and info.description else "")
        elif kind in ("value_error", "assertion_error"):
            message = str((err.get("ctx") or {}).get("error", err["msg"]))
        elif kind == "literal_error":
            message = f"{_hint(err['input'])} is not allowed; use {err['ctx']['expected']}"
        elif kind in _BOUNDS:
            word, key = _BOUNDS[kind]
            info = parent.model_fields.get(str(loc[-1])) if parent else None
            limits = [getattr(m, key) for m in (info.metadata if info else []) if hasattr(m, key)]
            limit = limits[0] if limits else (err.get("ctx") or {}).get(key, "?")
            message = f"must be {word} {_plain(limit)} (got {_plain(err['input'])})"
        elif kind in ("too_short", "too_long"):
            ctx = err.get("ctx") or {}
            word, count = (
                ("at least", ctx.get("min_length"))
                if kind == "too_short"
                else ("at most", ctx.get("max_length"))
            )
            message = (
                f"needs {word} {count} item{'' if count == 1 else 's'} (got {_hint(err['input'])})"
            )
        elif kind == "string_pattern_mismatch" and loc[:1] == ("scripts",):
            message = f"{_hint(err['input'])} is not a reply key; use 1-10 letters or digits"
        else:
            msg = err["msg"]
            message = f"{msg[0].lower()}{msg[1:]} (got {_hint(err['input'])})"
        out.append((loc, message))
    return out


# ----------------------------------------------------------------------------------- loading


@dataclass
class CampaignFile:
    """One file as checked: its spec when valid, otherwise every problem found."""

    path: Path
    slug: str
    sha256: str | None = None
    spec: CampaignSpec | None = None
    problems: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the parsed TOML, even when invalid

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,119}")


def read_campaign(path: str | Path) -> CampaignFile:
    """Check one campaign file; never raises for what is in the file."""
    p = Path(path)
    result = CampaignFile(path=p, slug=p.stem)
    shown = str(path)

    def fail(message: str, loc: Loc = (), line: int | None = None) -> CampaignFile:
        result.problems.append(Problem(shown, loc, message, line))
        return result

    if p.suffix != ".toml":
        return fail("a campaign file is a .toml file")
    if not _SLUG.fullmatch(p.stem):
        return fail(
            "the file name is the campaign's slug; use lower-case letters, digits and hyphens, "
            "e.g. after-service-satisfaction.toml"
        )
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return fail("there is no such file")
    except OSError as exc:
        return fail(f"cannot be read: {exc.strerror}")
    result.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fail(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m:
            return fail(f"not valid TOML: {message[: m.start()]} at column {m[2]}", line=int(m[1]))
        return fail(f"not valid TOML: {message}")

    result.data = data
    lines = _key_lines(text)
    found: list[tuple[Loc, str]] = []
    spec: CampaignSpec | None = None
    try:
        spec = CampaignSpec.model_validate(data, context={"skip_cross": True})
    except ValidationError as exc:
        found.extend(_pydantic_problems(exc))
    seen = {loc for loc, _ in found}
    found.extend(item for item in _cross_problems(data) if item[0] not in seen)
    if found:
        spec = None
        for loc, message in found:
            fail(message, loc, _line_of(lines, loc))
        return result
    assert spec is not None
    spec._slug, spec._source, spec._sha256 = p.stem, shown, result.sha256
    result.spec = spec
    return result


def load_campaign(path: str | Path) -> CampaignSpec:
    """One valid campaign, or `CampaignError` naming the file, the field and what is allowed."""
    result = read_campaign(path)
    if result.spec is None:
        raise CampaignError(result.problems)
    return result.spec


def scan_campaigns(folder: str | Path) -> list[CampaignFile]:
    """Every `*.toml` in a folder (not hidden, not starting with `_`), checked, by file name."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"the campaign folder {str(folder)!r} does not exist")
    files = sorted(
        p for p in root.glob("*.toml") if p.is_file() and not p.name.startswith((".", "_"))
    )
    return [read_campaign(p) for p in files]


def load_campaigns(folder: str | Path) -> list[CampaignSpec]:
    """All campaigns of a folder; any invalid file raises `CampaignError` with all problems."""
    results = scan_campaigns(folder)
    problems = [p for r in results for p in r.problems]
    if problems:
        raise CampaignError(problems)
    return [r.spec for r in results if r.spec is not None]


# A line finder good enough for error messages: dotted table headers and `key =` lines.


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        was_in_string = in_string
        if (s.count('"""') + s.count("'''")) % 2:
            in_string = not in_string
        if was_in_string or s.startswith("#"):
            continue
        if header := re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", s):
            table = _split_key(header[1])
            lines.setdefault(table, number)
        elif key := re.match(r"^((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-.\s])+?)\s*=", s):
            lines.setdefault(table + _split_key(key[1]), number)
    return lines


def _line_of(lines: Mapping[tuple[str, ...], int], loc: Loc) -> int | None:
    keys = tuple(str(p) for p in loc if isinstance(p, str))
    for end in range(len(keys), 0, -1):
        if keys[:end] in lines:
            return lines[keys[:end]]
    return None


# ------------------------------------------------------------------------ the shipped campaigns

DEFAULT_FOLDER = Path("campaigns")
"""Where campaign files live: the user's own, edited folder (`--dir` / DIALER_CAMPAIGNS_DIR)."""


def shipped_folder() -> Path | None:
    """The three campaigns that ship with dialer, wherever this install keeps them.

    One source of truth: the repository's `campaigns/` folder. A wheel carries a build-time copy
    (`setup.py` copies it into `dialer/shipped_campaigns/`); an editable install or a checkout
    reads the folder itself.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "shipped_campaigns", here.parent / "campaigns"):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    return None


def campaign_folder(folder: Path) -> Path:
    """`folder`, or the shipped campaigns when it is the default `./campaigns` and absent.

    A folder named explicitly (`--dir`, DIALER_CAMPAIGNS_DIR) is never replaced: a typo there must
    be an error, not somebody else's campaigns.
    """
    if folder.is_dir() or folder != DEFAULT_FOLDER:
        return folder
    return shipped_folder() or folder


def existing_campaign_folder(folder: Path) -> Path:
    """`campaign_folder(folder)`, which must exist: else a ConfigError that says how to name one."""
    folder = campaign_folder(folder)
    if not folder.is_dir():
        raise ConfigError(
            f"the campaign folder {str(folder)!r} does not exist; pass --dir or set "
            "DIALER_CAMPAIGNS_DIR"
        )
    return folder


def names_a_file(target: str) -> bool:
    """Whether a command's campaign argument is a file path (else a slug in the folder)."""
    return target.endswith(".toml") or os.sep in target or "/" in target


def campaign_path(target: str, folder: Path) -> Path:
    """The file of a campaign named by slug (in `campaign_folder(folder)`) or by its path."""
    if names_a_file(target):
        return Path(target)
    return campaign_folder(folder) / f"{target}.toml"
