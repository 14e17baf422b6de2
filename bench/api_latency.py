"""API throughput and latency: GetServiceInstance and ListServiceInstances (maxResults 50)
under 16 concurrent SigV4-signed clients, against `baryon server` on PostgreSQL and
`baryon up` on SQLite, beside moto's server answering comparable AWS JSON reads (DynamoDB
DescribeTable for a single resource, ECS ListClusters returning 50 ARNs for a list) and beside
the ceiling of the HTTP stack (bench/ceiling.py: a bare Starlette endpoint on uvicorn with
httptools and uvloop returning constant JSON). Issue 17's goals are printed beside the figures.

    .venv/bin/python -m bench.api_latency            # 20 s per row after 5 s of warm-up
    .venv/bin/python -m bench.api_latency --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import fleet_seed as seed
from tests.support.children import die_with_parent, free_port

from bench import harness, loadgen
from bench.harness import Cleanup, Proc, Table

PROTON_TARGET = "AwsProton20200720"
JSON_10 = "application/x-amz-json-1.0"
JSON_11 = "application/x-amz-json-1.1"


@dataclass
class Row:
    system: str
    operation: str
    result: loadgen.LoadResult
    server_cores: float
    db_cores: float | None
    other_cores: float  # everything else on the machine during the window


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=300, help="service instances seeded")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per row")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before that")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="client threads per process")
    parser.add_argument("--page-size", type=int, default=50, help="maxResults of the listing")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the `baryon up` rows")
    parser.add_argument(
        "--server-processes",
        default="1,2",
        help="`baryon server --processes` counts to measure, comma-separated",
    )
    harness.common_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.instances = 2.0, 0.5, min(args.instances, 120)
    harness.run_benchmark(lambda cleanup: run(args, cleanup))


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    clients = args.processes * args.threads
    harness.print_header(
        "API latency: GetServiceInstance and ListServiceInstances",
        [
            f"load: {clients} closed-loop clients ({args.processes} processes x {args.threads} "
            f"threads, one keep-alive connection each, every request SigV4-signed with botocore's "
            f"signer), {args.warmup:g} s warm-up then {args.duration:g} s measured per row",
            f"data: {args.instances} service instances seeded into the store "
            "(tests/support/fleet_seed.py, 100 per service); ListServiceInstances asks for "
            f"maxResults {args.page_size}, first page",
            "baseline: moto's server (Baryon's local cloud process) on the same machine: "
            "DynamoDB DescribeTable and ECS ListClusters (50 clusters); moto checks no signature",
            "ceiling: bench/ceiling.py, constant JSON from a bare Starlette endpoint on uvicorn "
            "(httptools, uvloop, one process); checks nothing",
            f"baryon server processes: {args.server_processes} (server CPU counts all of them)",
            f"PostgreSQL: {'fsync off' if args.pg_unsafe else 'durable defaults'}",
        ],
    )
    root = harness.workspace(cleanup, args.keep, "api")
    rows: list[Row] = []
    memory: list[tuple[str, dict[str, int], dict[str, int]]] = []

    pg = harness.start_postgres(cleanup, durable=not args.pg_unsafe)
    cloud = harness.start_local_cloud(cleanup, root)
    url = pg.create_database("bench_api")
    env = harness.scaled_environment(url, cloud, root)
    key = harness.prepare_database(url, env["BARYON_MASTER_KEY"])
    seeded = seed.seed(url, args.instances)
    print(f"seeded {len(seeded.instances)} instances into PostgreSQL in {seeded.seconds:.1f} s")
    for processes in (int(count) for count in args.server_processes.split(",")):
        server = harness.start_server(
            cleanup, root, {**env, "BARYON_SERVER_PROCESSES": str(processes)}
        )
        name = "baryon server" + (f" x{processes}" if processes > 1 else "")
        idle = _tree_memory_kib(server.pid)
        for operation, bodies in _baryon_calls(seeded, args.page_size):
            target = _proton_target(server.endpoint, key, operation, bodies)
            _check(target, operation, args.page_size)
            rows.append(
                _measure(
                    f"{name} + PostgreSQL", operation, target, args, server.pid,
                    pg.postmaster_pid(),
                )
            )  # fmt: skip
        memory.append((name, idle, _tree_memory_kib(server.pid)))
        server.stop()

    if not args.no_sqlite:
        up, up_key, sqlite_seeded = _start_up(cleanup, root, args.instances)
        idle = harness.memory_kib(up.pid)
        for operation, bodies in _baryon_calls(sqlite_seeded, args.page_size):
            target = _proton_target(up.endpoint, up_key, operation, bodies)
            _check(target, operation, args.page_size)
            rows.append(_measure("baryon up + SQLite", operation, target, args, up.pid, None))
        memory.append(("baryon up (incl. its local cloud)", idle, harness.memory_kib(up.pid)))
        up.stop()

    for operation, target in _moto_targets(cloud, args.page_size):
        rows.append(_measure("moto server (baseline)", operation, target, args, cloud.pid, None))

    ceiling = _start_ceiling(cleanup, root)
    rows.append(
        _measure(CEILING, "constant JSON", _ceiling_target(ceiling), args, ceiling.pid, None)
    )
    ceiling.stop()

    _report(rows, memory, args)


def _tree_memory_kib(pid: int) -> dict[str, int]:
    """RSS and peak RSS summed over the server and the processes it forked (pages they
    share since the fork counted in each)."""
    total: dict[str, int] = {}
    for each in harness.descendants(pid):
        for name, value in harness.memory_kib(each).items():
            total[name] = total.get(name, 0) + value
    return total


def _baryon_calls(seeded: seed.Seeded, page_size: int) -> list[tuple[str, tuple[bytes, ...]]]:
    instances = list(seeded.instances)
    random.Random(3).shuffle(instances)
    gets = tuple(
        json.dumps({"serviceName": service, "name": name}).encode() for service, name in instances
    )
    return [
        ("GetServiceInstance", gets),
        ("ListServiceInstances", (json.dumps({"maxResults": page_size}).encode(),)),
    ]


def _proton_target(
    endpoint: str, key: tuple[str, str], operation: str, bodies: tuple[bytes, ...]
) -> loadgen.JsonTarget:
    return loadgen.JsonTarget(
        endpoint=endpoint,
        signing_name="proton",
        amz_target=f"{PROTON_TARGET}.{operation}",
        content_type=JSON_10,
        bodies=bodies,
        access_key=key,
    )


def _check(target: loadgen.JsonTarget, operation: str, page_size: int) -> None:
    """One request before the load: it must succeed and answer what is expected."""
    connection = loadgen.SignedConnection(target)
    status, payload, _ = connection.call(target.bodies[0])
    connection.close()
    if status != 200:
        raise RuntimeError(f"{operation} answered {status}: {payload[:500]!r}")
    answer = json.loads(payload)
    if operation == "ListServiceInstances" and len(answer["serviceInstances"]) != page_size:
        raise RuntimeError(f"{operation} gave {len(answer['serviceInstances'])} items")
    if operation == "ListClusters" and len(answer["clusterArns"]) != page_size:
        raise RuntimeError(f"{operation} gave {len(answer['clusterArns'])} items")


def _measure(
    system: str,
    operation: str,
    target: loadgen.JsonTarget,
    args: argparse.Namespace,
    server_pid: int,
    db_pid: int | None,
) -> Row:
    print(f"  {system}: {operation} ...", flush=True)

    def probe() -> dict[str, float]:
        return {
            "server": harness.tree_cpu_seconds(server_pid),
            "db": harness.tree_cpu_seconds(db_pid),
            "machine": harness.machine_busy_seconds(),
        }

    result = loadgen.run(
        target,
        processes=args.processes,
        threads=args.threads,
        warmup=args.warmup,
        duration=args.duration,
        probe=probe,
    )
    if result.errors:
        print(f"    {result.errors} errors, e.g. {result.error_samples}")
    cores = {name: value / result.duration for name, value in result.probed.items()}
    other = cores["machine"] - cores["server"] - cores["db"] - result.client_cores
    return Row(
        system,
        operation,
        result,
        cores["server"],
        cores["db"] if db_pid else None,
        max(0.0, other),
    )


def _start_up(
    cleanup: Cleanup, root: Path, instances: int
) -> tuple[Proc, tuple[str, str], seed.Seeded]:
    """`baryon up` on a SQLite store seeded before it starts."""
    from baryon.store.database import Database

    data_dir = root / "up"
    url = f"sqlite:///{data_dir / 'baryon.db'}"
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()
    seeded = seed.seed(url, instances)
    print(f"seeded {len(seeded.instances)} instances into SQLite in {seeded.seconds:.1f} s")
    env = harness.baryon_environment()
    up = harness.spawn_baryon(
        cleanup, root, "up", ["up", "--port", "0", "--data-dir", str(data_dir)], env
    )
    env_file = data_dir / "env"
    deadline = time.monotonic() + 90
    while not env_file.exists():
        if not up.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"baryon up did not start:\n{up.log_tail()}")
        time.sleep(0.05)
    exports = _parse_env_file(env_file)
    endpoint = exports["AWS_ENDPOINT_URL_PROTON"]
    up.port = int(endpoint.rsplit(":", 1)[1])
    harness.wait_http(up, f"{endpoint}/_baryon/health")
    return up, (exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]), seeded


def _parse_env_file(path: Path) -> dict[str, str]:
    exports = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def _moto_targets(cloud: Any, page_size: int) -> list[tuple[str, loadgen.JsonTarget]]:
    dynamodb = harness.cloud_client(cloud, "dynamodb")
    dynamodb.create_table(
        TableName="bench",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ecs = harness.cloud_client(cloud, "ecs")
    for index in range(page_size):
        ecs.create_cluster(clusterName=f"bench-{index:03d}")
    common = {"endpoint": cloud.endpoint, "access_key": harness.CLOUD_CREDENTIALS}
    targets = [
        (
            "DescribeTable",
            loadgen.JsonTarget(
                signing_name="dynamodb",
                amz_target="DynamoDB_20120810.DescribeTable",
                content_type=JSON_10,
                bodies=(b'{"TableName": "bench"}',),
                **common,
            ),
        ),
        (
            "ListClusters",
            loadgen.JsonTarget(
                signing_name="ecs",
                amz_target="AmazonEC2ContainerServiceV20141113.ListClusters",
                content_type=JSON_11,
                bodies=(b"{}",),
                **common,
            ),
        ),
    ]
    for operation, target in targets:
        _check(target, operation, page_size)
    return targets


CEILING = "Starlette ceiling"


def _start_ceiling(cleanup: Cleanup, root: Path) -> Proc:
    port = free_port()
    log_path = root / "ceiling.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.ceiling", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=die_with_parent,
        )
    proc = Proc("ceiling", process, log_path, port)
    cleanup.push("ceiling", proc.stop)
    deadline = time.monotonic() + 30
    while True:
        status, _, _ = loadgen.SignedConnection(_ceiling_target(proc)).call(b"{}")
        if status == 200:
            return proc
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the ceiling did not start:\n{proc.log_tail()}")
        time.sleep(0.1)


def _ceiling_target(proc: Proc) -> loadgen.JsonTarget:
    return loadgen.JsonTarget(
        endpoint=proc.endpoint,
        signing_name="proton",
        amz_target=f"{PROTON_TARGET}.GetServiceInstance",
        content_type=JSON_10,
        bodies=(b"{}",),
        access_key=harness.CLOUD_CREDENTIALS,
    )


def _report(
    rows: list[Row], memory: list[tuple[str, dict[str, int], dict[str, int]]], args: Any
) -> None:
    table = Table(
        [
            "system",
            "operation",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "server cores",
            "server CPU ms/req",
            "PostgreSQL cores",
            "client cores",
            "other cores",
        ]
    )
    for row in rows:
        r = row.result
        table.add(
            row.system,
            row.operation,
            r.rps,
            r.p50,
            r.p99,
            r.errors,
            row.server_cores,
            row.server_cores / r.rps * 1000 if r.rps else "-",
            row.db_cores if row.db_cores is not None else "-",
            r.client_cores,
            row.other_cores,
        )
    print()
    print(table.render())
    by_key = {(row.system, row.operation): row.result for row in rows}
    base_get = by_key.get(("moto server (baseline)", "DescribeTable"))
    base_list = by_key.get(("moto server (baseline)", "ListClusters"))
    ceiling = by_key.get((CEILING, "constant JSON"))
    print()
    for row in rows:
        if row.system.startswith("moto") or row.system == CEILING:
            continue
        get = row.operation == "GetServiceInstance"
        base = base_get if get else base_list
        if base and base.rps:
            print(
                f"{row.system} {row.operation}: {row.result.rps / base.rps:.2f}x the baseline's "
                f"req/s (goal >= {10 if get else 5}x), p99 {row.result.p99 / base.p99:.2f}x"
                + (f", {row.result.p99:.1f} ms (goal <= 20 ms)" if get else "")
                + (
                    f"; {row.result.rps / ceiling.rps:.0%} of the ceiling's req/s (goal >= 30%)"
                    if ceiling and ceiling.rps
                    else ""
                )
            )
    print()
    for name, idle, after in memory:
        print(
            f"{name} RSS: {harness.mib(idle['VmRSS'])} idle, {harness.mib(after['VmRSS'])} after "
            f"its rows (peak {harness.mib(after['VmHWM'])})"
        )
    print(
        f"clients: {args.processes} processes x {args.threads} threads. 'cores' = CPU seconds / "
        "wall seconds over the measured window; 'other' = every other process on the machine "
        "(not the benchmark's) in that window; 'server CPU ms/req' = server cores / req/s, the "
        "figure least moved by what else the machine runs"
    )


if __name__ == "__main__":
    main()
