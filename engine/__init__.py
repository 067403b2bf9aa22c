"""Surge's engine: every subsystem below the front ends, one package each.

http (clients), load (the load engine), profile, report, deploy, proxy, sut. Nothing
here imports Textual (import-linter contracts in pyproject.toml, and
tests/unit/test_layering.py): the headless CLI and remote workers need none of it.
"""

__version__ = "0.1.0"
