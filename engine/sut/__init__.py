"""`surge sut`: the embedded demo system under test (a fast, scriptable HTTP server)."""
