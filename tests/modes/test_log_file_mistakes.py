"""`baryon up` whose log files cannot be opened (here: a folder stands where a log file
goes, which stops root too) says so in one line with DATA_DIR_UNUSABLE, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from baryon.cli.failures import ExitStatus
from baryon.modes.log_file import CLOUD_LOG_FILE_NAME, LOG_FILE_NAME
from tests.support.processes import clean_environment

BARYON = Path(sys.executable).parent / "baryon"


@pytest.mark.parametrize("name", [LOG_FILE_NAME, CLOUD_LOG_FILE_NAME], ids=["baryon", "cloud"])
def test_a_log_file_that_cannot_be_opened_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    data_dir = tmp_path / "data"
    blocker = data_dir / "logs" / name
    blocker.mkdir(parents=True)
    done = subprocess.run(
        [str(BARYON), "up", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=60,
    )
    assert done.returncode == ExitStatus.DATA_DIR_UNUSABLE, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        f"baryon: cannot open the log file {blocker}: Is a directory; choose a directory "
        "this user can write with --data-dir or BARYON_DATA_DIR"
    ], done.stderr
