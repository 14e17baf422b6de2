"""What every benchmark needs: a private PostgreSQL, Baryon and local-cloud processes on
loopback, clean-up that also runs on Ctrl-C or SIGTERM, process statistics (RSS, CPU) and a
small table printer.

Children run in process groups of their own, so a Ctrl-C reaches only the benchmark, which
then stops them in order (Baryon first, then the cloud and PostgreSQL); if the benchmark is
killed outright, the kernel sends them SIGTERM (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
from botocore.config import Config
from cryptography.fernet import Fernet
from tests.support.children import die_with_parent, free_port
from tests.support.postgres import PostgresServer, find_bin_dir

from baryon.cloud.process import LocalCloudProcess
from baryon.service_models import MODELS_DIR

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
BUNDLE_BUCKET = f"baryon-bundles-{ACCOUNT_ID}"
CLOUD_CREDENTIALS = ("bench", "bench-secret")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- running a benchmark ----------------------------------------------------------------------


class Interrupted(Exception):
    """SIGTERM or SIGHUP, turned into an exception so that clean-up runs."""


class Cleanup:
    """Undo actions, run last-in first-out; Ctrl-C cannot interrupt them halfway."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], Any]]] = []

    def push(self, label: str, action: Callable[[], Any]) -> None:
        self._actions.append((label, action))

    def run(self) -> None:
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._actions:
                label, action = self._actions.pop()
                try:
                    action()
                except Exception as exc:
                    print(f"clean-up: {label} failed: {exc}", file=sys.stderr)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run_benchmark(body: Callable[[Cleanup], None]) -> None:
    """Runs ``body`` and then every clean-up it registered, whatever happens."""
    cleanup = Cleanup()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    code = 0
    try:
        body(cleanup)
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping everything the benchmark started", file=sys.stderr)
        code = 130
    finally:
        cleanup.run()
    if code:
        sys.exit(code)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: small sizes, a few seconds"
    )
    parser.add_argument(
        "--pg-unsafe",
        action="store_true",
        help="run PostgreSQL with fsync and synchronous_commit off (default: PostgreSQL's "
        "durable defaults)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs) after the run"
    )


def workspace(cleanup: Cleanup, keep: bool, prefix: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"baryon-bench-{prefix}-"))
    if keep:
        cleanup.push("note", lambda: print(f"logs kept in {root}", file=sys.stderr))
    else:
        cleanup.push("work directory", lambda: shutil.rmtree(root, ignore_errors=True))
    return root


# --- the machine ------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    cores = len(os.sched_getaffinity(0))
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    memory = _meminfo_gib()
    with open("/proc/loadavg") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    return [
        f"machine: {cores} CPU cores ({model}), {memory:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}, {pg_version()}",
        f"note: everything runs on these {cores} cores: the load clients, Baryon's processes, "
        "the local cloud and PostgreSQL share them",
        f"load average before the run (1, 5, 15 min): {load}; the 'other cores' columns show "
        "what the rest of the machine used while figures were taken",
        f"code: {code_version()}",
    ]


def code_version() -> str:
    """The commit measured, and whether src/ differed from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes in src/" if dirty else "")


def _meminfo_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def print_header(title: str, lines: Iterable[str]) -> None:
    print(f"== {title} ==")
    for line in [*machine_lines(), *lines]:
        print(line)
    print(flush=True)


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_version() -> str:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return "PostgreSQL ?"
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True
        ).stdout
    except OSError:
        return "PostgreSQL ?"
    words = out.split()  # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    return f"PostgreSQL {words[2]}" if len(words) > 2 else "PostgreSQL ?"


def start_postgres(cleanup: Cleanup, *, durable: bool) -> PostgresServer:
    """The tests' private PostgreSQL server, with durable defaults unless told otherwise."""
    server = PostgresServer(durable=durable)
    cleanup.push("PostgreSQL", server.destroy)
    server.start()
    return server


def sync_url(url: str) -> str:
    """A SQLAlchemy psycopg URL as plain libpq understands it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


# --- processes --------------------------------------------------------------------------------


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (those still alive)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def tree_cpu_seconds(pid: int | None) -> float:
    return cpu_seconds(descendants(pid)) if pid else 0.0


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) from /proc/<pid>/status, in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


@dataclass
class Proc:
    """A Baryon process the benchmark started."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 40.0) -> None:
        if not self.alive():
            return
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait()


