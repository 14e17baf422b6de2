"""The guarded render: a value must reach the stack as the value it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import IacSection, load_bundle_bytes
from baryon.render.cloudformation import parse_cloudformation
from baryon.render.context import EnvironmentRef, InstanceRef, ServiceRef, instance_namespace
from baryon.render.errors import RenderError
from baryon.render.iac import RenderedSection
from baryon.render.value_guard import render_guarded
from tests.support.bundles import SVC_CFN, service_bundle, tar_gz

# The test bundle's template quotes every value; the second one also pastes the image into a
# flow sequence and a plain scalar, where YAML reads more characters as syntax.
UNQUOTED = SVC_CFN + (
    "  Listed:\n    Value: !Join [',', [{{ service_instance.inputs.image }}]]\n"
    "  Plain:\n    Value: {{ service_instance.inputs.image }}\n"
)


def _section(template: str, workdir: Path) -> IacSection:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] = template
    bundle = load_bundle_bytes(
        tar_gz(files),
        "service",
        pipeline_provisioning_customer_managed=True,
        limits=BundleLimits(),
        workdir=workdir,
    )
    assert bundle.instance is not None
    return bundle.instance


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> IacSection:
    return _section(SVC_CFN, tmp_path_factory.mktemp("quoted"))


@pytest.fixture(scope="module")
def unquoted(tmp_path_factory: pytest.TempPathFactory) -> IacSection:
    return _section(UNQUOTED, tmp_path_factory.mktemp("unquoted"))


def _render_checked(section: IacSection, namespace: dict[str, Any]) -> RenderedSection:
    return render_guarded(
        section,
        namespace,
        kind="service_instance",
        resource_arn="arn:aws:proton:us-east-1:123456789012:service/svc/service-instance/web",
        proton_tags={},
    )


def _render(section: IacSection, image: str) -> dict[str, Any]:
    namespace = instance_namespace(
        ServiceRef("svc"),
        InstanceRef(
            "web",
            {"port": 80, "image": image},
            {},
            EnvironmentRef("dev", "123456789012", {}, {"BucketName": "b"}),
        ),
    )
    rendered = _render_checked(section, namespace)
    return parse_cloudformation(rendered.files["cloudformation.yaml"], "t")


@pytest.mark.parametrize(
    "value",
    [
        "nginx",
        "{{ 7*7 }}",
        "arn:aws:iam::123456789012:role/x",
        "v1 # not a comment",
        '{"a": [1, 2]}',
        "${AWS::StackName}",
        "",
    ],
)
def test_quoted_values_survive(quoted: IacSection, value: str) -> None:
    document = _render(quoted, value)
    assert document["Outputs"]["Image"]["Value"] == value
    assert document["Resources"]["Param"]["Properties"]["Value"] == f"svc-web-{value}"


@pytest.mark.parametrize(
    "value", ["nginx", "arn:aws:iam::123456789012:role/x", "cron(0 12 * * ? *)", "a/b#c"]
)
def test_plain_values_survive_unquoted(unquoted: IacSection, value: str) -> None:
    outputs = _render(unquoted, value)["Outputs"]
    assert outputs["Plain"]["Value"] == value
    assert outputs["Listed"]["Value"] == {"Fn::Join": [",", [value]]}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("it's", "line 7: the rendered template is not valid YAML"),
        ("nginx\nlatest", "changes the rendered template"),  # YAML folds it to "nginx latest"
        ("x' #", "changes the rendered template"),  # cuts the rest of the line
        ("x'\n  Injected:\n    Value: 'y", "changes the rendered template"),
    ],
)
def test_values_that_would_change_a_quoted_template_fail(
    quoted: IacSection, value: str, fragment: str
) -> None:
    with pytest.raises(RenderError) as caught:
        _render(quoted, value)
    message = str(caught.value)
    assert message.startswith("instance_infrastructure/cloudformation.yaml")
    assert fragment in message
    assert "service_instance.inputs.image" in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("a, b", "changes the rendered template"),  # two list items instead of one
        ("{{ 7*7 }}", "not valid YAML"),
        ("- x", "not valid YAML"),
        ("x #y", "not valid YAML"),
    ],
)
def test_values_that_would_change_an_unquoted_template_fail(
    unquoted: IacSection, value: str, fragment: str
) -> None:
    with pytest.raises(RenderError) as caught:
        _render(unquoted, value)
    assert fragment in str(caught.value)
    assert "service_instance.inputs.image" in str(caught.value)


def test_a_failure_no_value_explains_is_reported_as_it_is(quoted: IacSection) -> None:
    with pytest.raises(RenderError) as caught:
        _render_checked(quoted, {"service": {"name": "svc", "note": "it's"}})
    assert "service_instance" in str(caught.value)
    assert "comes from the value" not in str(caught.value)


def test_a_transformed_value_is_not_followed(tmp_path: Path) -> None:
    template = SVC_CFN.replace(
        "Value: '{{ service_instance.inputs.image }}'\n",
        "Value: '{{ service_instance.inputs.image | upper }}'\n",
    )
    assert "| upper" in template
    outputs = _render(_section(template, tmp_path), "a, b#c")["Outputs"]
    assert outputs["Image"]["Value"] == "A, B#C"
