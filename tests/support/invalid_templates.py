"""Invalid CloudFormation templates, each with the exact text AWS refuses it with.

The local cloud's own tests (tests/cloud/test_template_checks.py) and the live test of
deployments through Baryon (tests/live/test_invalid_templates.py) both use this corpus.
"""

from __future__ import annotations

from typing import Any

QUEUE = {"Type": "AWS::SQS::Queue"}


def queue_with(**properties: Any) -> dict[str, Any]:
    return {**QUEUE, "Properties": properties}


# Each: a template (text or data) and the exact text AWS answers it with.
INVALID: dict[str, tuple[str | dict[str, Any], str]] = {
    "yaml_not_well_formed": (
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Properties: [\n",
        "Template format error: YAML not well-formed. (line 4, column 4)",
    ),
    "json_not_well_formed": (
        '{"Resources": {"Queue": }}',
        "Template format error: JSON not well-formed. (line 1, column 25)",
    ),
    "no_resources": (
        {"Outputs": {}},
        "Template format error: At least one Resources member must be defined.",
    ),
    "resource_without_type": (
        {"Resources": {"Queue": {"Properties": {}}}},
        "Template format error: Every Resources object must contain a Type member.",
    ),
    "unknown_type": (
        {"Resources": {"Queue": QUEUE, "Thing": {"Type": "AWS::Foo::Bar"}}},
        "Template format error: Unrecognized resource types: [AWS::Foo::Bar]",
    ),
    "ref_to_nothing": (
        {"Resources": {"Queue": queue_with(QueueName={"Ref": "Missing"})}},
        "Template format error: Unresolved resource dependencies [Missing] in the Resources "
        "block of the template",
    ),
    "depends_on_nothing": (
        {"Resources": {"Queue": {**QUEUE, "DependsOn": "Ghost"}}},
        "Template format error: Unresolved resource dependencies [Ghost] in the Resources "
        "block of the template",
    ),
    "output_ref_to_nothing": (
        {"Resources": {"Queue": QUEUE}, "Outputs": {"Url": {"Value": {"Ref": "Queu"}}}},
        "Template format error: Unresolved resource dependencies [Queu] in the Outputs block "
        "of the template",
    ),
    "getatt_of_nothing": (
        {
            "Resources": {"Queue": QUEUE},
            "Outputs": {"A": {"Value": {"Fn::GetAtt": ["Nope", "Arn"]}}},
        },
        "Template error: instance of Fn::GetAtt references undefined resource Nope",
    ),
    "sub_getatt_of_nothing": (
        {"Resources": {"Queue": queue_with(QueueName={"Fn::Sub": "${Nope.Arn}-q"})}},
        "Template error: instance of Fn::GetAtt references undefined resource Nope",
    ),
    "unknown_attribute": (
        {
            "Resources": {"Queue": QUEUE},
            "Outputs": {"A": {"Value": {"Fn::GetAtt": "Queue.Colour"}}},
        },
        "Template error: resource Queue does not support attribute type Colour in Fn::GetAtt",
    ),
    "circular_dependency": (
        {
            "Resources": {
                "A": queue_with(QueueName={"Fn::GetAtt": ["B", "QueueName"]}),
                "B": {**QUEUE, "DependsOn": ["A"]},
                "C": queue_with(QueueName={"Ref": "A"}),
            }
        },
        "Circular dependency between resources: [A, B]",
    ),
    "join_with_one_argument": (
        {"Resources": {"Queue": queue_with(QueueName={"Fn::Join": ["-"]})}},
        "Template error: every Fn::Join object requires two parameters, (1) a string delimiter "
        "and (2) a list of strings to be joined or a function that returns a list of strings "
        "(such as Fn::GetAZs) to be joined.",
    ),
    "select_with_three_arguments": (
        {"Resources": {"Queue": queue_with(QueueName={"Fn::Select": [0, ["a"], "b"]})}},
        "Template error: Fn::Select requires a list argument with two elements: an integer "
        "index and a list",
    ),
    "getatt_without_attribute": (
        {"Resources": {"Queue": QUEUE}, "Outputs": {"A": {"Value": {"Fn::GetAtt": ["Queue"]}}}},
        "Template error: every Fn::GetAtt object requires two non-empty parameters, the "
        "resource name and the resource attribute",
    ),
    "if_on_undefined_condition": (
        {"Resources": {"Queue": queue_with(QueueName={"Fn::If": ["Nope", "a", "b"]})}},
        "Template error: unresolved condition dependency Nope in Fn::If",
    ),
}
