"""How a program is started for one run: inside bubblewrap, inside a container, or as a
plain child process, and what each way adds around it.

Every way puts the program's processes under a process-count limit (a fork bomb hits a wall)
and ties them to the thread that started them, so that a worker that dies takes its runs
with it and a resource never has two runs at once:

- bubblewrap: ``--die-with-parent`` kills the sandbox when the worker dies, ``--unshare-pid``
  puts every process of the run in a namespace that ends with it, and ``prlimit`` inside the
  sandbox's user namespace counts only the run's own processes.
- plain: ``setpriv --pdeathsig`` signals a small shell when the worker dies, and the shell
  kills its whole process group; ``prlimit`` counts every process of the user.
- container: the runtime's ``--pids-limit``; the container is removed by name when the run
  stops. A container outlives a worker killed outright until the runtime notices
  (``--rm`` after its client goes is up to the runtime).

Under a root worker, plain child processes run as `runner_user`: the kernel applies no
process limit to root, and a program has no business with root's files. Where no rlimit
binds (bubblewrap under a root worker) a pids cgroup per run does (pids_cgroup.py), and
failing that the run counts its processes itself and ends when they exceed the limit.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from baryon.runner.limits import RunLimits

# The signal the plain way's shell takes as "the worker is gone"; SIGTERM is what a cancel
# sends, and must leave the program its grace period.
_WORKER_GONE = "USR2"
_SUPERVISOR = f'trap "kill -KILL 0" {_WORKER_GONE}; "$@" & wait $!'
_SYSTEM_TOPS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Visible read-only in every sandbox; PATH directories under them need no binding of their own.
_SYSTEM_PATHS = (Path("/usr"), Path("/etc"), *(Path(top) for top in _SYSTEM_TOPS))
_PROBE_SECONDS = 15.0


class SandboxKind(StrEnum):
    AUTO = "auto"
    BUBBLEWRAP = "bubblewrap"
    CONTAINER = "container"
    NONE = "none"


class CannotStart(Exception):
    """The run cannot start this way; the message says why, for the deployment log."""


@dataclass(frozen=True)
class SharedDirectories:
    """Host directories a run's program may use besides its work directory, at the same
    paths: a provider mirror to read, a plugin cache shared by runs to write. A plain child
    process sees them anyway (as it sees everything); a sandbox mounts them."""

    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


NO_SHARED_DIRECTORIES = SharedDirectories()


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int


@dataclass(frozen=True)
class Launch:
    """One process to start, and how to stop everything the run started."""

    argv: tuple[str, ...]
    environment: Mapping[str, str]  # of the started process (the program's, for all ways)
    run_as: RunAs | None  # None = the worker's own user
    # The sandbox's own processes (bubblewrap's), spared SIGTERM: killing one ends the whole
    # sandbox at once, leaving the program no grace period.
    sandbox_process_names: frozenset[str] = frozenset()
    # Every process of the run dies with the started one (a pid namespace or a container).
    contained: bool = False
    # The kernel caps the run's processes (an rlimit that binds, a cgroup, a container's
    # pids limit); otherwise the run counts them itself.
    processes_capped: bool = False
    # Run detached to stop gracefully (the runtime's own TERM-then-KILL), and to force.
    stop_argv: tuple[str, ...] | None = None
    remove_argv: tuple[str, ...] | None = None
    # Said in the deployment log once per run.
    notice: str | None = None


class Sandbox(Protocol):
    description: str
    run_as: RunAs | None  # who owns the work directory; None = the worker's user

    def launch(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        environment: Mapping[str, str],
        image: str | None,
        shared: SharedDirectories = NO_SHARED_DIRECTORIES,
    ) -> Launch:
        """Raises CannotStart when this way cannot run the program."""


@dataclass(frozen=True)
class Tools:
    """Binaries the runner itself starts, found once on the runner's PATH."""

    search_path: str

    def find(self, name: str) -> str:
        found = shutil.which(name, path=f"{self.search_path}:/usr/bin:/bin")
        if found is None:
            raise CannotStart(f"{name} is not installed (looked on {self.search_path})")
        return found


def _limit_arguments(limits: RunLimits) -> list[str]:
    arguments = [f"--nproc={limits.processes}:{limits.processes}"]
    if limits.memory_bytes > 0:
        arguments.append(f"--as={limits.memory_bytes}:{limits.memory_bytes}")
    return arguments


