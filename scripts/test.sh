#!/usr/bin/env bash
# Install everything (system packages, Python deps, the Elasticsearch test server) and run the
# whole test suite. This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --with-elasticsearch
exec .venv/bin/python -m pytest "$@"
