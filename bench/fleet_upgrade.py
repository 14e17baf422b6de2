"""Fleet upgrade: 1,000 service instances moved to a new minor template version
(UpdateServiceInstance MINOR_VERSION) on the local cloud, by scaled-mode Baryon (one
`baryon server`, 1 and then 3 `baryon worker` processes, PostgreSQL), beside the same 1,000
CloudFormation stack updates sent straight to the same local cloud with boto3.

    .venv/bin/python -m bench.fleet_upgrade            # 10 services x 100 instances
    .venv/bin/python -m bench.fleet_upgrade --quick    # smoke run

Each Baryon run publishes the next minor version (1.1, then 1.2, ...: the instance template
gains an output) and upgrades the whole fleet to it; the clock runs from the first
UpdateServiceInstance call to the last instance's lastDeploymentSucceededAt. The baseline for
a run replays exactly the stack updates that run made: the templates Baryon rendered before
and after are read from the cloud once (not timed), the stacks are put back to "before"
(not timed), then the timed part sends UpdateStack "after" and waits for UPDATE_COMPLETE,
with as many threads as the run had worker threads in all.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz

from baryon.cloud import call_counts
from baryon.provisioners.names import stack_name_for
from bench import harness
from bench.harness import Cleanup, Proc, Table

ENV_TEMPLATE, SVC_TEMPLATE, ENVIRONMENT = "fleet-env", "fleet-svc", "fleet"
TRANSACTIONS = "transactions"  # PostgreSQL transactions ended, beside Figure.calls' cloud calls
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass
class Figure:
    system: str
    concurrency: str
    deployments: int
    seconds: float
    failed: int
    cpu: dict[str, float]  # CPU seconds by component during the timed part
    calls: dict[str, int]  # requests the cloud answered during the timed part, by action
    note: str = ""

    @property
    def rate(self) -> float:
        return self.deployments / self.seconds if self.seconds else 0.0

    @property
    def baryon_cpu_ms(self) -> float:
        """Baryon-side CPU per deployment, issue 17's figure: server, workers and database."""
        ours = sum(self.cpu[name] for name in ("server", "workers", "postgres"))
        return ours * 1000 / self.deployments if self.deployments else 0.0

    @property
    def calls_per_deployment(self) -> float:
        cloud = sum(n for name, n in self.calls.items() if name != TRANSACTIONS)
        return cloud / self.deployments if self.deployments else 0.0

    @property
    def transactions_per_deployment(self) -> float:
        return self.calls.get(TRANSACTIONS, 0) / self.deployments if self.deployments else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--instances-per-service", type=int, default=100)
    parser.add_argument(
        "--workers", default="1,3", help="baryon worker processes, one run each (default 1,3)"
    )
    parser.add_argument(
        "--worker-threads", type=int, default=2, help="threads per worker (Baryon's default: 2)"
    )
    parser.add_argument(
        "--submit-threads", type=int, default=8, help="client threads sending the updates"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    harness.common_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.services, args.instances_per_service = 2, 10
    args.worker_counts = [int(n) for n in args.workers.split(",")]
    harness.run_benchmark(lambda cleanup: run(args, cleanup))


class Fleet:
    """The scaled Baryon under test, its clients and the fleet it manages."""

    def __init__(self, args: argparse.Namespace, cleanup: Cleanup, root: Path) -> None:
        self.args, self.cleanup, self.root = args, cleanup, root
        self.pg = harness.start_postgres(cleanup, durable=not args.pg_unsafe)
        self.cloud = harness.start_local_cloud(cleanup, root, stack_seconds=0.0)
        url = self.pg.create_database("bench_fleet")
        self.database_url = harness.sync_url(url)
        self.env = harness.scaled_environment(url, self.cloud, root)
        self.key = harness.prepare_database(url, self.env["BARYON_MASTER_KEY"])
        self.server = harness.start_server(cleanup, root, self.env)
        self.workers: list[Proc] = []
        self.generation = 0
        self.proton = harness.proton_client(self.server.endpoint, self.key)
        self.registry = Registry(
            self.proton, harness.cloud_client(self.cloud, "s3"), bucket=harness.BUNDLE_BUCKET
        )
        self.instances = [
            (f"svc-{s:02d}", f"inst-{i:03d}")
            for s in range(args.services)
            for i in range(args.instances_per_service)
        ]
        self.stacks = [stack_name_for("service-instance", s, i) for s, i in self.instances]

    @property
    def size(self) -> int:
        return len(self.instances)

    def use_workers(self, count: int) -> None:
        for worker in self.workers:
            worker.stop()
        self.generation += 1
        self.workers = [
            harness.start_worker(
                self.cleanup,
                self.root,
                self.env,
                f"worker-g{self.generation}-{index}",
                self.args.worker_threads,
            )
            for index in range(count)
        ]

    def publish(self, kind: str, name: str, files: dict[str, str], **kwargs: Any) -> None:
        version = self.registry.register(kind, name, tar_gz(files), **kwargs)
        if version["status"] != "DRAFT":
            raise RuntimeError(f"{name} registration: {version.get('statusMessage')}")
        self.registry.publish(kind, name, version)

    def cpu(self) -> dict[str, float]:
        return {
            "server": harness.tree_cpu_seconds(self.server.pid),
            "workers": sum(harness.tree_cpu_seconds(w.pid) for w in self.workers),
            "cloud": harness.tree_cpu_seconds(self.cloud.pid),
            "postgres": harness.tree_cpu_seconds(self.pg.postmaster_pid()),
            "machine": harness.machine_busy_seconds(),
        }

    def calls(self) -> dict[str, int]:
        """The cloud's call counts, and the database's transactions: committed and rolled
        back, since a read-only session ends in a ROLLBACK and a statement run in autocommit
        (a read outside any transaction, a job's claim) counts as a commit."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            row = connection.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).fetchone()
        # PostgreSQL's statistics lag by up to a second; the readings are seconds apart.
        return {**call_counts.read(self.cloud.endpoint), TRANSACTIONS: int(row[0]) if row else 0}


def service_bundle_at(minor: int) -> dict[str, str]:
    """The service bundle as of version 1.<minor>: each minor adds an output to the stack."""
    files = service_bundle(pipeline=False)
    if minor:
        files["instance_infrastructure/cloudformation.yaml"] += (
            f"  Revision:\n    Value: '1.{minor}'\n"
        )
    return files


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    size = args.services * args.instances_per_service
    harness.print_header(
        "Fleet upgrade: UpdateServiceInstance MINOR_VERSION for a whole fleet",
        [
            f"fleet: {size:,} service instances ({args.services} services x "
            f"{args.instances_per_service}) in one environment, one CloudFormation stack each",
            f"Baryon: scaled mode, 1 `baryon server`, `baryon worker` x {args.workers} "
            f"({args.worker_threads} threads each), PostgreSQL "
            f"({'fsync off' if args.pg_unsafe else 'durable defaults'}); updates sent by "
            f"{args.submit_threads} boto3 threads",
            "cloud: Baryon's local cloud (moto's server) with instant stack operations "
            "(--stack-operation-seconds 0)",
            "baseline: the same stack updates sent straight to the local cloud with boto3 "
            "(UpdateStack + DescribeStacks until UPDATE_COMPLETE), as many threads as worker "
            "threads",
        ],
    )
    root = harness.workspace(cleanup, args.keep, "fleet")
    fleet = Fleet(args, cleanup, root)
    figures: list[Figure] = []
    fleet.use_workers(max(args.worker_counts))
    _create_fleet(fleet)
    for minor, workers in enumerate(args.worker_counts, start=1):
        fleet.use_workers(workers)
        fleet.publish(
            "service",
            SVC_TEMPLATE,
            service_bundle_at(minor),
            majorVersion="1",
            compatibleEnvironmentTemplates=[{"templateName": ENV_TEMPLATE, "majorVersion": "1"}],
        )
        before = _templates(fleet)
        threads = workers * args.worker_threads
        figures.append(_upgrade(fleet, minor, f"{workers} worker(s) x {args.worker_threads}"))
        after = _templates(fleet)
        figures.append(_baseline(fleet, before, after, threads))
    _report(figures, fleet)


def _create_fleet(fleet: Fleet) -> None:
    args, proton = fleet.args, fleet.proton
    started = time.perf_counter()
    proton.create_environment_template(name=ENV_TEMPLATE)
    fleet.publish("environment", ENV_TEMPLATE, env_bundle())
    # No pipeline: the figure is about instances. (Proton: the pipeline is "customer managed".)
    proton.create_service_template(name=SVC_TEMPLATE, pipelineProvisioning="CUSTOMER_MANAGED")
    fleet.publish(
        "service",
        SVC_TEMPLATE,
        service_bundle_at(0),
        compatibleEnvironmentTemplates=[{"templateName": ENV_TEMPLATE, "majorVersion": "1"}],
    )
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENVIRONMENT,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\nspec:\n  size: small\n",
    )
    while (status := proton.get_environment(name=ENVIRONMENT)["environment"])[
        "deploymentStatus"
    ] == "IN_PROGRESS":
        time.sleep(0.2)
    if status["deploymentStatus"] != "SUCCEEDED":
        raise RuntimeError(f"environment: {status.get('deploymentStatusMessage')}")
    for index in range(args.services):
        lines = ["proton: ServiceSpec", "instances:"]
        for instance in range(args.instances_per_service):
            lines += [
                f"  - name: inst-{instance:03d}",
                f"    environment: {ENVIRONMENT}",
                "    spec:",
                f"      port: {8000 + instance}",
            ]
        proton.create_service(
            name=f"svc-{index:02d}",
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec="\n".join(lines) + "\n",
        )
    deadline = time.monotonic() + args.timeout
    while True:
        services = proton.list_services()["services"]
        if all(s["status"] != "CREATE_IN_PROGRESS" for s in services):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the fleet was not created in time")
        time.sleep(1)
    bad = [s["name"] for s in services if s["status"] != "ACTIVE"]
    if bad:
        raise RuntimeError(f"services not ACTIVE after creation: {bad}")
    seconds = time.perf_counter() - started
    print(
        f"created the fleet ({fleet.size:,} instances, templates and environment included) in "
        f"{seconds:.0f} s with {len(fleet.workers)} worker(s) (not a figure of this benchmark)",
        flush=True,
    )


def _count(proton: Any, filters: list[dict[str, str]]) -> tuple[int, datetime | None]:
    """How many instances match, and the latest lastDeploymentSucceededAt among them."""
    count, latest, token = 0, None, None
    while True:
        page = proton.list_service_instances(
            filters=filters, maxResults=100, **({"nextToken": token} if token else {})
        )
        for item in page["serviceInstances"]:
            count += 1
            moment = item["lastDeploymentSucceededAt"]
            latest = moment if latest is None or moment > latest else latest
        token = page.get("nextToken")
        if not token:
            return count, latest


def _upgrade(fleet: Fleet, minor: int, concurrency: str) -> Figure:
    proton, args = fleet.proton, fleet.args
    print(f"upgrading {fleet.size:,} instances to 1.{minor} with {concurrency} ...", flush=True)
    calls_before, cpu_before = fleet.calls(), fleet.cpu()
    started_at = datetime.now(UTC)
    started = time.perf_counter()

    def update(item: tuple[str, str]) -> None:
        proton.update_service_instance(
            serviceName=item[0], name=item[1], deploymentType="MINOR_VERSION"
        )

    with ThreadPoolExecutor(args.submit_threads) as pool:
        list(pool.map(update, fleet.instances))
    submitted = time.perf_counter() - started
    deadline = time.monotonic() + args.timeout
    while True:
        counts = proton.get_resources_summary()["counts"]["serviceInstances"]
        if counts["upToDate"] + counts["failed"] >= fleet.size:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"upgrade to 1.{minor} not done in {args.timeout:.0f} s: {counts}")
        time.sleep(0.5)
    polled = time.perf_counter() - started
    cpu, calls = _delta(cpu_before, fleet.cpu()), _grown(calls_before, fleet.calls())
    done, latest = _count(
        proton,
        [
            {"key": "deploymentStatus", "value": "SUCCEEDED"},
            {"key": "deployedTemplateVersionStatus", "value": "UP_TO_DATE"},
        ],
    )
    seconds = (latest - started_at).total_seconds() if latest else polled
    note = f"updates sent in {submitted:.1f} s"
    print(f"  {done:,} SUCCEEDED on 1.{minor} after {seconds:.1f} s ({note})", flush=True)
    return Figure("Baryon", concurrency, fleet.size, seconds, fleet.size - done, cpu, calls, note)


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    grown = {name: count - before.get(name, 0) for name, count in after.items()}
    return {name: count for name, count in grown.items() if count}


def _templates(fleet: Fleet) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Each instance stack's current template body and tags (not timed)."""
    client = harness.cloud_client(fleet.cloud, "cloudformation")

    def read(name: str) -> tuple[str, tuple[str, list[dict[str, str]]]]:
        body = client.get_template(StackName=name)["TemplateBody"]
        stack = client.describe_stacks(StackName=name)["Stacks"][0]
        text = body if isinstance(body, str) else json.dumps(body)
        return name, (text, stack.get("Tags", []))

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(read, fleet.stacks))


