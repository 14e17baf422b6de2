"""The installed Baryon starts and answers with no network at all: `baryon up` runs in a
network namespace of its own that has only loopback, and the AWS CLI (as a user runs it after
sourcing the env file) and `baryon stop` work there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import clean_environment

BIN = Path(sys.executable).parent

SCRIPT = """
set -euo pipefail
ip link set lo up
data="$1"
"$BIN/baryon" up --port 0 --data-dir "$data" >"$data.out" 2>&1 &
for _ in $(seq 1 900); do [ -f "$data/env" ] && break; sleep 0.1; done
. "$data/env"
"$BIN/aws" proton list-environment-templates --output json
"$BIN/baryon" stop --data-dir "$data"
"""


def _isolated_network_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _isolated_network_works(), reason="needs unshare --net (root or user namespaces)"
)
def test_baryon_up_starts_and_answers_without_a_network(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = subprocess.run(
        ["unshare", "--net", "bash", "-c", SCRIPT, "offline", str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_environment(BIN=str(BIN)),
        timeout=300,
    )
    log = (tmp_path / "data.out").read_text() if (tmp_path / "data.out").exists() else ""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{log}"
    assert '"templates": []' in done.stdout
    assert done.stdout.rstrip().endswith("Baryon stopped.")
    assert "Baryon is running on http://127.0.0.1:" in log
