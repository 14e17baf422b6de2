"""scripts/up and scripts/dev-setup install into .venv only when they must: the first time,
and when pyproject.toml changed since. Run here on a copy of the scripts in a project whose
.venv holds stand-ins for pip and baryon that record their calls (the real ones would need
the network)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.samples import REPO

FAKE_PIP = """#!/usr/bin/env bash
echo "pip $*" >>"$CALLS"
printf '#!/usr/bin/env bash\\necho "baryon $*" >>"$CALLS"\\n' >"$(dirname "$0")/baryon"
chmod +x "$(dirname "$0")/baryon"
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("up", "dev-setup", "install-stamp.sh", "system-packages.sh"):
        shutil.copy2(REPO / "scripts" / name, project / "scripts" / name)
    (project / "pyproject.toml").write_text('[project]\nname = "baryon"\n')
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name, body in (("python", "#!/usr/bin/env bash\nexit 0\n"), ("pip", FAKE_PIP)):
        (venv_bin / name).write_text(body)
        (venv_bin / name).chmod(0o755)
    return project


# Records its call and leaves what `npm ci --prefix DIR` leaves: DIR/node_modules.
FAKE_NPM = """#!/usr/bin/env bash
echo "npm $*" >>"$CALLS"
mkdir -p "$3/node_modules" && touch "$3/node_modules/.package-lock.json"
"""


def _up(project: Path, tmp_path: Path, *args: str, npm: bool = False) -> tuple[list[str], str]:
    """Runs scripts/up --port 9999 (or ``args``: another script); returns the recorded calls
    and what it said on stderr. ``npm``: an npm that records its calls instead of failing."""
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    # No python3 or pip of the system's: a run that reaches for them fails.
    no_python = tmp_path / "no-python"
    no_python.mkdir(exist_ok=True)
    for name in ("python3", "pip", "pip3", "apt-get", "sudo", "npm"):
        refuse = "#!/bin/sh\necho 'no network here' >&2\nexit 1\n"
        (no_python / name).write_text(FAKE_NPM if npm and name == "npm" else refuse)
        (no_python / name).chmod(0o755)
    env = {**os.environ, "CALLS": str(calls), "PATH": f"{no_python}:{os.environ['PATH']}"}
    done = subprocess.run(
        [*(args or (str(project / "scripts" / "up"), "--port", "9999"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return (calls.read_text().splitlines() if calls.exists() else []), done.stderr


def test_the_first_run_installs_and_a_second_run_does_not(tmp_path: Path) -> None:
    project = _project(tmp_path)
    calls, said = _up(project, tmp_path)
    assert calls == [
        "pip install --quiet --disable-pip-version-check -e .",
        "baryon up --port 9999",
    ]
    assert "installing Baryon" in said
    assert f". {project}/.venv/bin/activate" in said

    calls, said = _up(project, tmp_path)
    assert calls == ["baryon up --port 9999"]  # no pip: nothing to install, no network
    assert "installing" not in said
    assert f". {project}/.venv/bin/activate" in said


def test_a_changed_pyproject_or_a_missing_baryon_installs_again(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _up(project, tmp_path)
    (project / "pyproject.toml").write_text('[project]\nname = "baryon"\nversion = "2"\n')
    calls, _ = _up(project, tmp_path)
    assert calls[0].startswith("pip install")
    assert _up(project, tmp_path)[0] == ["baryon up --port 9999"]

    (project / ".venv" / "bin" / "baryon").unlink()
    calls, _ = _up(project, tmp_path)
    assert calls[0].startswith("pip install")


@pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/initdb")
    or not os.access("/usr/bin/chromium", os.X_OK)
    or not all(shutil.which(tool) for tool in ("bwrap", "git", "jq")),
    reason="dev-setup would install system packages here",
)
def test_dev_setup_installs_once_and_then_leaves_the_venv_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    lock = project / "tests" / "support" / "oidc" / "package-lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text('{"lockfileVersion": 3}\n')
    setup = str(project / "scripts" / "dev-setup")
    calls, _ = _up(project, tmp_path, setup, npm=True)
    assert calls == [
        "pip install --quiet --disable-pip-version-check -e .[test,docs]",
        "npm ci --prefix tests/support/oidc --no-audit --no-fund --silent",
    ]
    assert _up(project, tmp_path, setup)[0] == []  # done before: no pip, no npm, no network
    # What dev-setup installed covers scripts/up, which installs nothing more.
    assert _up(project, tmp_path)[0] == ["baryon up --port 9999"]

    # A changed lock installs that helper's packages again, and only them.
    lock.write_text('{"lockfileVersion": 3, "packages": {}}\n')
    assert _up(project, tmp_path, setup, npm=True)[0] == [
        "npm ci --prefix tests/support/oidc --no-audit --no-fund --silent"
    ]
    assert _up(project, tmp_path, setup)[0] == []
