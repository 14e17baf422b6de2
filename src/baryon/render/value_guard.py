"""A render that proves every value it was given reached the template as data.

Proton pastes values into the template text, so a value with a quote and a line break can
end a YAML scalar and add keys, even resources, of its own; one with ' #' silently cuts the
rest of a line. Deployments and previews both render through `render_guarded`, so a preview
fails exactly where the deployment would, and nothing such a value shapes is ever deployed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from baryon.bundles.loader import IacSection
from baryon.render.cloudformation import parse_cloudformation
from baryon.render.errors import RenderError
from baryon.render.iac import RenderedSection, render_section
from baryon.render.limits import DEFAULT_LIMITS, RenderLimits

# Strings that read back as themselves wherever a template writes them (quoted or not). Any
# other value (quotes, line breaks, '#', ': ', flow punctuation, leading YAML indicators) is
# checked after rendering: Jinja pastes text, and YAML could read such a value as syntax.
_INERT = re.compile(r"(?!- )[A-Za-z0-9_./=+-][A-Za-z0-9 _./=+@:()*?$^~-]*\Z")
_TOKEN = "BaryonValue{:05d}Q"

# token -> (where the value sits in the namespace, the value)
_Probes = dict[str, tuple[str, str]]


def render_guarded(
    section: IacSection,
    namespace: Mapping[str, Any],
    *,
    kind: str,
    resource_arn: str,
    proton_tags: Mapping[str, str],
    limits: RenderLimits = DEFAULT_LIMITS,
) -> RenderedSection:
    """`render_section`, plus the proof that every non-trivial value survived as data.

    The section is rendered a second time with a plain stand-in token for each such value;
    the real render must parse to the same shape, with each value exactly where the
    stand-in render has its token. Otherwise RenderError names the values at fault."""

    def render(values: Mapping[str, Any]) -> RenderedSection:
        return render_section(
            section,
            values,
            kind=kind,
            resource_arn=resource_arn,
            proton_tags=proton_tags,
            limits=limits,
        )

    probes: _Probes = {}

    def probe(path: str, value: str) -> str | None:
        if not value or (_INERT.match(value) and ": " not in value and value[-1] not in ": "):
            return None
        token = _TOKEN.format(len(probes))
        probes[token] = (path, value)
        return token

    stand_in_namespace = _replace_strings(namespace, "", probe)
    try:
        rendered, failure = render(namespace), None
    except RenderError as exc:
        if not probes:
            raise
        rendered, failure = None, exc
    # Only CloudFormation's YAML reads pasted text as syntax; Terraform and CodeBuild inputs
    # are written as JSON documents by the renderer itself.
    if rendered is not None and (not probes or rendered.engine != "cloudformation"):
        return rendered
    try:
        stand_in = render(stand_in_namespace)
        # A value the template transforms (or ignores) does not appear verbatim and cannot be
        # followed; render again with stand-ins only for the values that do.
        text = "".join(stand_in.files.values())
        used = {token: found for token, found in probes.items() if token in text}
        if used and len(used) < len(probes):
            tokens = {path: token for token, (path, _) in used.items()}
            stand_in = render(_replace_strings(namespace, "", lambda path, _: tokens.get(path)))
    except RenderError:
        used = {}  # the template inspects the values themselves: nothing to compare with
    if failure is not None:
        if not used:
            raise failure
        raise RenderError(
            f"{failure.reason}; this comes from the value of {_names(used)}, which holds "
            "quotes, line breaks or other characters that YAML reads as syntax where the "
            "template writes it",
            file=failure.file,
            line=failure.line,
        )
    assert rendered is not None
    for name, body in rendered.files.items():
        where = f"{section.folder}/{name}"
        intended = parse_cloudformation(stand_in.files[name], where)
        if not _survives(intended, parse_cloudformation(body, where), used):
            raise RenderError(
                f"the value of {_names(used)} changes the rendered template: YAML reads the "
                "quotes, line breaks, '#' or other punctuation in it as syntax, so the stack "
                "would not hold the value as given (or would hold more than it). Nothing was "
                "deployed; quote the value in the template or give a different value",
                file=where,
            )
    return rendered


def _replace_strings(value: Any, path: str, replace: Callable[[str, str], str | None]) -> Any:
    """``value`` with each string for which ``replace(path, string)`` gives a stand-in
    replaced by it; ``path`` says where a value sits (``service_instance.inputs.image``)."""
    if isinstance(value, str):
        stand_in = replace(path, value)
        return value if stand_in is None else stand_in
    if isinstance(value, dict):
        return {
            key: _replace_strings(item, f"{path}.{key}" if path else str(key), replace)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_replace_strings(item, f"{path}[{i}]", replace) for i, item in enumerate(value)]
    return value


def _survives(stand_in: Any, real: Any, used: _Probes) -> bool:
    """Whether the real render has the stand-in render's shape, and holds each value where
    the stand-in holds its token. Text without a token is not compared: a template may
    transform a value (``| upper``), and the token then reads differently."""
    if isinstance(stand_in, dict):
        if not isinstance(real, dict) or len(real) != len(stand_in):
            return False
        # YAML keeps the order of keys, so the two renders pair up by position.
        for (key, item), (real_key, real_item) in zip(stand_in.items(), real.items(), strict=True):
            if not _survives(key, real_key, used) or not _survives(item, real_item, used):
                return False
        return True
    if isinstance(stand_in, list):
        return (
            isinstance(real, list)
            and len(real) == len(stand_in)
            and all(_survives(a, b, used) for a, b in zip(stand_in, real, strict=True))
        )
    if isinstance(stand_in, str) and any(token in stand_in for token in used):
        for token, (_, value) in used.items():
            stand_in = stand_in.replace(token, value)
        return bool(real == stand_in)
    return not isinstance(real, dict | list)


def _names(used: _Probes) -> str:
    return ", ".join(sorted({path for path, _ in used.values()}))
