"""Settings, built once at the edge (CLI, app factory) and passed down; never read at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything that differs between installations. Environment prefix DIALER_, `.env` read."""

    model_config = SettingsConfigDict(
        env_prefix="DIALER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'dialer.db'}",
        description="SQLAlchemy URL; SQLite file in the working directory by default.",
    )
    default_region: str = Field(
        default="TW", description="ISO 3166 region for phone numbers written without +country."
    )
    company_name: str = "Dialer Demo Co."
    operator: str = Field(default="operator", description="Who the CLI acts as in the audit log.")
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base: str | None = Field(
        default=None, description="Override Twilio's host (the sandbox), e.g. http://127.0.0.1:8765"
    )
    sender_numbers: dict[str, str] = Field(
        default_factory=dict,
        description='Caller ID per destination region, e.g. {"TW": "+886...", "KR": "+82..."}',
    )
    public_base_url: str | None = Field(
        default=None, description="Public https URL Twilio posts webhooks to."
    )
    sqlite_busy_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a SQLite writer waits for a lock another process holds before it "
        "gives up (`dialer run` then exits 4 naming the file).",
    )
    placed_grace: float = Field(
        default=30.0,
        gt=0,
        description="Seconds past a placed attempt's expected end before Twilio is asked about "
        "it when its final status callback has not come (`dialer run --placed-grace`).",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (uvicorn's forwarded_allow_ips); empty: none, the TCP "
        "peer is the client (the console's sign-in limits count per client address).",
    )
    crash_point: str | None = Field(
        default=None,
        description="Fault tests only: 'after_sdk_return' kills a dispatcher between the SDK's "
        "return and the recording of the attempt.",
    )

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter region code such as TW, KR, CN or US")
        return value

    @property
    def has_twilio_credentials(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)
