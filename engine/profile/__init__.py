"""Profiles: the TOML files users write, validated into typed values, and the run plan
built from a profile and the command line's overrides."""
