"""One private work directory and the runs of programs in it.

A run streams the program's output (stdout and stderr merged, as a person would see them in
a terminal) line by line into the deployment's log while it keeps polling for a cancel
request, the time limit and the job's lease, even when the program is silent. However it
ends, nothing the run started is left running.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import stat
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from baryon.runner import process_tree
from baryon.runner.limits import RunLimits
from baryon.runner.output import LineSplitter
from baryon.runner.pids_cgroup import PidsCgroups, join_argv
from baryon.runner.result import RunResult, RunStatus
from baryon.runner.sandbox import (
    NO_SHARED_DIRECTORIES,
    CannotStart,
    Launch,
    Sandbox,
    SharedDirectories,
)

# The deployment's log is written at each heartbeat (engine/deployment_io.py batches lines),
# so this bounds how far a program's live log lags: a second, as a person watching it expects.
HEARTBEAT_SECONDS = 1.0
CANCEL_POLL_SECONDS = 0.25
_SELECT_SECONDS = 0.1
_READ_BYTES = 64 * 1024
# Once the program has exited, output still in the pipe is read for this long at most (a
# process that escaped the run could otherwise hold the pipe open for ever).
_DRAIN_SECONDS = 2.0
# bubblewrap's own processes around the program, not counted against the process limit.
_SANDBOX_PROCESSES = 2
_UNCAPPED_COUNT_SECONDS = 0.02


class RunIO(Protocol):
    """What a run needs of its caller; provisioners' DeploymentIO is one."""

    def log(self, message: str) -> None: ...

    def cancel_requested(self) -> bool: ...

    def heartbeat(self) -> None: ...


class WorkspaceFileTooLarge(Exception):
    """A file the program left is larger than its reader accepts."""


class Workspace:
    def __init__(
        self,
        path: Path,
        *,
        sandbox: Sandbox,
        limits: RunLimits,
        base_environment: Mapping[str, str],
        cgroups: PidsCgroups | None = None,
        shell: str = "/bin/sh",
        shared: SharedDirectories = NO_SHARED_DIRECTORIES,
    ) -> None:
        self.path = path
        self._sandbox = sandbox
        self._limits = limits
        self._base_environment = dict(base_environment)
        self._cgroups = cgroups
        self._shell = shell
        self._shared = shared

    def run(
        self,
        argv: Sequence[str],
        *,
        environment: Mapping[str, str],
        io: RunIO,
        deadline: float | None = None,
        image: str | None = None,
    ) -> RunResult:
        """Runs `argv` in the work directory and waits for it. `environment` is all the
        program sees besides PATH, HOME and PWD (the work directory), LANG and TMPDIR; `deadline` is
        on time.monotonic()'s clock, the runner's time limit from now when None."""
        started = time.monotonic()
        if deadline is None:
            deadline = started + self._limits.time_seconds
        try:
            launch = self._sandbox.launch(
                argv,
                workdir=self.path,
                environment={**self._base_environment, **environment},
                image=image,
                shared=self._shared,
            )
        except CannotStart as exc:
            io.log(f"cannot start {argv[0] if argv else 'the program'}: {exc}")
            return RunResult(RunStatus.FAILED, None, str(exc), ())
        if launch.notice:
            io.log(launch.notice)
        if self._cgroups is None or launch.processes_capped:
            return _Run(launch, self._limits, io, self.path, started, deadline).execute()
        with self._cgroups.cgroup(self._limits.processes + _SANDBOX_PROCESSES) as procs:
            capped = dataclasses.replace(
                launch,
                argv=join_argv(procs, launch.argv, self._shell),
                processes_capped=True,
            )
            return _Run(capped, self._limits, io, self.path, started, deadline).execute()

    def read(self, name: str, limit: int = 1 << 20) -> bytes | None:
        """A regular file the program left in the work directory; None when there is none.
        A symbolic link counts as none: the worker must not read what it points at."""
        target = Path(os.path.normpath(self.path / name))
        if Path(name).is_absolute() or not target.is_relative_to(self.path) or target == self.path:
            raise ValueError(f"{name!r} is not a file name inside the work directory")
        if _through_a_link(target, self.path):
            return None
        try:
            descriptor = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None  # missing, or itself a symbolic link (ELOOP)
        with os.fdopen(descriptor, "rb") as handle:
            if not _is_regular(handle):
                return None
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise WorkspaceFileTooLarge(f"{name} is larger than {limit} bytes")
        return data


