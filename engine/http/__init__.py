"""HTTP clients for load: the hand-written HTTP/1.1 wire client (the hot path) and
httpx (HTTP/2, redirects, cookies), both answering with one `Response` type."""