class PlainSandbox:
    def __init__(self, tools: Tools, limits: RunLimits, run_as: RunAs | None, why: str) -> None:
        self._tools = tools
        self._limits = limits
        self.run_as = run_as
        self.description = f"plain child process ({why})"

    def launch(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        environment: Mapping[str, str],
        image: str | None,
        shared: SharedDirectories = NO_SHARED_DIRECTORIES,
    ) -> Launch:
        command = (
            self._tools.find("setpriv"), "--pdeathsig", _WORKER_GONE,
            self._tools.find("prlimit"), *_limit_arguments(self._limits), "--",
            self._tools.find("sh"), "-c", _SUPERVISOR, "sh", *argv,
        )  # fmt: skip
        return Launch(
            argv=command,
            environment=environment,
            run_as=self.run_as,
            processes_capped=(self.run_as.uid if self.run_as else os.geteuid()) != 0,
            notice="no sandbox: running as a plain child process",
        )


class BubblewrapSandbox:
    """The program runs as the worker's user mapped into a user namespace of its own, with
    no capabilities. Under a root worker that is root without privileges, which the kernel
    exempts from RLIMIT_NPROC: a pids cgroup is the process limit then (pids_cgroup.py).
    Dropping to another user inside is impossible (the namespace maps one user). Only when a
    root worker has no pids cgroup does bubblewrap itself run as `run_as`, so that the
    rlimit binds; tools kept where that user cannot walk (an interpreter under /root) are
    then out of the program's sight."""

    description = "bubblewrap"

    def __init__(
        self,
        tools: Tools,
        limits: RunLimits,
        hidden: Sequence[Path],
        run_as: RunAs | None = None,
    ) -> None:
        self._tools = tools
        self._limits = limits
        self._hidden = tuple(hidden)
        self.run_as = run_as

    def launch(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        environment: Mapping[str, str],
        image: str | None,
        shared: SharedDirectories = NO_SHARED_DIRECTORIES,
    ) -> Launch:
        command = (
            self._tools.find("bwrap"),
            *_system_mounts(),
            *self._program_mounts(environment.get("PATH", "")),
            # After the data directory is hidden: a directory shared on purpose stays visible.
            *(part for path in shared.read_only for part in ("--ro-bind", str(path), str(path))),
            *(part for path in shared.writable for part in ("--bind", str(path), str(path))),
            "--bind", str(workdir), str(workdir),
            # Nothing the program writes outside its work directory and /tmp lands anywhere.
            "--remount-ro", "/",
            "--chdir", str(workdir),
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try",
            # The network namespace stays shared: programs reach Baryon and the local cloud
            # on loopback.
            "--die-with-parent", "--new-session",
            "--",
            # Inside the sandbox's user namespace, RLIMIT_NPROC counts this run only.
            self._tools.find("prlimit"), *_limit_arguments(self._limits), "--",
            *argv,
        )  # fmt: skip
        return Launch(
            argv=command,
            environment=environment,
            run_as=self.run_as,
            sandbox_process_names=frozenset({"bwrap"}),
            contained=True,
            # The user namespace maps the starting user: root is exempt from RLIMIT_NPROC.
            processes_capped=(self.run_as.uid if self.run_as else os.geteuid()) != 0,
        )

    def _program_mounts(self, search_path: str) -> list[str]:
        """Each PATH directory outside the system, read-only, with the Python environment a
        directory belongs to (a virtual environment's bin/ needs its site-packages and the
        interpreter it was made from); Baryon's data directory stays hidden."""
        sources: list[Path] = []
        for entry in search_path.split(":"):
            directory = Path(entry)
            if not directory.is_absolute() or not directory.is_dir() or directory == Path("/"):
                continue
            sources.append(directory)
            sources.extend(_virtual_environment(directory))
        mounts: list[str] = []
        visible = (s for s in sources if not self._is_hidden(s) and self._reachable(s))
        for source in _outermost(visible):
            mounts += ["--ro-bind", str(source), str(source)]
        for hidden in self._hidden:
            if any(hidden.is_relative_to(source) for source in sources):
                mounts += ["--tmpfs", str(hidden)]
        return mounts

    def _reachable(self, path: Path) -> bool:
        """Whether bubblewrap, started as `run_as`, can walk to `path` (it fails the whole
        run on a source it cannot reach)."""
        if self.run_as is None:
            return True
        for step in (path, *path.parents):
            try:
                mode = step.stat()
            except OSError:
                return False
            if mode.st_uid == self.run_as.uid:
                allowed = mode.st_mode & 0o100
            elif mode.st_gid == self.run_as.gid:
                allowed = mode.st_mode & 0o010
            else:
                allowed = mode.st_mode & 0o001
            if not allowed:
                return False
        return True

    def _is_hidden(self, path: Path) -> bool:
        return any(path.is_relative_to(hidden) for hidden in self._hidden)


