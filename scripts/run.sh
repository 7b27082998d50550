#!/usr/bin/env bash
# The README's run command: builds ikegw and runs its embedded default job,
# `ikegw demo`: two gateways in network namespaces bring up a site-to-site
# IKEv2 tunnel with the userland key engine and ESP over TUN, ping LAN to LAN
# through it, print both sides' SAs and ESP counters, and tear it all down.
# Root on Linux is needed for the namespaces. Arguments go to `ikegw demo`
# (e.g. `--peer strongswan` to use strongSwan as the second gateway).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/install-deps.sh
cargo build --release --locked --bin ikegw
exec target/release/ikegw demo "$@"
