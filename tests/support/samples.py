"""Where the conformance corpus lives: ../shared/samples beside the checkout."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "samples" / "aws-proton-cloudformation-sample-templates"
