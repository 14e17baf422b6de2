"""Budgets: templates that would hang a worker or eat its memory are refused, by count.

No test measures time: each asserts the error that stopped the template. The limits are
deterministic counts (RenderLimits), so the outcome is the same on every machine.
"""

from __future__ import annotations

import pytest

from baryon.render import RenderError, RenderLimits, render_text

BOMBS: list[tuple[str, str]] = [
    ("{% for i in range(10**9) %}{% endfor %}", "range() of 1,000,000,000 items is more"),
    ("{{ range(10**100) | list }}", "items is more than the 10,000 allowed"),  # no len()
    (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "the template did more than 1,000,000 operations",
    ),
    ("{{ 'x' * 10**9 }}", "a repeated value would be 1,000,000,000 characters long"),
    ("{{ ['x'] * 10**8 }}", "a repeated value would be 500,000,000 characters long"),
    ("{{ 'ab' ~ ('c' * 999999) }}", "a string joined with ~ would be"),
    ("{{ 9 ** (9 ** 9) }}", "9 ** 387420489 is larger than 4096 bits"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width 999999999 is larger than 1,000,000"),
    ("{{ '{:{}}'.format(1, 99) }}", "nested replacement fields in format specs are not allowed"),
    ("{{ '%0999999999d' % 1 }}", "a % format width 999999999 is larger than 1,000,000"),
    ("{{ '%*d' % (999999999, 1) }}", "'*' widths and precisions are not allowed in % formats"),
    ("{{ '%0999999999d' | format(1) }}", "a % format width 999999999 is larger than 1,000,000"),
    ("{{ 'x'.ljust(10**9) }}", "str.ljust() output would be 1,000,000,000 characters long"),
    ("{{ 'x' | center(10**9) }}", "center() output would be 1,000,000,000 characters long"),
    ("{{ ('a\n' * 400000) | indent(10) }}", "indent() output would be"),
    ("{{ ('a' * 500000) | replace('a', 'bbbbbbbb') }}", "replace() output would be"),
    ("{{ ('a' * 500000).replace('a', 'bbb') }}", "str.replace() output would be 1,500,000"),
    ("{{ ('a' * 900000) | wordwrap(1) }}", "wordwrap() output would be"),
    ("{{ ['a' * 500000, 'b' * 400000] | join('-' * 200000) }}", "join() output would be"),
    ("{{ ''.join(['a' * 600000] * 2) }}", "a repeated value would be"),
    ("{{ 'x' | batch(10**9) | list }}", "a batch size 1000000000 is larger than 1,000,000"),
    ("{{ 'x' | slice(10**9) | list }}", "slice(1000000000) would build more than 10,000 lists"),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "a string joined with ~ would be",
    ),
    (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}{{ ns.l | length }}",
        "would be",
    ),
    (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}{{ ns.n }}",
        "a product larger than 4096 bits is not allowed",
    ),
    (
        "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
        "calls are nested more than 40 deep (a macro or recursive loop that never stops?)",
    ),
    (
        "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
        "calls are nested more than 40 deep",
    ),
    (
        "{% for x in [[1]] recursive %}{{ loop([[1]]) }}{% endfor %}",
        "calls are nested more than 40 deep",
    ),
    (
        "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
        "the output is longer than 1,000,000 characters",
    ),
    (
        "{% for i in range(5000) %}" + "y" * 5000 + "{% endfor %}",
        "the output is longer than 1,000,000 characters",
    ),
    (
        "{% set big %}{% for i in range(5000) %}" + "y" * 5000 + "{% endfor %}{% endset %}",
        "the template built more than 16,000,000 characters",
    ),
    (
        "{% set big %}{% for i in range(9000) %}{{ 'z' * 900 }}{% endfor %}{% endset %}",
        "the template built more than 16,000,000 characters",
    ),
    ("{{ dict.fromkeys(range(9999), 'v' * 999) }}", "would be"),
    ("{% set l = [1] %}" + "{% set l = [l, l] %}" * 40 + "{{ l == l }}", "would be"),
]


@pytest.mark.parametrize(("template", "reason"), BOMBS, ids=[t[:60] for t, _ in BOMBS])
def test_bomb_is_refused(template: str, reason: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_text("Resources: {}\n" + template, {}, file="bomb.yaml")
    assert reason in caught.value.reason
    assert caught.value.file == "bomb.yaml"


def test_output_size_is_capped() -> None:
    limits = RenderLimits(max_output_chars=1000)
    with pytest.raises(RenderError) as caught:
        render_text(
            "{% for i in range(100) %}{{ 'x' * 20 }}{% endfor %}", {}, file="f", limits=limits
        )
    assert str(caught.value) == "f: the output is longer than 1,000 characters"


def test_value_depth_is_capped() -> None:
    template = (
        "{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = [ns.l] %}{% endfor %}"
    )
    with pytest.raises(RenderError) as caught:
        render_text(template, {}, file="f")
    assert caught.value.reason == "a value is nested more than 64 levels deep"


def test_deeply_nested_template_source_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", {}, file="f")
    assert caught.value.reason == "the template is nested too deeply to compile"


def test_template_size_is_capped() -> None:
    with pytest.raises(RenderError) as caught:
        render_text("x" * 101, {}, file="f", limits=RenderLimits(max_template_chars=100))
    assert str(caught.value) == "f: the template is 101 characters; the limit is 100"


def test_reasonable_work_stays_within_budget() -> None:
    template = (
        "{% set ns = namespace(total=0) %}"
        "{% for i in range(1000) %}{% set ns.total = ns.total + i %}{% endfor %}"
        "{{ ns.total }} {{ ('x' * 1000) | length }} {{ range(10) | join(',') }}"
        "{% macro fact(n) %}{{ 1 if n <= 1 else n * (fact(n - 1) | int) }}{% endmacro %}"
        " {{ fact(20) }} {{ 2 ** 100 }} {{ '%05d' % 42 }} {{ '{:>6}'.format('ab') }}"
    )
    assert render_text(template, {}, file="f") == (
        f"499500 1000 0,1,2,3,4,5,6,7,8,9 2432902008176640000 {2**100} 00042     ab"
    )
