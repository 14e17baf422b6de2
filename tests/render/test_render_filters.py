"""Proton's four filters, and column-aware indentation of their multi-line output."""

from __future__ import annotations

import pytest
import yaml

from baryon.render import RenderError, render_text
from baryon.render.errors import FilterError
from baryon.render.filters import (
    proton_cfn_ecs_task_definition_formatted_env_vars,
    proton_cfn_iam_policy_arns,
    proton_cfn_lambda_function_formatted_env_vars,
    proton_cfn_sanitize,
)

OUTPUTS = {
    "BucketName": "my-bucket",
    "PolicyArn": "arn:aws:iam::123456789012:policy/read-bucket",
    "OtherPolicy": "arn:aws-us-gov:iam::123456789012:policy/path/write",
}


def render(text: str, outputs: dict[str, str] | None = None) -> str:
    namespace = {"outputs": OUTPUTS if outputs is None else outputs}
    return render_text(text, namespace, file="t.yaml")


# -- each filter on its own -----------------------------------------------------------


def test_ecs_filter_lists_name_value_pairs() -> None:
    assert proton_cfn_ecs_task_definition_formatted_env_vars({"Output1": "hello"}) == (
        "- Name: Output1\n  Value: hello"
    )
    assert render("{{ outputs | proton_cfn_ecs_task_definition_formatted_env_vars }}") == (
        "- Name: BucketName\n"
        "  Value: my-bucket\n"
        "- Name: PolicyArn\n"
        "  Value: arn:aws:iam::123456789012:policy/read-bucket\n"
        "- Name: OtherPolicy\n"
        "  Value: arn:aws-us-gov:iam::123456789012:policy/path/write"
    )


def test_lambda_filter_writes_a_mapping() -> None:
    assert proton_cfn_lambda_function_formatted_env_vars(
        {"Output1": "hello", "Output2": "world"}
    ) == ("Output1: hello\nOutput2: world")


def test_iam_filter_keeps_only_policy_arns() -> None:
    outputs = {
        **OUTPUTS,
        "Role": "arn:aws:iam::123456789012:role/not-a-policy",
        "Short": "arn:aws:iam::1234:policy/bad-account",
        "Prefix": "see arn:aws:iam::123456789012:policy/x",
    }
    assert proton_cfn_iam_policy_arns(outputs) == (
        "- arn:aws:iam::123456789012:policy/read-bucket\n"
        "- arn:aws-us-gov:iam::123456789012:policy/path/write"
    )


def test_filters_on_no_outputs_render_nothing() -> None:
    for name in (
        "proton_cfn_ecs_task_definition_formatted_env_vars",
        "proton_cfn_lambda_function_formatted_env_vars",
        "proton_cfn_iam_policy_arns",
    ):
        assert render(f"[{{{{ outputs | {name} }}}}]", {}) == "[]"


def test_values_that_yaml_would_misread_are_quoted() -> None:
    text = proton_cfn_lambda_function_formatted_env_vars(
        {
            "PORT": "8080",
            "FLAG": "true",
            "EMPTY": "",
            "DATE": "2012-10-17",
            "COMMENT": "a #b",
            "MAPPING": "a: b",
            "QUOTE": "it's",
            "LINES": "one\ntwo",
            "ALIAS": "*anchor",
            "PLAIN": "arn:aws:s3:::bucket/key",
        }
    )
    assert yaml.safe_load(text) == {
        "PORT": "8080",
        "FLAG": "true",
        "EMPTY": "",
        "DATE": "2012-10-17",
        "COMMENT": "a #b",
        "MAPPING": "a: b",
        "QUOTE": "it's",
        "LINES": "one\ntwo",
        "ALIAS": "*anchor",
        "PLAIN": "arn:aws:s3:::bucket/key",
    }
    assert "PLAIN: arn:aws:s3:::bucket/key" in text.splitlines()
    assert "PORT: '8080'" in text.splitlines()


