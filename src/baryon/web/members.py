"""Checks of the request members a form fills (names, descriptions, repository), by the same
validator the API runs on every request (``baryon.api.validation.member_problems``), so the
portal accepts exactly what the API accepts; only the words differ."""

from __future__ import annotations

from baryon.api.validation import StringProblem, Violation, input_member, member_problems

# How to say a model pattern in words, by the model's shape name.
PATTERN_WORDS = {
    "ResourceName": "use letters, digits, '-' and '_', starting with a letter or a digit",
    "RepositoryName": "must be owner/name, such as my-org/templates",
    "Arn": "must be an ARN such as arn:aws:codestar-connections:us-east-1:111122223333:"
    "connection/example",
}


def problem(operation: str, member: str, value: str, *, required: bool = True) -> str | None:
    """Why ``value`` is not a valid ``member`` of ``operation``'s request, in words, or None."""
    if value == "":
        return "is required" if required else None
    problems = member_problems(operation, (member,), value)
    return _words(operation, member, value, problems[0]) if problems else None


def _words(operation: str, member: str, value: str, found: StringProblem) -> str:
    shape = input_member(operation, member)
    if found.violation is Violation.TOO_SHORT:
        return f"needs at least {shape.metadata['min']} characters"
    if found.violation is Violation.TOO_LONG:
        return f"has at most {shape.metadata['max']} characters (this has {len(value)})"
    if found.violation is Violation.NOT_IN_ENUM:
        return f"must be one of {', '.join(shape.enum)}"
    return PATTERN_WORDS.get(shape.name, f"must match {shape.metadata['pattern']}")


def version_number(text: str) -> tuple[int, int] | None:
    """``"1.0"`` as (1, 0) when both parts are what the API takes as a version part, else None.

    ``str.isdigit`` takes Arabic-Indic digits, which ``int`` reads ("\\u0661.\\u0660" is 1.0);
    the model's TemplateVersionPart takes ASCII digits only.
    """
    major, dot, minor = text.partition(".")
    return version_parts(major, minor) if dot else None


def version_parts(major: str, minor: str) -> tuple[int, int] | None:
    """Both parts of a version as numbers, checked as the API checks them, or None."""
    for part, member in ((major, "majorVersion"), (minor, "minorVersion")):
        if member_problems("GetEnvironmentTemplateVersion", (member,), part):
            return None
    return int(major), int(minor)
