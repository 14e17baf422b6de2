"""A Proton pipeline keeps deploying once it points at Baryon: the deploy commands of AWS's
sample pipelines, run with the unmodified AWS CLI exactly as their buildspecs run them, with
nothing changed but what docs/migrating-from-proton.md tells users to set
(``AWS_ENDPOINT_URL_PROTON`` and an access key made by ``baryon keys create``).

The commands are read at test time from the samples in ../shared/samples (every service
template's ``v1/pipeline_infrastructure/cloudformation.yaml``), never copied here. The service
they redeploy is made from AWS's fargate-env and load-balanced-fargate-svc samples with their
own specs (a second instance in a second environment, so that the pipeline has two deploy
stages), and its pipeline is deployed by Baryon on the local cloud; the test checks that the
commands it runs are in that deployed pipeline's buildspecs, as rendered for this service.

What a CodeBuild run would provide and this test provides instead, nothing more:
- the project's environment variables (``service_name``, ``service_instance_name``) and
  CodeBuild's ``AWS_DEFAULT_REGION``; ``IMAGE_ID``, which the build stage computes from the
  image it pushed (no image is built here);
- the sample's ``yq w <file> '<path>' "<value>"`` line is mikefarah's yq 3.4.0 (the buildspec
  downloads it); the yq on this machine is a different program (kislyuk's jq wrapper) and
  there is no network, so the same edit is made by a few lines of Python (``_yq_write``);
- the install phase (``pip3 install --upgrade --user awscli``, the yq download) is skipped:
  the AWS CLI of the test's own environment runs the commands.

The CDK CI pipeline sample (aws-containers/proton-codebuild-provisioning-examples,
``cdk/service-templates/cdk-ecs-fargate-service-ci-pipeline/v1/pipeline_infrastructure/lib/
container-image-pipeline.ts`` at 934697e) is not in ../shared/samples; its two read-only
commands are written out in ``CDK_OUTPUT_COMMANDS`` with the jq that reads their answers.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from baryon.provisioners.names import stack_name_for
from tests.support.bundles import Registry, tar_gz
from tests.support.deploying import REPO, instance_settled, pipeline_settled, settled
from tests.support.processes import BaryonProcess, clean_environment, own_baryon
from tests.support.samples import SAMPLES, Sample, sample_bundles

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

TEMPLATE = "load-balanced-fargate-svc"
ENVIRONMENT_TEMPLATE = "fargate-env"
ENVIRONMENTS = ("fargate-env-prod", "fargate-env-staging")
SERVICE = "load-balanced-fargate-svc"
NEW_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lb-fargate:42"
ROLE = "arn:aws:iam::123456789012:role/proton-service"
COMMAND_TIMEOUT = 300  # seconds; the wait command polls every 5 s until the deployment ends

# A buildspec command string, JSON-quoted inside the pipeline template's YAML.
_QUOTED_COMMAND = re.compile(r'^\s*("(?:aws proton|yq) (?:[^"\\]|\\.)*")', re.MULTILINE)
_YQ_WRITE = re.compile(r"^yq w (\S+) '([^']+)' (\"[^\"]*\"|\S+) > (\S+)$")

# From the CDK sample's post_build, with ${serviceOutputs.name} as the variable its project
# sets (SERVICE_NAME): it reads the pipeline's outputs and the service's ARN.
CDK_OUTPUT_COMMANDS = (
    "outputs=$(aws proton list-service-pipeline-outputs --service-name $SERVICE_NAME)",
    "echo $outputs | jq '.[] | map(select(.key == \"PipelineEndpoint\")) | length'",
    "arn=\"$(aws proton get-service --name $SERVICE_NAME | jq -r '.service.arn')/pipeline\"",
    "echo $arn",
)


@dataclass(frozen=True)
class PipelineCommands:
    """A sample pipeline's ``aws proton`` (and yq) commands, in buildspec order: the build
    stage's (get the spec, edit it) and each deploy stage's (update the instance, wait)."""

    build: tuple[str, ...]
    deploy: tuple[str, ...]


def pipeline_commands(bundle_dir: Path) -> PipelineCommands:
    text = (bundle_dir / "pipeline_infrastructure" / "cloudformation.yaml").read_text()
    commands = [json.loads(quoted) for quoted in _QUOTED_COMMAND.findall(text)]
    first_deploy = next(
        (i for i, command in enumerate(commands) if "update-service-instance" in command),
        len(commands),
    )
    return PipelineCommands(tuple(commands[:first_deploy]), tuple(commands[first_deploy:]))


def _sample_pipelines() -> list[Path]:
    """Every bundle folder with a pipeline (some service folders hold two templates)."""
    return sorted(s.path for s in sample_bundles() if s.has_pipeline)


def _shape(command: str) -> tuple[str, ...]:
    """What a command asks of Proton: its operation and option names, not their values."""
    words = shlex.split(command.split("|")[0])
    kept: list[str] = []
    for previous, word in itertools.pairwise(words[1:]):  # after "aws proton"
        if not previous.startswith("--") or word.startswith("--"):
            kept.append(word)
    return tuple(kept)


def test_every_sample_pipeline_deploys_with_the_same_three_proton_calls() -> None:
    """What the live test below runs for one sample is what all of them run: the same
    operations with the same options, and one yq edit of the instances' specs."""
    folders = _sample_pipelines()
    assert len(folders) == 17  # as reference proton-migration.md 3.4 counts them
    shapes = set()
    for folder in folders:
        commands = pipeline_commands(folder)
        assert len(commands.build) == 2 and len(commands.deploy) == 2, folder
        get_service, edit = commands.build
        assert get_service.endswith("| jq -r .service.spec > service.yaml"), folder
        assert _YQ_WRITE.match(edit) and "'instances[*].spec." in edit, (folder, edit)
        shapes.add(tuple(_shape(c) for c in (get_service, *commands.deploy)))
    assert shapes == {
        (
            ("--region", "get-service", "--name"),
            (
                "--region",
                "update-service-instance",
                "--deployment-type",
                "--name",
                "--service-name",
                "--spec",
            ),
            ("--region", "wait", "service-instance-deployed", "--name", "--service-name"),
        )
    }


