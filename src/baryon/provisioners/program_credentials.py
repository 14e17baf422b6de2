"""The credentials a program Baryon runs (CodeBuild commands, Terraform) gets, for both
provisioners that run programs: one place decides how Baryon's scoped key and the target
cloud's keys reach a program.

Both go into the AWS CLI's own files under ``$HOME/.aws`` (the runner makes the work
directory the program's HOME; boto3, the CLI, Terraform's AWS provider and the CDK read them
there), never into environment variables, so that two sets can coexist: profile ``proton``
holds the run's key scoped to its resource (auth/scoped_keys.py), profile ``cloud`` the target
cloud's (in embedded mode the local cloud's keys; otherwise the resource's role assumed through
STS on the cloud endpoint, or nothing when it has none), and ``default`` one of the two
(provisioners/codebuild.py says which, and why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from baryon.cloud.clients import cloud_client
from baryon.provisioners.base import ResourceIdentity
from baryon.settings import Settings

PROTON_PROFILE = "proton"
CLOUD_PROFILE = "cloud"
CONFIG_FILE = ".aws/config"
CREDENTIALS_FILE = ".aws/credentials"


class DefaultCredentials(StrEnum):
    """Which keys a program's AWS ``default`` profile holds."""

    CLOUD = "cloud"  # the target cloud's; Proton calls name --profile proton
    PROTON = "proton"  # the run's scoped key; only for a cloud that accepts any key


@dataclass(frozen=True)
class AwsKeys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class IssuedKey(Protocol):
    """A key scoped to one resource (auth/scoped_keys.ScopedKey)."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def secret_access_key(self) -> str: ...


class ResourceKeys(Protocol):
    """Keys scoped to one resource (auth/scoped_keys.ScopedKeys)."""

    def issue(self, resource_arn: str, ttl_seconds: int) -> IssuedKey: ...

    def revoke(self, access_key_id: str) -> None: ...


# (role ARN, session name) -> that role's temporary keys on the configured cloud.
RoleAssumer = Callable[[str, str], AwsKeys]


@dataclass(frozen=True)
class CloudKeys:
    """Where a run's cloud keys come from: the resource's role, assumed through the configured
    cloud's STS with the worker's own credentials (as Proton acted in the environment's
    account); without a role, the configured keys (settings.cloud_*), else the machine's."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudKeys:
        return cls(settings.cloud_access_key_id, settings.cloud_secret_access_key)

    def for_resource(
        self, resource: ResourceIdentity, assume_role: RoleAssumer, purpose: str
    ) -> AwsKeys | None:
        """The keys a run for ``resource`` gets; None leaves the machine's own. Raises
        botocore's errors when STS refuses or cannot be reached."""
        if resource.role_arn:
            return assume_role(resource.role_arn, session_name(purpose, resource))
        if self.access_key_id:
            return AwsKeys(self.access_key_id, self.secret_access_key)
        return None


def session_name(purpose: str, resource: ResourceIdentity) -> str:
    # STS allows [\w+=,.@-]{2,64}; Proton names allow the same characters and '-'.
    return (f"baryon-{purpose}-" + "-".join(resource.names))[:64]


def aws_credential_files(
    region: str, default: DefaultCredentials, cloud: AwsKeys | None, key: IssuedKey
) -> dict[str, str]:
    """``$HOME/.aws/config`` and ``credentials``: the run's scoped key as profile ``proton``,
    the cloud's keys as profile ``cloud``, and one of them again as ``default``."""
    profiles: dict[str, AwsKeys | None] = {
        PROTON_PROFILE: AwsKeys(key.access_key_id, key.secret_access_key),
        CLOUD_PROFILE: cloud,
    }
    profiles["default"] = profiles[
        PROTON_PROFILE if default == DefaultCredentials.PROTON else CLOUD_PROFILE
    ]
    # The config file names profiles "profile x", except the default; the credentials file not.
    settings = "".join(
        f"[{name if name == 'default' else 'profile ' + name}]\nregion = {region}\n\n"
        for name in profiles
    )
    credentials = "".join(
        _credentials_section(name, keys) for name, keys in profiles.items() if keys is not None
    )
    return {CONFIG_FILE: settings, CREDENTIALS_FILE: credentials}


def _credentials_section(profile: str, keys: AwsKeys) -> str:
    section = (
        f"[{profile}]\n"
        f"aws_access_key_id = {keys.access_key_id}\n"
        f"aws_secret_access_key = {keys.secret_access_key}\n"
    )
    if keys.session_token:
        section += f"aws_session_token = {keys.session_token}\n"
    return section + "\n"


def sts_role_assumer(settings: Settings) -> RoleAssumer:
    """Assumes roles through the configured cloud's STS (the worker's own credentials)."""

    def assume(role_arn: str, session: str) -> AwsKeys:
        answer = cloud_client(settings, "sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session
        )
        credentials = answer["Credentials"]
        return AwsKeys(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )

    return assume
