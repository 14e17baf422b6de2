"""A portal on an in-process app and a private SQLite database, with templates registered
straight into the store and a signed-in browser-like client. No worker runs: deployments stay
IN_PROGRESS unless a test finishes them with ``finish``."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from baryon.app import create_app
from baryon.domain import outcomes
from baryon.operations.portal_users import create_user
from baryon.runtime import Runtime, build_runtime
from baryon.settings import load_settings
from baryon.store.tables import Deployment, Template, TemplateVersion
from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA, env_bundle, service_bundle, tar_gz

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

USER, PASSWORD = "robin", "a password long enough"
ROLE = "arn:aws:iam::111122223333:role/proton-service-role"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Portal:
    runtime: Runtime
    client: Any
    csrf: str = ""

    def sign_in(self, name: str = USER, password: str = PASSWORD) -> Any:
        form = self.client.get("/portal/sign-in")
        token = CSRF.search(form.text).group(1)
        response = self.client.post(
            "/portal/sign-in",
            data={"csrf_token": token, "name": name, "password": password, "next": "/portal/"},
            follow_redirects=False,
        )
        page = self.client.get("/portal/")
        match = CSRF.search(page.text)
        self.csrf = match.group(1) if match else ""
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False,
            **kwargs,
        )


def add_version(
    runtime: Runtime,
    kind: str,
    name: str,
    files: dict[str, str],
    schema: str,
    major: int = 1,
    minor: int = 0,
    compatible: list[dict[str, str]] | None = None,
) -> None:
    """A PUBLISHED version, as registration and publishing would leave it."""
    now = datetime.now(UTC)
    archive = tar_gz(files)
    with runtime.db.session(write=True) as session:
        template = session.scalars(
            select(Template).where(Template.kind == kind, Template.name == name)
        ).first()
        if template is None:
            template = Template(kind=kind, name=name, created_at=now, last_modified_at=now)
            session.add(template)
            session.flush()
        session.add(
            TemplateVersion(
                template_id=template.id,
                major=major,
                minor=minor,
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


def finish(
    runtime: Runtime, outputs: dict[str, str] | None = None, *, result: str = "SUCCEEDED"
) -> int:
    """Ends every deployment in flight with ``result``, as a worker would; returns how many."""
    with runtime.db.session() as session:
        ids = list(
            session.scalars(
                select(Deployment.id).where(
                    Deployment.status.in_(["IN_PROGRESS", "DELETE_IN_PROGRESS", "CANCELLING"])
                )
            )
        )
    for deployment_id in ids:
        with runtime.db.session(write=True) as session:
            outcomes.record(
                session,
                runtime.arns,
                deployment_id,
                outcomes.Result(result, outputs=outputs or {}),
                datetime.now(UTC),
            )
    return len(ids)


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The portal's queries run on both engines, as replicas of `baryon server` would."""
    overrides: dict[str, Any] = {"data_dir": tmp_path / "data"}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_server").create_database()
    settings = load_settings(overrides, environ={})
    runtime = build_runtime(settings)
    with runtime.db.session(write=True) as session:
        create_user(session, USER, PASSWORD, datetime.now(UTC))
    add_version(runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA)
    add_version(
        runtime,
        "SERVICE",
        "webapp",
        service_bundle(pipeline=False),
        SVC_SCHEMA.replace('  pipeline_input_type: "PipeInput"\n', ""),
        compatible=[{"templateName": "network", "majorVersion": "1"}],
    )
    yield runtime
    runtime.close()


@pytest.fixture
def portal(runtime: Runtime) -> Iterator[Portal]:
    with TestClient(create_app(runtime), base_url="http://portal.test") as client:
        yield Portal(runtime, client)


@pytest.fixture
def signed_in(portal: Portal) -> Portal:
    response = portal.sign_in()
    assert response.status_code == 303, response.text
    return portal
