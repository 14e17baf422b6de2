"""The portal's pages on an in-process app: self-service through the domain, errors beside
their fields with nothing created, upgrade previews, the fleet's one upgrade action, and
friendly error pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from baryon.store.tables import Deployment, Environment, Job, Service, ServiceInstance
from tests.support.bundles import ENV_CFN, ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, Portal, add_version, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"
SVC_URL = "/portal/new/service?template=webapp&version=1.0"


def _count(portal: Portal, model: type) -> int:
    with portal.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _error(page: str, field: str) -> str | None:
    match = re.search(
        rf'id="{re.escape(field)}-error"><span class="visually-hidden">Error: </span>([^<]*)<',
        page,
    )
    return match.group(1) if match else None


def _create_environment(portal: Portal, name: str = "dev", size: str = "small") -> None:
    response = portal.post(ENV_URL, {"mode": "form", "name": name, "description": "", "role": ROLE,
                                     "input-vpc_cidr": "10.0.0.0/16", "input-size": size})
    assert response.status_code == 303, response.text
    assert finish(portal.runtime, {"BucketName": f"{name}-artifacts"}) >= 1


def test_every_main_page_renders(signed_in: Portal) -> None:
    for path in ("/portal/", "/portal/templates", "/portal/templates/environment/network",
                 "/portal/templates/environment/network/1.0",
                 "/portal/templates/service/webapp/1.0", "/portal/environments",
                 "/portal/services", "/portal/deployments", "/portal/fleet",
                 "/portal/new/environment", "/portal/new/service", ENV_URL, SVC_URL,
                 ENV_URL + "&mode=yaml", SVC_URL + "&mode=yaml"):
        response = signed_in.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])


def test_the_schema_is_shown_as_documentation(signed_in: Portal) -> None:
    page = signed_in.client.get("/portal/templates/environment/network/1.0").text
    assert "vpc_cidr" in page and "10.0.0.0/16" in page
    assert "<code>small</code>, <code>large</code>" in page
    assert "yes, the recommended version of network" in page


def test_wrong_input_shows_errors_beside_fields_and_creates_nothing(signed_in: Portal) -> None:
    response = signed_in.post(ENV_URL, {"mode": "form", "name": "bad name",
                                        "input-vpc_cidr": "somewhere", "input-size": "huge"})
    assert response.status_code == 400
    assert _error(response.text, "name") == (
        "use letters, digits, &#39;-&#39; and &#39;_&#39;, starting with a letter or a digit")
    assert "must match the pattern given by the template: " in (
        _error(response.text, "input-vpc_cidr") or "")
    assert "must be one of" in (_error(response.text, "input-size") or "")
    assert 'value="somewhere"' in response.text  # the typed value is kept
    assert 'class="error-summary"' in response.text
    assert _count(signed_in, Environment) == 0
    assert _count(signed_in, Job) == 0


def test_an_environment_deploys_as_the_role_the_user_names_as_on_the_api(signed_in: Portal) -> None:
    # Proton's rule holds at every front door: AWS-managed provisioning needs a role.
    form = {"mode": "form", "name": "dev", "input-vpc_cidr": "10.0.0.0/16", "input-size": "small"}
    missing = signed_in.post(ENV_URL, form)
    assert missing.status_code == 400
    assert "needs the role it deploys as" in (_error(missing.text, "role") or "")
    wrong = signed_in.post(ENV_URL, {**form, "role": "arn:aws:iam::1:role/x"})
    assert wrong.status_code == 400 and _error(wrong.text, "role")
    assert _count(signed_in, Environment) == 0
    assert signed_in.post(ENV_URL, {**form, "role": ROLE}).status_code == 303
    with signed_in.runtime.db.session() as session:
        assert session.scalars(select(Environment)).one().proton_service_role_arn == ROLE


def test_an_environment_is_created_through_the_domain(signed_in: Portal) -> None:
    response = signed_in.post(ENV_URL, {"mode": "form", "name": "dev", "description": "mine",
                                        "role": ROLE,
                                        "input-vpc_cidr": "10.0.0.0/16", "input-size": "large"})
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/environments/dev"
    with signed_in.runtime.db.session() as session:
        environment = session.scalars(select(Environment)).one()
        assert (environment.deployment_status, environment.description) == ("IN_PROGRESS", "mine")
        assert environment.spec == "proton: EnvironmentSpec\nspec:\n  size: large\n"
        assert environment.inputs == {"size": "large", "vpc_cidr": "10.0.0.0/16"}
    page = signed_in.client.get("/portal/environments/dev")
    assert "being created" in page.text  # the flash, once
    assert 'data-active="true"' in page.text  # the page refreshes itself while it deploys
    assert "being created" not in signed_in.client.get("/portal/environments/dev").text
    again = signed_in.post(ENV_URL, {"mode": "form", "name": "dev", "role": ROLE})
    assert _error(again.text, "name") == "is already taken by another environment"


def test_a_yaml_spec_with_a_mistake_is_shown_again_with_the_error(signed_in: Portal) -> None:
    spec = "proton: EnvironmentSpec\nspec:\n  size: enormous\n"
    response = signed_in.post(ENV_URL, {"mode": "yaml", "name": "dev", "spec": spec, "role": ROLE})
    assert response.status_code == 400
    assert "must be one of" in (_error(response.text, "spec") or "")
    assert "size: enormous" in response.text
    assert _count(signed_in, Environment) == 0


def test_a_service_with_two_instances(signed_in: Portal) -> None:
    _create_environment(signed_in)
    added = signed_in.post(SVC_URL, {"mode": "form", "instances": "1", "action": "add",
                                     "name": "shop", "instance-0-name": "a",
                                     "instance-0-environment": "dev",
                                     "instance-0-input-port": "8080"})
    assert added.status_code == 200 and added.text.count('class="instance"') == 2
    # Inputs are the next step's: here they travel hidden, the new one's with its default.
    assert 'name="instance-1-input-port" value="80"' in added.text
    base = {"mode": "form", "instances": "2", "action": "create", "name": "shop",
            "instance-0-name": "a", "instance-0-environment": "dev",
            "instance-0-input-port": "8080", "instance-0-input-image": "nginx",
            "instance-1-environment": "dev", "instance-1-input-port": "99999",
            "instance-1-input-image": "nginx"}
    wrong = signed_in.post(SVC_URL, {**base, "instance-1-name": "a"})
    assert wrong.status_code == 400
    assert _error(wrong.text, "instance-1-name") == "is used by another instance of this service"
    # The inputs' problems are on the inputs step, shown once the names are right.
    wrong = signed_in.post(SVC_URL, {**base, "instance-1-name": "b"})
    assert _error(wrong.text, "instance-1-input-port") == "must be &lt;= 65535, got 99999"
    assert _count(signed_in, Service) == 0 and _count(signed_in, ServiceInstance) == 0
    created = signed_in.post(SVC_URL, {**base, "instance-1-name": "b",
                                       "instance-1-input-port": "9090"})
    assert created.status_code == 303, created.text
    with signed_in.runtime.db.session() as session:
        rows = session.execute(select(ServiceInstance.name, ServiceInstance.inputs)).all()
    assert sorted(rows) == [("a", {"port": 8080, "image": "nginx"}),
                            ("b", {"port": 9090, "image": "nginx"})]
    page = signed_in.client.get("/portal/services/shop")
    assert 'id="instance-a"' in page.text and 'id="instance-b"' in page.text


def test_an_instance_in_an_environment_that_does_not_exist(signed_in: Portal) -> None:
    response = signed_in.post(SVC_URL, {"mode": "form", "instances": "1", "action": "create",
                                        "name": "shop", "instance-0-name": "a",
                                        "instance-0-environment": "ghost"})
    assert response.status_code == 400
    assert "does not exist" in (_error(response.text, "instance-0-environment") or "")
    assert _count(signed_in, Service) == 0


def _publish_minor(portal: Portal) -> None:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = ENV_CFN + "  Generation:\n    Value: 'two'\n"
    add_version(portal.runtime, "ENVIRONMENT", "network", files, ENV_SCHEMA, minor=1)


def test_an_upgrade_shows_the_rendered_difference_then_deploys_it(signed_in: Portal) -> None:
    _create_environment(signed_in)
    page = signed_in.client.get("/portal/environments/dev").text
    assert 'id="upgrade-minor"' not in page
    _publish_minor(signed_in)
    page = signed_in.client.get("/portal/environments/dev").text
    assert "Upgrade to 1.1" in page
    preview = signed_in.client.get("/portal/environments/dev/upgrade/minor")
    assert preview.status_code == 200
    added = re.findall(r'<span class="diff-add">([^<]*)</span>', preview.text)
    assert added == ["+  Generation:", "+    Value: &#39;two&#39;"]
    assert not re.findall(r'<span class="diff-del">', preview.text)
    response = signed_in.post("/portal/environments/dev/upgrade/minor",
                              {"major": "1", "minor": "1"})
    assert response.status_code == 303
    with signed_in.runtime.db.session() as session:
        deployment = session.scalars(
            select(Deployment).where(Deployment.status == "IN_PROGRESS")).one()
        assert deployment.target_state["environment"]["templateMinorVersion"] == "1"
    assert finish(signed_in.runtime) == 1
    page = signed_in.client.get("/portal/environments/dev").text
    assert "Upgrade to 1.1" not in page and 'id="template-version"' in page


def test_the_fleet_counts_and_upgrades_the_outdated(signed_in: Portal) -> None:
    _create_environment(signed_in, "dev")
    _create_environment(signed_in, "prod")
    _publish_minor(signed_in)
    fleet = signed_in.client.get("/portal/fleet").text
    row = re.search(r'id="fleet-environment-network-environment">(.*?)</tr>', fleet, re.S)
    assert row is not None
    counts = dict(re.findall(r'data-count="([a-z-]+)">(\d+)<', row.group(1)))
    assert counts == {"total": "2", "up-to-date": "0", "behind-minor": "2",
                      "behind-major": "0", "failed": "0"}
    confirm = signed_in.client.get("/portal/fleet/environment/network/upgrade/minor")
    assert "dev" in confirm.text and "prod" in confirm.text
    response = signed_in.post("/portal/fleet/environment/network/upgrade/minor")
    assert response.status_code == 303
    assert "Started 2 upgrade(s)" in signed_in.client.get("/portal/fleet").text
    assert finish(signed_in.runtime) == 2
    fleet = signed_in.client.get("/portal/fleet").text
    row = re.search(r'id="fleet-environment-network-environment">(.*?)</tr>', fleet, re.S)
    assert row is not None and 'data-count="up-to-date">2<' in row.group(1)


def test_edit_cancel_and_delete(signed_in: Portal) -> None:
    _create_environment(signed_in)
    edit = signed_in.client.get("/portal/environments/dev/edit")
    assert 'id="input-size"' in edit.text
    bad = signed_in.post("/portal/environments/dev/edit",
                         {"mode": "form", "input-size": "medium"})
    assert bad.status_code == 400 and "must be one of" in (_error(bad.text, "input-size") or "")
    good = signed_in.post("/portal/environments/dev/edit", {"mode": "form", "input-size": "large"})
    assert good.status_code == 303
    with signed_in.runtime.db.session() as session:
        assert session.scalars(select(Environment)).one().deployment_status == "IN_PROGRESS"
    busy = signed_in.client.get("/portal/environments/dev").text
    assert 'id="cancel-deployment"' in busy and 'id="delete"' not in busy
    assert signed_in.post("/portal/environments/dev/cancel").status_code == 303
    with signed_in.runtime.db.session() as session:
        assert session.scalars(select(Environment)).one().deployment_status == "CANCELLING"
    conflict = signed_in.post("/portal/environments/dev/delete")
    assert conflict.status_code == 409 and "in progress" in conflict.text
    finish(signed_in.runtime, result="CANCELLED")
    confirm = signed_in.client.get("/portal/environments/dev/delete")
    assert "Delete environment dev?" in confirm.text
    assert signed_in.post("/portal/environments/dev/delete").status_code == 303
    with signed_in.runtime.db.session() as session:
        assert session.scalars(select(Environment)).one().deployment_status == "DELETE_IN_PROGRESS"
    finish(signed_in.runtime)
    assert _count(signed_in, Environment) == 0
    assert _count(signed_in, Deployment) == 3  # the history stays, as in Proton
    gone = signed_in.client.get("/portal/environments/dev/live")
    assert gone.status_code == 200 and "no longer exists" in gone.text


def test_deployment_pages_show_events(signed_in: Portal) -> None:
    _create_environment(signed_in)
    with signed_in.runtime.db.session() as session:
        deployment_id = session.scalars(select(Deployment.id)).one()
    history = signed_in.client.get("/portal/deployments?environment=dev").text
    assert deployment_id[:8] in history
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}")
    assert page.status_code == 200 and "new → 1.0" in page.text
    live = signed_in.client.get(f"/portal/deployments/{deployment_id}/live")
    assert live.status_code == 200 and 'data-active="false"' in live.text


def test_unknown_things_get_a_friendly_not_found(signed_in: Portal) -> None:
    for path in ("/portal/environments/ghost", "/portal/services/ghost/instances/x",
                 "/portal/deployments/nope", "/portal/templates/other/x", "/portal/no/page"):
        response = signed_in.client.get(path)
        assert response.status_code == 404, path
        assert "Traceback" not in response.text


def test_a_crash_is_a_page_with_a_reference_not_a_traceback(
    signed_in: Portal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_session: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("baryon.operations.catalog.catalog", broken)
    response = signed_in.client.get("/portal/templates")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    reference = re.search(r"reference ([0-9a-f]{12})", response.text)
    assert reference is not None
    assert reference.group(1) in caplog.text and "secret internals" in caplog.text


def test_every_page_of_a_service_with_a_pipeline(signed_in: Portal) -> None:
    """Renders each page with real data in it, instances and pipeline included."""
    from tests.support.bundles import SVC_SCHEMA, service_bundle

    runtime = signed_in.runtime
    compatible = [{"templateName": "network", "majorVersion": "1"}]
    add_version(runtime, "SERVICE", "piped", service_bundle(), SVC_SCHEMA, compatible=compatible)
    _create_environment(signed_in)
    url = "/portal/new/service?template=piped&version=1.0"
    form = signed_in.client.get(url).text
    assert 'name="pipeline-input-dockerfile"' in form and 'id="repositoryId"' in form
    missing = signed_in.post(url, {"mode": "form", "instances": "1", "action": "create",
                                   "name": "shop", "instance-0-name": "a",
                                   "instance-0-environment": "dev"})
    assert _error(missing.text, "repositoryId") == "is required"
    created = signed_in.post(url, {
        "mode": "form", "instances": "1", "action": "create", "name": "shop",
        "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:"
                                   "connection/x",
        "repositoryId": "org/shop", "branchName": "main",
        "pipeline-input-dockerfile": "Dockerfile.prod",
        "instance-0-name": "a", "instance-0-environment": "dev", "instance-0-input-port": "81"})
    assert created.status_code == 303, created.text
    while finish(runtime, {"Port": "81"}):
        pass  # the pipeline starts once its instances are done
    files = service_bundle()
    files["pipeline_infrastructure/cloudformation.yaml"] += "  Extra:\n    Value: 'yes'\n"
    add_version(runtime, "SERVICE", "piped", files, SVC_SCHEMA, minor=1, compatible=compatible)
    pages = [
        "/portal/", "/portal/services", "/portal/services/shop",
        "/portal/services/shop/edit", "/portal/services/shop/delete",
        "/portal/services/shop/instances/a", "/portal/services/shop/instances/a/edit",
        "/portal/services/shop/instances/a/edit?mode=yaml",
        "/portal/services/shop/instances/a/upgrade/minor",
        "/portal/services/shop/pipeline", "/portal/services/shop/pipeline/edit",
        "/portal/services/shop/pipeline/upgrade/minor", "/portal/services/shop/live",
        "/portal/services/shop/pipeline/live", "/portal/environments/dev",
        "/portal/environments/dev/edit?mode=yaml", "/portal/environments/dev/delete",
        "/portal/fleet", "/portal/fleet/service/piped/upgrade/minor",
        "/portal/deployments?service=shop", "/portal/templates/service/piped",
        "/portal/live/overview", "/portal/live/environments", "/portal/live/services",
    ]
    for path in pages:
        response = signed_in.client.get(path)
        assert response.status_code == 200, (path, response.text[:800])
    preview = signed_in.client.get("/portal/services/shop/pipeline/upgrade/minor").text
    assert "+  Extra:" in preview
    no_change = signed_in.client.get("/portal/services/shop/instances/a/upgrade/minor").text
    assert "Nothing changes" in no_change

    # Editing one instance's inputs redeploys it with a spec that changes only its entry.
    edited = signed_in.post("/portal/services/shop/instances/a/edit",
                            {"mode": "form", "instance-0-input-port": "",
                             "input-port": "8081", "input-image": "httpd"})
    assert edited.status_code == 303, edited.text
    with runtime.db.session() as session:
        deployment = session.scalars(select(Deployment).where(
            Deployment.status == "IN_PROGRESS")).one()
        assert deployment.plan["inputs"] == {"port": 8081, "image": "httpd"}
    finish(runtime)
    pipeline_edit = signed_in.post("/portal/services/shop/pipeline/edit",
                                   {"mode": "form", "input-dockerfile": "Dockerfile.dev"})
    assert pipeline_edit.status_code == 303, pipeline_edit.text
    with runtime.db.session() as session:
        deployment = session.scalars(select(Deployment).where(
            Deployment.status == "IN_PROGRESS")).one()
        assert deployment.plan["inputs"] == {"dockerfile": "Dockerfile.dev"}


def test_a_major_upgrade_goes_to_the_newest_major(signed_in: Portal) -> None:
    _create_environment(signed_in)
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = ENV_CFN.replace("-artifacts", "-store")
    add_version(signed_in.runtime, "ENVIRONMENT", "network", files, ENV_SCHEMA, major=2)
    page = signed_in.client.get("/portal/environments/dev").text
    assert 'id="upgrade-major"' in page and "Upgrade to 2.0" in page
    assert 'id="upgrade-minor"' not in page
    preview = signed_in.client.get("/portal/environments/dev/upgrade/major").text
    assert "from 1.0 to 2.0" in preview
    assert re.findall(r'<span class="diff-del">([^<]*)</span>', preview) == [
        "-      BucketName: &#39;dev-artifacts&#39;"]
    assert signed_in.client.get("/portal/environments/dev/upgrade/minor").status_code == 409
    response = signed_in.post(
        "/portal/environments/dev/upgrade/major", {"major": "2", "minor": "0"}
    )
    assert response.status_code == 303
    finish(signed_in.runtime)
    with signed_in.runtime.db.session() as session:
        environment = session.scalars(select(Environment)).one()
        assert (environment.template_major, environment.template_minor) == (2, 0)


def test_version_numbers_in_addresses_and_forms_are_ascii_digits_only(signed_in: Portal) -> None:
    # str.isdigit() takes Arabic-Indic digits and int() reads them: "\\u0661.\\u0660" showed 1.0.
    assert signed_in.client.get("/portal/templates/environment/network/1.0").status_code == 200
    for number in ("\u0661.\u0660", "1.\u0660", "1.0%0A"):
        response = signed_in.client.get(f"/portal/templates/environment/network/{number}")
        assert response.status_code == 404, number
        page = signed_in.client.get(f"/portal/environments/new?template=network&version={number}")
        assert page.status_code == 404, number
