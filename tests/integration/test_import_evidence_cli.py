"""`dialer import` on files whose country, numbers or rows need a word (issue 18), as a user runs it."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from dialer_process import run_dialer

KOREAN = "고객번호,이름,휴대폰,전화번호\n" + "".join(
    f"K{i},고객{i},010-5555-{i:04d},{'02-12' if i == 1 else ''}\n" for i in range(1, 11)
)


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dialer(tmp_path, *args, db=tmp_path / "d.db")


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    message = " ".join(result.stderr.split())  # rich wraps long lines at the terminal's width
    assert message.startswith("error:") and message.count("error:") == 1, message
    return message


def test_korean_file_is_read_as_korean_and_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "korea.csv"
    path.write_bytes(KOREAN.encode("cp949"))
    rejects = tmp_path / "rejects.csv"
    text = run(tmp_path, "import", str(path), "--rejects", str(rejects))
    assert text.returncode == 0, text.stderr
    said = " ".join(text.stdout.split())
    assert said.count("were read as KR, not the default TW") == 1 and "--region TW" in said
    assert "1 number(s) dropped" in said
    with rejects.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][:3] == ["2", "전화번호", "02-12"] and rows[1][3].startswith("number dropped")
    again = run(tmp_path, "import", str(path), "--json")
    data = json.loads(again.stdout)
    assert data["numbers_dropped"] == 1 and data["region"]["region"] == "KR"
    assert data["region"]["source"] == "inferred" and data["unchanged"] == 10


def test_unclear_file_exits_3_naming_the_region(tmp_path: Path) -> None:
    path = tmp_path / "landlines.csv"
    path.write_bytes("고객번호,이름,전화번호\nK1,김철수,02-312-3456\n".encode("cp949"))
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 3
    assert "--region KR" in one_sentence(result)
    listing = run(tmp_path, "imports", "list", "--json")
    assert listing.stdout.strip() == ""  # nothing written, not even a run
    assert run(tmp_path, "import", str(path), "--region", "KR").returncode == 0


def test_header_only_file_exits_3_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("客戶編號,姓名,手機\n", encoding="utf-8")
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 3
    assert "nothing to import" in one_sentence(result)
    allowed = run(tmp_path, "import", str(path), "--allow-empty", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["read"] == 0
