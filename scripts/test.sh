#!/usr/bin/env bash
# The whole test suite, as README.md gives it. Installs what the tests need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
