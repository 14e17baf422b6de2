"""cfn-lint as the judge of rendered CloudFormation: template decoding plus error rules.

Loading cfn-lint's rules takes a while, so they are loaded once; a text is linted once even
when several tests render the same bytes (a component that the template does not read
changes nothing).
"""

from __future__ import annotations

from functools import cache

from cfnlint.api import ConfigMixIn, Runner
from cfnlint.decode import decode_str
from cfnlint.runner.template.runner import run_template_by_data

REGION = "us-east-1"

# rule -> (why it is not a rendering problem, sample folders it applies to; None = all)
IGNORED_RULES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "E2533": (
        "sample age: Lambda runtimes the samples pin (python3.6, nodejs12.x) have been "
        "deprecated since they were written; the runtime is template text, not rendered",
        None,
    ),
    "E3049": (
        "load-balanced-ecs-ec2-svc writes HostPort: 0 (dynamic host ports) literally; "
        "cfn-lint then wants the target group's HealthCheckPort spelled 'traffic-port'",
        ("service-templates/load-balanced-ecs-ec2-svc/",),
    ),
}


@cache
def _rules() -> object:
    return Runner(ConfigMixIn(regions=[REGION])).rules


@cache
def error_matches(text: str) -> tuple[tuple[str, int, str], ...]:
    """(rule id, line, message) of every decoding problem and every error-level match."""
    template, problems = decode_str(text)
    if problems:
        return tuple((m.rule.id, m.linenumber, m.message) for m in problems)
    matches = run_template_by_data(template, ConfigMixIn(regions=[REGION]), _rules())
    return tuple((m.rule.id, m.linenumber, m.message) for m in matches if m.rule.id.startswith("E"))


def unexpected_errors(text: str, sample_id: str) -> list[str]:
    found = []
    for rule, line, message in error_matches(text):
        reason = IGNORED_RULES.get(rule)
        if reason and (reason[1] is None or any(sample_id.startswith(p) for p in reason[1])):
            continue
        found.append(f"{rule} line {line}: {message}")
    return found
