"""Build-time copy of the shipped campaigns into the wheel (everything else is in pyproject.toml).

`campaigns/` stays the one, user-edited source: the wheel gets a copy of its `*.toml` files as
`dialer/shipped_campaigns/`, which `dialer` falls back to when there is no `./campaigns` folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCampaigns(build_py):
    """build_py, plus the shipped campaign files as package data."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "campaigns"
        target = Path(self.build_lib) / "dialer" / "shipped_campaigns"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.toml")):
            shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithCampaigns})
