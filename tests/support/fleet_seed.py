"""Seeds a Baryon store straight through its SQLAlchemy tables: templates and published
versions, environments, services and their service instances, as if they had been created
and deployed through the API (no deployments, jobs or bundles), for the read benchmarks and
the tests of fleet-wide queries.

The data looks like what Baryon writes: each instance's ``spec`` is its service's whole spec
(every instance of the service is listed in it, as CreateService stores it), ``inputs`` are
the merged inputs, and the fleet is mixed: most instances on the recommended version 2.1,
some on 2.0 (behind a minor), some on 1.0 (behind a major), a few FAILED.

PostgreSQL gets the instances through COPY; SQLite through batched INSERTs.

    .venv/bin/python -m tests.support.fleet_seed --instances 1000 \
        --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from baryon.store import resource_counts
from baryon.store.spec_texts import key_of
from baryon.store.tables import (
    Environment,
    Service,
    ServiceInstance,
    SpecText,
    Template,
    TemplateVersion,
)

ENV_TEMPLATE = "bench-env"
SVC_TEMPLATE = "bench-svc"
# (major, minor, share of the fleet on it); 2.1 is the recommended version.
FLEET_VERSIONS = ((2, 1, 0.80), (2, 0, 0.15), (1, 0, 0.05))
FAILED_SHARE = 0.02
_BATCH = 5000


@dataclass
class Seeded:
    env_template: str
    svc_template: str
    environments: list[str]
    services: list[str]
    instances: list[tuple[str, str]]  # (service name, instance name)
    seconds: float


def _version_row(template_id: int, major: int, minor: int, now: datetime, **extra: Any) -> dict:
    return {
        "template_id": template_id,
        "major": major,
        "minor": minor,
        "status": "PUBLISHED",
        "status_message": None,
        "description": f"version {major}.{minor}",
        "source": {"s3": {"bucket": "bench", "key": f"bundle-{major}-{minor}.tar.gz"}},
        "schema_text": None,
        "bundle": None,
        "bundle_digest": None,
        "compatible_environment_templates": None,
        "supported_component_sources": None,
        "created_at": now,
        "last_modified_at": now,
        **extra,
    }


def _deployable(major: int, minor: int, spec: str, inputs: dict, status: str, at: datetime) -> dict:
    return {
        "template_major": major,
        "template_minor": minor,
        "spec_key": key_of(spec),
        "inputs": inputs,
        "deployment_status": status,
        "deployment_status_message": "stack failed: bench" if status == "FAILED" else None,
        "last_attempted_deployment_id": str(uuid.uuid4()),
        "last_succeeded_deployment_id": str(uuid.uuid4()),
        "last_deployment_attempted_at": at,
        "last_deployment_succeeded_at": at,
        "created_at": at - timedelta(days=30),
        "last_modified_at": at,
    }


def service_spec(instances: list[tuple[str, str]]) -> str:
    lines = ["proton: ServiceSpec", "instances:"]
    for name, environment in instances:
        lines += [
            f"  - name: {name}",
            f"    environment: {environment}",
            "    spec:",
            "      port: 8080",
            "      image: public.ecr.aws/nginx/nginx:latest",
        ]
    return "\n".join(lines) + "\n"


def seed(
    database_url: str,
    instances: int,
    *,
    per_service: int = 100,
    environments: int = 10,
    rng_seed: int = 7,
) -> Seeded:
    """Adds ``instances`` service instances (and what they belong to) to a migrated store."""
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    is_postgres = make_url(database_url).get_backend_name() == "postgresql"
    env_names = [f"env-{i:02d}" for i in range(environments)]
    service_count = max(1, -(-instances // per_service))
    svc_names = [f"svc-{i:05d}" for i in range(service_count)]
    seeded: list[tuple[str, str]] = []
    try:
        with engine.begin() as connection:
            env_template_id, svc_template_id = _templates(connection, now)
            env_ids = _environments(connection, env_names, env_template_id, now)
            rows = _instance_rows(
                connection,
                rng,
                now,
                instances=instances,
                per_service=per_service,
                svc_names=svc_names,
                env_names=env_names,
                env_ids=env_ids,
                svc_template_id=svc_template_id,
                seeded=seeded,
            )
            if is_postgres:
                _copy_rows(connection, rows)
            else:
                for start in range(0, len(rows), _BATCH):
                    connection.execute(insert(ServiceInstance), rows[start : start + _BATCH])
            # The rows bypassed the ORM, which keeps the summary's counts: count them here.
            resource_counts.recount(connection)
        if is_postgres:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return Seeded(
        ENV_TEMPLATE, SVC_TEMPLATE, env_names, svc_names, seeded, time.perf_counter() - started
    )


def _templates(connection: Any, now: datetime) -> tuple[int, int]:
    ids = {}
    for kind, name in (("ENVIRONMENT", ENV_TEMPLATE), ("SERVICE", SVC_TEMPLATE)):
        ids[kind] = connection.execute(
            insert(Template).returning(Template.id),
            {
                "kind": kind,
                "name": name,
                "display_name": None,
                "description": "seeded by tests.support.fleet_seed",
                "encryption_key": None,
                "provisioning": None,
                "created_at": now,
                "last_modified_at": now,
            },
        ).scalar_one()
    compatible = [{"templateName": ENV_TEMPLATE, "majorVersion": "1"}]
    connection.execute(
        insert(TemplateVersion),
        [
            _version_row(ids["ENVIRONMENT"], 1, 0, now),
            *(
                _version_row(
                    ids["SERVICE"], major, minor, now, compatible_environment_templates=compatible
                )
                for major, minor, _ in sorted(FLEET_VERSIONS)
            ),
        ],
    )
    return ids["ENVIRONMENT"], ids["SERVICE"]


def _environments(
    connection: Any, names: list[str], template_id: int, now: datetime
) -> dict[str, int]:
    spec = "proton: EnvironmentSpec\nspec:\n  size: small\n"
    connection.execute(insert(SpecText), {"key": key_of(spec), "text": spec})
    rows = [
        {
            "name": name,
            "template_id": template_id,
            "template_name": ENV_TEMPLATE,
            "description": None,
            "provisioning": None,
            "proton_service_role_arn": f"arn:aws:iam::{'1' * 12}:role/proton",
            **_deployable(1, 0, spec, {"size": "small"}, "SUCCEEDED", now),
        }
        for name in names
    ]
    connection.execute(insert(Environment), rows)
    result = connection.execute(text("SELECT id, name FROM environments"))
    return {name: id_ for id_, name in result}


def _instance_rows(
    connection: Any,
    rng: random.Random,
    now: datetime,
    *,
    instances: int,
    per_service: int,
    svc_names: list[str],
    env_names: list[str],
    env_ids: dict[str, int],
    svc_template_id: int,
    seeded: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    services: list[dict[str, Any]] = []
    members: list[list[tuple[str, str]]] = []
    written: set[str] = set()
    for index, name in enumerate(svc_names):
        count = min(per_service, instances - index * per_service)
        own = [(f"inst-{i:03d}", env_names[(index + i) % len(env_names)]) for i in range(count)]
        members.append(own)
        # Each service's spec is stored once; the service and its instances name it.
        spec = service_spec(own)
        if key_of(spec) not in written:
            connection.execute(insert(SpecText), {"key": key_of(spec), "text": spec})
            written.add(key_of(spec))
        services.append(
            {
                "name": name,
                "template_id": svc_template_id,
                "template_name": SVC_TEMPLATE,
                "description": None,
                "spec_key": key_of(spec),
                "status": "ACTIVE",
                "status_message": None,
                "template_major": 2,
                "operation": None,
                "created_at": now - timedelta(days=30),
                "last_modified_at": now,
            }
        )
    for start in range(0, len(services), _BATCH):
        connection.execute(insert(Service), services[start : start + _BATCH])
    service_ids = {
        name: id_ for id_, name in connection.execute(text("SELECT id, name FROM services"))
    }
    weights = [share for _, _, share in FLEET_VERSIONS]
    rows = []
    for service, own in zip(services, members, strict=True):
        spec = service_spec(own)
        for instance_name, environment in own:
            major, minor, _ = rng.choices(FLEET_VERSIONS, weights)[0]
            status = "FAILED" if rng.random() < FAILED_SHARE else "SUCCEEDED"
            attempted = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
            inputs = {"port": 8080, "image": "public.ecr.aws/nginx/nginx:latest"}
            rows.append(
                {
                    "service_id": service_ids[service["name"]],
                    "environment_id": env_ids[environment],
                    "template_id": svc_template_id,
                    "name": instance_name,
                    "service_name": service["name"],
                    "environment_name": environment,
                    "template_name": SVC_TEMPLATE,
                    "last_client_request_token": None,
                    **_deployable(major, minor, spec, inputs, status, attempted),
                }
            )
            seeded.append((service["name"], instance_name))
    return rows


def _copy_rows(connection: Any, rows: list[dict[str, Any]]) -> None:
    """COPY is several times faster than INSERT for 100,000 wide rows."""
    if not rows:
        return
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        statement = f"COPY service_instances ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c == "inputs" else row[c] for c in columns])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a migrated Baryon store")
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--per-service", type=int, default=100)
    parser.add_argument("--environments", type=int, default=10)
    args = parser.parse_args()
    done = seed(
        args.database_url,
        args.instances,
        per_service=args.per_service,
        environments=args.environments,
    )
    print(
        f"seeded {len(done.instances):,} service instances in {len(done.services):,} services "
        f"and {len(done.environments)} environments in {done.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
