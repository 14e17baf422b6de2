"""What the rollout engine costs: N service instances moved to a new minor version by a
rollout (one wave; then three waves, the first a canary), beside the same N upgrades sent as
UpdateServiceInstance calls without a rollout, all in one run of an embedded Baryon
(`baryon up`, SQLite, its local cloud, in-process workers).

Each run publishes the next minor version and moves the whole fleet to it. The baseline's
clock runs from the first UpdateServiceInstance to the last instance's SUCCEEDED; a
rollout's from StartRollout to SUCCEEDED (its fleet preview is planned and approved before,
untimed). The rollouts have no alarms, no bake time and a concurrency as large as the fleet,
so the difference is the engine's own: its looks (one transaction per
``rollout_tick_seconds``), the waves' hand-offs and following each deployment.

    .venv/bin/python -m bench.rollout_overhead            # 40 instances
    .venv/bin/python -m bench.rollout_overhead --quick    # 8 instances
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bundles import SVC_CFN, Registry, service_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, start_baryon

from bench import harness
from bench.harness import Cleanup, Table

ENV_TEMPLATE, SVC_TEMPLATE, ENVIRONMENT, SERVICE = "ro-env", "ro-svc", "ro", "ro-svc"
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Figure:
    system: str
    waves: int
    seconds: float
    deployments: int


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--stack-seconds", type=float, default=0.05)
    parser.add_argument("--tick-seconds", type=float, default=0.5, help="rollout_tick_seconds")
    harness.common_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.instances = 8
    harness.run_benchmark(lambda cleanup: run(args, cleanup))


def _files(minor: int) -> dict[str, str]:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] = (
        SVC_CFN + f"  Generation:\n    Value: '1.{minor}'\n"
    )
    return files


def _until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 1800) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting: {value}")
        time.sleep(POLL_SECONDS)


class Fleet:
    def __init__(self, args: argparse.Namespace, cleanup: Cleanup, root: Path) -> None:
        self.server: BaryonProcess = start_baryon(
            root / "data",
            env={
                "BARYON_LOCAL_CLOUD_STACK_SECONDS": str(args.stack_seconds),
                "BARYON_WORKER_THREADS": str(args.worker_threads),
                "BARYON_ROLLOUT_TICK_SECONDS": str(args.tick_seconds),
            },
        )
        cleanup.push("baryon", self.server.stop)
        self.proton = self.server.client("proton")
        self.baryon = self.server.client("baryon")
        self.registry = Registry(self.proton, self.server.client("s3"))
        self.instances = [f"i{n:03d}" for n in range(args.instances)]
        self.minor = 0

    def create(self) -> None:
        publish_environment_template(self.registry, ENV_TEMPLATE)
        self.proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=ENVIRONMENT, templateName=ENV_TEMPLATE, templateMajorVersion="1",
            spec=env_spec(),
        )  # fmt: skip
        self.proton.get_waiter("environment_deployed").wait(name=ENVIRONMENT, WaiterConfig=FAST)
        publish_service_template(
            self.registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _files(0),
            pipelineProvisioning="CUSTOMER_MANAGED",
        )  # fmt: skip
        self.proton.create_service(
            name=SERVICE, templateName=SVC_TEMPLATE, templateMajorVersion="1",
            spec=service_spec([(name, ENVIRONMENT, None) for name in self.instances]),
        )  # fmt: skip
        self.proton.get_waiter("service_created").wait(
            name=SERVICE, WaiterConfig={"Delay": 0.5, "MaxAttempts": 3600}
        )

    def next_version(self) -> None:
        self.minor += 1
        publish_service_template(
            self.registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _files(self.minor), major="1",
            pipelineProvisioning="CUSTOMER_MANAGED",
        )  # fmt: skip

    def all_on(self, minor: int) -> bool:
        pages = self.proton.get_paginator("list_service_instances").paginate(
            filters=[{"key": "serviceName", "value": SERVICE}]
        )
        summaries = [s for page in pages for s in page["serviceInstances"]]
        failed = [s for s in summaries if s["deploymentStatus"] == "FAILED"]
        if failed:
            raise RuntimeError(f"a deployment failed: {failed[0]}")
        return all(
            s["templateMinorVersion"] == str(minor) and s["deploymentStatus"] == "SUCCEEDED"
            for s in summaries
        )

    def without_rollout(self) -> Figure:
        self.next_version()
        started = time.monotonic()
        for name in self.instances:
            self.proton.update_service_instance(
                serviceName=SERVICE, name=name, deploymentType="MINOR_VERSION",
                templateMajorVersion="1", templateMinorVersion=str(self.minor),
            )  # fmt: skip
        _until(lambda: self.all_on(self.minor), bool)
        return Figure(
            "UpdateServiceInstance x N", 0, time.monotonic() - started, len(self.instances)
        )

    def with_rollout(self, waves: list[dict[str, int]]) -> Figure:
        self.next_version()
        rollout = self.baryon.create_rollout(
            name=f"to-1-{self.minor}", templateType="SERVICE", templateName=SVC_TEMPLATE,
            targetMajorVersion="1", targetMinorVersion=str(self.minor), waves=waves,
            concurrency=len(self.instances),
            failureTolerance={"count": 0, "mode": "SOFT", "scope": "OVERALL"},
        )["rollout"]  # fmt: skip
        preview_id = self.baryon.preview_rollout(id=rollout["id"])["rollout"]["previewId"]
        _until(
            lambda: self.baryon.get_fleet_preview(id=preview_id)["fleetPreview"]["status"],
            lambda status: status != "PLANNING",
        )
        self.baryon.approve_rollout(id=rollout["id"])
        started = time.monotonic()
        self.baryon.start_rollout(id=rollout["id"])
        done = _until(
            lambda: self.baryon.get_rollout(id=rollout["id"])["rollout"],
            lambda got: got["state"] not in ("RUNNING",),
        )
        seconds = time.monotonic() - started
        if done["state"] != "SUCCEEDED":
            raise RuntimeError(f"the rollout ended {done['state']}: {done.get('stateMessage')}")
        return Figure(f"rollout, {len(waves)} wave(s)", len(waves), seconds, len(self.instances))


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    root = harness.workspace(cleanup, args.keep, "rollout")
    harness.print_header(
        "rollout overhead",
        [
            f"instances: {args.instances}, worker threads: {args.worker_threads}, local cloud "
            f"stack operations: {args.stack_seconds} s, rollout_tick_seconds: {args.tick_seconds}",
        ],
    )
    fleet = Fleet(args, cleanup, root)
    fleet.create()
    figures = [
        fleet.without_rollout(),
        fleet.with_rollout([{}]),
        fleet.with_rollout([{"percent": 10}, {"percent": 45}, {}]),
    ]
    baseline = figures[0].seconds
    table = Table(["system", "deployments", "seconds", "s per deployment", "vs baseline"])
    for figure in figures:
        table.add(
            figure.system,
            figure.deployments,
            figure.seconds,
            figure.seconds / figure.deployments,
            "baseline" if figure is figures[0] else f"{figure.seconds - baseline:+.2f} s",
        )
    print(table.render())
    print(
        "\nA rollout's extra time is its looks and its waves' hand-offs: each wave waits for its "
        "last deployment, then one look starts the next (at most rollout_tick_seconds later)."
    )


if __name__ == "__main__":
    main()
