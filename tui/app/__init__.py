"""The live console: a Textual app with its screens, widgets and one stylesheet."""
