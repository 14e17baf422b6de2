"""Stack names from Proton names, request tokens, and reading a template's outputs."""

from __future__ import annotations

import re

import pytest

from baryon.provisioners import (
    ResourceIdentity,
    ResourceKind,
    resource_stack_name,
    stack_name_for,
)
from baryon.provisioners.cloudformation_template import declared_outputs
from baryon.provisioners.names import request_token

VALID_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
VALID_TOKEN = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]{0,127}")


def test_stack_names_are_valid_deterministic_and_readable() -> None:
    name = stack_name_for("dev_env", "my_service", "instance-1")
    assert VALID_STACK_NAME.fullmatch(name)
    assert name.startswith("baryon-dev-env-my-service-instance-1-")
    assert name == stack_name_for("dev_env", "my_service", "instance-1")
    assert stack_name_for("x", prefix="Proton").startswith("Proton-x-")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("a_b",), ("a-b",)),
        (("a", "b"), ("a-b",)),
        (("a", "b"), ("a_b",)),
        (("x" * 200 + "1",), ("x" * 200 + "2",)),  # differ only past the cut
        (("__",), ("_",)),  # nothing readable left
    ],
)
def test_distinct_names_never_collide(left: tuple[str, ...], right: tuple[str, ...]) -> None:
    a, b = stack_name_for(*left), stack_name_for(*right)
    assert a != b
    assert VALID_STACK_NAME.fullmatch(a) and VALID_STACK_NAME.fullmatch(b)


def test_long_and_odd_names_fit() -> None:
    name = stack_name_for("é" * 50, "ü_" * 100, "9lives")
    assert VALID_STACK_NAME.fullmatch(name) and len(name) <= 128
    with pytest.raises(ValueError, match="prefix"):
        stack_name_for("x", prefix="9bad")
    with pytest.raises(ValueError):
        stack_name_for()


def test_request_tokens_are_valid_and_distinct() -> None:
    plain = request_token("6f1c2a", "create")
    assert plain == "6f1c2a-create"
    odd = request_token("deploy_1:a", "update")
    assert VALID_TOKEN.fullmatch(odd)
    assert odd != request_token("deploy-1-a", "update")
    long = request_token("d" * 300, "create")
    assert VALID_TOKEN.fullmatch(long) and long != request_token("d" * 299, "create")


def test_declared_outputs_read_yaml_short_tags_and_json() -> None:
    yaml_template = """
AWSTemplateFormatVersion: 2010-09-09
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  Url:
    Value: !Ref Queue
  Arn:
    Value: !GetAtt Queue.Arn
  Joined:
    Value: !Join ["-", [!Ref "AWS::StackName", !Select [0, !GetAZs ""]]]
  Named:
    Value: !Sub
      - "${A}-x"
      - A: !Ref Queue
  ProdOnly:
    Condition: IsProd
    Value: !Ref Queue
"""
    assert declared_outputs(yaml_template) == {
        "Url": False,
        "Arn": False,
        "Joined": False,
        "Named": False,
        "ProdOnly": True,
    }
    assert declared_outputs('{"Resources": {}, "Outputs": {"A": {"Value": "x"}}}') == {"A": False}
    assert declared_outputs("Resources: {}") == {}
    assert declared_outputs("Outputs: [unclosed") is None


@pytest.mark.parametrize(
    ("kind", "names", "stack"),
    [
        (ResourceKind.ENVIRONMENT, ("dev",), stack_name_for("environment", "dev")),
        (
            ResourceKind.SERVICE_INSTANCE,
            ("web", "prod"),
            stack_name_for("service-instance", "web", "prod"),
        ),
        (ResourceKind.SERVICE_PIPELINE, ("web",), stack_name_for("service-pipeline", "web")),
        (ResourceKind.COMPONENT, ("db",), stack_name_for("component", "db")),
    ],
)
def test_a_resource_keeps_the_stack_name_it_always_had(
    kind: ResourceKind, names: tuple[str, ...], stack: str
) -> None:
    resource = ResourceIdentity(kind, names, arn="arn", account="1", region="r")
    assert resource_stack_name(resource) == stack
