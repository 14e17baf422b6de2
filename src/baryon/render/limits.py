"""How much work one render may do.

Templates come from platform teams, but a mistake (or a hostile author) must not be able to
hang a worker or exhaust its memory. Every budget is a count, never a clock, so a template
that renders once renders everywhere, and one that is refused is refused everywhere; a
preview and the deployment agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderLimits:
    # CloudFormation refuses template bodies over 1 MB, so a larger render is useless anyway.
    max_output_chars: int = 1_000_000
    # Any single value (string, or a container as text) built while rendering.
    max_value_chars: int = 1_000_000
    # Everything built while rendering, including text that is later thrown away.
    max_produced_chars: int = 16_000_000
    # Operations: calls, filters, loop iterations, operators, output chunks, and data walked.
    max_steps: int = 1_000_000
    # Nested calls (macros calling macros, recursive loops).
    max_call_depth: int = 40
    # Nesting of lists and mappings inside one value.
    max_value_depth: int = 64
    # Items in one range(); Jinja's own sandbox allows 100,000.
    max_range: int = 10_000
    # Largest integer a template may compute, in bits (guards 9**9**9 and repeated squaring).
    max_int_bits: int = 4_096
    # Template source size; bundles are smaller, this guards direct callers.
    max_template_chars: int = 2_000_000


DEFAULT_LIMITS = RenderLimits()
