"""Surge's front ends: the command line and the Textual app, both over engine/."""