def _update_stacks(bodies: dict[str, tuple[str, list[dict[str, str]]]], clients: list[Any]) -> int:
    """UpdateStack for each stack, then DescribeStacks until it settles; returns failures.
    One thread per client."""
    names, threads = list(bodies), len(clients)

    def work(index: int) -> int:
        client, failures = clients[index], 0
        for name in names[index::threads]:
            body, tags = bodies[name]
            client.update_stack(
                StackName=name, TemplateBody=body, Capabilities=CAPABILITIES, Tags=tags
            )
            while True:
                status = client.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
                if not status.endswith("_IN_PROGRESS"):
                    break
                time.sleep(0.05)
            failures += status != "UPDATE_COMPLETE"
        return failures

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(work, range(threads)))


def _baseline(
    fleet: Fleet,
    before: dict[str, tuple[str, list[dict[str, str]]]],
    after: dict[str, tuple[str, list[dict[str, str]]]],
    threads: int,
) -> Figure:
    changed = {name: after[name] for name in after if after[name][0] != before[name][0]}
    if len(changed) != len(after):
        print(f"  note: only {len(changed)} of {len(after)} stack templates changed")
    print(f"baseline: {len(changed):,} stack updates with {threads} boto3 thread(s) ...")
    clients = [harness.cloud_client(fleet.cloud, "cloudformation") for _ in range(threads)]
    _update_stacks({name: before[name] for name in changed}, clients)  # not timed
    calls_before, cpu_before = fleet.calls(), fleet.cpu()
    started = time.perf_counter()
    failed = _update_stacks(changed, clients)
    seconds = time.perf_counter() - started
    cpu, calls = _delta(cpu_before, fleet.cpu()), _grown(calls_before, fleet.calls())
    print(f"  done in {seconds:.1f} s", flush=True)
    return Figure(
        "boto3 -> local cloud", f"{threads} thread(s)", len(changed), seconds, failed, cpu, calls
    )


