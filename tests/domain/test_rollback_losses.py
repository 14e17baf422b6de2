"""What a rollback cannot undo, read from the files rendered now and after the rollback."""

from __future__ import annotations

from baryon.domain.rollbacks import LossKind, losses

NOW = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Marker:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Ref Queue
  Store:
    Type: AWS::DynamoDB::Table
"""
BACK = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Bucket:
    Type: AWS::S3::Bucket
  Store:
    Type: AWS::DynamoDB::GlobalTable
"""


def test_resources_the_change_added_go_and_those_it_removed_come_back_empty() -> None:
    found = losses({"cloudformation.yaml": NOW}, {"cloudformation.yaml": BACK})

    assert [(loss.kind, loss.name, loss.type) for loss in found] == [
        (LossKind.RECREATED, "Bucket", "AWS::S3::Bucket"),
        (LossKind.DELETED, "Marker", "AWS::SSM::Parameter"),
        (LossKind.REPLACED, "Store", "AWS::DynamoDB::Table -> AWS::DynamoDB::GlobalTable"),
    ]
    assert "does not come back" in found[0].message


def test_terraform_resource_blocks_are_read_by_address() -> None:
    now = 'resource "aws_sqs_queue" "jobs" {\n}\nresource "aws_s3_bucket" "logs" {\n}\n'
    back = 'resource "aws_sqs_queue" "jobs" {\n}\n'

    found = losses({"main.tf": now}, {"main.tf": back})

    assert [(loss.kind, loss.name) for loss in found] == [(LossKind.DELETED, "aws_s3_bucket.logs")]


def test_files_that_do_not_parse_or_declare_nothing_lose_nothing() -> None:
    assert losses({"cloudformation.yaml": "Resources: [unclosed"}, {}) == []
    assert losses({"README.md": "Resources:\n  A:\n    Type: X\n"}, {}) == []
    assert losses({"cloudformation.yaml": NOW}, {"cloudformation.yaml": NOW}) == []
