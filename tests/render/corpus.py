"""The AWS CloudFormation sample corpus, prepared for rendering.

For each bundle it finds the sample specs beside it (``spec/spec.yaml``, ``specs/*.yaml`` in
the nearest enclosing folder that has them), and builds namespaces the way the engine
will: schema defaults merged under the spec, environment outputs taken from *rendering the
compatible environment template* (plain string outputs keep their value, outputs computed
by CloudFormation get a plausible synthetic value), instance outputs likewise from the
rendered instance template. Nothing here is copied from the samples; they are read in
place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from baryon.bundles import Bundle, BundleLimits, IacSection, SpecError, load_bundle
from baryon.bundles.yaml_source import load_yaml
from baryon.render import (
    ComponentRef,
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    environment_namespace,
    instance_namespace,
    parse_cloudformation,
    pipeline_namespace,
    render_text,
)
from tests.support.samples import SAMPLES

ACCOUNT = "111122223333"
REGION = "us-east-1"
SERVICE_REPOSITORY = {
    "branch_name": "main",
    "repository_connection_arn": (
        f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/"
        "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    ),
    "repository_id": "example-org/example-app",
}
# A component with three outputs, two of them IAM policy ARNs (reference 3.4 experiment).
COMPONENT = ComponentRef(
    "s3-bucket",
    {
        "BucketName": "arn:aws:s3:::example-component-bucket",
        "BucketAccessPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/example-bucket-access",
        "LogsPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/example-logs-access",
    },
)


@dataclass(frozen=True)
class SampleBundle:
    path: Path
    name: str  # the template name: the folder that holds v1/
    bundle: Bundle

    @property
    def id(self) -> str:
        return str(self.path.relative_to(SAMPLES))


@dataclass(frozen=True)
class Spec:
    path: Path | None  # None: schema defaults only
    document: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.path.relative_to(SAMPLES)) if self.path else "schema-defaults"


@cache
def sample_bundles() -> tuple[SampleBundle, ...]:
    if not SAMPLES.is_dir():
        return ()
    found = []
    for schema in sorted(SAMPLES.glob("**/schema/schema.yaml")):
        path = schema.parent.parent
        kind = "environment" if (path / "infrastructure").is_dir() else "service"
        bundle = load_bundle(
            path,
            kind,
            pipeline_provisioning_customer_managed=(
                kind == "service" and not (path / "pipeline_infrastructure").is_dir()
            ),
            limits=BundleLimits(),
        )
        found.append(SampleBundle(path, path.parent.name, bundle))
    return tuple(found)


def sections(sample: SampleBundle) -> list[IacSection]:
    bundle = sample.bundle
    return [s for s in (bundle.infrastructure, bundle.instance, bundle.pipeline) if s]


def environment_bundle(name: str) -> SampleBundle:
    (match,) = [s for s in sample_bundles() if s.bundle.kind == "environment" and s.name == name]
    return match


def specs_for(sample: SampleBundle) -> list[Spec]:
    """The sample specs that fit this bundle's schema, or one defaults-only spec."""
    wanted = "EnvironmentSpec" if sample.bundle.kind == "environment" else "ServiceSpec"
    fitting = []
    for path in _spec_files(sample.path):
        document = load_yaml(path.read_text(), path.name, max_bytes=1 << 20).data
        if document.get("proton") == wanted and _fits(sample, document):
            fitting.append(Spec(path, document))
    return fitting or [Spec(None, {})]


def _spec_files(bundle_path: Path) -> list[Path]:
    for folder in bundle_path.parents:
        if folder == SAMPLES.parent:
            break
        files = sorted([*folder.glob("spec/*.yaml"), *folder.glob("specs/*.yaml")])
        if files:
            return files
    return []


def _fits(sample: SampleBundle, document: dict[str, Any]) -> bool:
    try:
        if sample.bundle.kind == "environment":
            inputs(sample, "environment", document.get("spec"))
        else:
            for instance in document.get("instances") or []:
                inputs(sample, "service", instance.get("spec"))
    except SpecError:
        return False
    return True


def inputs(sample: SampleBundle, role: str, values: Any) -> dict[str, Any]:
    """Spec values over schema defaults; required inputs without a value get a plausible
    one. A value the schema does not know is dropped: one sample spec misspells an input
    (lambda-multi-svc: packaging_commands), which the bundle tests already report."""
    schema = sample.bundle.schema
    type_name = schema.input_types()[role]  # type: ignore[index]
    node = schema.types[type_name]
    properties = node.get("properties", {})
    given = {key: value for key, value in (values or {}).items() if key in properties}
    for name in node.get("required", []):
        if name not in given and "default" not in properties[name]:
            given[name] = _plausible(properties[name])
    return schema.apply_inputs(type_name, given, where=role)


