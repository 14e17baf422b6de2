"""Benchmarks: each module starts what it needs on loopback, prints its figures beside a
baseline measured in the same run, and cleans up after itself (Ctrl-C included).

    .venv/bin/python -m bench.api_latency
    .venv/bin/python -m bench.fleet_upgrade
    .venv/bin/python -m bench.scale

Every one takes ``--quick`` for a smoke run of a few seconds and ``--help`` for its sizes.
"""
