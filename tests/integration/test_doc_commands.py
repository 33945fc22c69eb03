"""Every command the README and docs/*.md show is run, so a page that no longer matches the CLI fails.

Conventions for whoever writes the docs:

- A fenced block tagged ``console`` holds commands on lines that start with ``$ `` (a line
  ending in a backslash continues on the next); its other lines are sample output and are not
  checked. In a block tagged ``sh`` every line that is not empty or a comment is a command.
  Other fences (toml, csv, text) are not run.
- A command is ``dialer ARGS`` (or ``.venv/bin/dialer ARGS``), optionally fed by
  ``echo 'TEXT' |`` or ``printf 'TEXT' |``, optionally after ``NAME=VALUE`` assignments; ``&&``
  chains commands. ``export NAME=VALUE`` sets a variable for the rest of the document.
  ``python3``, ``pip``, ``pytest`` and ``mkdocs`` lines are the set-up CI runs itself and are
  skipped; any other program fails the test, so a new kind of command needs a rule here first.
- A trailing comment ``# exit N`` (or ``# exits N``) says the command is expected to exit N;
  otherwise it must exit 0.
- ``<!-- doc-test: parse-only: REASON -->`` on the line before a block: its commands are parsed
  by the real command line (the sub-command exists, its options and arguments are valid) but not
  run. Only for commands that run until stopped, need a server or Twilio, or name an id that
  exists only at the moment; keep them few and give the reason.
- A fenced block with ``title="NAME"`` (```` ```csv title="visits.csv" ````) is written to NAME
  when the run reaches it, so the commands after it can read the file.
- Every ``dialer ...`` in inline code, in the docs and in the shipped campaign files' comments,
  names a sub-command that exists and only options it has.

How it runs: each document in a fresh directory laid out like a clone's root (``campaigns/``,
``dialer/samples/``), with no ``DIALER_`` variable inherited and the database the README's
``dialer demo`` left (``dialer-demo.db``) copied in, as a reader who ran the demo has it. Time
runs from Monday 2026-11-23 10:00 Asia/Taipei (the week of the sample file's service visits) so
that windows, deadlines and exit codes do not depend on when the suite runs. ``dialer demo`` runs
with ``--customers 20 --days 0.25`` appended (the full demo takes a minute;
tests/integration/test_demo.py and scripts/bench/demo.py run it larger). The command line runs
in-process through typer's CliRunner, because a process per command costs seconds of imports.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
import typer
import typer.main
from sqlalchemy.exc import SQLAlchemyError
from typer._click.core import Command  # typer vendors click: its own classes, not click's
from typer._click.exceptions import ClickException
from typer.core import TyperGroup
from typer.testing import CliRunner

from dialer.cli import app
from dialer.errors import DialerError

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *DOCS]
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Taipei
DEMO_SCALE = ["--customers", "20", "--days", "0.25"]
SETUP_PROGRAMS = {"python3", "python", "pip", "pytest", "mkdocs"}
README_MAX_LINES = 150

FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>.*)$")
MARKER = re.compile(r"^<!--\s*doc-test:\s*(?P<what>[\w-]+)\s*(?::\s*(?P<why>.*?))?\s*-->$")
TITLE = re.compile(r'title="(?P<name>[^"]+)"')
EXPECT = re.compile(r"#\s*exits?\s+(?P<code>\d+)\b")
INLINE = re.compile(r"`(dialer [^`]+)`")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@dataclass
class Step:
    """One thing the run does, in document order."""

    line: int
    kind: str  # "run", "parse", "file"
    text: str
    reason: str = ""
    name: str = ""


@dataclass
class Run:
    """What running one document found wrong."""

    failures: list[str] = field(default_factory=list)
    commands: int = 0


def steps_of(path: Path) -> list[Step]:
    """The document's commands and files, in order, per the conventions above."""
    steps: list[Step] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    marker: tuple[str, str] | None = None
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        if m:
            marker = (m.group("what"), m.group("why") or "")
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if not fence or not fence.group("lang"):
            if lines[i].strip():
                marker = None
            i += 1
            continue
        lang, attrs, start = fence.group("lang"), fence.group("attrs"), i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        what, why = marker or ("run", "")
        marker = None
        if what not in ("run", "parse-only"):
            raise AssertionError(f"{path.name}:{start}: unknown doc-test marker {what!r}")
        if what == "parse-only" and not why:
            raise AssertionError(f"{path.name}:{start}: a parse-only block needs a reason")
        title = TITLE.search(attrs)
        if title:
            steps.append(Step(start, "file", "\n".join(body) + "\n", name=title.group("name")))
            continue
        kind = "parse" if what == "parse-only" else "run"
        for n, command in _commands(lang, body):
            steps.append(Step(start + n, kind, command, reason=why))
    return steps


def _commands(lang: str, body: list[str]) -> Iterator[tuple[int, str]]:
    if lang not in ("console", "sh", "bash", "shell"):
        return
    pending = ""
    first = 0
    for n, raw in enumerate(body):
        line = raw.rstrip()
        if not pending:
            if lang == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            elif not line.strip() or line.lstrip().startswith("#"):
                continue
            first = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield first, pending + line
        pending = ""


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _expected_exit(command: str) -> int:
    comment = re.search(r"\s#\s.*$", command)
    found = EXPECT.search(comment.group(0)) if comment else None
    return int(found.group("code")) if found else 0