server = own_baryon("pipelines", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


@dataclass(frozen=True)
class DeployedService:
    bundle: Sample
    instances: tuple[str, ...]
    pipeline_inputs: dict[str, Any]


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation", endpoint_url=server.cloud_endpoint)


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess, proton: Any) -> DeployedService:
    """The two samples published, two environments, and the service with its pipeline, all
    deployed and SUCCEEDED."""
    registry = Registry(proton, server.client("s3"))
    bundles = {b.template: b for b in sample_bundles()}
    environment, service = bundles[ENVIRONMENT_TEMPLATE], bundles[TEMPLATE]
    _publish(registry, environment)
    _publish(registry, service)
    (env_document,) = [
        d for d in environment.spec_documents().values() if d.get("proton") == "EnvironmentSpec"
    ]
    for name in ENVIRONMENTS:
        proton.create_environment(
            name=name,
            templateName=ENVIRONMENT_TEMPLATE,
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=yaml.safe_dump(env_document, sort_keys=False),
        )
    for name in ENVIRONMENTS:
        view = settled(lambda n=name: proton.get_environment(name=n), "environment", 300)
        assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")

    (document,) = [d for d in service.spec_documents().values() if d.get("proton") == "ServiceSpec"]
    first = {**document["instances"][0], "environment": ENVIRONMENTS[0]}
    second = {**first, "name": f"{first['name']}-2", "environment": ENVIRONMENTS[1]}
    spec = {"proton": "ServiceSpec", "pipeline": document["pipeline"], "instances": [first, second]}
    proton.create_service(
        name=SERVICE,
        templateName=TEMPLATE,
        templateMajorVersion="1",
        spec=yaml.safe_dump(spec, sort_keys=False),
        **REPO,
    )
    instances = (first["name"], second["name"])
    for instance in instances:
        view = instance_settled(proton, SERVICE, instance)
        assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")
    view = pipeline_settled(proton, SERVICE)
    assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")
    return DeployedService(service, instances, dict(document["pipeline"]))


