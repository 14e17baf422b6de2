"""The runner runs real programs (sh, coreutils, the venv's Python) in every sandbox this
machine offers: bubblewrap (installed by scripts/dev-setup; its tests skip only when bwrap
cannot run here at all, and say why) and a plain child process.

Processes are found by a marker in their command line (a `sleep` of an unlikely length), so
that "nothing is left running" is checked against the whole machine, not the runner's word.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baryon.runner import Runner, RunResult, RunStatus, Workspace
from baryon.runner.limits import RunLimits
from baryon.runner.pids_cgroup import PidsCgroups
from baryon.runner.sandbox import BubblewrapSandbox, Tools, bubblewrap_problem
from baryon.settings import Settings

VENV_BIN = Path(sys.executable).parent
PROGRAM_PATH = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
REPOSITORY = Path(__file__).resolve().parents[2]
BUBBLEWRAP_PROBLEM = bubblewrap_problem(
    BubblewrapSandbox(Tools(PROGRAM_PATH), RunLimits(), hidden=[]), Tools(PROGRAM_PATH)
)
SANDBOXED = pytest.param(
    "bubblewrap",
    marks=pytest.mark.skipif(
        BUBBLEWRAP_PROBLEM is not None, reason=f"bubblewrap cannot run here: {BUBBLEWRAP_PROBLEM}"
    ),
)
EVERY_MODE = [SANDBOXED, "none"]


class RecordingIO:
    """A deployment's IO: keeps every log line and asks to cancel once `cancel_on` shows."""

    def __init__(self, cancel_on: str | None = None) -> None:
        self.lines: list[str] = []
        self.heartbeats = 0
        self._cancel_on = cancel_on
        self._lock = threading.Lock()

    def log(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def cancel_requested(self) -> bool:
        return self._cancel_on is not None and self._cancel_on in self.lines

    def heartbeat(self) -> None:
        self.heartbeats += 1

    def program_lines(self) -> list[str]:
        """What the program wrote, without the runner's own notes."""
        return [
            line
            for line in self.lines
            if not line.startswith(("no sandbox:", "stopping the program:"))
        ]


def settings_for(mode: str, data_dir: Path, **changes: Any) -> Settings:
    defaults: dict[str, Any] = {
        "runner_path": PROGRAM_PATH,
        "runner_kill_grace_seconds": 2.0,
        "runner_time_limit_seconds": 120.0,
    }
    return Settings(data_dir=data_dir, runner_sandbox=mode, **{**defaults, **changes})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "baryon-data"
    directory.mkdir(mode=0o700)
    (directory / "master.key").write_text("the-secret-master-key\n")
    return directory


@pytest.fixture(params=EVERY_MODE)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def workspace(mode: str, data_dir: Path) -> Iterator[Workspace]:
    with Runner(settings_for(mode, data_dir)).workspace({"inputs.json": '{"a": 1}'}) as work:
        yield work


def marker() -> str:
    """A `sleep` argument no other process on the machine has."""
    return f"7{random.randrange(10**8):08d}.{random.randrange(10**6):06d}"


def processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command and entry.name != str(os.getpid()):
            found.append(int(entry.name))
    return found


def wait_until_gone(text: str, seconds: float = 20.0) -> list[int]:
    """The processes still there after up to `seconds` (the kernel reaps asynchronously)."""
    until = time.monotonic() + seconds
    while (left := processes_with(text)) and time.monotonic() < until:
        time.sleep(0.1)
    return left


def run(work: Workspace, script: str, io: RecordingIO | None = None, **options: Any) -> RunResult:
    return work.run(
        ["sh", "-c", script], environment=options.pop("environment", {}), io=io or RecordingIO(),
        **options,
    )  # fmt: skip


# --- streaming, status, environment ------------------------------------------------------


def test_output_reaches_the_log_line_by_line_in_the_order_written(workspace: Workspace) -> None:
    io = RecordingIO()
    result = run(workspace, "echo one; echo two >&2; cat inputs.json; echo; echo three", io)
    assert result.status is RunStatus.SUCCEEDED
    assert io.program_lines() == ["one", "two", '{"a": 1}', "three"]
    assert result.tail == ("one", "two", '{"a": 1}', "three")


def test_lines_reach_the_log_while_the_program_still_runs(workspace: Workspace) -> None:
    """The program waits for a file that the test writes only once "ready" is in the log."""
    go = workspace.path / "go"

    class Answering(RecordingIO):
        def log(self, message: str) -> None:
            super().log(message)
            if message == "ready":
                go.write_text("")
                os.chmod(go, 0o666)

    io = Answering()
    result = run(
        workspace, "echo ready; while [ ! -e go ]; do sleep 0.05; done; echo done", io,
        deadline=time.monotonic() + 60,
    )  # fmt: skip
    assert result.status is RunStatus.SUCCEEDED, result
    assert io.program_lines() == ["ready", "done"]


def test_the_exit_status_decides_the_result(workspace: Workspace) -> None:
    assert run(workspace, "exit 0").status is RunStatus.SUCCEEDED
    failed = run(workspace, "echo first; echo 'it broke' >&2; exit 2")
    assert failed.status is RunStatus.FAILED
    assert failed.exit_code == 2
    assert failed.reason == "exited with status 2"
    assert failed.tail == ("first", "it broke")


def test_a_missing_program_fails_and_says_so(workspace: Workspace) -> None:
    result = run(workspace, "no-such-program-here --version")
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 127
    assert any("no-such-program-here" in line for line in result.tail)


def test_the_program_sees_exactly_the_environment_given_and_path_home_lang_tmpdir_pwd(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ONLY_SECRET", "must-not-leak")
    io = RecordingIO()
    given = {"RESOURCE_ARN": "arn:aws:proton:us-east-1:123456789012:environment/e", "X": "a b"}
    result = workspace.run(["env", "-0"], environment=given, io=io)
    assert result.status is RunStatus.SUCCEEDED
    seen = dict(entry.split("=", 1) for entry in "\n".join(io.program_lines()).split("\0") if entry)
    assert seen == {
        **given,
        "PATH": PROGRAM_PATH,
        "HOME": str(workspace.path),
        "LANG": "C.UTF-8",
        "TMPDIR": str(workspace.path / ".tmp"),
        "PWD": str(workspace.path),
    }


def test_a_plain_child_process_says_so_in_the_log_once(data_dir: Path) -> None:
    with Runner(settings_for("none", data_dir)).workspace({}) as work:
        io = RecordingIO()
        run(work, "echo hi", io)
    assert io.lines == ["no sandbox: running as a plain child process", "hi"]


def test_files_the_program_left_are_read_but_never_through_a_symbolic_link(
    workspace: Workspace, data_dir: Path
) -> None:
    result = run(
        workspace,
        f"echo '{{}}' > proton-outputs.json; ln -s {data_dir}/master.key stolen; mkdir d;"
        f" ln -s /etc linked",
    )
    assert result.status is RunStatus.SUCCEEDED
    assert workspace.read("proton-outputs.json") == b"{}\n"
    assert workspace.read("stolen") is None
    assert workspace.read("linked/hostname") is None
    assert workspace.read("missing.json") is None
    with pytest.raises(ValueError):
        workspace.read("../outside")


# --- limits and cancel ----------------------------------------------------------------------


def test_a_program_past_its_deadline_ends_timed_out_and_leaves_nothing(
    workspace: Workspace,
) -> None:
    mark = marker()
    result = run(workspace, f"echo started; sleep {mark}", deadline=time.monotonic() + 1)
    assert result.status is RunStatus.TIMED_OUT
    assert "time limit" in result.reason
    assert result.tail[0] == "started"  # a shell may add "Terminated"
    assert wait_until_gone(mark) == []


def test_the_time_limit_setting_applies_when_the_caller_names_no_deadline(
    mode: str, data_dir: Path
) -> None:
    runner = Runner(settings_for(mode, data_dir, runner_time_limit_seconds=1.0))
    with runner.workspace({}) as work:
        result = run(work, f"sleep {marker()}")
    assert result.status is RunStatus.TIMED_OUT
    assert result.reason == "ran past its time limit of 1 s"


def test_a_flood_of_output_ends_output_limit_with_the_log_bounded(
    mode: str, data_dir: Path
) -> None:
    runner = Runner(settings_for(mode, data_dir, runner_output_limit_bytes=64 * 1024))
    io = RecordingIO()
    with runner.workspace({}) as work:
        result = run(work, "yes flood", io)
    assert result.status is RunStatus.OUTPUT_LIMIT
    assert result.reason == "wrote more than 64 KiB of output, its limit"
    lines = io.program_lines()
    # Lines and the newlines between them: exactly the bytes the program wrote, up to the limit.
    assert sum(len(line) for line in lines) + len(lines) - 1 <= 64 * 1024
    assert set(lines[:-1]) == {"flood"}


def test_a_very_long_line_is_cut_in_the_log(workspace: Workspace) -> None:
    io = RecordingIO()
    result = run(workspace, "head -c 100000 /dev/zero | tr '\\000' a; echo; echo after", io)
    assert result.status is RunStatus.SUCCEEDED
    long_line, after = io.program_lines()
    assert long_line.startswith("a" * 4096)
    assert long_line.endswith("[... 95904 more bytes of this line not shown]")
    assert after == "after"


def test_a_fork_bomb_is_contained_and_the_machine_still_forks(mode: str, data_dir: Path) -> None:
    mark = marker()
    runner = Runner(settings_for(mode, data_dir, runner_max_processes=32))
    with runner.workspace({}) as work:
        result = run(
            work, f"bomb() {{ bomb | bomb & }}; sleep {mark} & bomb; wait",
            deadline=time.monotonic() + 5,
        )  # fmt: skip
    # Refused forks end the bomb (FAILED) or leave it retrying until its deadline; a runner
    # that counts processes itself stops it (FAILED, "started more than 32 processes").
    assert result.status in (RunStatus.FAILED, RunStatus.TIMED_OUT), result
    assert "processes" in result.reason or any("fork" in line for line in result.tail)
    assert wait_until_gone(mark) == []
    assert subprocess.run(["true"], check=False).returncode == 0


@pytest.mark.parametrize("mode", [SANDBOXED])
def test_without_a_pids_cgroup_a_fork_bomb_in_bubblewrap_still_meets_the_limit(
    mode: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A root worker without a pids cgroup runs bubblewrap as runner_user, where the
    process rlimit binds (root is exempt from it); any other worker is there already."""
    monkeypatch.setattr(PidsCgroups, "find", staticmethod(lambda: None))
    mark = marker()
    runner = Runner(settings_for(mode, data_dir, runner_max_processes=32))
    with runner.workspace({}) as work:
        assert run(work, "echo still works").status is RunStatus.SUCCEEDED
        result = run(
            work, f"bomb() {{ bomb | bomb & }}; sleep {mark} & bomb; wait",
            deadline=time.monotonic() + 5,
        )  # fmt: skip
    assert result.status in (RunStatus.FAILED, RunStatus.TIMED_OUT), result
    assert any("fork" in line for line in result.tail)
    assert wait_until_gone(mark) == []


def test_cancel_ends_cancelled_and_every_process_of_the_run_even_one_ignoring_sigterm(
    workspace: Workspace,
) -> None:
    mark = marker()
    io = RecordingIO(cancel_on="started")
    script = f"""
        trap '' TERM
        (trap '' TERM; sleep {mark}) &
        setsid sleep {mark} &
        echo started
        while :; do sleep 0.1; done
    """
    result = run(workspace, textwrap.dedent(script), io, deadline=time.monotonic() + 60)
    assert result.status is RunStatus.CANCELLED
    assert result.reason == "was cancelled"
    assert wait_until_gone(mark) == []


def test_a_program_that_exits_leaves_no_background_process_behind(workspace: Workspace) -> None:
    mark = marker()
    result = run(workspace, f"sleep {mark} & echo left it")
    assert result.status is RunStatus.SUCCEEDED
    assert wait_until_gone(mark) == []


def test_a_lost_lease_stops_the_program_and_propagates(workspace: Workspace) -> None:
    mark = marker()

    class LeaseLost(Exception):
        pass

    class LosingIO(RecordingIO):
        def heartbeat(self) -> None:
            raise LeaseLost

    with pytest.raises(LeaseLost):
        run(workspace, f"sleep {mark}", LosingIO(), deadline=time.monotonic() + 60)
    assert wait_until_gone(mark) == []


WORKER = """
import sys, time
from pathlib import Path
from baryon.runner import Runner
from baryon.settings import Settings

class IO:
    def log(self, message):
        print(message, flush=True)
    def cancel_requested(self):
        return False
    def heartbeat(self):
        pass

mode, data_dir, path, mark = sys.argv[1:]
settings = Settings(data_dir=Path(data_dir), runner_sandbox=mode, runner_path=path)
with Runner(settings).workspace({}) as work:
    print(work.path, flush=True)
    work.run(["sh", "-c", f"sleep {mark} & echo started; sleep {mark}"], environment={}, io=IO())
"""


def test_a_worker_killed_outright_takes_its_run_with_it_and_the_next_runner_its_files(
    mode: str, data_dir: Path, tmp_path: Path
) -> None:
    mark = marker()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    worker = subprocess.Popen(
        [sys.executable, str(script), mode, str(data_dir), PROGRAM_PATH, mark],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        left = Path(worker.stdout.readline().strip())
        for line in worker.stdout:
            if line.strip() == "started":
                break
        assert len(processes_with(mark)) >= 2
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert wait_until_gone(mark) == []
    finally:
        worker.kill()
        worker.wait()
    assert left.is_dir()  # nobody was left to remove it
    os.utime(left, (0, 0))  # as if it died long ago
    Runner(settings_for(mode, data_dir))
    assert not left.exists()  # a new runner removes what the dead worker left


# --- containment (bubblewrap) ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [SANDBOXED])
def test_a_program_cannot_write_outside_its_work_directory(
    workspace: Workspace, tmp_path: Path
) -> None:
    in_repository = REPOSITORY / f"escaped-{marker()}"
    in_host_tmp = tmp_path / "escaped"
    io = RecordingIO()
    result = run(workspace, f"touch {in_repository} {in_host_tmp} /escaped", io)
    assert result.status is RunStatus.FAILED
    # What touch says differs with where the checkout lives (under /tmp, the sandbox's own
    # tmpfs takes the write); what matters is that nothing reached the host.
    assert io.program_lines()
    assert not in_repository.exists()
    assert not in_host_tmp.exists()
    assert not Path("/escaped").exists()
    assert run(workspace, "touch inside").status is RunStatus.SUCCEEDED
    assert (workspace.path / "inside").exists()


@pytest.mark.parametrize("mode", [SANDBOXED])
def test_a_program_cannot_read_barons_data_directory(workspace: Workspace, data_dir: Path) -> None:
    io = RecordingIO()
    result = run(workspace, f"cat {data_dir}/master.key", io)
    assert result.status is RunStatus.FAILED
    assert not any("the-secret-master-key" in line for line in io.lines)


@pytest.mark.parametrize("mode", [SANDBOXED])
def test_the_data_directory_stays_hidden_inside_a_directory_the_program_is_shown(
    mode: str, tmp_path: Path
) -> None:
    """A PATH directory is mounted for the program; a data directory inside it is not."""
    tools = tmp_path / "tools"
    data_dir = tools / "data"
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text("the-secret-master-key\n")
    (tools / "hello").write_text("#!/bin/sh\necho hello from a tool\n")
    (tools / "hello").chmod(0o755)
    settings = settings_for(mode, data_dir, runner_path=f"{tools}:{PROGRAM_PATH}")
    io = RecordingIO()
    with Runner(settings).workspace({}) as work:
        result = run(work, f"hello; cat {data_dir}/master.key", io)
    assert result.status is RunStatus.FAILED
    assert io.program_lines()[0] == "hello from a tool"
    assert not any("the-secret-master-key" in line for line in io.lines)


@pytest.mark.parametrize("mode", [SANDBOXED])
def test_directories_shared_on_purpose_are_seen_read_only_or_writable(
    mode: str, tmp_path: Path
) -> None:
    """A provider mirror and a plugin cache inside the data directory: shared, so seen."""
    data_dir = tmp_path / "data"
    mirror, cache = data_dir / "mirror", data_dir / "plugin-cache"
    mirror.mkdir(parents=True)
    cache.mkdir()
    (mirror / "provider.zip").write_text("zip\n")
    (data_dir / "master.key").write_text("the-secret-master-key\n")
    for directory in (tmp_path, data_dir, mirror, cache):
        directory.chmod(0o777)  # reachable by runner_user when the tests run as root
    runner = Runner(settings_for(mode, data_dir))
    io = RecordingIO()
    with runner.workspace({}, shared_read_only=[mirror], shared_writable=[cache]) as work:
        result = run(
            work,
            f"cat {mirror}/provider.zip; echo cached > {cache}/plugin;"
            f" touch {mirror}/nope || echo mirror is read-only;"
            f" cat {data_dir}/master.key || echo no key",
            io,
        )
    assert result.status is RunStatus.SUCCEEDED, result
    assert (cache / "plugin").read_text() == "cached\n"
    assert not (mirror / "nope").exists()
    assert io.program_lines()[0] == "zip"
    assert "mirror is read-only" in io.program_lines()
    assert io.program_lines()[-1] == "no key"
    assert not any("the-secret-master-key" in line for line in io.lines)


def test_the_sandbox_is_described(data_dir: Path) -> None:
    assert Runner(settings_for("none", data_dir)).sandbox_description == (
        "plain child process (runner_sandbox = none)"
    )
    if BUBBLEWRAP_PROBLEM is None:
        assert Runner(settings_for("auto", data_dir)).sandbox_description == "bubblewrap"


# --- containers -----------------------------------------------------------------------------


def test_a_container_run_without_its_runtime_fails_with_a_clear_reason(
    data_dir: Path, tmp_path: Path
) -> None:
    # A runtime named by a path that does not exist: whether this machine has podman or
    # docker installed must not decide the test.
    missing = str(tmp_path / "podman")
    settings = settings_for(
        "container", data_dir, runner_container_runtime=missing, runner_path=str(tmp_path)
    )
    io = RecordingIO()
    with Runner(settings).workspace({}) as work:
        result = work.run(["true"], environment={}, io=io, image="public.ecr.aws/x/y:1")
    assert result.status is RunStatus.FAILED
    assert result.exit_code is None
    assert result.reason.startswith(f"{missing} is not installed")
    assert io.lines == [f"cannot start true: {result.reason}"]


def test_a_container_run_needs_an_image(data_dir: Path) -> None:
    with Runner(settings_for("container", data_dir)).workspace({}) as work:
        result = work.run(["true"], environment={}, io=RecordingIO())
    assert result.status is RunStatus.FAILED
    assert "names no image" in result.reason
