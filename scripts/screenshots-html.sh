#!/usr/bin/env bash
# Regenerate screenshots/html-run.png and screenshots/html-rollout.png: the HTML report of
# a plain run (`surge run --report`, then `surge report html`) and of a rollout rolled back
# (`surge run --out html=`, through the real proxy in front of two `surge sut`), drawn by
# headless Chromium with the network off. The browser test makes them from the real
# commands and keeps them where SURGE_HTML_SHOTS says.
set -euo pipefail
cd "$(dirname "$0")/.."
test=tests/integration/test_html_report.py::test_each_kind_of_report_renders_offline_with_the_tomls_figures
SURGE_HTML_SHOTS=screenshots .venv/bin/pytest -q -p no:cacheprovider "$test[plain]" "$test[rollout]"
ls -l screenshots/html-run.png screenshots/html-rollout.png