def _segments(tokens: list[str]) -> Iterator[list[str]]:
    """The commands of a `&&` / `;` / `&` chain (a pipe stays inside its segment)."""
    part: list[str] = []
    for token in tokens:
        if token in ("&&", ";", "&"):
            if part:
                yield part
            part = []
        else:
            part.append(token)
    if part:
        yield part


ROOT_COMMAND = typer.main.get_command(app)


def parse_only(args: list[str]) -> None:
    """Parse `dialer ARGS` as the real command line would, without running anything."""
    command: Command = ROOT_COMMAND
    ctx: typer.Context | None = None
    name = "dialer"
    while isinstance(command, TyperGroup):
        ctx = typer.Context(command, info_name=name, parent=ctx)
        rest = Command.parse_args(command, ctx, list(args))  # the group's options, not its split
        if not rest:
            return
        found, sub, args = command.resolve_command(ctx, rest)
        assert found is not None and sub is not None
        command, name = sub, found
    with command.make_context(name, list(args), parent=ctx):
        pass


def invoke(args: list[str], env: dict[str, str], stdin: str | None) -> tuple[int, str]:
    """Run `dialer ARGS` in-process; the exit code `dialer.cli.main` would give, and the output.

    `dialer run` installs its own SIGINT/SIGTERM handlers: they are put back afterwards, so a
    Ctrl-C still stops the test session.
    """
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = CliRunner().invoke(app, args, input=stdin, env=env, catch_exceptions=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return result.exit_code, result.output
    if isinstance(exc, DialerError):
        return exc.exit_code, f"{result.output}error: {exc}"
    if isinstance(exc, SQLAlchemyError):
        return 4, f"{result.output}database error: {exc}"
    raise AssertionError(f"dialer {shlex.join(args)} raised {exc!r}") from exc


def run_document(path: Path, workdir: Path, demo_db: Path | None) -> Run:
    """Every step of one document, in a fresh clone-like directory."""
    run = Run()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "campaigns", workdir / "campaigns")
    shutil.copytree(ROOT / "dialer" / "samples", workdir / "dialer" / "samples")
    if demo_db is not None:
        shutil.copy(demo_db, workdir / "dialer-demo.db")
    env: dict[str, str] = {}
    where = path.relative_to(ROOT)
    before = Path.cwd()
    os.chdir(workdir)
    try:
        with time_machine.travel(START, tick=True):
            for step in steps_of(path):
                if step.kind == "file":
                    (workdir / step.name).write_text(step.text, encoding="utf-8")
                    continue
                for problem in _step(step, env):
                    run.failures.append(f"{where}:{step.line}: $ {step.text}\n{problem}")
                run.commands += 1
    finally:
        os.chdir(before)
    return run


def _step(step: Step, env: dict[str, str]) -> Iterator[str]:
    for part in _segments(_tokens(step.text)):
        stdin: str | None = None
        if "|" in part:
            feed, _, rest = _split_pipe(part)
            if feed[0] not in ("echo", "printf"):
                yield f"only `echo ... |` or `printf ... |` may feed a command, not {feed[0]}"
                return
            stdin = " ".join(feed[1:]) + ("\n" if feed[0] == "echo" else "")
            part = rest
        if part[0] == "export":
            env.update(dict(a.split("=", 1) for a in part[1:]))
            continue
        local = dict(env)
        while part and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", part[0]):
            key, value = part.pop(0).split("=", 1)
            local[key] = value
        program = Path(part[0]).name
        if program in SETUP_PROGRAMS:
            continue
        if program != "dialer":
            yield f"{part[0]} is not a command the doc test knows (see its docstring)"
            return
        args = part[1:]
        if step.kind == "parse":
            try:
                parse_only(args)
            except ClickException as exc:
                yield f"does not parse: {exc.format_message()}"
            continue
        if "demo" in args:
            args = [*args, *DEMO_SCALE]
        code, output = invoke(args, local, stdin)
        if code != _expected_exit(step.text):
            yield f"exit {code} (expected {_expected_exit(step.text)}):\n{output[-2000:]}"


