"""The runner's own cost per program: `true` and `sh -c 'echo x'` run N times through the
runner in each sandbox this machine offers (a work directory made and removed per run, as a
deployment does, and runs alone in one work directory), beside `subprocess.run` of the same
commands in the same process.

    .venv/bin/python -m bench.runner_overhead            # 200 runs per row
    .venv/bin/python -m bench.runner_overhead --quick    # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from baryon.runner import Runner, RunStatus
from baryon.runner.sandbox import CannotStart
from baryon.settings import Settings
from bench import harness
from bench.harness import Cleanup, Table

COMMANDS: dict[str, list[str]] = {"true": ["true"], "echo": ["sh", "-c", "echo x"]}


class QuietIO:
    """A deployment's IO that keeps nothing: the cost measured is the runner's own."""

    def log(self, message: str) -> None:
        pass

    def cancel_requested(self) -> bool:
        return False

    def heartbeat(self) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per row")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 runs per row")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 20
    harness.run_benchmark(lambda cleanup: run(args, cleanup))


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="baryon-bench-runner-"))
    cleanup.push("data directory", lambda: subprocess.run(["rm", "-rf", str(data_dir)]))
    runners = _runners(data_dir)
    harness.print_header(
        "Runner overhead per program run",
        [
            f"runs: {args.runs} per row, after 5 of warm-up; median and 90th percentile of each",
            "baseline: subprocess.run(command) from the same process, output captured",
            "runner rows: Workspace.run with a QuietIO (output read line by line, dropped); "
            "'+ workspace' makes and removes a work directory around each run",
            *(f"sandbox {mode}: {description}" for mode, description in runners.items()),
        ],
    )
    table = Table(["command", "how", "median ms", "p90 ms", "overhead ms (median)"])
    for name, command in COMMANDS.items():
        base = _measure(args.runs, partial(_direct, command))
        table.add(name, "subprocess.run", *_cells(base), "")
        for mode in runners:
            runner = Runner(_settings(mode, data_dir))
            with runner.workspace({}) as work:
                alone = _measure(args.runs, partial(_through, work.run, command))
            fresh = _measure(args.runs, partial(_fresh, runner, command))
            for how, times in ((mode, alone), (f"{mode} + workspace", fresh)):
                overhead = statistics.median(times) - statistics.median(base)
                table.add(name, how, *_cells(times), f"{overhead:.1f}")
    print(table.render(), flush=True)


def _runners(data_dir: Path) -> dict[str, str]:
    """Each sandbox this machine can run, with its description."""
    found: dict[str, str] = {}
    for mode in ("bubblewrap", "none", "container"):
        try:
            runner = Runner(_settings(mode, data_dir))
            with runner.workspace({}) as work:
                result = work.run(["true"], environment={}, io=QuietIO(), image="debian:stable")
        except (CannotStart, OSError, ValueError) as exc:
            print(f"sandbox {mode}: not measured ({exc})")
            continue
        if result.status is not RunStatus.SUCCEEDED:
            print(f"sandbox {mode}: not measured ({result.reason}: {' / '.join(result.tail)})")
            continue
        found[mode] = runner.sandbox_description
    return found


def _settings(mode: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, runner_sandbox=mode)


def _direct(command: Sequence[str]) -> None:
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=True)


def _through(run: Callable[..., object], command: Sequence[str]) -> None:
    run(command, environment={}, io=QuietIO())


def _fresh(runner: Runner, command: Sequence[str]) -> None:
    with runner.workspace({"proton-inputs.json": "{}"}) as work:
        work.run(command, environment={}, io=QuietIO())


def _measure(runs: int, once: Callable[[], None]) -> list[float]:
    for _ in range(5):
        once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def _cells(times: list[float]) -> tuple[str, str]:
    return f"{statistics.median(times):.1f}", f"{harness.percentile(times, 0.9):.1f}"


if __name__ == "__main__":
    main()
