"""The provisioner on moto as it is (stack operations finish inside the request)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baryon.cloud.process import LocalCloudProcess
from tests.provisioners.conftest import RecordingIO, identity, make_provisioner, spec
from tests.provisioners.templates import rejected_template, settings_template


@pytest.fixture(scope="module")
def plain_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("plain-cloud")
    cloud = LocalCloudProcess(state_file=None, log_file=Path(logs) / "cloud.log")
    cloud.start()
    yield cloud
    cloud.stop()


def test_deploy_update_destroy_on_instant_moto(plain_cloud: LocalCloudProcess) -> None:
    provisioner = make_provisioner(plain_cloud.endpoint)
    plain = identity("plain", tags={})
    rejected = provisioner.deploy(spec(plain, rejected_template(), None), RecordingIO())
    assert rejected.status == "FAILED"

    created = provisioner.deploy(spec(plain, settings_template("v1"), None), RecordingIO())
    assert created.status == "SUCCEEDED", created.message
    updated = provisioner.deploy(spec(plain, settings_template("v2"), None), RecordingIO())
    assert (updated.status, updated.outputs["Version"]) == ("SUCCEEDED", "v2")
    # moto applies an identical update instead of refusing it; the result is the same.
    again = provisioner.deploy(spec(plain, settings_template("v2"), None), RecordingIO())
    assert again.status == "SUCCEEDED" and again.outputs == updated.outputs

    assert provisioner.destroy(plain, RecordingIO()).status == "SUCCEEDED"
    assert provisioner.status(plain) is None
