"""Files written whole or not at all: the old file stays and no temporary is left on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dialer.atomic_file import write_atomically
from dialer.errors import UsageError


def test_the_written_file_replaces_the_target_and_the_writers_result_is_returned(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")
    got = write_atomically(target, lambda tmp: tmp.write_text("new rows", encoding="utf-8"))
    assert got == 8  # characters written, as write_text returns
    assert target.read_text(encoding="utf-8") == "new rows"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half a fi", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_an_os_error_is_one_sentence_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "rejects.csv"
    with pytest.raises(UsageError) as raised:
        write_atomically(
            target, lambda tmp: tmp.write_text("x", encoding="utf-8"), what="the rejects file"
        )
    assert str(raised.value) == (
        f"cannot write the rejects file {str(target)!r}: No such file or directory"
    )
    with pytest.raises(UsageError) as plain:
        write_atomically(target, lambda tmp: tmp.write_text("x", encoding="utf-8"))
    assert str(plain.value) == f"cannot write {str(target)!r}: No such file or directory"


def test_a_planted_symlink_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    target = tmp_path / "out.csv"
    for name in (f".{target.name}.{os.getpid()}.tmp", f".{target.name}.tmp"):
        (tmp_path / name).symlink_to(victim)
    write_atomically(target, lambda tmp: tmp.write_text("rows", encoding="utf-8"))
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not target.is_symlink() and target.read_text(encoding="utf-8") == "rows"


def test_the_written_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    write_atomically(target, lambda tmp: tmp.write_text("customer rows", encoding="utf-8"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_temporary_swapped_while_being_written_is_not_renamed_into_place(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    target = tmp_path / "out.csv"

    def swap(tmp: Path) -> None:
        tmp.unlink()
        tmp.symlink_to(victim)

    with pytest.raises(UsageError, match="replaced while being written"):
        write_atomically(target, swap)
    assert not target.exists() and victim.read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]


@pytest.mark.parametrize("folder", ["/", "."])
def test_a_folder_as_the_target_is_one_sentence(tmp_path: Path, folder: str) -> None:
    target = Path(folder) if folder == "/" else tmp_path
    with pytest.raises(UsageError, match="it is a folder; give a file name"):
        write_atomically(target, lambda tmp: tmp.write_text("x", encoding="utf-8"), what="the file")
