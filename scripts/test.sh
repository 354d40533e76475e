#!/usr/bin/env bash
# Install everything (system packages, Python deps, the Elasticsearch test server), check the
# code (ruff lint and format; mypy --strict on core/ and adapters/, configured in pyproject.toml),
# then run the whole test suite. This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --with-elasticsearch
echo "==> ruff check, ruff format --check"
.venv/bin/ruff check core adapters bot evaluation
.venv/bin/ruff format --check core adapters bot evaluation
echo "==> mypy (strict: core, adapters)"
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
