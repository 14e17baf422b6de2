"""The README's walkthrough, run as written: the unmodified AWS CLI and the baryon CLI publish
AWS's fargate-env and load-balanced-fargate-svc samples and deploy them with their own specs.

Only the `git clone` line is replaced (there is no network here): the samples are linked from
../shared instead, which is the same repository at a pinned commit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import BaryonProcess, clean_environment, own_baryon
from tests.support.samples import REPO, SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

CLONE = re.compile(r"^git clone \S+aws-proton-cloudformation-sample-templates (\S+)$")
SECTIONS = ("## Publishing templates", "## Deploying environments and services")
GIT_SECTION = "## Git: template sync, service sync and pull requests"


def walkthrough(sections: tuple[str, ...] = SECTIONS) -> list[str]:
    """The first shell block of each of the README's walkthrough sections, in order, one
    command per entry (continuation lines joined)."""
    text = (REPO / "README.md").read_text()
    commands: list[str] = []
    for heading in sections:
        section = text[text.index(heading) :]
        block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
        assert block is not None, f"no shell block under {heading}"
        commands += block.group(1).replace("\\\n", " ").strip().splitlines()
    return [" ".join(command.split()) for command in commands]


server = own_baryon("readme", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


def test_the_readme_walkthrough_deploys_fargate_env_and_a_service(
    server: BaryonProcess, tmp_path: Path
) -> None:
    commands = walkthrough()
    assert any(command.startswith("aws proton wait service-created") for command in commands)
    printed = _run(commands, server, tmp_path)
    instance_outputs = next(v for k, v in printed.items() if "list-service-instance-outputs" in k)
    pipeline_outputs = next(v for k, v in printed.items() if "list-service-pipeline-outputs" in k)
    assert "ServiceURL" in instance_outputs, instance_outputs
    assert "PipelineEndpoint" in pipeline_outputs, pipeline_outputs


def test_the_readme_git_section_syncs_a_template_pushed_to_baryons_git_server(
    server: BaryonProcess, tmp_path: Path
) -> None:
    (tmp_path / "samples").symlink_to(SAMPLES)
    printed = _run(walkthrough((GIT_SECTION,)), server, tmp_path)
    status = next(v for k, v in printed.items() if "get-template-sync-status" in k)
    assert '"status": "SUCCEEDED"' in status, status


def _run(commands: list[str], server: BaryonProcess, cwd: Path) -> dict[str, str]:
    """Runs each command as a user who sourced the env file; returns what each printed."""
    env = clean_environment(**server.exports)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # A user's git knows who they are; this one is told.
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "Platform"
        env[f"GIT_{role}_EMAIL"] = "platform@example.com"
    printed: dict[str, str] = {}
    for command in commands:
        clone = CLONE.match(command)
        if clone is not None:
            (cwd / clone.group(1)).symlink_to(SAMPLES)
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        printed[command] = done.stdout
    return printed