def baryon_environment(**settings: str) -> dict[str, str]:
    """This environment without AWS or Baryon settings, plus ``settings`` (BARYON_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BARYON_"))}
    env.update({f"BARYON_{name.upper()}": value for name, value in settings.items()})
    return env


def spawn_baryon(
    cleanup: Cleanup, root: Path, name: str, args: Sequence[str], env: dict[str, str]
) -> Proc:
    log_path = root / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "baryon.cli.main", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
            preexec_fn=die_with_parent,
        )
    proc = Proc(name, process, log_path)
    cleanup.push(name, proc.stop)
    return proc


def start_server(cleanup: Cleanup, root: Path, env: dict[str, str], name: str = "server") -> Proc:
    port = free_port()
    proc = spawn_baryon(cleanup, root, name, ["server", "--port", str(port)], env)
    proc.port = port
    wait_http(proc, f"{proc.endpoint}/readyz")
    return proc


def start_worker(
    cleanup: Cleanup, root: Path, env: dict[str, str], name: str, threads: int
) -> Proc:
    proc = spawn_baryon(cleanup, root, name, ["worker", "--threads", str(threads)], env)
    deadline = time.monotonic() + 60
    while "baryon worker running" not in proc.log_tail(200):
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start:\n{proc.log_tail()}")
        time.sleep(0.05)
    return proc


def wait_http(proc: Proc, url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} was not ready after {timeout:.0f} s:\n{proc.log_tail()}")


def start_local_cloud(
    cleanup: Cleanup, root: Path, stack_seconds: float = 0.0
) -> LocalCloudProcess:
    """Baryon's local cloud (moto's server), stateless; 0 s stack operations = moto at once."""
    cloud = LocalCloudProcess(
        state_file=None, log_file=root / "cloud.log", stack_operation_seconds=stack_seconds
    )
    cleanup.push("local cloud", cloud.stop)
    cloud.start()
    return cloud


def scaled_environment(database_url: str, cloud: LocalCloudProcess, root: Path) -> dict[str, str]:
    """Settings for `baryon server` and `baryon worker`; defaults for everything else."""
    return baryon_environment(
        database_url=database_url,
        master_key=Fernet.generate_key().decode(),
        cloud_endpoint=cloud.endpoint,
        cloud_access_key_id=CLOUD_CREDENTIALS[0],
        cloud_secret_access_key=CLOUD_CREDENTIALS[1],
        data_dir=str(root / "data"),
    )


def prepare_database(database_url: str, master_key: str) -> tuple[str, str]:
    """Migrates the database and creates an access key; returns (key id, secret)."""
    from baryon.auth.access_keys import create_access_key
    from baryon.auth.master_key import SecretBox
    from baryon.store.database import Database

    db = Database(database_url)
    try:
        db.migrate()
        created = create_access_key(db, SecretBox(master_key.encode()), "bench")
    finally:
        db.dispose()
    return created.access_key_id, created.secret_access_key


# --- clients ----------------------------------------------------------------------------------

SETUP_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    read_timeout=120,
    max_pool_connections=32,
)


def proton_client(endpoint: str, key: tuple[str, str], config: Config = SETUP_CONFIG) -> Any:
    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return boto3.session.Session(botocore_session=core).client(
        "proton",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=config,
    )


def cloud_client(cloud: LocalCloudProcess, service: str, config: Config = SETUP_CONFIG) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=cloud.endpoint,
        region_name=REGION,
        aws_access_key_id=CLOUD_CREDENTIALS[0],
        aws_secret_access_key=CLOUD_CREDENTIALS[1],
        config=config,
    )


# --- figures ----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when there are none)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([_cell(c) for c in cells])

    def render(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]

        def line(cells: list[str]) -> str:
            out = []
            for i, cell in enumerate(cells):
                numeric = i > 0 and _looks_numeric(cell)
                out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
            return "| " + " | ".join(out) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(self.headers), rule, *(line(r) for r in self.rows)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _looks_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("x", "").replace("-", "")
    stripped = stripped.replace("%", "").replace(" MiB", "").strip()
    return stripped.isdigit() or cell == "-"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"
