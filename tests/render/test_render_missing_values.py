"""Missing values (reference 3.3): a whole missing component is {}, a missing single
property fails and names its path and line, unless guarded with ``| default(...)``."""

from __future__ import annotations

import pytest

from baryon.render import (
    ComponentRef,
    EnvironmentRef,
    InstanceRef,
    RenderError,
    ServiceRef,
    instance_namespace,
    pipeline_namespace,
    render_text,
)

ENVIRONMENT = EnvironmentRef("prod-env", "111122223333", {}, {"VpcId": "vpc-1"})
SERVICE = ServiceRef("web")


def namespace(component: ComponentRef | None = None) -> dict[str, object]:
    instance = InstanceRef(
        "prod",
        {"port": 80, "items": "data wins", "flag": True},
        {},
        ENVIRONMENT,
        {"default": component} if component else {},
    )
    return instance_namespace(SERVICE, instance)


def render(text: str, component: ComponentRef | None = None) -> str:
    return render_text(text, namespace(component), file="instance_infrastructure/cfn.yaml")


def failure(text: str, component: ComponentRef | None = None) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render(text, component)
    return caught.value


def test_whole_missing_component_renders_as_empty_mapping() -> None:
    assert render("{{ service_instance.components.default }}") == "{}"
    assert render("{{ service_instance.components.default.outputs }}") == "{}"
    assert render("{{ service_instance.components.default.outputs | length }}") == "0"
    assert (
        render("{{ service_instance.components.default.outputs | proton_cfn_iam_policy_arns }}")
        == ""
    )
    assert (
        render("{% if service_instance.components.default.outputs %}yes{% else %}no{% endif %}")
        == "no"
    )


def test_attached_component_is_visible() -> None:
    component = ComponentRef("bucket", {"B": "2", "A": "1"})
    assert render("{{ service_instance.components.default.name }}", component) == "bucket"
    # Outputs are sorted by name: clouds report them in no stable order.
    assert render("{{ service_instance.components.default.outputs }}", component) == (
        "{'A': '1', 'B': '2'}"
    )


def test_missing_single_property_fails_with_its_path_and_line() -> None:
    error = failure("a: 1\nb: 2\nc: {{ service_instance.inputs.nope }}\n")
    assert str(error) == (
        "instance_infrastructure/cfn.yaml line 3: 'dict object' has no attribute 'nope' "
        "(service_instance.inputs.nope)"
    )
    assert (error.file, error.line) == ("instance_infrastructure/cfn.yaml", 3)


def test_missing_component_output_fails() -> None:
    error = failure("\n{{ service_instance.components.default.outputs.test }}")
    assert str(error) == (
        "instance_infrastructure/cfn.yaml line 2: 'dict object' has no attribute 'test' "
        "(service_instance.components.default.outputs.test)"
    )
    # The same with a component that lacks that output.
    error = failure(
        "{{ service_instance.components.default.outputs.test }}", ComponentRef("c", {"x": "1"})
    )
    assert error.reason.endswith("(service_instance.components.default.outputs.test)")


def test_missing_component_name_fails() -> None:
    error = failure("{{ service_instance.components.default.name }}")
    assert error.reason == (
        "'dict object' has no attribute 'name' (service_instance.components.default.name)"
    )


def test_default_guards_a_missing_property() -> None:
    assert render("{{ service_instance.inputs.nope | default('x') }}") == "x"
    assert (
        render(
            '{{ service_instance.components.default.outputs.test | default("[optional-value]") }}'
        )
        == "[optional-value]"
    )
    assert render("{{ environment.outputs['my-output'] | default('17') }}") == "17"


def test_is_defined_and_item_syntax() -> None:
    assert render("{{ service_instance.inputs.nope is defined }}") == "False"
    assert render("{{ service_instance.inputs.port is defined }}") == "True"
    error = failure("{{ environment.outputs['my-output'] }}")
    assert error.reason == (
        "'dict object' has no attribute 'my-output' (environment.outputs['my-output'])"
    )


def test_missing_value_used_in_a_condition_fails() -> None:
    error = failure("{% if service_instance.inputs.nope == 'x' %}{% endif %}")
    assert error.reason.endswith("(service_instance.inputs.nope)")


def test_missing_top_level_name() -> None:
    assert failure("{{ pipeline.inputs.x }}").reason == "'pipeline' is undefined"


def test_missing_list_element_names_its_index() -> None:
    pipeline = pipeline_namespace(SERVICE, {}, [])
    with pytest.raises(RenderError) as caught:
        render_text("{{ service_instances[0].outputs.X }}", pipeline, file="p")
    assert caught.value.reason == "'list object' has no element 0 (service_instances[0])"


def test_loop_items_carry_their_path() -> None:
    instance = InstanceRef("a", {}, {}, ENVIRONMENT)
    pipeline = pipeline_namespace(SERVICE, {}, [instance])
    with pytest.raises(RenderError) as caught:
        render_text(
            "{% for si in service_instances %}\n{{ si.outputs.Url }}{% endfor %}",
            pipeline,
            file="p",
        )
    assert str(caught.value) == (
        "p line 2: 'dict object' has no attribute 'Url' (service_instances[0].outputs.Url)"
    )


def test_data_keys_win_over_dict_methods() -> None:
    assert render("{{ service_instance.inputs.items }}") == "data wins"
    assert render("{{ service_instance.inputs.get('port') }}") == "80"
    assert render("{% for k, v in environment.outputs.items() %}{{ k }}={{ v }}{% endfor %}") == (
        "VpcId=vpc-1"
    )


def test_container_internals_are_not_reachable() -> None:
    error = failure("{{ service_instance.inputs._path }}")
    assert error.reason == "access to attribute '_path' of 'dict' object is unsafe."
    assert failure("{{ service_instance.inputs.absent }}").reason.endswith(
        "(service_instance.inputs.absent)"
    )


def test_values_render_as_jinja_does() -> None:
    # Booleans and numbers keep Python's spelling (YAML reads True as a boolean too).
    assert render("{{ service_instance.inputs.flag }} {{ service_instance.inputs.port }}") == (
        "True 80"
    )
    assert render("{{ service.branch_name }}|{{ service.repository_id }}") == "|"
