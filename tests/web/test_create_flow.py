"""The create flow, step by step, on an in-process portal: nothing is created before the
review, the review shows the spec and what it deploys, and going back keeps what was typed."""

from __future__ import annotations

import html
import re

from baryon.store.tables import Environment, Job, Service
from tests.web.conftest import ROLE, Portal, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"
SVC_URL = "/portal/new/service?template=webapp&version=1.0"


def _count(portal: Portal, model: type) -> int:
    with portal.runtime.db.session() as session:
        return session.query(model).count()


def _value(page: str, name: str) -> str | None:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    return html.unescape(match.group(1)) if match else None


def _environment(portal: Portal, name: str = "dev") -> None:
    fields = {"mode": "form", "name": name, "role": ROLE, "input-size": "small"}
    response = portal.post(ENV_URL, {**fields, "action": "create"})
    assert response.status_code == 303, response.text
    assert finish(portal.runtime, {"BucketName": f"{name}-artifacts"}) >= 1


def test_an_environment_is_reviewed_before_it_is_created(signed_in: Portal) -> None:
    form = signed_in.client.get(ENV_URL)
    assert 'aria-current="step"' in form.text and "Name and inputs" in form.text
    typed = {
        "mode": "form",
        "name": "dev",
        "description": "Rosa's team",
        "role": ROLE,
        "input-vpc_cidr": "10.9.0.0/16",
        "input-size": "large",
    }
    review = signed_in.post(ENV_URL, {**typed, "action": "review"})
    assert review.status_code == 200, review.text
    assert "Review environment dev" in review.text
    spec = re.search(r'<pre class="code" id="review-spec"[^>]*>(.*?)</pre>', review.text, re.S)
    assert spec is not None and "size: large" in html.unescape(spec.group(1))
    assert "dev-artifacts" in review.text  # the rendered CloudFormation template
    assert _count(signed_in, Environment) == 0 and _count(signed_in, Job) == 0

    back = signed_in.post(ENV_URL, {**typed, "action": "edit"})
    assert back.status_code == 200
    assert _value(back.text, "description") == "Rosa's team"  # as typed, not escaped twice
    assert _value(back.text, "input-vpc_cidr") == "10.9.0.0/16"
    assert 'value="large" selected' in back.text
    assert "error-summary" not in back.text

    created = signed_in.post(ENV_URL, {**typed, "action": "create"})
    assert created.status_code == 303
    assert created.headers["location"] == "/portal/environments/dev"
    assert _count(signed_in, Environment) == 1


def test_wrong_input_stays_on_the_form_instead_of_the_review(signed_in: Portal) -> None:
    response = signed_in.post(
        ENV_URL,
        {"mode": "form", "name": "dev", "role": ROLE, "input-vpc_cidr": "ten", "action": "review"},
    )
    assert response.status_code == 400
    assert "Review environment" not in response.text
    assert "must match the pattern given by the template: <code>" in response.text


def test_an_unknown_step_is_refused(signed_in: Portal) -> None:
    response = signed_in.post(ENV_URL, {"mode": "form", "name": "dev", "action": "launch"})
    assert response.status_code == 400
    assert _count(signed_in, Environment) == 0


def _service_form(step: str, action: str, **extra: str) -> dict[str, str]:
    return {"mode": "form", "step": step, "action": action, "instances": "1", **extra}


def test_a_service_is_created_in_steps_and_keeps_what_was_typed(signed_in: Portal) -> None:
    _environment(signed_in, "dev")
    first = signed_in.client.get(SVC_URL)
    assert "Name and environments" in first.text and 'aria-current="step"' in first.text
    assert 'name="instance-0-input-port"' in first.text  # carried, hidden, for later
    details = {
        "name": "shop",
        "description": "Sam's shop",
        "instance-0-name": "alpha",
        "instance-0-environment": "dev",
    }
    inputs = signed_in.post(SVC_URL, _service_form("details", "next", **details))
    assert inputs.status_code == 200, inputs.text
    assert "Inputs of instance alpha" in inputs.text
    typed = {**details, "instance-0-input-port": "8080", "instance-0-input-image": "café's"}
    review = signed_in.post(SVC_URL, _service_form("inputs", "next", **typed))
    assert review.status_code == 200, review.text
    assert "Review service shop" in review.text
    assert "port: 8080" in html.unescape(review.text)
    # This fixture's bundle (stored without registration) has no pipeline, which its
    # template would need: the review says so instead of failing (the browser test,
    # test_create_flow_browser.py, shows a real render).
    assert "The template&#39;s bundle does not load" in review.text
    assert _count(signed_in, Service) == 0

    back = signed_in.post(SVC_URL, _service_form("review", "back", **typed))
    assert _value(back.text, "instance-0-input-image") == "café's"
    back = signed_in.post(SVC_URL, _service_form("inputs", "back", **typed))
    assert _value(back.text, "description") == "Sam's shop"
    assert _value(back.text, "instance-0-input-port") == "8080"  # hidden, kept

    created = signed_in.post(SVC_URL, _service_form("review", "create", **typed))
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/portal/services/shop"
    assert _count(signed_in, Service) == 1


def test_wrong_inputs_keep_the_service_on_the_inputs_step(signed_in: Portal) -> None:
    _environment(signed_in, "dev")
    typed = {
        "name": "shop",
        "instance-0-name": "alpha",
        "instance-0-environment": "dev",
        "instance-0-input-port": "70000",
    }
    response = signed_in.post(SVC_URL, _service_form("inputs", "next", **typed))
    assert response.status_code == 400
    assert "Inputs of instance alpha" in response.text and "must be &lt;= 65535" in response.text


def test_only_environments_that_can_take_instances_are_offered(signed_in: Portal) -> None:
    _environment(signed_in, "dev")
    response = signed_in.post(
        ENV_URL, {"mode": "form", "name": "broken", "role": ROLE, "action": "create"}
    )
    assert response.status_code == 303
    assert finish(signed_in.runtime, result="FAILED") == 1
    page = signed_in.client.get(SVC_URL).text
    assert '<option value="dev"' in page and '<option value="broken"' not in page
    assert "Not offered (failed or being deleted): broken" in page
    typed = {"name": "shop", "instance-0-name": "alpha", "instance-0-environment": "broken"}
    refused = signed_in.post(SVC_URL, _service_form("details", "next", **typed))
    assert refused.status_code == 400
    assert "broken cannot take instances now" in refused.text
