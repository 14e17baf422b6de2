"""The AWS credential files a CodeBuild or Terraform run gets, as botocore reads them: the
run's scoped key as profile proton, the cloud's keys as profile cloud, one of them as the
default."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from baryon.auth.scoped_keys import ScopedKey
from baryon.provisioners.base import ResourceIdentity, ResourceKind
from baryon.provisioners.program_credentials import (
    AwsKeys,
    CloudKeys,
    DefaultCredentials,
    aws_credential_files,
)

KEY = ScopedKey("BARSKEY", "scoped-secret", "arn:aws:proton:us-east-1:123456789012:environment/x")
CLOUD = AwsKeys("ASIACLOUD", "cloud-secret", "session-token")


def keys_of(tmp_path: Path, files: dict[str, str], profile: str) -> tuple[str, str, str | None]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    session = botocore.session.Session(profile=profile)
    session.set_config_variable("config_file", str(tmp_path / ".aws/config"))
    session.set_config_variable("credentials_file", str(tmp_path / ".aws/credentials"))
    credentials = session.get_credentials()
    assert session.get_config_variable("region") == "eu-west-1"
    return credentials.access_key, credentials.secret_key, credentials.token


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        (DefaultCredentials.CLOUD, ("ASIACLOUD", "cloud-secret", "session-token")),
        (DefaultCredentials.PROTON, ("BARSKEY", "scoped-secret", None)),
    ],
)
def test_the_default_profile_holds_the_chosen_keys_and_each_profile_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default: DefaultCredentials, expected: tuple
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    files = aws_credential_files("eu-west-1", default, CLOUD, KEY)
    assert keys_of(tmp_path, files, "default") == expected
    assert keys_of(tmp_path, files, "proton") == ("BARSKEY", "scoped-secret", None)
    assert keys_of(tmp_path, files, "cloud") == ("ASIACLOUD", "cloud-secret", "session-token")


def test_without_cloud_keys_only_the_proton_profile_has_credentials(tmp_path: Path) -> None:
    files = aws_credential_files("eu-west-1", DefaultCredentials.CLOUD, None, KEY)
    assert "[proton]" in files[".aws/credentials"]
    assert "[default]" not in files[".aws/credentials"]
    assert "[cloud]" not in files[".aws/credentials"]


def _resource(role_arn: str | None) -> ResourceIdentity:
    return ResourceIdentity(
        kind=ResourceKind.ENVIRONMENT,
        names=("dev",),
        arn="arn:aws:proton:us-east-1:123456789012:environment/dev",
        account="123456789012",
        region="us-east-1",
        role_arn=role_arn,
    )


def test_a_run_acts_as_its_resource_role_even_where_keys_are_configured() -> None:
    assumed: list[tuple[str, str]] = []

    def assume(role_arn: str, session: str) -> AwsKeys:
        assumed.append((role_arn, session))
        return CLOUD

    configured = CloudKeys("AKIACONFIGURED", "configured-secret")
    role = "arn:aws:iam::123456789012:role/proton-service"
    assert configured.for_resource(_resource(role), assume, "codebuild") == CLOUD
    assert assumed == [(role, "baryon-codebuild-dev")]
    without_role = configured.for_resource(_resource(None), assume, "codebuild")
    assert without_role == AwsKeys("AKIACONFIGURED", "configured-secret")
    assert CloudKeys("", "").for_resource(_resource(None), assume, "codebuild") is None
