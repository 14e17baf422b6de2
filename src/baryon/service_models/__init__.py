"""Loads the vendored service models that define Baryon's wire protocol.

A leaf every layer may import: the front doors parse and serialize by the models, operations
check their names against them, and the modules generated from them (``proton.py``,
``baryon.py``, see generate.py) type requests, results and the model's enums everywhere.

``models/proton`` is botocore's Proton model (Apache-2.0, see models/LICENSE-botocore.txt),
vendored so that Baryon keeps speaking Proton even if botocore drops it. ``models/baryon`` is
Baryon's own extension model (ARCHITECTURE rule 2), laid out the way botocore expects so that
clients reach it with ``AWS_DATA_PATH=<this folder>``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from botocore.model import ServiceModel

MODELS_DIR = Path(__file__).parent / "models"

PROTON = "proton"
BARYON = "baryon"
SERVICE_API_VERSIONS = {PROTON: "2020-07-20", BARYON: "2026-11-01"}


def model_path(service: str, kind: str) -> Path:
    return MODELS_DIR / service / SERVICE_API_VERSIONS[service] / f"{kind}.json"


@cache
def load_json(service: str, kind: str) -> dict:
    with open(model_path(service, kind), encoding="utf-8") as handle:
        return json.load(handle)


@cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(load_json(service, "service-2"), service_name=service)


def models_by_target_prefix() -> dict[str, ServiceModel]:
    """Maps each model's ``targetPrefix`` (the part of X-Amz-Target before the dot)."""
    result: dict[str, ServiceModel] = {}
    for name in SERVICE_API_VERSIONS:
        model = service_model(name)
        result[model.metadata["targetPrefix"]] = model
    return result
