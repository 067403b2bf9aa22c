"""Deployments: strategies as pure state machines, per-color figures, the smoke run,
and the driver that applies a strategy's weights to a router."""
