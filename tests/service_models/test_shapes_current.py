"""The typed shapes checked in beside the models are what the generator makes of them now."""

from __future__ import annotations

import importlib
from typing import get_type_hints

import pytest

from baryon.service_models import SERVICE_API_VERSIONS, service_model
from baryon.service_models.generate import generate, module_path


@pytest.mark.parametrize("service", sorted(SERVICE_API_VERSIONS))
def test_checked_in_shapes_match_the_model(service: str) -> None:
    current = generate(service)
    assert module_path(service).read_text(encoding="utf-8") == current, (
        f"{module_path(service).name} is stale: run "
        "`.venv/bin/python -m baryon.service_models.generate`"
    )


@pytest.mark.parametrize("service", sorted(SERVICE_API_VERSIONS))
def test_every_operation_has_typed_input_and_output(service: str) -> None:
    shapes = importlib.import_module(f"baryon.service_models.{service}")
    model = service_model(service)
    for name in model.operation_names:
        operation = model.operation_model(name)
        for shape in (operation.input_shape, operation.output_shape):
            typed = getattr(shapes, shape.name)
            assert set(get_type_hints(typed)) == set(shape.members), shape.name
            assert typed.__required_keys__ == frozenset(shape.required_members), shape.name


def test_enums_take_their_values_from_the_model() -> None:
    from baryon.service_models.proton import DeploymentStatus, DeploymentUpdateType

    model = service_model("proton")
    assert [m.value for m in DeploymentStatus] == model.shape_for("DeploymentStatus").enum
    assert DeploymentUpdateType.MINOR_VERSION == "MINOR_VERSION"
