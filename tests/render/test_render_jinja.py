"""The Jinja engine as Proton's templates use it, and how its errors read."""

from __future__ import annotations

import pytest

from baryon.render import RenderError, render_text


def render(text: str, **namespace: object) -> str:
    return render_text(text, namespace, file="pipeline_infrastructure/cloudformation.yaml")


def failure(text: str, **namespace: object) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render(text, **namespace)
    return caught.value


def test_default_whitespace_settings() -> None:
    # No trim_blocks / lstrip_blocks: a tag line leaves its indentation and newline, which
    # the samples rely on (reference 3.4); the trailing newline is kept.
    text = "a:\n  {% if true %}\n  b: 1\n  {% endif %}\n"
    assert render(text) == "a:\n  \n  b: 1\n  \n"
    assert render("x\n") == "x\n"
    assert render("{%- if true %}\n  y{% endif %}\n") == "\n  y\n"


def test_constructs_the_samples_use() -> None:
    text = (
        "{% set key, value = pair.split('=') %}{{ key }}:{{ value }}|"
        "{{ ('svc' ~ '--' ~ 'a-very-long-instance-name-here') | truncate(29, true, 'zzz', 0) }}|"
        "{{ {'ruby2.7': {'ruby': '2.7'}}[runtime] | tojson | safe }}|"
        "{{ '  padded  ' | trim }}|{{ items | length }}|"
        "{% for item in items %}{{ loop.index }}{{ item }}{% endfor %}|"
        "{{ missing is defined }}"
    )
    assert render(text, pair="a=b", runtime="ruby2.7", items=["x", "y"]) == (
        'a:b|svc--a-very-long-instance-zzz|{"ruby": "2.7"}|padded|2|1x2y|False'
    )


def test_raw_keeps_dynamic_references() -> None:
    text = "V: '{% raw %}{{resolve:ssm:/p:1}}{% endraw %}' W: '{{ '{{resolve:ssm:/q}}' }}'"
    assert render(text) == "V: '{{resolve:ssm:/p:1}}' W: '{{resolve:ssm:/q}}'"


def test_syntax_error_names_the_line() -> None:
    error = failure("a: 1\nb: 2\nc: {% if x %}\n")
    assert (error.file, error.line) == ("pipeline_infrastructure/cloudformation.yaml", 3)
    assert error.reason == (
        "Unexpected end of template. Jinja was looking for the following tags: 'elif' or "
        "'else' or 'endif'. The innermost block that needs to be closed is 'if'."
    )
    error = failure("a: 1\nb: {{ x | }}\n")
    assert str(error) == (
        "pipeline_infrastructure/cloudformation.yaml line 2: "
        "expected token 'name', got 'end of print statement'"
    )


def test_unknown_filter_names_the_line() -> None:
    error = failure("a\nb\n{{ x | no_such_filter }}", x=1)
    assert (error.line, error.reason) == (3, "No filter named 'no_such_filter'.")


def test_python_errors_name_the_line() -> None:
    assert str(failure("\n\n{{ 1 / 0 }}")) == (
        "pipeline_infrastructure/cloudformation.yaml line 3: ZeroDivisionError: division by zero"
    )
    assert failure("{{ 'a' + 1 }}").reason.startswith("TypeError:")


def test_error_line_inside_a_loop_and_a_macro() -> None:
    text = (
        "{% macro show(item) %}\n"
        "{{ item.name }}\n"
        "{% endmacro %}\n"
        "{% for item in items %}\n"
        "{{ show(item) }}\n"
        "{% endfor %}\n"
    )
    error = failure(text, items=[{"name": "a"}, {}])
    assert (error.line, error.reason) == (
        2,
        "'dict object' has no attribute 'name' (items[1].name)",
    )


def test_same_inputs_same_bytes() -> None:
    text = "{% for k, v in d | dictsort %}{{ k }}={{ v }};{% endfor %}{{ d | tojson }}"
    namespace = {"d": {"b": 2, "a": [1, {"c": None}]}}
    first = render_text(text, namespace, file="f")
    assert first == render_text(text, namespace, file="f")
    assert first == 'a=[1, {\'c\': None}];b=2;{"a": [1, {"c": null}], "b": 2}'


def test_no_randomness_is_available() -> None:
    assert failure("{{ [1, 2] | random }}").reason == "No filter named 'random'."
    assert failure("{{ lipsum() }}").reason == "'lipsum' is undefined"


def test_namespace_values_must_be_plain_data() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("x", {"bad": {"when": object()}}, file="f")
    assert str(caught.value) == "f: namespace value bad.when: object values cannot be rendered"