def _publish(registry: Registry, bundle: Sample) -> None:
    extra: dict[str, Any] = {}
    if bundle.kind == "service":
        extra["compatibleEnvironmentTemplates"] = [
            {"templateName": name, "majorVersion": major}
            for name, major in bundle.compatible_environments
        ]
    registry.ensure_template(bundle.kind, bundle.template)
    archive = tar_gz(dict(bundle.files()))
    version = registry.register(bundle.kind, bundle.template, archive, **extra)
    assert version["status"] == "DRAFT", f"{bundle.id}: {version.get('statusMessage')}"
    registry.publish(bundle.kind, bundle.template, version)


@pytest.fixture(scope="module")
def pipeline_key(server: BaryonProcess) -> tuple[str, str]:
    """An access key for the pipeline, made as the guide says (on the server's machine)."""
    create = ("keys", "create", "--description", "CI pipeline", "--data-dir", str(server.data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *create],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed = dict(line.split("=", 1) for line in done.stdout.split())
    return printed["AWS_ACCESS_KEY_ID"], printed["AWS_SECRET_ACCESS_KEY"]


def _pipeline_environment(
    server: BaryonProcess, key: tuple[str, str], home: Path, **variables: str
) -> dict[str, str]:
    """A build's environment: no AWS setting of the machine running the test (nor its
    ~/.aws), only the endpoint and the key the guide names, CodeBuild's region, and the
    project's variables."""
    home.mkdir(exist_ok=True)
    env = clean_environment(
        HOME=str(home),
        AWS_ENDPOINT_URL_PROTON=server.endpoint,
        AWS_ACCESS_KEY_ID=key[0],
        AWS_SECRET_ACCESS_KEY=key[1],
        AWS_DEFAULT_REGION=server.exports["AWS_DEFAULT_REGION"],
        **variables,
    )
    env = {k: v for k, v in env.items() if not k.startswith("BARYON_")}
    # The AWS CLI installed beside the test's Python, as `pip3 install awscli` would give.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _yq_write(command: str, cwd: Path, env: dict[str, str]) -> None:
    """``yq w IN 'instances[*].spec.KEY' "VALUE" > OUT`` as mikefarah's yq 3 does it: sets
    KEY in every instance's spec (making the spec when an instance has none)."""
    found = _YQ_WRITE.match(command)
    assert found is not None, command
    source, path, value, target = found.groups()
    prefix = "instances[*].spec."
    assert path.startswith(prefix) and "." not in path[len(prefix) :], path
    expanded = _run(f"printf %s {value}", cwd, env)
    document = yaml.safe_load((cwd / source).read_text())
    for instance in document["instances"]:
        instance["spec"] = {**(instance.get("spec") or {}), path[len(prefix) :]: expanded}
    (cwd / target).write_text(yaml.safe_dump(document, sort_keys=False))


def _render(command: str, pipeline_inputs: dict[str, Any]) -> str:
    """The command as Baryon renders it into the pipeline stack (its Jinja placeholders are
    the pipeline's inputs)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return environment.from_string(command).render(pipeline={"inputs": pipeline_inputs})


def test_the_sample_pipeline_redeploys_every_instance_with_its_new_image(
    server: BaryonProcess,
    proton: Any,
    cloudformation: Any,
    deployed: DeployedService,
    pipeline_key: tuple[str, str],
    tmp_path: Path,
) -> None:
    commands = pipeline_commands(deployed.bundle.path)
    inputs = deployed.pipeline_inputs
    build = [_render(c, inputs) for c in commands.build]
    deploy = [_render(c, inputs) for c in commands.deploy]
    # These are the buildspecs of the pipeline Baryon deployed for this service.
    pipeline_stack = stack_name_for("service-pipeline", SERVICE)
    body = str(cloudformation.get_template(StackName=pipeline_stack)["TemplateBody"])
    for command in build + deploy:
        assert json.dumps(command) in body, command
    before = {
        name: proton.get_service_instance(serviceName=SERVICE, name=name)["serviceInstance"]
        for name in deployed.instances
    }
    assert all(NEW_IMAGE not in (view.get("spec") or "") for view in before.values())
    assert all(view.get("lastSucceededDeploymentId") for view in before.values())

    source = tmp_path / "src"  # CODEBUILD_SRC_DIR; the build stage cds into service_dir
    service_dir = source / str(inputs["service_dir"])
    service_dir.mkdir(parents=True)
    home = tmp_path / "home"
    build_env = _pipeline_environment(
        server, pipeline_key, home, service_name=SERVICE, IMAGE_ID=NEW_IMAGE
    )
    get_service, edit = build
    _run(get_service, service_dir, build_env)
    assert "proton: ServiceSpec" in (service_dir / "service.yaml").read_text()
    _yq_write(edit, service_dir, build_env)
    # One deploy stage per instance, in order, each with its project's variables.
    for name in deployed.instances:
        deploy_env = _pipeline_environment(
            server, pipeline_key, home, service_name=SERVICE, service_instance_name=name
        )
        for command in deploy:
            _run(command, source, deploy_env)

    for name in deployed.instances:
        view = proton.get_service_instance(serviceName=SERVICE, name=name)["serviceInstance"]
        assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")
        assert view["lastSucceededDeploymentId"] != before[name]["lastSucceededDeploymentId"]
        assert _instance_inputs(view["spec"], name)["image"] == NEW_IMAGE
        # The stack itself was updated: the new image is in the task definition it deploys.
        stack = stack_name_for("service-instance", SERVICE, name)
        assert NEW_IMAGE in str(cloudformation.get_template(StackName=stack)["TemplateBody"])
        # The deployment the pipeline made kept the instance's version (CURRENT_VERSION).
        deployment = proton.get_deployment(id=view["lastSucceededDeploymentId"])["deployment"]
        assert deployment["deploymentStatus"] == "SUCCEEDED"
        target = deployment["targetState"]["serviceInstance"]
        assert _instance_inputs(target["spec"], name)["image"] == NEW_IMAGE
        assert target["templateMinorVersion"] == before[name]["templateMinorVersion"]


def _instance_inputs(spec: str, instance: str) -> dict[str, Any]:
    """An instance's inputs from a spec as the API shows it: the whole ServiceSpec (as
    update-service-instance received it) or the instance's own inputs."""
    document = yaml.safe_load(spec) or {}
    if "instances" not in document:
        return dict(document)
    (entry,) = [i for i in document["instances"] if i["name"] == instance]
    return dict(entry.get("spec") or {})


