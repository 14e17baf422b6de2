"""Proton's four CloudFormation filters (reference section 3.3, [UG parameter-filters]).

The three formatting filters return an IndentedBlock: YAML lines that the renderer indents
to the column of the filter's ``{{`` (see indentation.py). Validation failures raise
FilterError with Proton's documented wording, so authors can search for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2.runtime import Undefined

from baryon.render.errors import FilterError
from baryon.render.indentation import BLOCK_END, BLOCK_START, IndentedBlock
from baryon.render.yaml_text import yaml_scalar

_SAFE_VALUE = re.compile(r"[a-zA-Z0-9_-]*")  # used with fullmatch: "$" would allow "\n"
_SAFE_PATTERN = "^[a-zA-Z0-9_-]*$"
_POLICY_ARN = re.compile(r"^arn:[a-zA-Z-]+:iam::\d{12}:policy/")
# arn:partition:service:region:account:resource. The resource keeps to characters that need
# no quoting in YAML: the filter vouches that the value is safe to paste anywhere.
_ARN = re.compile(
    r"arn:[a-z][a-z0-9-]*:[a-z0-9][a-z0-9-]*:[a-z0-9-]*:(\d{12}|aws)?:[A-Za-z0-9_+=,.@/:*-]+"
)


def proton_cfn_ecs_task_definition_formatted_env_vars(
    outputs: Any, raw: bool = True
) -> IndentedBlock:
    """dict -> ``- Name: k`` / ``  Value: v`` items for ContainerDefinitions[].Environment."""
    lines = []
    for name, value in _pairs(outputs, "proton_cfn_ecs_task_definition_formatted_env_vars"):
        _check_raw(value, raw)
        lines += [f"- Name: {yaml_scalar(name)}", f"  Value: {yaml_scalar(value)}"]
    return IndentedBlock("\n".join(lines))


def proton_cfn_lambda_function_formatted_env_vars(outputs: Any, raw: bool = True) -> IndentedBlock:
    """dict -> ``k: v`` lines for an AWS::Lambda::Function's Environment.Variables."""
    lines = []
    for name, value in _pairs(outputs, "proton_cfn_lambda_function_formatted_env_vars"):
        _check_raw(value, raw)
        lines.append(f"{yaml_scalar(name)}: {yaml_scalar(value)}")
    return IndentedBlock("\n".join(lines))


def proton_cfn_iam_policy_arns(outputs: Any) -> IndentedBlock:
    """dict -> ``- arn`` lines, keeping only values that are IAM policy ARNs."""
    return IndentedBlock(
        "\n".join(
            f"- {yaml_scalar(value)}"
            for _name, value in _pairs(outputs, "proton_cfn_iam_policy_arns")
            if _POLICY_ARN.match(value)
        )
    )


def proton_cfn_sanitize(value: Any) -> str:
    text = _text(value)
    if _SAFE_VALUE.fullmatch(text) or _ARN.fullmatch(text):
        return text
    raise FilterError(_illegal(text, " or be a valid ARN"))


PROTON_FILTERS: dict[str, Callable[..., Any]] = {
    "proton_cfn_ecs_task_definition_formatted_env_vars": (
        proton_cfn_ecs_task_definition_formatted_env_vars
    ),
    "proton_cfn_lambda_function_formatted_env_vars": (
        proton_cfn_lambda_function_formatted_env_vars
    ),
    "proton_cfn_iam_policy_arns": proton_cfn_iam_policy_arns,
    "proton_cfn_sanitize": proton_cfn_sanitize,
}


def _pairs(outputs: Any, name: str) -> list[tuple[str, str]]:
    if isinstance(outputs, Undefined):
        str(outputs)  # a strict undefined raises its own, precise, error here
    if not isinstance(outputs, Mapping):
        raise FilterError(
            f"{name} expects a mapping such as service_instance.components.default.outputs, "
            f"got {type(outputs).__name__}"
        )
    return [(str(key), _text(value)) for key, value in outputs.items()]


def _text(value: Any) -> str:
    if isinstance(value, Undefined):
        str(value)
    # Text captured from another filter's block is data here: drop its layout markers.
    return str(value).replace(BLOCK_START, "").replace(BLOCK_END, "")


def _check_raw(value: str, raw: bool) -> None:
    if not raw and not _SAFE_VALUE.fullmatch(value):
        raise FilterError(_illegal(value, ""))


def _illegal(value: str, alternative: str) -> str:
    return (
        f'Illegal character(s) detected in "{value}". Must match regex {_SAFE_PATTERN}{alternative}'
    )