def test_raw_false_validates_values() -> None:
    assert proton_cfn_ecs_task_definition_formatted_env_vars({"A": "ok_value-1"}, raw=False)
    with pytest.raises(FilterError) as caught:
        proton_cfn_lambda_function_formatted_env_vars({"A": "not ok"}, raw=False)
    assert str(caught.value) == (
        'Illegal character(s) detected in "not ok". Must match regex ^[a-zA-Z0-9_-]*$'
    )
    with pytest.raises(RenderError) as caught_render:
        render("x\n{{ outputs | proton_cfn_ecs_task_definition_formatted_env_vars(raw=False) }}")
    assert str(caught_render.value) == (
        "t.yaml line 2: Illegal character(s) detected in "
        '"arn:aws:iam::123456789012:policy/read-bucket". Must match regex ^[a-zA-Z0-9_-]*$'
    )


def test_raw_false_refuses_a_trailing_newline() -> None:
    with pytest.raises(FilterError):
        proton_cfn_lambda_function_formatted_env_vars({"A": "abc\n"}, raw=False)


@pytest.mark.parametrize(
    "value",
    [
        "This-is_valid_37",
        "",
        "arn:aws:some-service::123456789012:some-resource/resource-name",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws-cn:sqs:cn-north-1:123456789012:queue.fifo",
    ],
)
def test_sanitize_passes_safe_values_and_arns(value: str) -> None:
    assert proton_cfn_sanitize(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "this::is::incorrect",
        "has space",
        "quote'",
        "arn:aws:s3:::bucket name",
        "arn:aws:s3:::bucket\n",
        "arn:aws:iam::12345:policy/short-account",
        "value\nnext: line",
    ],
)
def test_sanitize_refuses_everything_else(value: str) -> None:
    with pytest.raises(FilterError) as caught:
        proton_cfn_sanitize(value)
    assert str(caught.value) == (
        f'Illegal character(s) detected in "{value}". '
        "Must match regex ^[a-zA-Z0-9_-]*$ or be a valid ARN"
    )


def test_sanitize_error_in_a_template_names_the_line() -> None:
    with pytest.raises(RenderError) as caught:
        render_text(
            "a: 1\nb: {{ bad | proton_cfn_sanitize }}\n", {"bad": "this::is::incorrect"}, file="f"
        )
    assert str(caught.value) == (
        'f line 2: Illegal character(s) detected in "this::is::incorrect". '
        "Must match regex ^[a-zA-Z0-9_-]*$ or be a valid ARN"
    )


def test_filters_refuse_what_is_not_a_mapping() -> None:
    with pytest.raises(RenderError) as caught:
        render("{{ ['a'] | proton_cfn_iam_policy_arns }}")
    assert caught.value.reason == (
        "proton_cfn_iam_policy_arns expects a mapping such as "
        "service_instance.components.default.outputs, got list"
    )


def test_filters_on_a_missing_value_name_it() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("{{ o.nope | proton_cfn_iam_policy_arns }}", {"o": {}}, file="f")
    assert caught.value.reason == "'dict object' has no attribute 'nope' (o.nope)"


# -- indentation ------------------------------------------------------------------------


def test_block_at_column_zero() -> None:
    assert render("{{ outputs | proton_cfn_iam_policy_arns }}\nnext: 1\n") == (
        "- arn:aws:iam::123456789012:policy/read-bucket\n"
        "- arn:aws-us-gov:iam::123456789012:policy/path/write\n"
        "next: 1\n"
    )


def test_block_at_column_ten() -> None:
    text = "Arns:\n          {{ outputs | proton_cfn_iam_policy_arns }}\n"
    assert render(text) == (
        "Arns:\n"
        "          - arn:aws:iam::123456789012:policy/read-bucket\n"
        "          - arn:aws-us-gov:iam::123456789012:policy/path/write\n"
    )


def test_expression_split_over_lines_uses_the_column_of_its_braces() -> None:
    text = (
        "Role:\n"
        "  ManagedPolicyArns:\n"
        "    - !Ref Base\n"
        "    {{ outputs\n"
        "        | proton_cfn_iam_policy_arns }}\n"
        "  Path: /\n"
    )
    assert yaml.safe_load(render(text).replace("!Ref", "")) == {
        "Role": {
            "ManagedPolicyArns": [
                "Base",
                "arn:aws:iam::123456789012:policy/read-bucket",
                "arn:aws-us-gov:iam::123456789012:policy/path/write",
            ],
            "Path": "/",
        }
    }


