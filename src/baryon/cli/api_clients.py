"""boto3 clients for Baryon's own API, as the CLI's client commands use it, and the one place
where what goes wrong with a call becomes a one-line failure with its exit status.

The commands are clients like any other. Where Baryon is comes from client_config.py: flags
(``client_options``), then the usual AWS settings, then the env file ``baryon up`` wrote.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from baryon import __version__
from baryon.cli.client_config import ClientConfig, botocore_session, resolve_client_config
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import current_client_flags
from baryon.operations.audit_trail import CLI_AGENT

# What Baryon (and AWS) answer when a request's key or signature is not accepted: the
# credentials are wrong, not the request.
CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)


class ApiClients:
    def __init__(self, config: ClientConfig | None = None) -> None:
        core = botocore_session()
        # Marks the CLI's calls so that the audit trail says they came through it.
        core.user_agent_extra = f"{CLI_AGENT}/{__version__}"
        self.config = config or resolve_client_config(current_client_flags(), core)
        credentials = self.config.credentials
        self.session = boto3.session.Session(
            botocore_session=core,
            region_name=self.config.region,
            aws_access_key_id=credentials.access_key_id if credentials else None,
            aws_secret_access_key=credentials.secret_access_key if credentials else None,
        )
        self.proton = self.session.client("proton", endpoint_url=self.config.proton_endpoint)
        self.baryon = self.session.client("baryon", endpoint_url=self.config.baryon_endpoint)

    def s3(self, info: dict[str, Any]) -> Any:
        """S3 where bundles go: as configured, else the cloud endpoint the server names
        (GetServerInfo's cloudEndpoint; none means AWS's own)."""
        endpoint = self.config.s3_endpoint or info.get("cloudEndpoint") or None
        return self.session.client("s3", endpoint_url=endpoint)


def call(function: Any, **kwargs: Any) -> Any:
    """Calls the API; what goes wrong becomes one line and its exit status (failure_of)."""
    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise failure_of(exc) from exc


def failure_of(exc: ClientError | BotoCoreError) -> CliFailure:
    """A botocore error as the mistake it shows: server down, key refused, request refused."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Error")
        message = str(error.get("Message") or "").strip()
        said = f"{code}: {message}" if message else code
        if code in CREDENTIAL_ERRORS:
            return CliFailure(
                ExitStatus.CREDENTIALS_REFUSED,
                f"the server refused the credentials ({said})",
                "use an access key of this Baryon (`baryon keys create` on its machine, or the "
                "env file `baryon up` wrote) and its region",
            )
        return CliFailure(ExitStatus.REFUSED, _one_line(said))
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        endpoint = exc.kwargs.get("endpoint_url", "the endpoint")
        return CliFailure(
            ExitStatus.SERVER_UNREACHABLE,
            f"nothing answers at {endpoint}",
            "start Baryon (`baryon up`) or point AWS_ENDPOINT_URL_PROTON at a running one",
        )
    if isinstance(exc, (ReadTimeoutError, ConnectionClosedError)):
        endpoint = exc.kwargs.get("endpoint_url", "the endpoint")
        return CliFailure(
            ExitStatus.SERVER_UNREACHABLE,
            f"{endpoint} stopped answering",
            "check that Baryon is running there and try again",
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CliFailure(
            ExitStatus.NOT_CONFIGURED,
            "no access key to sign requests with",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key from `baryon keys create`",
        )
    if isinstance(exc, NoRegionError):
        return CliFailure(
            ExitStatus.NOT_CONFIGURED,
            "no region",
            "set AWS_DEFAULT_REGION to the server's region or pass --region",
        )
    if isinstance(exc, ParamValidationError):
        return CliFailure(ExitStatus.USAGE, _one_line(str(exc)))
    return CliFailure(ExitStatus.REFUSED, _one_line(str(exc)))


def _one_line(text: str) -> str:
    return " ".join(text.split())
