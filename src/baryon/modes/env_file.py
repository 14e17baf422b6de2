"""The ``<data dir>/env`` file: shell exports that point unmodified AWS tools at Baryon."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from baryon.service_models import MODELS_DIR

# Cloud services whose endpoint users may want to inspect with the AWS CLI.
LOCAL_CLOUD_SERVICES = ("S3", "CLOUDFORMATION", "IAM", "STS")


def env_exports(
    *,
    api_url: str,
    cloud_url: str | None,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    data_dir: Path,
) -> dict[str, str]:
    exports = {
        # `baryon keys`, `baryon status` and the other commands of this shell then act on this
        # data directory, not the default one (a key made elsewhere is refused by this server).
        "BARYON_DATA_DIR": str(data_dir),
        "AWS_ENDPOINT_URL_PROTON": api_url,
        "AWS_ENDPOINT_URL_BARYON": api_url,
        # Lets boto3 and the AWS CLI load Baryon's extension model ("aws baryon ...").
        "AWS_DATA_PATH": str(MODELS_DIR),
    }
    if cloud_url:
        exports.update({f"AWS_ENDPOINT_URL_{name}": cloud_url for name in LOCAL_CLOUD_SERVICES})
    exports.update(
        {
            "AWS_ACCESS_KEY_ID": access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key,
            "AWS_DEFAULT_REGION": region,
        }
    )
    return exports


def render(exports: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in exports.items())


def write_env_file(path: Path, exports: dict[str, str]) -> None:
    """Written atomically and private to the user: it holds a secret key."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render(exports))
    os.replace(temporary, path)
