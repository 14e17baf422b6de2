"""A store with the templates the spec tests deploy from: network (environment) and webapp
(service, compatible with network 1), each at a published 1.0."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from baryon.runtime import Runtime, build_runtime
from baryon.settings import load_settings
from baryon.store.tables import Template, TemplateVersion
from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA, env_bundle, service_bundle, tar_gz


def _add_version(
    runtime: Runtime,
    kind: str,
    name: str,
    files: dict[str, str],
    schema: str,
    compatible: list[dict[str, str]] | None = None,
) -> None:
    now = datetime.now(UTC)
    archive = tar_gz(files)
    with runtime.db.session(write=True) as session:
        template = Template(kind=kind, name=name, created_at=now, last_modified_at=now)
        session.add(template)
        session.flush()
        session.add(
            TemplateVersion(
                template_id=template.id,
                major=1,
                minor=0,
                status="PUBLISHED",
                source={},
                schema_text=schema,
                bundle=archive,
                bundle_digest=hashlib.sha256(archive).hexdigest(),
                compatible_environment_templates=compatible,
                created_at=now,
                last_modified_at=now,
            )
        )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(load_settings({"data_dir": tmp_path / "data"}, environ={}))
    _add_version(runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA)
    _add_version(
        runtime,
        "SERVICE",
        "webapp",
        service_bundle(),
        SVC_SCHEMA,
        compatible=[{"templateName": "network", "majorVersion": "1"}],
    )
    yield runtime
    runtime.close()
