"""Scale: 100,000 service instances in PostgreSQL behind one `baryon server`: latency of
ListServiceInstances pages (first, deep via nextToken, filtered, sorted) and of
GetResourcesSummary, the server's memory, and a full walk of the listing.

    .venv/bin/python -m bench.scale            # 100,000 instances
    .venv/bin/python -m bench.scale --quick    # smoke run
    .venv/bin/python -m bench.scale --summary-only   # GetResourcesSummary only, both engines

Each request is timed three ways, one client at a time: through the API (HTTP + SigV4 +
validation + serialization, the way users see it), the operation's handler called in this
process (domain + ORM + view, no HTTP), and the handler's own SQL statements (captured from
SQLAlchemy once, replayed with psycopg: the database's share, the obvious baseline). The
memory baseline is the same server idle, right after start-up.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event
from tests.support import fleet_seed as seed
from tests.support.children import free_port
from tests.support.processes import parse_env_file

from bench import harness, loadgen
from bench.api_latency import JSON_10, PROTON_TARGET
from bench.harness import Cleanup, Table, percentile


@dataclass
class Query:
    label: str
    operation: str
    bodies: list[dict[str, Any]]
    api_ms: list[float] = field(default_factory=list)
    handler_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    statements: int = 0
    items: int = 0
    errors: list[str] = field(default_factory=list)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--per-service", type=int, default=100, help="instances per service")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per query")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--walks", type=int, default=2, help="full walks of the listing")
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="only GetResourcesSummary, through the API (`baryon server` on PostgreSQL, "
        "`baryon up` on SQLite) and in-process, beside the scan (no listing)",
    )
    harness.common_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.instances, args.repeat, args.warmup, args.walks = 2_000, 20, 3, 1
    if args.summary_only:
        harness.run_benchmark(lambda cleanup: run_summary(args, cleanup))
    else:
        harness.run_benchmark(lambda cleanup: run(args, cleanup))


class Api:
    """One keep-alive, SigV4-signed connection per operation."""

    def __init__(self, endpoint: str, key: tuple[str, str]) -> None:
        self.endpoint, self.key = endpoint, key
        self.connections: dict[str, loadgen.SignedConnection] = {}

    def call(self, operation: str, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        connection = self.connections.get(operation)
        if connection is None:
            target = loadgen.JsonTarget(
                endpoint=self.endpoint,
                signing_name="proton",
                amz_target=f"{PROTON_TARGET}.{operation}",
                content_type=JSON_10,
                bodies=(),
                access_key=self.key,
            )
            connection = self.connections[operation] = loadgen.SignedConnection(target)
        status, payload, seconds = connection.call(json.dumps(request).encode())
        if status != 200:
            raise RuntimeError(f"{operation} {request}: {status} {payload[:300]!r}")
        return json.loads(payload), seconds

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    harness.print_header(
        f"Scale: ListServiceInstances and GetResourcesSummary at {args.instances:,} instances",
        [
            f"data: {args.instances:,} service instances ({args.per_service} per service, 10 "
            "environments; 80% up to date, 15% behind a minor, 5% behind a major, 2% FAILED; "
            "each instance's spec is its service's whole spec, as Baryon stores it), seeded with "
            "COPY, then VACUUM ANALYZE",
            f"requests: one client, one at a time; {args.warmup} untimed then {args.repeat} "
            f"timed per query; pages of maxResults {args.page_size}",
            "baseline: the handler's own SQL replayed with psycopg (database time), the handler "
            "in-process (no HTTP), and the idle server's memory",
            f"PostgreSQL: {'fsync off' if args.pg_unsafe else 'durable defaults'}",
        ],
    )
    root = harness.workspace(cleanup, args.keep, "scale")
    pg = harness.start_postgres(cleanup, durable=not args.pg_unsafe)
    cloud = harness.start_local_cloud(cleanup, root)
    url = pg.create_database("bench_scale")
    env = harness.scaled_environment(url, cloud, root)
    key = harness.prepare_database(url, env["BARYON_MASTER_KEY"])
    seeded = seed.seed(url, args.instances, per_service=args.per_service)
    print(f"seeded {len(seeded.instances):,} instances in {seeded.seconds:.1f} s", flush=True)
    print(f"database size: {_database_size(url)}", flush=True)

    server = harness.start_server(cleanup, root, env)
    time.sleep(1.0)
    memory = [("idle, after start-up", harness.memory_kib(server.pid))]
    api = Api(server.endpoint, key)
    cleanup.push("API connections", api.close)

    def busy() -> tuple[float, float]:
        ours = (
            harness.tree_cpu_seconds(server.pid)
            + harness.tree_cpu_seconds(pg.postmaster_pid())
            + time.process_time()
        )
        return harness.machine_busy_seconds() - ours, time.monotonic()

    others_before = busy()
    walks, tokens = [], {}
    for number in range(1, args.walks + 1):
        walk, tokens = _walk(api, args.page_size)
        walks.append(walk)
        memory.append((f"after full walk {number}", harness.memory_kib(server.pid)))

    queries = _queries(seeded, tokens, api, args.page_size)
    for query in queries:
        _time_api(api, query, args)
    memory.append(("after the query table", harness.memory_kib(server.pid)))

    in_process = InProcess(url, env["BARYON_MASTER_KEY"], key[0], root)
    cleanup.push("in-process runtime", in_process.close)
    for query in queries:
        in_process.time(query, args)
    memory.append(("at the end", harness.memory_kib(server.pid)))
    others_after = busy()
    other_cores = (others_after[0] - others_before[0]) / (others_after[1] - others_before[1])
    _report(queries, walks, memory, args)
    print()
    sqlite_url = f"sqlite:///{root / 'summary.db'}"
    print(
        _summary_table(
            [_time_summary("PostgreSQL", url, args, api), _sqlite_summary(sqlite_url, args)]
        )
    )
    print(
        f"while the figures were taken, the rest of the machine used {max(0.0, other_cores):.2f} "
        "cores on average (everything but this benchmark, its server and PostgreSQL)"
    )


@dataclass
class Walk:
    pages: int
    items: int
    seconds: float
    page_ms: list[float]


def _walk(api: Api, page_size: int) -> tuple[Walk, dict[str, str]]:
    """Pages through the whole listing; keeps the tokens of a few pages for the queries."""
    print(f"walking the whole listing, {page_size} per page ...", flush=True)
    started = time.perf_counter()
    tokens: list[str] = []
    latencies: list[float] = []
    items = 0
    request: dict[str, Any] = {"maxResults": page_size}
    while True:
        answer, seconds = api.call("ListServiceInstances", request)
        latencies.append(seconds * 1000)
        items += len(answer["serviceInstances"])
        token = answer.get("nextToken")
        if not token:
            break
        tokens.append(token)
        request = {"maxResults": page_size, "nextToken": token}
    walk = Walk(len(latencies), items, time.perf_counter() - started, sorted(latencies))
    print(f"  {walk.items:,} instances in {walk.pages:,} pages, {walk.seconds:.1f} s", flush=True)
    chosen = {}
    if tokens:
        chosen = {"second": tokens[0], "middle": tokens[len(tokens) // 2], "last": tokens[-1]}
    return walk, chosen


def _queries(seeded: seed.Seeded, tokens: dict[str, str], api: Api, page_size: int) -> list[Query]:
    page = {"maxResults": page_size}
    sort = {**page, "sortBy": "lastDeploymentAttemptedAt", "sortOrder": "DESCENDING"}
    sorted_first, _ = api.call("ListServiceInstances", sort)
    instances = random.Random(5).sample(seeded.instances, min(500, len(seeded.instances)))
    middle_service = seeded.services[len(seeded.services) // 2]

    def listing(label: str, **extra: Any) -> Query:
        return Query(f"List: {label}", "ListServiceInstances", [{**page, **extra}])

    def sorted_listing(label: str, **extra: Any) -> Query:
        return Query(f"List: {label}", "ListServiceInstances", [{**sort, **extra}])

    def where(key: str, value: str) -> list[dict[str, str]]:
        return [{"key": key, "value": value}]

    gets = [{"serviceName": s, "name": n} for s, n in instances]
    queries = [
        listing("first page"),
        listing("page 2 (nextToken)", nextToken=tokens.get("second")),
        listing("middle page (nextToken)", nextToken=tokens.get("middle")),
        listing("last page (nextToken)", nextToken=tokens.get("last")),
        listing("serviceName (one service)", serviceName=middle_service),
        listing("filter environmentName", filters=where("environmentName", "env-03")),
        listing("filter deploymentStatus FAILED", filters=where("deploymentStatus", "FAILED")),
        listing(
            "filter deployedTemplateVersionStatus BEHIND_MINOR",
            filters=where("deployedTemplateVersionStatus", "BEHIND_MINOR"),
        ),
        sorted_listing("sortBy lastDeploymentAttemptedAt DESC"),
        sorted_listing("same sort, page 2 (nextToken)", nextToken=sorted_first.get("nextToken")),
        Query("GetResourcesSummary", "GetResourcesSummary", [{}]),
        Query("GetServiceInstance (random)", "GetServiceInstance", gets),
    ]
    for query in queries:
        query.bodies = [{k: v for k, v in body.items() if v is not None} for body in query.bodies]
    return queries


def _items(answer: dict[str, Any]) -> int:
    if "serviceInstances" in answer:
        return len(answer["serviceInstances"])
    return 1


def _time_api(api: Api, query: Query, args: argparse.Namespace) -> None:
    print(f"  API: {query.label} ...", flush=True)
    for index in range(args.warmup + args.repeat):
        body = query.bodies[index % len(query.bodies)]
        answer, seconds = api.call(query.operation, body)
        query.items = _items(answer)
        if index >= args.warmup:
            query.api_ms.append(seconds * 1000)
    query.api_ms.sort()


class InProcess:
    """The operation handlers, called in this process on the same database, and their SQL."""

    def __init__(self, url: str, master_key: str, caller: str, root: Any) -> None:
        import baryon.operations  # noqa: F401  (registers the handlers)
        from baryon.runtime import build_runtime
        from baryon.settings import load_settings

        settings = load_settings(
            {"database_url": url, "master_key": master_key, "data_dir": root / "in-process"},
            environ={},
        )
        self.runtime = build_runtime(settings, migrate=False)
        self.caller = caller
        self.raw = psycopg.connect(harness.sync_url(url))
        self.captured: list[tuple[str, Any]] | None = None
        event.listen(self.runtime.db.engine, "before_cursor_execute", self._capture)

    def _capture(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.captured is not None:
            self.captured.append((statement, params))

    def handler(self, operation: str) -> Callable[[dict[str, Any]], Any]:
        from baryon.operations import registry
        from baryon.operations.context import RequestContext

        function = registry.handler_for("proton", operation)
        assert function is not None, operation

        def call(request: dict[str, Any]) -> Any:
            context = RequestContext(
                runtime=self.runtime,
                operation=operation,
                request_id="bench",
                caller=self.caller,
                now=datetime.now(UTC),
            )
            return function(context, dict(request))

        return call

    def time(self, query: Query, args: argparse.Namespace) -> None:
        print(f"  in-process and SQL: {query.label} ...", flush=True)
        call = self.handler(query.operation)
        for index in range(args.warmup + args.repeat):
            body = query.bodies[index % len(query.bodies)]
            started = time.perf_counter()
            call(body)
            if index >= args.warmup:
                query.handler_ms.append((time.perf_counter() - started) * 1000)
        query.handler_ms.sort()
        self.captured = []
        call(query.bodies[0])
        statements, self.captured = self.captured, None
        query.statements = len(statements)
        for index in range(args.warmup + args.repeat):
            started = time.perf_counter()
            with self.raw.cursor() as cursor:
                for statement, params in statements:
                    cursor.execute(statement, params)
                    cursor.fetchall()
            self.raw.rollback()
            if index >= args.warmup:
                query.sql_ms.append((time.perf_counter() - started) * 1000)
        query.sql_ms.sort()

    def close(self) -> None:
        self.raw.close()
        self.runtime.close()


def run_summary(args: argparse.Namespace, cleanup: Cleanup) -> None:
    harness.print_header(
        f"Scale: GetResourcesSummary at {args.instances:,} instances, counted and scanned",
        [
            f"data: {args.instances:,} service instances ({args.per_service} per service, 10 "
            "environments; 80% up to date, 15% behind a minor, 5% behind a major, 2% FAILED), "
            "seeded with COPY (PostgreSQL) or batched INSERTs (SQLite), then counted once",
            "front doors: `baryon server` on PostgreSQL; `baryon up` on SQLite (its data "
            "directory seeded while it was stopped, then started again)",
            f"requests: one at a time, {args.warmup} untimed then {args.repeat} timed each, in "
            "turn: through the API (SigV4 over HTTP, one keep-alive connection, as users see "
            "it), the domain function in this process (counted), and the scan",
            "baseline: the scan every GetResourcesSummary ran before the counts were maintained "
            "(tests/support/resources_summary_scan.py), in this process on the same data",
            f"goal (issue 17): GetResourcesSummary <= {SUMMARY_GOAL_MS:.0f} ms at 100,000 "
            "instances through the API, on PostgreSQL and on SQLite",
            f"PostgreSQL: {'fsync off' if args.pg_unsafe else 'durable defaults'}",
        ],
    )
    root = harness.workspace(cleanup, args.keep, "scale-summary")
    rows = [_server_summary(args, cleanup, root), _embedded_summary(args, cleanup, root)]
    print()
    print(_summary_table(rows))
    print()
    print(
        f"API = GetResourcesSummary signed with SigV4 and sent over HTTP to the front door; "
        f"in-process = the domain function (one read session each); p99 of {args.repeat} "
        f"requests = the {_ordinal(max(1, round(args.repeat * 0.01)))}slowest. 'same answer': "
        "the API's last answer, the counted and the scanned summaries are equal."
    )


SUMMARY_GOAL_MS = 20.0


def _server_summary(args: argparse.Namespace, cleanup: Cleanup, root: Path) -> SummaryTiming:
    """PostgreSQL, seeded, behind one `baryon server`; stopped once timed."""
    pg = harness.start_postgres(cleanup, durable=not args.pg_unsafe)
    cloud = harness.start_local_cloud(cleanup, root)
    url = pg.create_database("bench_summary")
    env = harness.scaled_environment(url, cloud, root)
    key = harness.prepare_database(url, env["BARYON_MASTER_KEY"])
    seeded = seed.seed(url, args.instances, per_service=args.per_service)
    print(f"PostgreSQL: seeded {len(seeded.instances):,} instances in {seeded.seconds:.1f} s")
    server = harness.start_server(cleanup, root, env)
    api = Api(server.endpoint, key)
    try:
        return _time_summary("PostgreSQL, baryon server", url, args, api)
    finally:
        api.close()
        server.stop()
        cloud.stop()


def _embedded_summary(args: argparse.Namespace, cleanup: Cleanup, root: Path) -> SummaryTiming:
    """`baryon up` started once to make its data directory and key, stopped, its SQLite
    database seeded, then started again and timed."""
    data_dir = root / "up"
    up, _ = _start_embedded(cleanup, root, data_dir)
    up.stop()
    url = f"sqlite:///{data_dir / 'baryon.db'}"
    seeded = seed.seed(url, args.instances, per_service=args.per_service)
    print(f"SQLite: seeded {len(seeded.instances):,} instances in {seeded.seconds:.1f} s")
    up, exports = _start_embedded(cleanup, root, data_dir)
    key = (exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
    api = Api(exports["AWS_ENDPOINT_URL_PROTON"], key)
    try:
        return _time_summary("SQLite, baryon up", url, args, api)
    finally:
        api.close()
        up.stop()


def _start_embedded(
    cleanup: Cleanup, root: Path, data_dir: Path
) -> tuple[harness.Proc, dict[str, str]]:
    """`baryon up` on a free port; returns once its env file is written (everything ready)."""
    env_file = data_dir / "env"
    env_file.unlink(missing_ok=True)
    port = free_port()
    env = harness.baryon_environment(
        local_cloud_stack_seconds="0", local_cloud_port=str(free_port())
    )
    up = harness.spawn_baryon(
        cleanup, root, "up", ["up", "--port", str(port), "--data-dir", str(data_dir)], env
    )
    deadline = time.monotonic() + 180
    while not env_file.exists():
        if not up.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"baryon up did not start:\n{up.log_tail()}")
        time.sleep(0.05)
    return up, parse_env_file(env_file)  # written whole (os.replace): complete once there


def _migrate(url: str) -> None:
    from baryon.store.database import Database

    database = Database(url)
    try:
        database.migrate()
    finally:
        database.dispose()


@dataclass
class SummaryTiming:
    engine: str
    scan_ms: list[float]
    counted_ms: list[float]
    agree: bool
    api_ms: list[float] = field(default_factory=list)


def _sqlite_summary(url: str, args: argparse.Namespace) -> SummaryTiming:
    _migrate(url)
    seeded = seed.seed(url, args.instances, per_service=args.per_service)
    print(f"SQLite: seeded {len(seeded.instances):,} instances in {seeded.seconds:.1f} s")
    return _time_summary("SQLite", url, args)


def _time_summary(
    engine: str, url: str, args: argparse.Namespace, api: Api | None = None
) -> SummaryTiming:
    """The summary through the API (when given), from the counts in this process and from a
    scan, in turn, on one read session each."""
    from tests.support.resources_summary_scan import scanned_summary

    from baryon.domain.resources_summary import resources_summary
    from baryon.store.database import Database

    print(f"  {engine}: GetResourcesSummary through the API, counted and scanned ...", flush=True)
    database = Database(url)
    timings: dict[str, list[float]] = {"api": [], "scan": [], "counted": []}
    answers: dict[str, Any] = {}
    functions = {"scan": scanned_summary, "counted": resources_summary}
    try:
        for index in range(args.warmup + args.repeat):
            if api is not None:
                answer, seconds = api.call("GetResourcesSummary", {})
                answers["api"] = answer["counts"]
                if index >= args.warmup:
                    timings["api"].append(seconds * 1000)
            for name, function in functions.items():
                with database.session() as session:
                    started = time.perf_counter()
                    answers[name] = function(session)
                    elapsed = (time.perf_counter() - started) * 1000
                if index >= args.warmup:
                    timings[name].append(elapsed)
    finally:
        database.dispose()
    agree = answers["scan"] == answers["counted"] == answers.get("api", answers["counted"])
    return SummaryTiming(
        engine,
        sorted(timings["scan"]),
        sorted(timings["counted"]),
        agree,
        sorted(timings["api"]),
    )


def _goal(api_ms: list[float]) -> str:
    if not api_ms:
        return "-"
    if percentile(api_ms, 0.99) <= SUMMARY_GOAL_MS:
        return "met (p99)"
    if percentile(api_ms, 0.5) <= SUMMARY_GOAL_MS:
        return "met (p50 only)"
    return "NOT met"


def _summary_table(rows: list[SummaryTiming]) -> str:
    table = Table(
        [
            "GetResourcesSummary",
            "API p50 ms",
            "API p99 ms",
            f"goal <= {SUMMARY_GOAL_MS:.0f} ms",
            "counted p50 ms",
            "counted p99 ms",
            "scan p50 ms",
            "scan p99 ms",
            "scan / API (p50)",
            "same answer",
        ]
    )
    for row in rows:
        api = percentile(row.api_ms, 0.5) if row.api_ms else None
        table.add(
            row.engine,
            api if api is not None else "-",
            percentile(row.api_ms, 0.99) if row.api_ms else "-",
            _goal(row.api_ms),
            percentile(row.counted_ms, 0.5),
            percentile(row.counted_ms, 0.99),
            percentile(row.scan_ms, 0.5),
            percentile(row.scan_ms, 0.99),
            f"{percentile(row.scan_ms, 0.5) / api:.0f}x" if api else "-",
            "yes" if row.agree else "NO",
        )
    return table.render()


def _database_size(url: str) -> str:
    with psycopg.connect(harness.sync_url(url)) as connection:
        row = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())), "
            "pg_size_pretty(pg_total_relation_size('service_instances'))"
        ).fetchone()
    assert row is not None
    return f"{row[0]} (service_instances with its TOAST and indexes: {row[1]})"


def _ordinal(n: int) -> str:
    return {1: "", 2: "2nd ", 3: "3rd "}.get(n, f"{n}th ")


def _report(
    queries: list[Query],
    walks: list[Walk],
    memory: list[tuple[str, dict[str, int]]],
    args: argparse.Namespace,
) -> None:
    table = Table(
        [
            "request",
            "items",
            "API p50 ms",
            "API p99 ms",
            "handler p50",
            "handler p99",
            "SQL p50",
            "SQL p99",
            "statements",
        ]
    )
    for q in queries:
        table.add(
            q.label,
            q.items,
            percentile(q.api_ms, 0.5),
            percentile(q.api_ms, 0.99),
            percentile(q.handler_ms, 0.5),
            percentile(q.handler_ms, 0.99),
            percentile(q.sql_ms, 0.5),
            percentile(q.sql_ms, 0.99),
            q.statements,
        )
    print()
    print(table.render())
    print()
    walk_table = Table(["full walk", "instances", "pages", "seconds", "page p50 ms", "page p99 ms"])
    for number, walk in enumerate(walks, start=1):
        walk_table.add(
            f"walk {number}",
            walk.items,
            walk.pages,
            walk.seconds,
            percentile(walk.page_ms, 0.5),
            percentile(walk.page_ms, 0.99),
        )
    print(walk_table.render())
    print()
    memory_table = Table(["baryon server memory", "RSS", "peak RSS"])
    for label, values in memory:
        memory_table.add(label, harness.mib(values["VmRSS"]), harness.mib(values["VmHWM"]))
    print(memory_table.render())
    print()
    print(
        "API = over HTTP with SigV4, as clients see it; handler = the operation function called "
        "in the benchmark's process (domain, ORM, view; no HTTP, no SigV4, no serialization); "
        "SQL = the handler's statements replayed with psycopg in one transaction (fetching "
        f"every row). p99 of {args.repeat} requests = the "
        f"{_ordinal(max(1, round(args.repeat * 0.01)))}slowest."
    )
    slow = [q.label for q in queries if percentile(q.api_ms, 0.99) > 1000]
    if slow:
        print(f"OVER 1 s AT p99: {', '.join(slow)}")


if __name__ == "__main__":
    main()
