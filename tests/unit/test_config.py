"""Settings come from DIALER_ variables and .env, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dialer.config import Settings


def test_defaults_use_sqlite_in_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIALER_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'dialer.db'}"
    assert settings.default_region == "TW"
    assert settings.has_twilio_credentials is False


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        'DIALER_COMPANY_NAME=好車保養\nDIALER_SENDER_NUMBERS={"TW": "+886200000000"}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DIALER_DEFAULT_REGION", "kr")
    settings = Settings()
    assert settings.company_name == "好車保養"
    assert settings.default_region == "KR"
    assert settings.sender_numbers == {"TW": "+886200000000"}


def test_bad_region_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_DEFAULT_REGION", "Taiwan")
    with pytest.raises(ValidationError, match="two-letter"):
        Settings()
