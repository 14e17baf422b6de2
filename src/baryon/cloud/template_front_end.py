"""Every template the local cloud is given passes here before moto sees it.

CreateStack, UpdateStack, CreateChangeSet and ValidateTemplate read the template (SAM
expanded), refuse it synchronously with CloudFormation's text when AWS would
(`template_checks`), and otherwise hand it to moto, whose template reading, intrinsic
resolution and name generation `template_normalizer` has fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baryon.cloud import template_normalizer
from baryon.cloud.patching import installs_once
from baryon.cloud.sam import SamError, declares_sam
from baryon.cloud.template_checks import TemplateError, check_template, read_template

_IAM_PREFIX = "AWS::IAM::"
_NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


@installs_once
def install() -> None:
    """Checks each request's template, then lets moto's handler run with the normalizer on."""
    from moto.cloudformation.responses import CloudFormationResponse as Response

    template_normalizer.install()
    for action in ("create_stack", "update_stack", "create_change_set"):
        setattr(Response, action, _checked(getattr(Response, action)))
    setattr(Response, "validate_template", _validate_template)  # noqa: B010


def _checked(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(response: Any) -> Any:
        _check_request(response)
        return handler(response)

    checked.__name__ = handler.__name__
    return checked


def _check_request(response: Any) -> dict[str, Any] | None:
    """The request's template, expanded; raises moto's ValidationError with AWS's text."""
    from moto.cloudformation.exceptions import ValidationError

    body = response._get_param("TemplateBody")
    url = response._get_param("TemplateURL")
    if not body and url:
        body = response._get_stack_from_s3_url(url)
    if not body:
        return None  # UsePreviousTemplate: it was checked when it was given
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue") for p in response._get_param("Parameters", [])
    }
    try:
        template = read_template(body)
        if declares_sam(template):
            template = template_normalizer.normalize(template, response.region, parameters)
        if not (isinstance(template, dict) and "Transform" in template):
            # A macro other than SAM adds what the template does not show: nothing to judge.
            check_template(template, response.region)
    except (TemplateError, SamError) as exc:
        raise ValidationError(message=str(exc)) from exc
    result: dict[str, Any] = template
    return result


def _validate_template(response: Any) -> Any:
    """ValidateTemplate as AWS answers it: the same checks as CreateStack, then a summary."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    template = _check_request(response)
    if template is None:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    body = response._get_param("TemplateBody") or ""
    original = read_template(body) if body else template
    declared = original.get("Transform")
    result: dict[str, Any] = {
        "Parameters": [_parameter(name, spec) for name, spec in _parameters(original)],
        "Capabilities": _capabilities(template),
        "DeclaredTransforms": declared
        if isinstance(declared, list)
        else [declared]
        if declared
        else [],
    }
    if isinstance(original.get("Description"), str):
        result["Description"] = original["Description"]
    if result["Capabilities"]:
        result["CapabilitiesReason"] = (
            "The following resource(s) require capabilities: "
            f"[{', '.join(sorted(_iam_types(template)))}]"
        )
    return ActionResult(result)


def _as_list(declared: Any) -> list[Any]:
    if isinstance(declared, list):
        return declared
    return [declared] if declared else []


def _parameters(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    declared = template.get("Parameters")
    if not isinstance(declared, dict):
        return []
    return [(name, spec if isinstance(spec, dict) else {}) for name, spec in declared.items()]


def _parameter(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ParameterKey": name,
        "NoEcho": str(spec.get("NoEcho", False)).lower() == "true",
    }
    if "Default" in spec:
        entry["DefaultValue"] = str(spec["Default"])
    if "Description" in spec:
        entry["Description"] = str(spec["Description"])
    return entry


def _iam_types(template: dict[str, Any]) -> set[str]:
    return {
        entry["Type"]
        for entry in template["Resources"].values()
        if str(entry.get("Type", "")).startswith(_IAM_PREFIX)
    }


def _capabilities(template: dict[str, Any]) -> list[str]:
    if not _iam_types(template):
        return []
    for entry in template["Resources"].values():
        name_property = _NAMED_IAM.get(entry.get("Type"))
        if name_property and name_property in (entry.get("Properties") or {}):
            return ["CAPABILITY_NAMED_IAM"]
    return ["CAPABILITY_IAM"]
