#!/usr/bin/env bash
# The whole test suite, as README.md gives it. Installs what the tests need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests run for real (Debian packages). Installed only when missing, and only
# as root or in CI; elsewhere the tests that need them print "skipped: ..." and pass.
# Re-running is a no-op once they are there.
ensure_packages() {
  local missing=()
  local pair
  for pair in "$@"; do # binary:package
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  elif [ -n "${CI:-}" ] && command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]} (sudo)"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "== not installing ${missing[*]} (not root, not CI): their tests will be skipped" >&2
  fi
}

echo "== test dependencies (Debian packages, installed only when missing)"
# microsocks: the real SOCKS5 proxy of the conformance suite's socks5_* tests.
# dnsmasq-base: the real DNS server of the dnsmasq conformance cases (the binary only, no
# system service on port 53). iproute2: `ip netns` for the namespace test (needs root).
# chromium: the headless browser of the dashboard end-to-end test (cli/tests/dashboard-browser.rs).
export PATH="$PATH:/usr/sbin:/sbin"
ensure_packages microsocks:microsocks dnsmasq:dnsmasq-base ip:iproute2 chromium:chromium

echo "== the core depends on no runtime"
if cargo tree -p qudag-peer -e normal --prefix none | grep -E '^(tokio|smol|async-std|async-io|async-net|mio) '; then
  echo "qudag-peer (core) must not depend on an async runtime" >&2
  exit 1
fi
scripts/check-module-cycles.sh
if cargo tree -p qudag-cli -e normal,features --prefix none | grep -q '^qudag-peer feature "test-support"'; then
  echo "the qudag binary must not enable qudag-peer's test-support feature" >&2
  exit 1
fi

echo "== formatting"
cargo fmt --all -- --check

echo "== tests"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

# A workspace build unifies features, so the harnesses' `test-support` is on for every crate
# above; built alone, the node binary and the adapters see only the core's public API.
# (After the tests: most artifacts are shared with the test build.)
echo "== the CLI and the adapters build on the core's public API alone (no test-support)"
cargo build -p qudag-cli --bins --locked
cargo build -p qudag-peer-tokio -p qudag-peer-smol --lib --locked
