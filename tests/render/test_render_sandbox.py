"""Hostile templates: each is refused with a clear RenderError and has no effect.

Every template tries to reach Python (os.system, os.environ, file reads) and would create
the canary file or print the secret if it escaped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from baryon.render import RenderError, render_text

SECRET = "baryon-render-secret-3f9a"
UNSAFE = "access to attribute {!r} of {!r} object is unsafe."
OS = "os.system('touch {canary}')"

# (template, the reason the render must fail with); {canary} is the file it would create.
HOSTILE: list[tuple[str, str]] = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", UNSAFE.format("__class__", "str")),
    ("{{ ().__class__.__bases__[0].__subclasses__() }}", UNSAFE.format("__class__", "tuple")),
    (
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('x') }}",
        UNSAFE.format("_TemplateReference__context", "TemplateReference"),
    ),
    (f"{{{{ cycler.__init__.__globals__.{OS} }}}}", UNSAFE.format("__init__", "type")),
    ("{{ joiner.__init__.__globals__['os'].environ }}", UNSAFE.format("__init__", "type")),
    ("{{ namespace.__init__.__globals__.os.environ }}", UNSAFE.format("__init__", "type")),
    (f"{{{{ lipsum.__globals__['os'].{OS} }}}}", "'lipsum' is undefined"),
    ("{{ range.__globals__ }}", UNSAFE.format("__globals__", "function")),
    ("{{ '{0.__class__.__mro__}'.format(inputs) }}", UNSAFE.format("__class__", "dict")),
    (
        "{{ '{0.__init__.__globals__}'.format(cycler) }}",
        "a type object cannot be written out as text",
    ),
    (
        "{{ '{0._TemplateReference__context}'.format(self) }}",
        "a TemplateReference object cannot be written out as text",
    ),
    ("{{ inputs.__class__ }}", UNSAFE.format("__class__", "dict")),
    ("{{ inputs['__class__'] }}", UNSAFE.format("__class__", "dict")),
    ("{{ ''|attr('__class__') }}", UNSAFE.format("__class__", "str")),
    ("{{ [inputs]|map(attribute='__class__')|list }}", UNSAFE.format("__class__", "dict")),
    ("{{ ''.join.__self__ }}", UNSAFE.format("__self__", "builtin_function_or_method")),
    ("{{ dict.mro() }}", UNSAFE.format("mro", "type")),
    ("{{ dict.__subclasses__() }}", UNSAFE.format("__subclasses__", "type")),
    (
        "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}",
        UNSAFE.format("__class__", "LoopContext"),
    ),
    ("{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}", UNSAFE.format("_func", "Macro")),
    ("{{ inputs.update({'a': 'b'}) }}", UNSAFE.format("update", "dict")),
    ("{{ [].append(1) }}", UNSAFE.format("append", "list")),
    ("{{ 'a'.translate({97: 'b'}) }}", "str.translate() is not available in templates"),
    ("{{ config.items() }}", "'config' is undefined"),
    ("{{ request.environ }}", "'request' is undefined"),
    ("{{ self }}", "a TemplateReference object cannot be written out as text"),
    (
        "{{ self.environment.loader }}",
        "'jinja2.runtime.TemplateReference object' has no attribute 'environment'",
    ),
    (
        "{% include '/etc/passwd' %}",
        "{% include %} is not supported: a template is rendered on its own and cannot read "
        "other files",
    ),
    (
        "{% import 'os' as os %}{{ os.environ }}",
        "{% import %} is not supported: a template is rendered on its own and cannot read "
        "other files",
    ),
    (
        "{% from 'os' import environ %}",
        "{% from ... import %} is not supported: a template is rendered on its own and cannot "
        "read other files",
    ),
    (
        "{% extends '/etc/passwd' %}",
        "{% extends %} is not supported: a template is rendered on its own and cannot read "
        "other files",
    ),
]


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BARYON_RENDER_TEST_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)  # relative writes would land here
    return tmp_path / "canary"


@pytest.mark.parametrize(("template", "reason"), HOSTILE, ids=[t for t, _ in HOSTILE])
def test_hostile_template_is_refused(template: str, reason: str, canary: Path) -> None:
    text = "Resources: {}\n" + template.replace("{canary}", str(canary))
    with pytest.raises(RenderError) as caught:
        render_text(text, {"inputs": {"a": "b"}}, file="instance_infrastructure/cfn.yaml")
    assert caught.value.reason == reason
    assert caught.value.file == "instance_infrastructure/cfn.yaml"
    assert caught.value.line == 2
    assert SECRET not in str(caught.value)
    assert not canary.exists()
    assert list(canary.parent.iterdir()) == []


def test_hostile_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 15


@pytest.mark.parametrize(
    "template",
    [
        "{{ cycler('a', 'b').next() }}",
        "{{ namespace(a=1) }}",
        "{{ dict(a=1) }}",
        "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns }}",
        "{% macro m() %}{% endmacro %}{{ m() }}",
    ],
)
def test_harmless_objects_render_without_leaking(template: str, canary: Path) -> None:
    assert SECRET not in render_text(template, {}, file="t")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ range }}", "a function object cannot be written out as text"),
        ("{{ inputs.get }}", "a builtin_function_or_method object cannot be written out as text"),
        ("{{ joiner() }}", "a Joiner object cannot be written out as text"),
        (
            "{{ ['b', 'a'] | map('upper') }}",
            "a generator object cannot be written out as text (add | list to write out its items)",
        ),
        ("{{ 'x' ~ range }}", "a function object cannot be written out as text"),
        ("{{ '%s' % range }}", "a function object cannot be written out as text"),
        ("{{ range | string }}", "a function object cannot be written out as text"),
        ("{{ '{}'.format(joiner()) }}", "a Joiner object cannot be written out as text"),
    ],
)
def test_objects_with_unstable_text_are_refused(template: str, reason: str) -> None:
    # Their text holds a memory address: the same template would render different bytes.
    with pytest.raises(RenderError) as caught:
        render_text(template, {"inputs": {}}, file="t")
    assert caught.value.reason == reason


def test_generator_written_as_a_list_is_fine() -> None:
    assert render_text("{{ ['b', 'a'] | map('upper') | list }}", {}, file="t") == "['B', 'A']"
