#!/usr/bin/env bash
# Installs what ikegw's tests need on a Debian 12 ("bookworm") machine, as root:
# strongSwan 5.9.8 (charon, swanctl, pki and the kernel-libipsec plugin, which
# is the only IPsec backend that works on kernels without ESP/PF_KEY), plus the
# network tools the interop harness drives (ip, ping, nft, tcpdump, iperf3,
# unshare/nsenter, openssl).
#
# Idempotent and quick when nothing is missing: the apt step is skipped
# entirely when dpkg already reports every package as installed.
#
# No daemon is started by the install: while apt runs, a temporary
# /usr/sbin/policy-rc.d answers 101 ("action forbidden") to every
# invoke-rc.d call, and is removed again afterwards (only if this script
# created it).
set -euo pipefail

PKGS=(
    # strongSwan: classic charon, swanctl/vici, pki, and the plugin packages
    # (kernel-libipsec is in libcharon-extra-plugins; curve25519 and gcm in
    # libstrongswan-extra-plugins / -standard-plugins).
    strongswan-charon strongswan-swanctl strongswan-pki
    libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
    # eap-mschapv2 and eap-identity (EAP road warriors, tests/rw_eap.rs)
    libcharon-extauth-plugins
    # network namespaces, capture, traffic
    iproute2 iputils-ping nftables tcpdump iperf3 procps util-linux openssl
)

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $st == installed ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PKGS[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}) and not root: cannot install" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing packages (${missing[*]}) and no apt-get: install them by hand" >&2
    exit 1
fi

created_policy=no
cleanup() {
    if [[ $created_policy == yes ]]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from ikegw scripts/install-deps.sh: start no daemons\nexit 101\n' \
        >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=yes
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${PKGS[@]}"

# The kernel-libipsec plugin is what the harness relies on; check it is there.
if [[ ! -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]]; then
    echo "install-deps: kernel-libipsec plugin missing after install" >&2
    exit 1
fi
echo "install-deps: done"