def _system_mounts() -> list[str]:
    mounts = ["--ro-bind", "/usr", "/usr"]
    for top in _SYSTEM_TOPS:
        path = Path(top)
        if path.is_symlink():
            mounts += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            mounts += ["--ro-bind", top, top]
    return [*mounts, "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]  # fmt: skip


def _virtual_environment(directory: Path) -> list[Path]:
    config = directory.parent / "pyvenv.cfg"
    if not config.is_file():
        return []
    found = [directory.parent]
    for line in config.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            found.append(Path(value.strip()).parent)  # the interpreter's prefix
    return found


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Paths not already visible, through the system mounts or another path here."""
    chosen: list[Path] = []
    for path in sorted({Path(os.path.normpath(p)) for p in paths}, key=lambda p: len(p.parts)):
        if any(path.is_relative_to(system) for system in _SYSTEM_PATHS):
            continue
        if not any(path.is_relative_to(outer) for outer in chosen):
            chosen.append(path)
    return chosen


class ContainerSandbox:
    run_as: RunAs | None = None

    def __init__(self, tools: Tools, limits: RunLimits, runtime: str) -> None:
        self._tools = tools
        self._limits = limits
        self._runtime = runtime
        self.description = f"{runtime} container (the manifest's image)"

    def launch(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        environment: Mapping[str, str],
        image: str | None,
        shared: SharedDirectories = NO_SHARED_DIRECTORIES,
    ) -> Launch:
        if not image:
            raise CannotStart(f"runner_sandbox is container, but the manifest names no image "
                              f"for {self._runtime} to run")  # fmt: skip
        runtime = self._tools.find(self._runtime)
        name = f"baryon-run-{uuid.uuid4().hex[:16]}"
        # `-e NAME` takes the value from the client's environment, which keeps secrets off
        # the command line that every local user can read.
        passed = [part for key in environment for part in ("-e", key)]
        memory = ["--memory", str(self._limits.memory_bytes)] if self._limits.memory_bytes else []
        command = (
            runtime, "run", "--rm", "--init", "--name", name, "--network", "host",
            "--pids-limit", str(self._limits.processes), *memory,
            *(part for path in shared.read_only for part in ("-v", f"{path}:{path}:ro")),
            *(part for path in shared.writable for part in ("-v", f"{path}:{path}")),
            "-v", f"{workdir}:{workdir}", "-w", str(workdir), *passed, image, *argv,
        )  # fmt: skip
        return Launch(
            argv=command,
            environment=environment,
            run_as=None,
            contained=True,
            processes_capped=True,
            stop_argv=(runtime, "stop", "-t", str(int(self._limits.kill_grace_seconds)), name),
            remove_argv=(runtime, "rm", "-f", name),
        )


def run_as_for(user: str, worker_uid: int) -> RunAs | None:
    if worker_uid != 0:
        return None
    entry = pwd.getpwnam(user)
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def choose_sandbox(
    kind: SandboxKind,
    *,
    tools: Tools,
    limits: RunLimits,
    run_as: RunAs | None,
    hidden: Sequence[Path],
    container_runtime: str,
    bubblewrap_run_as: RunAs | None = None,
) -> Sandbox:
    if kind is SandboxKind.CONTAINER:
        return ContainerSandbox(tools, limits, container_runtime)
    if kind is SandboxKind.NONE:
        return PlainSandbox(tools, limits, run_as, "runner_sandbox = none")
    bubblewrap = BubblewrapSandbox(tools, limits, hidden, bubblewrap_run_as)
    if kind is SandboxKind.BUBBLEWRAP:
        return bubblewrap
    problem = bubblewrap_problem(bubblewrap, tools)
    if problem is None:
        return bubblewrap
    return PlainSandbox(tools, limits, run_as, f"no sandbox available: {problem}")


def bubblewrap_problem(sandbox: BubblewrapSandbox, tools: Tools) -> str | None:
    """Why bubblewrap cannot run programs here (it is missing, or unprivileged user
    namespaces are off), from one trivial run; None when it can."""
    try:
        tools.find("bwrap")
        true = tools.find("true")
    except CannotStart as exc:
        return str(exc)
    run_as = sandbox.run_as
    with tempfile.TemporaryDirectory(prefix="baryon-bwrap-probe-") as scratch:
        if run_as is not None:
            hand_over(Path(scratch), run_as)
        launch = sandbox.launch([true], workdir=Path(scratch), environment={}, image=None)
        try:
            probe = subprocess.run(
                launch.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env={},
                timeout=_PROBE_SECONDS,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap did not run: {exc}"
    if probe.returncode != 0:
        said = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap failed: {said[-1] if said else f'status {probe.returncode}'}"
    return None


def hand_over(path: Path, run_as: RunAs) -> None:
    """Gives `path` and everything under it to the user programs run as."""
    os.lchown(path, run_as.uid, run_as.gid)
    for root, directories, files in os.walk(path):
        for name in [*directories, *files]:
            os.lchown(Path(root) / name, run_as.uid, run_as.gid)
