"""A ``baryon`` command run inside the test's process, seeing only the environment it is given.

A fresh ``baryon`` process spends about a second of CPU importing the commands before it does
anything, which made files of command checks some of the suite's slowest. A test about what a
command prints and its exit status runs it here instead; each such file keeps a test or two
that starts the real ``baryon`` executable, and tests that need a process of their own
(signals, a follower that outlives the command, a daemon) still start one.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from baryon.cli.main import cli
from tests.support.processes import clean_environment

# The installed entry point, for the tests that run the real process.
BARYON = Path(sys.executable).parent / "baryon"


@dataclass(frozen=True)
class CommandRun:
    """What a finished command left, named as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


def run_baryon(
    args: Sequence[str], env: Mapping[str, str] | None = None, stdin: str | None = None
) -> CommandRun:
    """``baryon ARGS`` with exactly ``env`` as its environment (default: clean_environment()),
    as subprocess.run(env=...) would give it: every other variable is unset meanwhile."""
    environment = dict(env) if env is not None else clean_environment()
    changes: dict[str, str | None] = {name: None for name in os.environ if name not in environment}
    changes.update(environment)
    result = CliRunner().invoke(cli, list(args), input=stdin, env=changes, prog_name="baryon")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # A real process would have died with a traceback on stderr: keep it there, so the
        # tests that check a failure is one line of ours see it.
        stderr += "".join(traceback.format_exception(result.exception))
    return CommandRun(result.exit_code, result.stdout, stderr)
