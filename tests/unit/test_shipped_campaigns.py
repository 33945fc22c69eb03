"""The shipped campaigns are found without a ./campaigns folder; an explicit folder never is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.campaigns import DEFAULT_FOLDER, campaign_folder, load_campaigns, shipped_folder

REPO_CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


def test_default_folder_falls_back_to_the_shipped_campaigns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./campaigns here
    folder = campaign_folder(DEFAULT_FOLDER)
    assert folder == shipped_folder()
    slugs = {s.slug for s in load_campaigns(folder)}
    assert slugs == {"after-service-satisfaction", "lunar-new-year-2027", "maintenance-reminder"}


def test_in_a_checkout_the_shipped_campaigns_are_the_repository_folder() -> None:
    # One source of truth: no second copy in the source tree (the wheel gets a build-time copy).
    assert shipped_folder() == REPO_CAMPAIGNS.resolve()
    assert not (Path(__file__).parents[2] / "dialer" / "shipped_campaigns").exists()


def test_an_existing_or_explicit_folder_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "campaigns-typo"
    assert campaign_folder(typo) == typo  # named explicitly: an error later, not a fallback
    (tmp_path / "campaigns").mkdir()
    assert campaign_folder(DEFAULT_FOLDER) == DEFAULT_FOLDER  # the user's own folder wins
