"""Drift made behind Baryon's back, on the local cloud through boto3: a queue attribute
changed with SetQueueAttributes shows up in the environment's drift report with the property
and both values; each decision does what it says (re-apply puts the template's value back,
accept updates the spec's input and the next check is clean, ignore hides the item until its
date), and an item closes by itself when the drift is gone."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli as main_cli
from tests.support.deploying import env_spec, settled
from tests.support.drift_setup import (
    QUEUE_BUNDLE,
    RETENTION_PATH,
    TIMEOUT_PATH,
    deployed_environment,
    finished_report,
    queue_url_of,
)
from tests.support.processes import BaryonProcess, own_baryon

ROLE = "arn:aws:iam::123456789012:role/proton-service"
ENV = "drifty"

server = own_baryon("drift")


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def sqs(server: BaryonProcess) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def queue_url(server: BaryonProcess) -> str:
    spec = env_spec(visibility_timeout=30)
    deployed_environment(server, ENV, "queues", QUEUE_BUNDLE, ROLE, spec)
    return queue_url_of(server, ENV)


def check(baryon: Any) -> dict[str, Any]:
    """Starts a check of the environment and returns its report once the check ended."""
    started = baryon.start_drift_check(
        resources=[{"resourceType": "ENVIRONMENT", "environmentName": ENV}]
    )["checks"]
    return finished_report(baryon, ENV, started[0]["checkId"], timeout=120)


def items_at(report: dict[str, Any], path: str) -> list[dict[str, Any]]:
    return [item for item in report["items"] if item["propertyPath"] == path]


def attribute(sqs: Any, url: str, name: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name])


def redeployed(proton: Any, deployment_id: str) -> None:
    environment = settled(lambda: proton.get_environment(name=ENV), "environment")
    assert environment["lastAttemptedDeploymentId"] == deployment_id
    assert environment["deploymentStatus"] == "SUCCEEDED", environment


def test_a_resource_nobody_touched_is_in_sync(baryon: Any, queue_url: str) -> None:
    report = check(baryon)
    assert report["lastCheck"]["status"] == "IN_SYNC", report["lastCheck"].get("statusMessage")
    assert report["lastCheck"]["method"] == "CLOUDFORMATION_DRIFT_DETECTION"
    assert report["lastCheck"]["resourcesChecked"] == 1
    assert report["items"] == []


def test_a_changed_queue_attribute_shows_with_both_values_and_reapply_restores_it(
    baryon: Any, proton: Any, sqs: Any, queue_url: str
) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "45"})

    report = check(baryon)

    assert report["lastCheck"]["status"] == "DRIFTED"
    [item] = items_at(report, TIMEOUT_PATH)
    assert (item["expectedValue"], item["actualValue"], item["kind"]) == ("30", "45", "NOT_EQUAL")
    assert (item["binding"], item["inputName"]) == ("INPUT", "visibility_timeout")
    assert item["logicalResourceId"] == "Queue"
    assert item["engineResourceType"] == "AWS::SQS::Queue"
    assert item["status"] == "OPEN"
    # Checked again, the same drift is the same item: one unclosed item per fingerprint.
    assert [i["itemId"] for i in items_at(check(baryon), TIMEOUT_PATH)] == [item["itemId"]]

    decided = baryon.decide_drift_item(itemId=item["itemId"], decision="REAPPLY")["item"]

    assert decided["status"] == "REAPPLIED"
    redeployed(proton, decided["deploymentId"])
    assert attribute(sqs, queue_url, "VisibilityTimeout") == "30"
    after = check(baryon)
    assert after["lastCheck"]["status"] == "IN_SYNC"
    assert after["items"] == []
    closed = baryon.list_drift_items(
        resourceArn=after["resourceArn"], includeClosed=True, status="REAPPLIED"
    )["items"]
    assert [(i["itemId"], "closedAt" in i) for i in closed] == [(item["itemId"], True)]


def test_accepting_an_input_bound_item_updates_the_spec_and_the_next_check_is_clean(
    baryon: Any, proton: Any, sqs: Any, queue_url: str
) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "60"})
    [item] = items_at(check(baryon), TIMEOUT_PATH)

    decided = baryon.decide_drift_item(itemId=item["itemId"], decision="ACCEPT")["item"]

    assert decided["status"] == "ACCEPTED"
    redeployed(proton, decided["deploymentId"])
    spec = proton.get_environment(name=ENV)["environment"]["spec"]
    assert "visibility_timeout: 60" in spec
    assert attribute(sqs, queue_url, "VisibilityTimeout") == "60"
    after = check(baryon)
    assert after["lastCheck"]["status"] == "IN_SYNC", after
    assert after["items"] == []


def test_a_template_bound_item_cannot_be_accepted_and_ignoring_it_hides_it_until_its_date(
    baryon: Any, sqs: Any, queue_url: str
) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MessageRetentionPeriod": "1000"})
    [item] = items_at(check(baryon), RETENTION_PATH)
    assert (item["expectedValue"], item["actualValue"]) == ("345600", "1000")
    assert item["binding"] == "TEMPLATE"
    with pytest.raises(ClientError) as refused:
        baryon.decide_drift_item(itemId=item["itemId"], decision="ACCEPT")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as no_reason:
        baryon.decide_drift_item(
            itemId=item["itemId"], decision="IGNORE", until=datetime.now(UTC) + timedelta(days=1)
        )
    assert no_reason.value.response["Error"]["Code"] == "ValidationException"

    until = datetime.now(UTC) + timedelta(seconds=3)
    ignored = baryon.decide_drift_item(
        itemId=item["itemId"], decision="IGNORE", reason="load test this week", until=until
    )["item"]

    assert (ignored["status"], ignored["reason"]) == ("IGNORED", "load test this week")
    open_items = baryon.list_drift_items(status="OPEN")["items"]
    assert item["itemId"] not in [i["itemId"] for i in open_items]
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    [again] = items_at(check(baryon), RETENTION_PATH)
    assert (again["itemId"], again["status"]) == (item["itemId"], "OPEN")


def test_an_item_closes_by_itself_when_the_drift_is_gone(
    baryon: Any, sqs: Any, queue_url: str
) -> None:
    [item] = items_at(check(baryon), RETENTION_PATH)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MessageRetentionPeriod": "345600"})

    report = check(baryon)

    assert report["items"] == []
    [closed] = [
        i
        for i in baryon.list_drift_items(includeClosed=True)["items"]
        if i["itemId"] == item["itemId"]
    ]
    assert closed["status"] == "CLOSED"
    assert "closedAt" in closed


def test_the_cli_checks_shows_and_decides(server: BaryonProcess, sqs: Any, queue_url: str) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"DelaySeconds": "0"})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "75"})
    data_dir = ["--data-dir", str(server.data_dir)]

    checked = cli_json("drift", "check", "--environment", ENV, "--wait", *data_dir)
    assert [c["status"] for c in checked["checks"]] == ["DRIFTED"]
    report = cli_json("drift", "show", "--environment", ENV, *data_dir)
    [item] = items_at(report, TIMEOUT_PATH)
    assert (item["expectedValue"], item["actualValue"]) == ("60", "75")
    text = cli("drift", "show", "--environment", ENV, *data_dir)
    assert TIMEOUT_PATH in text and "input visibility_timeout" in text

    decided = cli_json(
        "drift", "decide", item["itemId"], "ignore", "--reason", "tuning", "--until",
        "2999-01-01", *data_dir,
    )  # fmt: skip
    assert (decided["status"], decided["reason"]) == ("IGNORED", "tuning")
    listed = cli_json("drift", "list", "--status", "IGNORED", *data_dir)["items"]
    assert [i["itemId"] for i in listed] == [item["itemId"]]


def cli(*args: str) -> str:
    result = CliRunner().invoke(main_cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def cli_json(*args: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(cli(*args, "--output", "json"))
    return loaded


def test_drift_items_page_with_boto3s_paginator(baryon: Any) -> None:
    everything = baryon.list_drift_items(includeClosed=True)["items"]
    assert len(everything) >= 3
    pages = baryon.get_paginator("list_drift_items").paginate(
        includeClosed=True, PaginationConfig={"PageSize": 1}
    )
    paged = [item["itemId"] for page in pages for item in page["items"]]
    assert paged == [item["itemId"] for item in everything]


def test_a_deleted_queue_cannot_be_accepted_and_reapplying_creates_it_again(
    baryon: Any, proton: Any, sqs: Any, queue_url: str
) -> None:
    sqs.delete_queue(QueueUrl=queue_url)

    report = check(baryon)

    [item] = [i for i in report["items"] if i["kind"] == "DELETED"]
    assert (item["logicalResourceId"], item["propertyPath"]) == ("Queue", "/")
    assert "actualValue" not in item
    with pytest.raises(ClientError) as refused:
        baryon.decide_drift_item(itemId=item["itemId"], decision="ACCEPT")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "re-apply to create it again" in refused.value.response["Error"]["Message"]

    decided = baryon.decide_drift_item(itemId=item["itemId"], decision="REAPPLY")["item"]

    redeployed(proton, decided["deploymentId"])
    # The queue is there again, made from the template (a new generated name, as
    # CloudFormation gives a resource it creates), with the spec's values.
    [url] = sqs.list_queues()["QueueUrls"]
    assert url != queue_url
    assert attribute(sqs, url, "VisibilityTimeout") == "60"
    after = check(baryon)
    assert after["lastCheck"]["status"] == "IN_SYNC", after
    assert after["items"] == []
