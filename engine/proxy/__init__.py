"""`surge proxy`: a weighted blue/green HTTP/1.1 proxy with a JSON admin API."""