def _through_a_link(target: Path, root: Path) -> bool:
    """Whether a directory on the way from `root` to `target` is a symbolic link, which the
    program may have pointed anywhere the worker can read."""
    walked = root
    for part in target.relative_to(root).parts[:-1]:
        walked = walked / part
        if walked.is_symlink():
            return True
    return False


def _is_regular(handle: IO[bytes]) -> bool:
    return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)


@dataclass
class _Stopping:
    status: RunStatus
    reason: str
    kill_at: float
    terminated: bool = False
    killed: bool = False


class _Run:
    """One program from start to reaped, with everything it started."""

    def __init__(
        self,
        launch: Launch,
        limits: RunLimits,
        io: RunIO,
        workdir: Path,
        started: float,
        deadline: float,
    ) -> None:
        self._launch = launch
        self._limits = limits
        self._io = io
        self._workdir = workdir
        self._started = started
        self._deadline = deadline
        self._splitter = LineSplitter(limits.line_bytes)
        self._tail: deque[str] = deque(maxlen=limits.tail_lines)
        self._output_bytes = 0
        self._stopping: _Stopping | None = None
        self._helpers: list[subprocess.Popen[bytes]] = []
        # Every process of the run seen so far: one that left the process group and lost
        # its parent is no longer anyone's descendant, but it is still the run's.
        self._seen: dict[int, process_tree.ProcessInfo] = {}

    def execute(self) -> RunResult:
        try:
            process = self._start()
        except OSError as exc:
            reason = f"could not start {self._launch.argv[0]}: {exc.strerror or exc}"
            self._io.log(reason)
            return RunResult(RunStatus.FAILED, None, reason, ())
        assert process.stdout is not None
        try:
            code = self._watch(process, process.stdout)
        except BaseException:
            # A lost lease (heartbeat) or an interrupt: the run must end now, so that no
            # second run on the resource meets this one.
            self._kill(process)
            _reap(process)
            raise
        finally:
            process.stdout.close()
            self._end_helpers()
        return self._result(code)

    def _start(self) -> subprocess.Popen[bytes]:
        run_as = self._launch.run_as
        # Started from the calling thread, which waits here for the whole run: the kernel's
        # parent-death signal follows the thread that forked, not the process.
        return subprocess.Popen(
            self._launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._workdir,
            env=dict(self._launch.environment),
            process_group=0,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )

    def _watch(self, process: subprocess.Popen[bytes], pipe: IO[bytes]) -> int:
        descriptor = pipe.fileno()
        os.set_blocking(descriptor, False)
        next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        # A program that ends at once is never looked for in /proc.
        next_cancel_check = time.monotonic() + CANCEL_POLL_SECONDS
        next_count = time.monotonic()
        open_pipe = True
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._io.heartbeat()
                    next_heartbeat = now + HEARTBEAT_SECONDS
                if self._stopping is None and now >= next_count and self._counts_processes():
                    next_count = now + _UNCAPPED_COUNT_SECONDS
                    self._check_process_count(process)
                if self._stopping is None and now >= next_cancel_check:
                    next_cancel_check = now + CANCEL_POLL_SECONDS
                    self._check_limits(process, now)
                self._enforce(process, now)
                if open_pipe:
                    open_pipe = self._read(selector, descriptor)
                    code = process.poll()
                else:
                    code = _wait(process, _SELECT_SECONDS)
                if code is not None:
                    break
        # The program is gone: whatever it left running goes too, then its last words.
        self._kill_leftovers(process)
        if open_pipe:
            self._drain(descriptor)
        self._emit_lines(self._splitter.finish())
        return code

    def _counts_processes(self) -> bool:
        """Where nothing in the kernel caps the run's processes, the run counts them often
        (a fork bomb doubles in milliseconds)."""
        return not self._launch.processes_capped

    def _check_process_count(self, process: subprocess.Popen[bytes]) -> None:
        if len(self._processes(process)) > self._limits.processes + _SANDBOX_PROCESSES:
            # No grace: a fork bomb would use it.
            limit = self._limits.processes
            self._stop(RunStatus.FAILED, f"started more than {limit} processes, its limit")
            assert self._stopping is not None
            self._stopping.terminated = True
            self._kill(process)

    def _check_limits(self, process: subprocess.Popen[bytes], now: float) -> None:
        if not self._launch.contained:
            # A plain run's processes may leave its tree; remembered while they are in it.
            self._processes(process)
        if self._io.cancel_requested():
            self._stop(RunStatus.CANCELLED, "was cancelled")
        elif now >= self._deadline:
            seconds = self._deadline - self._started
            self._stop(RunStatus.TIMED_OUT, f"ran past its time limit of {seconds:.0f} s")

    def _enforce(self, process: subprocess.Popen[bytes], now: float) -> None:
        """SIGTERM once a stop is decided, SIGKILL when its grace period is over."""
        stopping = self._stopping
        if stopping is None:
            return
        if not stopping.terminated:
            stopping.terminated = True
            self._terminate(process)
        if not stopping.killed and now >= stopping.kill_at:
            self._kill(process)

    def _read(self, selector: selectors.BaseSelector, descriptor: int) -> bool:
        """Reads what is there; False at end of output."""
        for _key, _events in selector.select(_SELECT_SECONDS):
            try:
                chunk = os.read(descriptor, _READ_BYTES)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self._take(chunk)
        return True

    def _drain(self, descriptor: int) -> None:
        until = time.monotonic() + _DRAIN_SECONDS
        os.set_blocking(descriptor, False)
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while time.monotonic() < until and self._read(selector, descriptor):
                pass

    def _take(self, chunk: bytes) -> None:
        if self._output_bytes >= self._limits.output_bytes:
            return  # past the limit: read and dropped, so the program is not left blocked
        room = self._limits.output_bytes - self._output_bytes
        self._output_bytes += len(chunk)
        self._emit_lines(self._splitter.feed(chunk[:room]))
        if len(chunk) > room:
            self._emit_lines(self._splitter.finish())
            if self._stopping is None:
                limit = _size(self._limits.output_bytes)
                self._stop(RunStatus.OUTPUT_LIMIT, f"wrote more than {limit} of output, its limit")

    def _emit_lines(self, lines: list[str]) -> None:
        for line in lines:
            self._tail.append(line)
            self._io.log(line)

    def _stop(self, status: RunStatus, reason: str) -> None:
        """Decides the run's end; `_enforce` carries it out."""
        self._io.log(f"stopping the program: it {reason}")
        kill_at = time.monotonic() + self._limits.kill_grace_seconds
        self._stopping = _Stopping(status, reason, kill_at)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to every process of the run but the sandbox's own."""
        spared = self._launch.sandbox_process_names
        for info in self._processes(process).values():
            if info.name not in spared:
                process_tree.signal_pid(info.pid, signal.SIGTERM)
        if not self._launch.contained:
            process_tree.signal_group(process.pid, signal.SIGTERM)
        if self._launch.stop_argv:
            self._helpers.append(_detached(self._launch.stop_argv))

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        if self._stopping is not None:
            self._stopping.killed = True
        process_tree.signal_pid(process.pid, signal.SIGKILL)
        self._kill_leftovers(process)

    def _kill_leftovers(self, process: subprocess.Popen[bytes]) -> None:
        if not self._launch.contained:
            self._processes(process)
        for info in self._seen.values():
            if process_tree.still_running(info):
                process_tree.signal_pid(info.pid, signal.SIGKILL)
        process_tree.signal_group(process.pid, signal.SIGKILL)
        if self._launch.remove_argv:
            self._helpers.append(_detached(self._launch.remove_argv))

    def _processes(self, process: subprocess.Popen[bytes]) -> dict[int, process_tree.ProcessInfo]:
        """The run's processes now, remembered for the end."""
        now = process_tree.descendants(process.pid)
        self._seen.update(now)
        return now

    def _end_helpers(self) -> None:
        for helper in self._helpers:
            try:
                helper.wait(timeout=self._limits.kill_grace_seconds + 5)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()

    def _result(self, code: int) -> RunResult:
        tail = tuple(self._tail)
        exit_code = code if code >= 0 else None
        if self._stopping is not None:
            return RunResult(self._stopping.status, exit_code, self._stopping.reason, tail)
        if code == 0:
            return RunResult(RunStatus.SUCCEEDED, 0, "exited with status 0", tail)
        if code < 0:
            name = signal.Signals(-code).name
            return RunResult(RunStatus.FAILED, None, f"was killed by {name}", tail)
        return RunResult(RunStatus.FAILED, code, f"exited with status {code}", tail)


def _detached(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _reap(process: subprocess.Popen[bytes]) -> None:
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_DRAIN_SECONDS)


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"