def _plausible(prop: dict[str, Any]) -> Any:
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "number":
        return prop.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    text = "sample-value" * 10
    # Twelve characters, or as close as minLength/maxLength allow.
    length = max(prop.get("minLength", 0), min(12, prop.get("maxLength", 12)))
    return text[:length]


def synthetic_output(name: str, value: Any) -> str:
    """A stack output as a string: plain values as written, computed ones made up."""
    if isinstance(value, str):
        return value
    lowered = name.lower()
    token = hashlib.sha256(name.encode()).hexdigest()[:17]
    attribute = value.get("Fn::GetAtt", ["", ""])[1] if isinstance(value, dict) else ""
    if lowered.endswith("arn") or attribute == "Arn" or "role" in lowered:
        return _arn(lowered, name)
    for word, prefix in (("subnet", "subnet"), ("securitygroup", "sg"), ("namespace", "ns")):
        if word in lowered:
            return f"{prefix}-{token}"
    if lowered in ("vpc", "vpcid"):
        return f"vpc-{token}"
    if "region" in lowered:
        return REGION
    return f"example-{name.lower()}"


def _arn(lowered: str, name: str) -> str:
    if "role" in lowered:
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if "policy" in lowered:
        return f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    if "topic" in lowered or "sns" in lowered:
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
    if "bucket" in lowered:
        return f"arn:aws:s3:::example-{lowered}"
    if "cluster" in lowered:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}"
    return f"arn:aws:apprunner:{REGION}:{ACCOUNT}:vpcconnector/{name}/1/0123456789abcdef"


def stack_outputs(rendered: str) -> dict[str, str]:
    template = parse_cloudformation(rendered, "outputs")
    return {
        name: synthetic_output(name, output.get("Value"))
        for name, output in (template.get("Outputs") or {}).items()
    }


@cache
def environment_outputs(template_name: str) -> dict[str, str]:
    """The outputs the environment template declares, from rendering it with its spec."""
    sample = environment_bundle(template_name)
    section = sample.bundle.infrastructure
    assert section is not None
    spec = specs_for(sample)[0]
    namespace = environment_namespace(environment_ref(sample, spec, {}))
    (text,) = section.files.values()
    return stack_outputs(render_text(text, namespace, file="environment"))


def environment_ref(sample: SampleBundle, spec: Spec, outputs: dict[str, str]) -> EnvironmentRef:
    return EnvironmentRef(
        name=f"{sample.name}-prod",
        account_id=ACCOUNT,
        inputs=inputs(sample, "environment", spec.document.get("spec")),
        outputs=outputs,
    )


def service_ref(sample: SampleBundle) -> ServiceRef:
    return ServiceRef(sample.name, **SERVICE_REPOSITORY)


def instances(
    sample: SampleBundle, spec: Spec, *, component: ComponentRef | None = None
) -> list[InstanceRef]:
    """The spec's instances (or two made-up ones), in their compatible environment."""
    compatible = sample.bundle.compatible_environments or []
    outputs = environment_outputs(compatible[0][0]) if compatible else {}
    listed = spec.document.get("instances") or [
        {"name": "dev", "environment": "env-dev"},
        {"name": "prod", "environment": "env-prod"},
    ]
    components = {"default": component} if component else {}
    return [
        InstanceRef(
            name=item["name"],
            inputs=inputs(sample, "service", item.get("spec")),
            outputs={},
            environment=EnvironmentRef(item["environment"], ACCOUNT, {}, outputs),
            components=components,
        )
        for item in listed
    ]


def namespace_for(
    sample: SampleBundle, section: IacSection, spec: Spec, *, component: ComponentRef | None = None
) -> dict[str, Any]:
    if section.folder == "infrastructure":
        return environment_namespace(environment_ref(sample, spec, {}))
    service = service_ref(sample)
    if section.folder == "instance_infrastructure":
        return instance_namespace(service, instances(sample, spec, component=component)[0])
    # Pipelines see each instance's outputs: render the instance template to learn them.
    assert sample.bundle.instance is not None
    (instance_text,) = sample.bundle.instance.files.values()
    deployed = []
    for instance in instances(sample, spec):
        rendered = render_text(
            instance_text, instance_namespace(service, instance), file="instance"
        )
        deployed.append(
            InstanceRef(
                instance.name,
                instance.inputs,
                stack_outputs(rendered),
                instance.environment,
            )
        )
    pipeline_values = inputs(sample, "pipeline", spec.document.get("pipeline"))
    return pipeline_namespace(service, pipeline_values, deployed)
