#!/usr/bin/env bash
# Install humbot and run the demo: a small catalog rendered locally from public-domain melodies
# on the embedded index, searched with hummed voice notes. Nothing is downloaded but packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/humbot demo "$@"
