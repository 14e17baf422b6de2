"""Baryon: a self-hosted, Proton-compatible platform for versioned infrastructure templates."""

__version__ = "0.1.0"
