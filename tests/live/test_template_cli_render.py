"""`baryon template render` renders exactly what a deployment deploys: a bundle published with
`baryon template publish` and deployed by Baryon leaves stacks whose templates are, byte for
byte, what the offline render printed for the same spec, names and outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from baryon.provisioners.names import stack_name_for
from tests.support.bundles import env_bundle, service_bundle
from tests.support.cli import CommandRun, run_baryon
from tests.support.deploying import FAST, REPO, env_spec, outputs, service_spec
from tests.support.processes import BaryonProcess, clean_environment


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _shell(baryon: BaryonProcess) -> dict[str, str]:
    return clean_environment(**{k: v for k, v in baryon.exports.items() if k != "AWS_DATA_PATH"})


def _baryon(baryon: BaryonProcess, *args: str) -> CommandRun:
    """``baryon template ARGS`` in this process (tests.support.cli)."""
    result = run_baryon(["template", *args], _shell(baryon))
    assert result.returncode == 0, result.stderr
    return result


def _baryon_process(baryon: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The same through the real entry point, ``python -m baryon.cli.main``."""
    result = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "template", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_shell(baryon),
    )
    assert result.returncode == 0, result.stderr
    return result


def _stack_body(cloudformation: Any, kind: str, *names: str) -> str:
    body = cloudformation.get_template(StackName=stack_name_for(kind, *names))["TemplateBody"]
    return body if isinstance(body, str) else json.dumps(body)


def test_the_offline_render_is_what_the_deployment_deployed(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    proton: Any = baryon.client("proton")
    cloudformation: Any = baryon.client("cloudformation")
    suffix = uuid.uuid4().hex[:6]
    env_template, svc_template = f"render-env-{suffix}", f"render-svc-{suffix}"
    env, svc = f"render-e-{suffix}", f"render-s-{suffix}"

    env_dir = _write(tmp_path / "env", env_bundle())
    _baryon(baryon, "publish", str(env_dir), "--name", env_template, "--kind", "environment",
            "--publish")  # fmt: skip
    (tmp_path / "env-spec.yaml").write_text(env_spec(size="large"))
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=env,
        templateName=env_template,
        templateMajorVersion="1",
        spec=env_spec(size="large"),
    )
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)

    svc_dir = _write(tmp_path / "svc", service_bundle())
    _baryon(baryon, "publish", str(svc_dir), "--name", svc_template, "--kind", "service",
            "--compatible-environment", f"{env_template}:1", "--publish")  # fmt: skip
    spec = service_spec([("alpha", env, {"port": 8080})], pipeline={"dockerfile": "Dockerfile"})
    (tmp_path / "svc-spec.yaml").write_text(spec)
    proton.create_service(
        name=svc, templateName=svc_template, templateMajorVersion="1", spec=spec, **REPO
    )
    proton.get_waiter("service_instance_deployed").wait(
        name="alpha", serviceName=svc, WaiterConfig=FAST
    )
    proton.get_waiter("service_pipeline_deployed").wait(name=svc, WaiterConfig=FAST)

    env_out = tmp_path / "env-out"
    _baryon(baryon, "render", str(env_dir), "--spec", str(tmp_path / "env-spec.yaml"),
            "--name", env, "--template-name", env_template, "--out", str(env_out))  # fmt: skip
    assert (env_out / "environment" / "cloudformation.yaml").read_text() == _stack_body(
        cloudformation, "environment", env
    )

    env_outputs = outputs(proton.list_environment_outputs(environmentName=env)["outputs"])
    instance_outputs = outputs(
        proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="alpha")[
            "outputs"
        ]
    )
    svc_out = tmp_path / "svc-out"
    _baryon_process(baryon, "render", str(svc_dir), "--spec", str(tmp_path / "svc-spec.yaml"),
            "--name", svc, "--template-name", svc_template,
            "--environment-outputs", json.dumps(env_outputs),
            "--instance-outputs", json.dumps(instance_outputs),
            "--repository-id", REPO["repositoryId"], "--branch-name", REPO["branchName"],
            "--repository-connection-arn", REPO["repositoryConnectionArn"],
            "--out", str(svc_out))  # fmt: skip
    assert (svc_out / "instances" / "alpha" / "cloudformation.yaml").read_text() == _stack_body(
        cloudformation, "service-instance", svc, "alpha"
    )
    assert (svc_out / "pipeline" / "cloudformation.yaml").read_text() == _stack_body(
        cloudformation, "service-pipeline", svc
    )
