"""Widgets of the run and summary screens; each owns one panel and is fed plain data."""
