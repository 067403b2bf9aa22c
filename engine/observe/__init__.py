"""The server's side of a run: Prometheus text endpoints scraped every interval and
PromQL queries against a Prometheus server, as series beside the latency."""