def _split_pipe(part: list[str]) -> tuple[list[str], str, list[str]]:
    at = part.index("|")
    return part[:at], "|", part[at + 1 :]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The README run first: its demo leaves the database the other documents explore."""
    workdir = tmp_path_factory.mktemp("doc-README")
    clean = {k: v for k, v in os.environ.items() if k.startswith("DIALER_")}
    for key in clean:
        del os.environ[key]
    try:
        return run_document(ROOT / "README.md", workdir, None), workdir / "dialer-demo.db"
    finally:
        os.environ.update(clean)


def test_readme_commands_run(readme_run: tuple[Run, Path]) -> None:
    run, demo_db = readme_run
    assert not run.failures, "\n\n".join(run.failures)
    assert run.commands >= 10 and demo_db.is_file()


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_doc_commands_run(
    doc: Path,
    readme_run: tuple[Run, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in [k for k in os.environ if k.startswith("DIALER_")]:
        monkeypatch.delenv(key)
    demo_db = readme_run[1]
    run = run_document(doc, tmp_path / "work", demo_db if demo_db.is_file() else None)
    assert not run.failures, "\n\n".join(run.failures)


def _inline_commands() -> Iterator[tuple[str, str]]:
    """`dialer ...` in inline code outside fences, and in the campaign files' comments."""
    for path in [*DOCUMENTS, ROOT / "scripts" / "bench" / "README.md"]:
        in_fence = False
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                in_fence = not in_fence
                continue
            if not in_fence:
                for m in INLINE.finditer(line):
                    yield f"{path.relative_to(ROOT)}:{n}", m.group(1)
    for path in sorted((ROOT / "campaigns").glob("*.toml")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("#"):
                for m in INLINE.finditer(line):
                    yield f"{path.relative_to(ROOT)}:{n}", m.group(1)


def inline_problem(text: str) -> str | None:
    """Why an inline `dialer ...` does not match the command line, or None if it does.

    Sub-command words must exist; every `--option` must be one the command named has (or the
    root's, before the sub-command). Upper-case words are placeholders (COMMAND, FILE).
    """
    words = [w for w in re.split(r"[\s|\[\]\\/,()]+", text) if w]
    command: Command = ROOT_COMMAND
    for word in words[1:]:
        option = re.match(r"--?[a-z][\w-]*", word)
        if option:
            names = {n for p in command.params for n in (*p.opts, *p.secondary_opts)}
            if option.group(0) not in names | {"--help", "-h"}:
                return f"`dialer {command.name}` has no option {option.group(0)}"
            continue
        if isinstance(command, TyperGroup) and re.fullmatch(r"[a-z][a-z-]*", word):
            sub = command.get_command(typer.Context(command), word)
            if sub is None and word not in _option_values(words, word):
                return f"there is no sub-command `{word}` of `{command.name or 'dialer'}`"
            if sub is not None:
                command = sub
    return None


def _option_values(words: list[str], word: str) -> set[str]:
    """Words that are the value of the option before them (`--db demo.db`), not sub-commands."""
    at = words.index(word)
    return {word} if at > 0 and words[at - 1].startswith("--") else set()


def test_inline_commands_exist() -> None:
    problems = [
        f"{where}: `{text}`: {problem}"
        for where, text in _inline_commands()
        if (problem := inline_problem(text))
    ]
    assert not problems, "\n".join(problems)


def test_inline_check_catches_a_command_that_does_not_exist() -> None:
    assert inline_problem("dialer work") is not None
    assert inline_problem("dialer demo --db X") is not None  # --db goes before the command
    assert inline_problem("dialer --db X demo") is None
    assert inline_problem("dialer coverage --list at-risk") is None


def test_parse_only_rejects_what_the_cli_rejects() -> None:
    parse_only(["run", "--port", "8080", "--watch", "inbox/"])
    with pytest.raises(ClickException):
        parse_only(["run", "--no-such-option"])
    with pytest.raises(ClickException):
        parse_only(["work"])
    with pytest.raises(ClickException):
        parse_only(["call", "not-a-number"])


def test_links_stay_inside_the_repository() -> None:
    """Relative links resolve to a file of the repository; nothing points beside it."""
    problems = []
    for path in DOCUMENTS:
        for m in LINK.finditer(path.read_text(encoding="utf-8")):
            target = m.group("target").split("#", 1)[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(ROOT):
                problems.append(f"{path.name}: {target} is outside the repository")
            elif not resolved.exists() and target not in WRITTEN_ELSEWHERE:
                problems.append(f"{path.name}: {target} does not exist")
    assert not problems, "\n".join(problems)


# SECURITY.md is written on another branch (issue 19's security work); drop this once merged.
WRITTEN_ELSEWHERE: set[str] = set()


def test_no_reference_to_files_outside_the_repository() -> None:
    """The design notes a clone does not have are not cited; the docs pages are."""
    cited = re.compile(r"DOMAIN\.md|DESIGN\.md")
    beside = re.compile(r"\.\./shared")  # the suite's Twilio OpenAPI fixture may; docs may not
    problems = []
    texts = [ROOT / "README.md", ROOT / "mkdocs.yml", ROOT / "pyproject.toml"]
    for folder in ("dialer", "tests", "scripts", "campaigns", "docs"):
        texts += [
            p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml", ".j2")
        ]
    for path in texts:
        if path == Path(__file__):
            continue
        documentation = path.suffix != ".py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if cited.search(line) or (documentation and beside.search(line)):
                problems.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_readme_fits_a_first_read() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_package_map_names_every_module() -> None:
    """docs/architecture.md's package map stays true: a module added to `dialer/` (or to one of
    its subpackages) without a line there fails here."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = [p for p in (ROOT / "dialer").rglob("*.py") if "migrations" not in p.parts]
    missing = sorted(
        str(p.relative_to(ROOT))
        for p in modules
        if p.stem != "__init__" and p.parent.name != "sandbox" and f"`{p.stem}`" not in text
    )
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
