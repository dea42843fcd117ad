#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, unit tests, the store
# conformance suite and the integration tests that drive the real binaries over HTTP.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo is not on PATH; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
