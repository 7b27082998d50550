#!/usr/bin/env bash
# Runs every check and every test of ikegw, interop scenarios included.
# For a fresh Debian 12 machine, as root: installs what the tests need first.
# This is the README's test command, and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found: install a stable Rust toolchain (rustup) first" >&2
    exit 1
fi

step "installing test prerequisites (strongSwan, iproute2, nftables, tcpdump, ...)"
bash scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property, corpus replay, strongSwan interop in network namespaces)"
cargo test --workspace --locked