def _report(figures: list[Figure], fleet: Fleet) -> None:
    table = Table(
        [
            "system",
            "concurrency",
            "deployments",
            "failed",
            "seconds",
            "deployments/s",
            "Baryon/baseline time",
            "CPU ms per deployment: server",
            "workers",
            "cloud",
            "PostgreSQL",
            "Baryon-side",
            "cloud calls per deployment",
            "PostgreSQL transactions per deployment",
            "other cores",
        ]
    )
    for index, figure in enumerate(figures):
        ratio: Any = "-"
        if figure.system == "Baryon" and index + 1 < len(figures):
            ratio = f"{figure.seconds / figures[index + 1].seconds:.1f}x"
        per = 1000 / figure.deployments if figure.deployments else 0.0
        ours = sum(figure.cpu[name] for name in ("server", "workers", "cloud", "postgres"))
        baryon = figure.system == "Baryon"
        table.add(
            figure.system,
            figure.concurrency,
            figure.deployments,
            figure.failed,
            figure.seconds,
            figure.rate,
            ratio,
            figure.cpu["server"] * per if baryon else "-",
            figure.cpu["workers"] * per if baryon else "-",
            figure.cpu["cloud"] * per,
            figure.cpu["postgres"] * per if baryon else "-",
            figure.baryon_cpu_ms if baryon else "-",
            figure.calls_per_deployment,
            figure.transactions_per_deployment if baryon else "-",
            max(0.0, figure.cpu["machine"] - ours) / figure.seconds if figure.seconds else 0.0,
        )
    print()
    print(table.render())
    print()
    print(
        "Baryon seconds: first UpdateServiceInstance call to the last instance's "
        "lastDeploymentSucceededAt; baseline seconds: first UpdateStack to the last "
        "UPDATE_COMPLETE. CPU ms per deployment: CPU time of those processes during the timed part "
        "/ deployments (the server's share is mostly the UpdateServiceInstance calls; the "
        "baseline's boto3 client is not counted). "
        "'other cores': CPU used by everything else on the machine (the benchmark's own "
        "clients included) / seconds."
    )
    print(
        "Baryon-side: server + workers + PostgreSQL CPU ms per deployment (issue 17's figure; "
        "the cloud's CPU is not Baryon's). cloud calls: every request the local cloud answered "
        "during the timed part (its own count, GET /_baryon/calls) / deployments. PostgreSQL "
        "transactions: committed and rolled back (pg_stat_database.xact_commit + xact_rollback; "
        "each statement in autocommit is one; the benchmark's own status reads included) / "
        "deployments."
    )
    print()
    for index, figure in enumerate(figures):
        if figure.system == "Baryon" and index + 1 < len(figures):
            _print_goals(figure, figures[index + 1])
    if any(f.failed for f in figures):
        print("SOME DEPLOYMENTS FAILED: see the failed column; logs with --keep")


