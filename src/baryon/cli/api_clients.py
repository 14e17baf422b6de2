"""boto3 clients for Baryon's own API, as the CLI's client commands use it.

The commands are clients like any other: the usual AWS settings (for example after
``. <data dir>/env``) say where Baryon is and who calls it.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import click
from botocore.exceptions import BotoCoreError, ClientError

from baryon.service_models import MODELS_DIR


class ApiClients:
    def __init__(self) -> None:
        core = botocore.session.get_session()
        # Baryon's extension model is not part of botocore; load it from the package.
        core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
        self.session = boto3.session.Session(botocore_session=core)
        self.proton = self.session.client("proton")
        # AWS_ENDPOINT_URL_BARYON (in the env file) wins; otherwise Baryon serves its
        # extensions where it serves Proton.
        self.baryon = self._local("baryon", self.proton.meta.endpoint_url)

    def s3(self, info: dict[str, Any]) -> Any:
        return self._local("s3", info.get("cloudEndpoint"))

    def _local(self, service: str, fallback: str | None) -> Any:
        client = self.session.client(service)
        if fallback and client.meta.endpoint_url.endswith(".amazonaws.com"):
            return self.session.client(service, endpoint_url=fallback)
        return client


def call(function: Any, **kwargs: Any) -> Any:
    """Calls the API; its error (code and message) becomes the command's error."""
    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise click.ClickException(str(exc)) from exc
