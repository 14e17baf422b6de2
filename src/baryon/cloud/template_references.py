"""Kept so existing imports keep working: the template checker is `template_checks` now."""

from baryon.cloud.template_checks import parse_template, rejection_message, unresolved_references

__all__ = ["parse_template", "rejection_message", "unresolved_references"]
