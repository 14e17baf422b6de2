"""What a change is decided on, read from the store (operations/authorization.py): a resource's
own tags and those of the environment it runs in, kept apart, read in one statement."""

from __future__ import annotations

from baryon.operations import authorization, in_process
from baryon.runtime import Runtime
from baryon.store.tables import Tag
from tests.domain.conftest import runtime  # noqa: F401 (the fixture)
from tests.domain.test_spec_parsing import _work_off
from tests.domain.test_spec_storage import _create_service
from tests.support.principals import ADMIN
from tests.support.statements import statements_run


def _tag(store: Runtime, arn: str, **tags: str) -> None:
    with store.db.session(write=True) as session:
        session.add_all(Tag(resource_arn=arn, key=key, value=value) for key, value in tags.items())


def test_an_instance_change_is_decided_on_its_tags_and_its_environments_read_at_once(
    runtime: Runtime,  # noqa: F811
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    _tag(runtime, runtime.arns.environment("dev"), stage="prod", team="platform")
    _tag(runtime, runtime.arns.service_instance("web", "one"), team="web")
    _tag(runtime, runtime.arns.service_instance("web", "two"), team="other")
    context = in_process.context(runtime, "portal:robin", "UpdateServiceInstance", principal=ADMIN)
    with statements_run(runtime.db.engine, runtime.db.read_engine) as statements:
        facts = authorization.resource_facts(
            context,
            "UpdateServiceInstance",
            {"serviceName": "web", "name": "one", "deploymentType": "CURRENT_VERSION"},
        )
    assert dict(facts.tags) == {"team": "web"}
    assert dict(facts.environment_tags) == {"stage": "prod", "team": "platform"}
    assert len([s for s in statements if f"FROM {Tag.__tablename__}" in s]) == 1


def test_an_environment_change_is_decided_on_its_own_tags_as_its_environments(
    runtime: Runtime,  # noqa: F811
) -> None:
    _create_service(runtime)
    _tag(runtime, runtime.arns.environment("dev"), stage="prod")
    context = in_process.context(runtime, "portal:robin", "UpdateEnvironment", principal=ADMIN)
    facts = authorization.resource_facts(
        context, "UpdateEnvironment", {"name": "dev", "deploymentType": "CURRENT_VERSION"}
    )
    assert dict(facts.tags) == dict(facts.environment_tags) == {"stage": "prod"}
