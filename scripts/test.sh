#!/usr/bin/env bash
# The whole test suite, as README.md gives it. Installs what the tests need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

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
