"""The ``baryon`` command."""
