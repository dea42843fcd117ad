#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, the SAM template lint, unit tests,
# the store conformance suite on SQLite and on DynamoDB (moto), and the integration tests that
# drive the real binaries over HTTP and the Lambda handlers against the AWS emulator.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() {
    command -v "$1" >/dev/null || { echo "error: $1 is not on PATH; $2" >&2; exit 1; }
}
need cargo "install Rust with rustup (https://rustup.rs)"
need python3 "install Python 3.10 or newer (with venv and pip)"

# Test tools live in a project-local virtualenv, installed once.
if ! .venv/bin/python -c "import moto, cfnlint, werkzeug" 2>/dev/null; then
    echo "==> installing moto and cfn-lint into .venv/ (once)"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r infra/scripts/requirements-test.txt
fi

echo "==> cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# One AWS emulator for the whole run, on a free loopback port, stopped on exit.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
.venv/bin/python infra/scripts/moto_server.py 127.0.0.1 "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
        break
    fi
    kill -0 "$moto_pid" 2>/dev/null || { echo "error: moto did not start:" >&2; cat target/moto.log >&2; exit 1; }
    sleep 0.2
done
export TWOSTEP_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
echo "==> AWS emulator (moto) on $TWOSTEP_TEST_AWS_ENDPOINT"

echo "==> cargo build (the function binaries run under a Lambda runtime stand-in in the tests)"
cargo build --workspace --bins --locked

echo "==> cargo test"
cargo test --workspace --locked
