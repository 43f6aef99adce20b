#!/usr/bin/env bash
# Installs what the tests and the demo need from the system, when it is missing:
# redis-server and Varnish with the xkey vmod (Debian/Ubuntu apt), and checks for cargo and node.
set -euo pipefail

apt_updated=0
# apt_install <what> <package>...: installs with apt-get as root, else says how and fails.
apt_install() {
  local what=$1
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing $* with apt-get"
    if [ "$apt_updated" = 0 ]; then
      apt-get update -qq
      apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "[setup] $what is missing: install it (e.g. 'sudo apt-get install $*')" >&2
    exit 1
  fi
}

# redis-cli builds the test Clusters (--cluster create); Debian's redis-server pulls it in.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  # The package starts a service on 6379; our tests never use it.
  apt_install redis-server redis-server redis-tools
fi

# Varnish in front of the e2e balancer (CDN purging by xkey): varnishd and the xkey vmod
# (varnish-modules). varnishd is in /usr/sbin, which a non-root PATH may lack.
have_varnishd() { command -v varnishd >/dev/null 2>&1 || [ -x /usr/sbin/varnishd ]; }
have_xkey() { compgen -G '/usr/lib/*/varnish/vmods/libvmod_xkey.so' >/dev/null || compgen -G '/usr/lib/varnish/vmods/libvmod_xkey.so' >/dev/null; }
if ! have_varnishd || ! have_xkey; then
  apt_install "varnish with the xkey vmod" varnish varnish-modules
  # The package may start a service on :6081 (and :80 with some configs); the tests start
  # their own varnishd on free ports, so stop it and keep it from coming back.
  if command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-system-running 2>/dev/null || true)" != offline ]; then
    systemctl disable --now varnish varnishncsa >/dev/null 2>&1 || true
  fi
  service varnish stop >/dev/null 2>&1 || true
  update-rc.d varnish disable >/dev/null 2>&1 || true
  # Without an init system, a varnishd the package started still has its pid file.
  for pidfile in /run/varnish.pid /run/varnishd.pid; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = varnishd ]; then
      kill "$pid" 2>/dev/null || true
    fi
  done
fi

command -v cargo >/dev/null 2>&1 || { echo "[setup] cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "[setup] node >= 20 is required" >&2; exit 1; }
