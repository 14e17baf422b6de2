"""Where the Baryon a client command talks to is, and who calls it.

Found the way the AWS CLI finds a profile: explicit flags first, then the usual AWS settings
(``AWS_ENDPOINT_URL_PROTON``, ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``~/.aws``), then
the env file that ``baryon up`` writes into its data directory (``--data-dir``, else the
settings' ``data_dir``). So a plain ``baryon template publish`` works after ``baryon up``
without ``. <data dir>/env``, and a shell pointed at another Baryon keeps talking to that one.

The env file describes one server: its access key is used only for its own endpoint, never
sent to an endpoint that came from somewhere else.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import botocore.session

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import ClientFlags, settings_from
from baryon.service_models import MODELS_DIR

ENV_FILE_NAME = "env"
# An env file is a few hundred bytes; anything far larger at that path is not one.
_MAX_ENV_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class EnvFile:
    """The settings ``baryon up`` exported for clients (modes/env_file.py)."""

    path: Path
    proton_endpoint: str | None
    baryon_endpoint: str | None
    s3_endpoint: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs: endpoints, region, and the key (None = boto3's own chain)."""

    proton_endpoint: str
    baryon_endpoint: str
    # None: the usual AWS resolution, else the cloud endpoint the server names.
    s3_endpoint: str | None
    region: str
    credentials: Credentials | None
    # Where the endpoint came from, for messages ("the env file /x/env", "--endpoint-url").
    source: str


def read_env_file(path: Path) -> EnvFile | None:
    """The env file at ``path``, or None when there is none."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_ENV_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CliFailure(
            ExitStatus.DATA_DIR_UNUSABLE,
            f"cannot read {path}: {exc.strerror}",
            "check the permissions of the data directory (it belongs to whoever ran `baryon up`)",
        ) from exc
    if len(raw) > _MAX_ENV_FILE_BYTES:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"{path} is not an env file (too large)")
    exports: dict[str, str] = {}
    try:
        for line in raw.decode().splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, _, value = words[1].partition("=")
                exports[name] = value
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliFailure(
            ExitStatus.INVALID_INPUT,
            f"{path} is not an env file written by `baryon up`",
            "restart `baryon up` to write it again",
        ) from exc
    return EnvFile(
        path=path,
        proton_endpoint=exports.get("AWS_ENDPOINT_URL_PROTON"),
        baryon_endpoint=exports.get("AWS_ENDPOINT_URL_BARYON"),
        s3_endpoint=exports.get("AWS_ENDPOINT_URL_S3"),
        region=exports.get("AWS_DEFAULT_REGION"),
        access_key_id=exports.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=exports.get("AWS_SECRET_ACCESS_KEY"),
    )


def botocore_session() -> botocore.session.Session:
    core = botocore.session.get_session()
    # Baryon's extension model is not part of botocore; load it from the package.
    core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return core


def resolve_client_config(flags: ClientFlags, core: botocore.session.Session) -> ClientConfig:
    """Where Baryon is; CliFailure(NOT_CONFIGURED) when nothing says so."""
    settings = settings_from(data_dir=flags.data_dir)
    env_path = settings.data_dir / ENV_FILE_NAME
    env_file = read_env_file(env_path)
    if flags.data_dir is not None and env_file is None:
        raise CliFailure(
            ExitStatus.NOT_CONFIGURED,
            f"no env file at {env_path}: no Baryon has run on {flags.data_dir}",
            f"start one with `baryon up --data-dir {flags.data_dir}`",
        )
    # An explicit --data-dir names the server, as --profile does; otherwise the environment
    # comes first and the data directory's env file fills in.
    from_file = env_file if env_file is not None and env_file.proton_endpoint else None
    configured = _configured_endpoint(core, "proton", flags.region or settings.region)
    if flags.endpoint_url:
        endpoint, source = flags.endpoint_url, "--endpoint-url"
    elif from_file is not None and (flags.data_dir is not None or configured is None):
        endpoint, source = str(from_file.proton_endpoint), f"the env file {from_file.path}"
    elif configured is not None:
        endpoint, source = configured, "AWS_ENDPOINT_URL_PROTON"
    else:
        raise CliFailure(
            ExitStatus.NOT_CONFIGURED,
            f"no Baryon to talk to: no env file at {env_path} and no AWS_ENDPOINT_URL_PROTON",
            "start Baryon with `baryon up`, pass --data-dir DIR of a running one, or set "
            "AWS_ENDPOINT_URL_PROTON (and an access key) for a remote one",
        )
    # The env file's key and endpoints belong to its server only.
    own = from_file if from_file is not None and from_file.proton_endpoint == endpoint else None
    region = flags.region or _region(core, own, explicit=flags.data_dir is not None)
    region = region or settings.region
    return ClientConfig(
        proton_endpoint=endpoint,
        baryon_endpoint=_baryon_endpoint(core, region, endpoint, own, flags),
        s3_endpoint=_configured_endpoint(core, "s3", region) or (own.s3_endpoint if own else None),
        region=region,
        credentials=_credentials(core, own, explicit=flags.data_dir is not None),
        source=source,
    )


def _region(core: botocore.session.Session, own: EnvFile | None, explicit: bool) -> str | None:
    """For the env file's server, a region chosen for this shell (AWS_DEFAULT_REGION: one
    Baryon may serve several) beats the file's, and a default in ~/.aws/config (meant for
    real AWS) does not; for any other server, AWS's usual resolution."""
    if own is None:
        found = core.get_config_variable("region")
        return str(found) if found else None
    # AWS's own variable, read as the AWS CLI reads it (Baryon's settings are settings.py's).
    chosen = None if explicit else os.environ.get("AWS_DEFAULT_REGION")
    return chosen or own.region


def _configured_endpoint(core: botocore.session.Session, service: str, region: str) -> str | None:
    """The endpoint AWS settings give ``service`` (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
    ~/.aws/config), or None when they leave it at AWS's own."""
    url = core.create_client(service, region_name=region).meta.endpoint_url
    return None if _is_aws(url) else str(url)


def _is_aws(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def _baryon_endpoint(
    core: botocore.session.Session,
    region: str,
    endpoint: str,
    own: EnvFile | None,
    flags: ClientFlags,
) -> str:
    # Baryon serves its extensions where it serves Proton, unless told otherwise.
    if flags.endpoint_url:
        return flags.endpoint_url
    if own is not None and flags.data_dir is not None:
        return own.baryon_endpoint or endpoint
    configured = _configured_endpoint(core, "baryon", region)
    if configured is not None:
        return configured
    return (own.baryon_endpoint if own is not None else None) or endpoint


def _credentials(
    core: botocore.session.Session, own: EnvFile | None, explicit: bool
) -> Credentials | None:
    """The env file's key for its own server, unless this shell names other credentials
    (AWS_ACCESS_KEY_ID, AWS_PROFILE) as environment variables outrank a profile in the AWS
    CLI; a default profile in ~/.aws (real AWS keys) never does. None: boto3's chain."""
    if own is None or not own.access_key_id or not own.secret_access_key:
        return None
    if not explicit:
        if core.get_config_variable("profile"):
            return None
        if core.get_component("credential_provider").get_provider("env").load() is not None:
            return None
    return Credentials(own.access_key_id, own.secret_access_key)