def _print_goals(run: Figure, base: Figure) -> None:
    """Issue 17's fleet goals beside this run's figures."""
    ratio = run.seconds / base.seconds if base.seconds else float("inf")
    cpu = run.baryon_cpu_ms
    ours, theirs = run.calls_per_deployment, base.calls_per_deployment

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    print(f"goals, Baryon with {run.concurrency} beside {base.concurrency}:")
    print(
        f"  time: {ratio:.2f}x the direct path's (goal <= 1.5x: {verdict(ratio <= 1.5)}; "
        f"aim <= 1.2x: {verdict(ratio <= 1.2)})"
    )
    print(f"  Baryon-side CPU per deployment: {cpu:.1f} ms (goal <= 40 ms: {verdict(cpu <= 40)})")
    print(
        f"  cloud calls per deployment: Baryon {ours:.2f} vs direct {theirs:.2f} "
        f"(goal <= {theirs + 2:.2f}: {verdict(ours <= theirs + 2)})"
    )
    for label, figure in (("Baryon", run), ("direct", base)):
        shown = ", ".join(
            f"{name} {count / figure.deployments:.2f}"
            for name, count in sorted(figure.calls.items(), key=lambda item: -item[1])
            if name != TRANSACTIONS
        )
        print(f"    {label}'s calls per deployment: {shown}")


if __name__ == "__main__":
    main()
