#!/usr/bin/env bash
# Install everything humbot needs on a fresh Debian machine: system packages, a virtualenv with
# the pinned Python dependencies, and (with --with-elasticsearch) the Elasticsearch test server.
# Idempotent and cache-friendly: pip reuses ~/.cache/pip, the Elasticsearch zip is kept in
# ~/.cache/humbot. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_ES=0
for arg in "$@"; do
  case "$arg" in
    --with-elasticsearch) WITH_ES=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

# Soundfonts and festival voices: the evaluation set renders with more than one of each.
# MuseScore General and asc-music (real produced music, 10 MB) are family B's: a soundfont and
# real distractor songs that family A and the melody network's training never use.
APT_PACKAGES=(ffmpeg fluidsynth fluid-soundfont-gm timgm6mb-soundfont festival festvox-kallpc16k
  festvox-kdlpc16k festvox-italp16k unzip musescore-general-soundfont-small asc-music)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> pip install -e .[test,eval]"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,eval]"

if [ "$WITH_ES" = 1 ]; then
  echo "==> Elasticsearch test server"
  bash .ci/install-elasticsearch.sh
fi
echo "==> install done"