def test_the_cdk_pipeline_reads_its_outputs_and_its_service_arn(
    server: BaryonProcess,
    proton: Any,
    deployed: DeployedService,
    pipeline_key: tuple[str, str],
    tmp_path: Path,
) -> None:
    env = _pipeline_environment(server, pipeline_key, tmp_path / "home", SERVICE_NAME=SERVICE)
    printed = _run("\n".join(CDK_OUTPUT_COMMANDS), tmp_path, env).split()
    # The jq filter counts the outputs under the answer's one key: the pipeline has one.
    assert printed[0] == "1", printed
    service_arn = proton.get_service(name=SERVICE)["service"]["arn"]
    assert printed[1] == f"{service_arn}/pipeline"
    # Its last command publishes the image tag on the pipeline, whose deployment ended long
    # ago (reference 4.6): the output joins the pipeline's outputs.
    _run(
        'aws proton notify-resource-deployment-status-change --resource-arn "$arn" '
        '--outputs \'[{"key": "ImageTag", "valueString": "3f9a1c2"}]\'',
        tmp_path,
        {**env, "arn": printed[1]},
    )
    outputs = proton.list_service_pipeline_outputs(serviceName=SERVICE)["outputs"]
    assert {"key": "ImageTag", "valueString": "3f9a1c2"} in outputs
    assert any(o["key"] == "PipelineEndpoint" for o in outputs)


def test_a_pipeline_in_another_region_is_told_which_region_baryon_serves(
    server: BaryonProcess,
    deployed: DeployedService,
    pipeline_key: tuple[str, str],
    tmp_path: Path,
) -> None:
    """CodeBuild sets AWS_DEFAULT_REGION to the pipeline's region and the samples pass it as
    --region: Baryon must serve that region (BARYON_REGION), and says so when it does not."""
    get_service = _render(pipeline_commands(deployed.bundle.path).build[0], {})
    env = _pipeline_environment(server, pipeline_key, tmp_path / "home", service_name=SERVICE)
    env["AWS_DEFAULT_REGION"] = "eu-west-3"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", get_service],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert done.returncode != 0
    assert "eu-west-3" in done.stderr and server.exports["AWS_DEFAULT_REGION"] in done.stderr
