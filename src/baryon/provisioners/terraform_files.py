"""What a Terraform run reads besides the bundle: Baryon's state backend and a CLI config.

The backend is written as an override file (``*_override.tf``): Terraform merges it over the
bundle's own ``terraform`` block, so a bundle that declares ``backend "s3" {}`` (as AWS's
samples do) keeps its state in Baryon all the same, and a bundle that declares none gets one.
Its credentials are not in it: runs get them as ``TF_HTTP_USERNAME``/``TF_HTTP_PASSWORD``.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

BACKEND_FILE = "baryon_backend_override.tf"
CLI_CONFIG_FILE = "baryon.tfrc"
# The state backend's paths under Baryon's API (api/terraform_state_backend.py serves them).
STATE_PATH = "/_baryon/terraform"


def state_address(endpoint: str, resource_arn: str) -> str:
    return f"{endpoint.rstrip('/')}{STATE_PATH}/state/{quote(resource_arn, safe='')}"


def backend_block(endpoint: str, resource_arn: str, holder: str) -> str:
    """The http backend pointing at the resource's state; locks name ``holder`` (the
    deployment), so that the run resuming the deployment after a crash can take them over."""
    base = f"{endpoint.rstrip('/')}{STATE_PATH}"
    arn = quote(resource_arn, safe="")
    settings = {
        "address": f"{base}/state/{arn}",
        "lock_address": f"{base}/lock/{arn}?holder={quote(holder, safe='')}",
        "unlock_address": f"{base}/unlock/{arn}",
        "lock_method": "POST",
        "unlock_method": "POST",
    }
    # JSON strings are HCL strings; none of these can hold a "${" (all are URL-quoted).
    lines = "\n".join(f"    {key} = {json.dumps(value)}" for key, value in settings.items())
    return (
        "# Written by Baryon: this resource's state is kept by Baryon, never on disk.\n"
        f'terraform {{\n  backend "http" {{\n{lines}\n  }}\n}}\n'
    )


def cli_config(plugin_cache_dir: Path, provider_mirror: str) -> str:
    """The CLI configuration of a run: the shared plugin cache, and with a mirror, providers
    from that directory only (no registry: offline sites work)."""
    text = f"plugin_cache_dir = {json.dumps(str(plugin_cache_dir))}\ndisable_checkpoint = true\n"
    if provider_mirror:
        text += (
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path = {json.dumps(provider_mirror)}\n  }}\n"
            "}\n"
        )
    return text
