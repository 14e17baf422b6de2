"""Renders one Jinja template text against a namespace, inside the sandbox.

This is the only way the render package runs Jinja. Errors of every kind (syntax, missing
values, sandbox refusals, budgets, filter validation, Python errors such as a division by
zero) come out as one RenderError naming the file and the template line.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Generator, Mapping
from types import CodeType
from typing import Any, cast

from jinja2 import Template, TemplateError, TemplateSyntaxError

from baryon.render.budget import Budget
from baryon.render.errors import BudgetExceeded, FilterError, RenderError
from baryon.render.indentation import BLOCK_END, BLOCK_START, expand_blocks
from baryon.render.limits import DEFAULT_LIMITS, RenderLimits
from baryon.render.sandbox import TemplateSandbox
from baryon.render.template_tree import prepare
from baryon.render.values import wrap_namespace


def render_text(
    text: str,
    namespace: Mapping[str, Any],
    *,
    file: str,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> str:
    """Render `text`; `file` names it in errors, e.g. "infrastructure/cloudformation.yaml"."""
    _check_text(text, file, limits)
    try:
        context = wrap_namespace(namespace)
    except RenderError as exc:
        raise RenderError(f"namespace value {exc.reason}", file=file) from None
    # A fresh environment per render: the budget is per render and nothing is shared
    # between threads or tenants.
    environment = TemplateSandbox(Budget(limits))
    template = _compile(environment, text, file)
    return expand_blocks(_run(template, context, file, limits), file)


def check_template(text: str, *, file: str, limits: RenderLimits = DEFAULT_LIMITS) -> None:
    """Compile `text` exactly as `render_text` would, without rendering it; RenderError (file,
    line, Jinja's reason) if it never could render. Registration runs this on every template
    of a bundle, so that a syntax error fails the version, not its first deployment."""
    _check_text(text, file, limits)
    _compiled(text, file)


def _check_text(text: str, file: str, limits: RenderLimits) -> None:
    if len(text) > limits.max_template_chars:
        raise RenderError(
            f"the template is {len(text):,} characters; the limit is {limits.max_template_chars:,}",
            file=file,
        )
    if BLOCK_START in text or BLOCK_END in text:
        raise RenderError("control characters U+0002/U+0003 are not allowed", file=file)


def _compile(environment: TemplateSandbox, text: str, file: str) -> Template:
    code = _compiled(text, file)
    return environment.template_class.from_code(environment, code, environment.make_globals(None))


# Compiling is most of a render's cost and every deployment of a version renders the same
# files. The code object holds no state: each render runs it in its own environment, with
# its own budget (as Jinja's bytecode cache does). Failures are not cached.
@functools.lru_cache(maxsize=256)
def _compiled(text: str, file: str) -> CodeType:
    environment = TemplateSandbox(Budget(DEFAULT_LIMITS))
    try:
        tree = environment.parse(text, name=file, filename=file)
        tree = prepare(tree, file)
        tree.set_environment(environment)
        return environment.compile(tree, name=file, filename=file)
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", file=file, line=exc.lineno) from None
    except (RecursionError, MemoryError, SyntaxError):
        # Thousands of nested brackets overflow the parser or Python's compiler.
        raise RenderError("the template is nested too deeply to compile", file=file) from None


def _run(template: Template, context: dict[str, Any], file: str, limits: RenderLimits) -> str:
    chunks: list[str] = []
    size = 0
    # A generator (its stub says Iterator): closing it ends the render's frames at once.
    stream = cast(Generator[str, None, None], template.generate(context))
    try:
        for chunk in stream:
            size += len(chunk)
            if size > limits.max_output_chars:
                raise RenderError(
                    f"the output is longer than {limits.max_output_chars:,} characters",
                    file=file,
                )
            chunks.append(chunk)
    except RenderError:
        raise
    except Exception as exc:  # every failure of a template is the author's to read
        raise RenderError(_reason(exc), file=file, line=_template_line(exc, file)) from None
    finally:
        stream.close()
    return "".join(chunks)


def _reason(exc: Exception) -> str:
    if isinstance(exc, TemplateError):
        return exc.message or type(exc).__name__
    if isinstance(exc, BudgetExceeded | FilterError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "calls are nested too deeply (a macro that calls itself?)"
    if isinstance(exc, MemoryError):
        return "the template needs more memory than is available"
    return f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException, file: str) -> int | None:
    # Jinja rewrites tracebacks so that template frames carry the template's file name and
    # line; the innermost such frame is the line that was running.
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == file
    ]
    return lines[-1] if lines else None
