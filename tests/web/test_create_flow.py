"""The create flow, step by step, on an in-process portal: nothing is created before the
review, the review shows the spec and what it deploys, and going back keeps what was typed."""

from __future__ import annotations

import html
import re

from baryon.store.tables import Environment, Job
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
    typed = {"mode": "form", "name": "dev", "description": "Rosa's team", "role": ROLE,
             "input-vpc_cidr": "10.9.0.0/16", "input-size": "large"}
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
    response = signed_in.post(ENV_URL, {"mode": "form", "name": "dev", "role": ROLE,
                                        "input-vpc_cidr": "ten", "action": "review"})
    assert response.status_code == 400
    assert "Review environment" not in response.text
    assert "must match the pattern given by the template: <code>" in response.text


def test_an_unknown_step_is_refused(signed_in: Portal) -> None:
    response = signed_in.post(ENV_URL, {"mode": "form", "name": "dev", "action": "launch"})
    assert response.status_code == 400
    assert _count(signed_in, Environment) == 0
