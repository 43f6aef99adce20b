#!/usr/bin/env bash
# Installs what the tests and the demo need from the system, when it is missing:
# redis-server (Debian/Ubuntu apt), and checks for cargo and node.
set -euo pipefail
# redis-cli builds the test Clusters (--cluster create); Debian's redis-server pulls it in.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing redis-server and redis-tools with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    # The package starts a service on 6379; our tests never use it.
  else
    echo "[setup] redis-server is missing: install it (e.g. 'sudo apt-get install redis-server' or 'brew install redis')" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null 2>&1 || { echo "[setup] cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "[setup] node >= 20 is required" >&2; exit 1; }
