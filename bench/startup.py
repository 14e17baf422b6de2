"""Warm start of `baryon up`: how long from the command to the API's first answer (a signed
ListEnvironmentTemplates), beside the moment everything is ready (the local cloud has
restored its saved state, the env file is written, workers run). Before the API answered
first, `baryon up` answered only at that second moment: it is the baseline, measured in the
same run on the same data directory. A cold start (an empty data directory) is shown too.

Beside each wall time, the CPU time `baryon up` itself had used when it first answered (its
own process, not the local cloud it starts beside it): on a busy machine the wall time
mostly measures the wait for a core, the CPU time what starting costs. Bytecode is cached as
an installed package has it: the cold start compiles it into the work directory
(PYTHONPYCACHEPREFIX, so that PYTHONDONTWRITEBYTECODE in this environment does not make
every warm start compile Baryon again), the warm starts read it.

    .venv/bin/python -m bench.startup             # 40 stacks in the saved state, 5 warm starts
    .venv/bin/python -m bench.startup --quick     # 5 stacks, 2 warm starts
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tests.support.children import free_port
from tests.support.processes import parse_env_file

from bench import harness
from bench.harness import Cleanup, Table

# One attempt, short timeouts: the loop below is the retry, and it must see the first answer.
PROBE = Config(retries={"max_attempts": 1}, connect_timeout=0.5, read_timeout=5)
STACK_TEMPLATE = json.dumps(
    {"Resources": {f"Queue{i}": {"Type": "AWS::SQS::Queue"} for i in range(5)}}
)


@dataclass
class Start:
    first_answer: float  # seconds from the command to the API's first answer
    ready: float  # ... to the env file, the local cloud and the workers all ready
    cpu: float  # CPU seconds baryon up's own process had used at its first answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, default=40, help="stacks in the saved state")
    parser.add_argument("--runs", type=int, default=5, help="warm starts measured")
    parser.add_argument("--quick", action="store_true", help="5 stacks, 2 warm starts")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.quick:
        args.stacks, args.runs = 5, 2
    harness.run_benchmark(lambda cleanup: _run(cleanup, args))


def _run(cleanup: Cleanup, args: argparse.Namespace) -> None:
    harness.print_header(
        "baryon up: warm start to first answer",
        [f"saved state: {args.stacks} stacks of 5 queues each; {args.runs} warm starts"],
    )
    root = harness.workspace(cleanup, args.keep, "startup")
    data_dir = root / "data"
    bytecode = root / "bytecode"
    cold = _start(
        cleanup, root, data_dir, bytecode, then=lambda exports: _seed(exports, args.stacks)
    )
    state = data_dir / "local-cloud.state"
    print(f"saved local cloud state: {state.stat().st_size / 1e6:.1f} MB", flush=True)
    warm = [_start(cleanup, root, data_dir, bytecode) for _ in range(args.runs)]

    table = Table(
        ["start", "first answer (s)", f"goal <= {GOAL_SECONDS:.0f} s", "CPU then (s)",
         "everything ready (s)"]
    )  # fmt: skip
    table.add("cold (empty data directory)", cold.first_answer, "-", "-", cold.ready)
    for index, start in enumerate(warm, 1):
        table.add(f"warm #{index}", start.first_answer, _goal(start.first_answer), start.cpu,
                  start.ready)  # fmt: skip
    median = statistics.median(s.first_answer for s in warm)
    table.add(
        "warm, median",
        median,
        _goal(median),
        statistics.median(s.cpu for s in warm),
        statistics.median(s.ready for s in warm),
    )
    print(table.render())
    print(f"load average after the run (1, 5, 15 min): {_load_average()}")
    print("\n(a cold start's first answer is not measured: its key exists only once it is ready)")
    print(
        "\n'everything ready' is when the old order (cloud restored before the API) first "
        "answered: the baseline for 'first answer'."
    )


GOAL_SECONDS = 2.0  # issue 17: `baryon up` warm start to first answer


def _goal(seconds: float) -> str:
    return "met" if seconds <= GOAL_SECONDS else "NOT met"


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _start(cleanup: Cleanup, root: Path, data_dir: Path, bytecode: Path, then: Any = None) -> Start:
    port = free_port()
    env_file = data_dir / "env"
    env_file.unlink(missing_ok=True)
    key = _known_key(data_dir)
    endpoint = f"http://127.0.0.1:{port}"
    # Built before the clock starts: building a client takes a tenth of a second of CPU.
    client = harness.proton_client(endpoint, key, PROBE) if key is not None else None
    log = root / "baryon.log"
    # Its own free port for the cloud: the API port's next one may be taken.
    env = harness.baryon_environment(
        local_cloud_stack_seconds="0", local_cloud_port=str(free_port())
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "baryon.cli.main", "up", "--port", str(port),
             "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    cleanup.push("baryon up", lambda: _stop(process))
    first = ready = None
    cpu = float("nan")
    deadline = started + 180
    while (first is None or ready is None) and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"baryon up exited with {process.returncode}; see {log}")
        now = time.monotonic()
        if first is None and client is not None and _answers(client):
            first = time.monotonic() - started
            cpu = harness.cpu_seconds([process.pid])
        if ready is None and env_file.exists():
            ready = now - started
            if key is None:  # a cold start: its key is known only now
                exports = parse_env_file(env_file)
                _keep_key(data_dir, exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
                first = float("nan")
        time.sleep(0.01)
    if first is None or ready is None:
        raise RuntimeError(f"baryon up was not ready within 180 s; see {log}")
    if then is not None:
        then(parse_env_file(env_file))
    _stop(process)
    return Start(first_answer=first, ready=ready, cpu=cpu)


def _known_key(data_dir: Path) -> tuple[str, str] | None:
    """The admin key of a previous start: a warm start's env file is written last."""
    kept = data_dir / "bench-key.json"
    if not kept.exists():
        return None
    key_id, secret = json.loads(kept.read_text())
    return str(key_id), str(secret)


def _keep_key(data_dir: Path, key_id: str, secret: str) -> None:
    (data_dir / "bench-key.json").write_text(json.dumps([key_id, secret]))


def _answers(client: Any) -> bool:
    try:
        client.list_environment_templates()
        return True
    except (BotoCoreError, ClientError):
        return False


def _seed(exports: dict[str, str], stacks: int) -> None:
    """Stacks in the local cloud, so that the warm starts restore a real state."""
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=exports["AWS_ENDPOINT_URL_CLOUDFORMATION"],
        region_name=exports["AWS_DEFAULT_REGION"],
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    for index in range(stacks):
        cloudformation.create_stack(StackName=f"bench-{index}", TemplateBody=STACK_TEMPLATE)
    waiter = cloudformation.get_waiter("stack_create_complete")
    for index in range(stacks):
        waiter.wait(StackName=f"bench-{index}", WaiterConfig={"Delay": 1})


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
