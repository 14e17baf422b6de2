"""Persistence: one schema on SQLite (embedded) or PostgreSQL (scaled); engine quirks stay here."""