def test_two_expressions_on_one_line() -> None:
    # The second block starts where the first one's last line ends, and follows that column.
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    text = "  x{{ o | proton_cfn_iam_policy_arns }} {{ o | proton_cfn_iam_policy_arns }}\n"
    second_line = f"   - {one['B']} "
    assert render_text(text, {"o": one}, file="f") == (
        f"  x- {one['A']}\n{second_line}- {one['A']}\n{' ' * len(second_line)}- {one['B']}\n"
    )


def test_plain_expression_before_a_block_on_the_same_line() -> None:
    text = "{{ prefix }}{{ outputs | proton_cfn_lambda_function_formatted_env_vars }}\n"
    rendered = render_text(
        text, {"prefix": "      ", "outputs": {"A": "one", "B": "two"}}, file="f"
    )
    assert rendered == "      A: one\n      B: two\n"


def test_block_inside_nested_lists() -> None:
    text = (
        "Roles:\n"
        "{% for name in ['a', 'b'] %}\n"
        "  - Name: {{ name }}\n"
        "    Policies:\n"
        "      - Arns:\n"
        "          {{ o | proton_cfn_iam_policy_arns }}\n"
        "        Env:\n"
        "          {{ o | proton_cfn_ecs_task_definition_formatted_env_vars }}\n"
        "{% endfor %}\n"
    )
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    policies = [
        {
            "Arns": [one["A"], one["B"]],
            "Env": [{"Name": "A", "Value": one["A"]}, {"Name": "B", "Value": one["B"]}],
        }
    ]
    assert yaml.safe_load(render_text(text, {"o": one}, file="f")) == {
        "Roles": [{"Name": "a", "Policies": policies}, {"Name": "b", "Policies": policies}]
    }


def test_block_captured_by_set_lands_where_it_is_written() -> None:
    text = "{% set arns %}{{ o | proton_cfn_iam_policy_arns }}{% endset %}A:\n    {{ arns }}\n"
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    assert render_text(text, {"o": one}, file="f") == (f"A:\n    - {one['A']}\n    - {one['B']}\n")


def test_block_passed_to_a_filter_as_data_loses_its_markers() -> None:
    text = (
        "{% set arns %}{{ o | proton_cfn_iam_policy_arns }}{% endset %}"
        "{{ {'ARNS': arns} | proton_cfn_lambda_function_formatted_env_vars }}\n"
    )
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    rendered = render_text(text, {"o": one}, file="f")
    assert yaml.safe_load(rendered) == {"ARNS": f"- {one['A']}\n- {one['B']}"}


def test_list_items_from_a_loop_and_a_block() -> None:
    text = (
        "Items:\n"
        "{% for name in ['a', 'b'] %}\n"
        "  - {{ name }}\n"
        "{% endfor %}\n"
        "  {{ o | proton_cfn_iam_policy_arns }}\n"
    )
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    assert yaml.safe_load(render_text(text, {"o": one}, file="f")) == {
        "Items": ["a", "b", one["A"], one["B"]]
    }


def test_block_in_a_macro_follows_the_column_where_it_is_written() -> None:
    text = (
        "{% macro arns() %}{{ o | proton_cfn_iam_policy_arns }}{% endmacro %}"
        "A:\n"
        "  {{ arns() }}\n"
        "B:\n"
        "      {{ arns() }}\n"
    )
    one = {"A": "arn:aws:iam::123456789012:policy/a", "B": "arn:aws:iam::123456789012:policy/b"}
    assert yaml.safe_load(render_text(text, {"o": one}, file="f")) == {
        "A": [one["A"], one["B"]],
        "B": [one["A"], one["B"]],
    }


def test_filter_output_used_as_a_string_is_plain_text() -> None:
    # Passed through another filter the block is ordinary text with its own newlines.
    assert render("{{ outputs | proton_cfn_iam_policy_arns | length }}") == str(
        len(proton_cfn_iam_policy_arns(OUTPUTS))
    )


def test_marker_characters_in_inputs_are_refused() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("{{ x }}", {"x": "a\x02b"}, file="f")
    assert str(caught.value) == (
        "f: namespace value x: control characters U+0002/U+0003 are not allowed"
    )


def test_stray_marker_in_output_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("{{ '\\x03' }}", {}, file="f")
    assert "control characters U+0002/U+0003" in str(caught.value)
