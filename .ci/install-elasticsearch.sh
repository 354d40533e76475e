#!/usr/bin/env bash
# Install the Elasticsearch server the tests and the benchmark run against.
#
# Debian has no Elasticsearch package, but Maven Central serves Elastic's own test distribution,
# org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip (no bundled JDK, a few
# modules only: enough for dense_vector/kNN/nested/_msearch). This script is idempotent:
#   1. fetches the zip with `mvn dependency:copy` into $HUMBOT_CACHE (default ~/.cache/humbot),
#      which is kept between runs, so the download happens once per machine;
#   2. unzips it to /opt/humbot/elasticsearch-<version> (as root; else into $HUMBOT_CACHE;
#      ES_PREFIX overrides), skipped when already there;
#   3. creates the non-root user the server runs as (Elasticsearch refuses to run as root);
#   4. finds a JDK >= 21 (9.x needs it; Temurin 25 lives under /usr/lib/jvm on these machines);
#   5. writes $HUMBOT_CACHE/elasticsearch.env, which tests/es_server.py reads.
# Override with ES_VERSION, HUMBOT_CACHE, ES_PREFIX, ES_USER, ES_JAVA_HOME.
set -euo pipefail

ES_VERSION=${ES_VERSION:-9.3.2}
CACHE=${HUMBOT_CACHE:-$HOME/.cache/humbot}
ES_USER=${ES_USER:-humbot-es}
ZIP="$CACHE/elasticsearch-$ES_VERSION.zip"
# Unpacked where the server's user can read it without opening up root's home directory.
if [ "$(id -u)" = 0 ]; then PREFIX=${ES_PREFIX:-/opt/humbot}; else PREFIX=${ES_PREFIX:-$CACHE}; fi
HOME_DIR="$PREFIX/elasticsearch-$ES_VERSION"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
mkdir -p "$CACHE"

# -- 1. the zip, from Maven Central (cached) -----------------------------------------------------
if [ ! -s "$ZIP" ]; then
  if ! command -v mvn >/dev/null; then
    echo "==> apt-get install maven"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends maven >/dev/null
  fi
  echo "==> fetching elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
  tmp=$(mktemp -d)
  mvn -q -B dependency:copy \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    -DoutputDirectory="$tmp" -Dmdep.stripVersion=false
  mv "$tmp/elasticsearch-$ES_VERSION.zip" "$ZIP.part"
  mv "$ZIP.part" "$ZIP"   # atomic: a half-downloaded zip never looks complete
  rm -rf "$tmp"
fi

# -- 2. unpacked distribution -------------------------------------------------------------------
if [ ! -x "$HOME_DIR/bin/elasticsearch" ]; then
  echo "==> unpacking $ZIP"
  command -v unzip >/dev/null || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq unzip >/dev/null; }
  mkdir -p "$PREFIX"
  tmp=$(mktemp -d "$PREFIX/unzip.XXXXXX")
  unzip -q "$ZIP" -d "$tmp"
  rm -rf "$HOME_DIR"
  mv "$tmp/elasticsearch-$ES_VERSION" "$HOME_DIR"
  rm -rf "$tmp"
fi

# -- 3. the non-root user ------------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
  id -u "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
  chown -R "$ES_USER": "$HOME_DIR"
  chmod 755 "$PREFIX"
  RUN_AS="$ES_USER"
else
  RUN_AS=""   # not root: the server simply runs as the current user
fi

# -- 4. a JDK >= 21 ------------------------------------------------------------------------------
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p'; }
JDK=${ES_JAVA_HOME:-}
if [ -z "$JDK" ]; then
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*; do
    [ -x "$cand/bin/java" ] || continue
    major=$(java_major "$cand")
    if [ "${major:-0}" -ge 21 ] 2>/dev/null; then JDK="$cand"; break; fi
  done
fi
if [ -z "$JDK" ]; then
  echo "error: Elasticsearch $ES_VERSION needs Java >= 21; none found under /usr/lib/jvm (set ES_JAVA_HOME)" >&2
  exit 1
fi

# -- 5. what the test fixture reads --------------------------------------------------------------
cat > "$CACHE/elasticsearch.env" <<EOF
ES_VERSION=$ES_VERSION
ES_HOME=$HOME_DIR
ES_JAVA_HOME=$JDK
ES_USER=$RUN_AS
EOF
echo "==> elasticsearch $ES_VERSION ready in $HOME_DIR (java: $JDK, user: ${RUN_AS:-$(id -un)})"
