"""The `surge` command line: argument parsing and one module per subcommand.

Textual is imported only when a subcommand opens the app."""
