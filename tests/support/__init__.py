"""Helpers shared by the tests: real Baryon processes, real clients, bundles on disk."""
