"""Surge's load engine: clients, executors, metrics, thresholds and reports.

Nothing in this package imports Textual: the headless CLI, the app and remote
workers all share it (tests/test_layering.py guards this).
"""

__version__ = "0.1.0"
