#!/usr/bin/env bash
# The whole test suite, as README.md gives it. Installs what the tests need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies (Debian packages, installed only when missing)"
# dnsmasq-base: the real DNS server of the dnsmasq conformance cases (the binary only, no
# system service on port 53). iproute2: `ip netns` for the namespace test (needs root).
need=()
[ -x /usr/sbin/dnsmasq ] || command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing ${need[*]} (not root or no apt-get): those tests will be skipped" >&2
  fi
fi

echo "== the core depends on no runtime"
if cargo tree -p qudag-peer -e normal --prefix none | grep -E '^(tokio|smol|async-std|async-io|async-net|mio) '; then
  echo "qudag-peer (core) must not depend on an async runtime" >&2
  exit 1
fi

echo "== formatting"
cargo fmt --all -- --check

echo "== tests"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
