#!/bin/sh
# Regenerates the strongSwan-made fixtures in this directory with strongSwan's
# own `pki` tool (Debian strongswan-pki 5.9.8). No ikegw code is involved, so
# these are certificates "no one here wrote". Dates are fixed so that tests can
# pin exact messages; keys and serials of the random kind change on each run,
# the tests do not depend on them.
set -eu
cd "$(dirname "$0")"

# pki loads every plugin it finds unless told otherwise; keep it to the ones
# needed so that missing TPM libraries etc. do not matter.
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
cat >"$conf" <<'CONF'
pki {
  load = random nonce drbg hmac pem pkcs1 pkcs8 x509 revocation sha1 sha2 mgf1 gmp openssl curve25519 pubkey
}
CONF
export STRONGSWAN_CONF="$conf"

# strptime leaves the time of day alone unless it is given, and pki reads the
# result as local time: pin both.
export TZ=UTC
D="--dateform %Y%m%d%H%M%S"
LONG="--not-before 20260101000000 --not-after 20460101000000"

# Keys: ECDSA keys come out as SEC1 "EC PRIVATE KEY", RSA keys as PKCS#1.
pki --gen --type ecdsa --size 256 --outform pem >sw-root.key
pki --gen --type rsa --size 3072 --outform pem >sw-int.key
pki --gen --type ecdsa --size 384 --outform pem >sw-gw.key
pki --gen --type ed25519 --outform pem >sw-client.key
pki --gen --type rsa --size 2048 --outform pem >sw-ee-rsa.key
pki --gen --type ed25519 --outform pem >sw-edroot.key
pki --gen --type ecdsa --size 256 --outform pem >sw-ncroot.key
pki --gen --type ecdsa --size 256 --outform pem >sw-misc.key

# Root CA (ECDSA P-256, self-signed, ecdsa-with-SHA256).
pki --self --type ecdsa --in sw-root.key --ca \
    --dn "C=CH, O=strongSwan Test, CN=SW Root CA" $D $LONG --outform pem >sw-root.crt

# Intermediate CA (RSA 3072), pathLen 0, issued by the root.
pki --issue --type rsa --in sw-int.key --cacert sw-root.crt --cakey sw-root.key \
    --ca --pathlen 0 --flag crlSign --serial 10 \
    --dn "C=CH, O=strongSwan Test, CN=SW Intermediate CA" $D $LONG --outform pem >sw-int.crt

# Gateway (ECDSA P-384) signed by the intermediate with RSA-PSS/SHA-256.
pki --issue --type ecdsa --in sw-gw.key --cacert sw-int.crt --cakey sw-int.key \
    --rsa-padding pss --digest sha256 --serial 20 \
    --dn "C=CH, O=strongSwan Test, CN=gw.example.org" \
    --san gw.example.org --san 192.0.2.1 --san 2001:db8::1 --flag serverAuth \
    $D $LONG --outform pem >sw-gw.crt

# Client (Ed25519) signed with RSA PKCS#1 v1.5/SHA-384.
pki --issue --type ed25519 --in sw-client.key --cacert sw-int.crt --cakey sw-int.key \
    --digest sha384 --serial 21 \
    --dn "C=CH, O=strongSwan Test, CN=alice@example.org" \
    --san alice@example.org --flag clientAuth $D $LONG --outform pem >sw-client.crt

# RSA end entity, PKCS#1 v1.5/SHA-512, no EKU at all.
pki --issue --type rsa --in sw-ee-rsa.key --cacert sw-int.crt --cakey sw-int.key \
    --digest sha512 --serial 22 \
    --dn "C=CH, O=strongSwan Test, CN=rsa.example.org" --san rsa.example.org \
    $D $LONG --outform pem >sw-ee-rsa.crt

# Expired and not-yet-valid end entities.
pki --issue --type ecdsa --in sw-misc.key --cacert sw-int.crt --cakey sw-int.key \
    --serial 23 --dn "C=CH, O=strongSwan Test, CN=old.example.org" --san old.example.org \
    --flag serverAuth $D --not-before 20200101000000 --not-after 20210101000000 --outform pem >sw-expired.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-int.crt --cakey sw-int.key \
    --serial 24 --dn "C=CH, O=strongSwan Test, CN=future.example.org" --san future.example.org \
    --flag serverAuth $D --not-before 20400101000000 --not-after 20500101000000 --outform pem >sw-notyet.crt

# A certificate that gets revoked, and the intermediate's CRL revoking it
# (revoked 2026-02-01 00:00:00 UTC = 1769904000, key compromise).
pki --issue --type ecdsa --in sw-misc.key --cacert sw-int.crt --cakey sw-int.key \
    --serial 0a1b --dn "C=CH, O=strongSwan Test, CN=revoked.example.org" \
    --san revoked.example.org --flag serverAuth $D $LONG --outform pem >sw-revoked.crt
pki --signcrl --cacert sw-int.crt --cakey sw-int.key \
    $D --this-update 20260101000000 --next-update 20460101000000 \
    --reason key-compromise --date 1769904000 --serial 0a1b --outform pem >sw-int.crl
# A CRL that has passed its nextUpdate (2026-03-01) without revoking anything.
pki --signcrl --cacert sw-int.crt --cakey sw-int.key \
    $D --this-update 20260201000000 --next-update 20260301000000 --outform pem >sw-int-stale.crl

# Ed25519 root and an end entity under it.
pki --self --type ed25519 --in sw-edroot.key --ca \
    --dn "C=CH, O=strongSwan Test, CN=SW Ed25519 Root" $D $LONG --outform pem >sw-edroot.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-edroot.crt --cakey sw-edroot.key \
    --serial 30 --dn "C=CH, O=strongSwan Test, CN=ed.example.org" --san ed.example.org \
    --flag serverAuth $D $LONG --outform pem >sw-ed-ee.crt

# Root with name constraints: DNS corp.example permitted, DNS bad.corp.example
# excluded (pki 5.9.8 cannot encode an IP subnet constraint).
pki --self --type ecdsa --in sw-ncroot.key --ca \
    --nc-permitted corp.example --nc-excluded bad.corp.example \
    --dn "C=CH, O=strongSwan Test, CN=SW Constrained Root" $D $LONG --outform pem >sw-ncroot.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-ncroot.crt --cakey sw-ncroot.key \
    --serial 40 --dn "C=CH, O=strongSwan Test, CN=vpn.corp.example" \
    --san vpn.corp.example --flag serverAuth $D $LONG --outform pem >sw-nc-ok.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-ncroot.crt --cakey sw-ncroot.key \
    --serial 41 --dn "C=CH, O=strongSwan Test, CN=vpn.evil.example" \
    --san vpn.evil.example --flag serverAuth $D $LONG --outform pem >sw-nc-outside.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-ncroot.crt --cakey sw-ncroot.key \
    --serial 42 --dn "C=CH, O=strongSwan Test, CN=x.bad.corp.example" \
    --san x.bad.corp.example --flag serverAuth $D $LONG --outform pem >sw-nc-excluded.crt

# Path length: a second CA under the pathLen-0 intermediate, and an end entity below.
pki --issue --type ecdsa --in sw-misc.key --cacert sw-int.crt --cakey sw-int.key \
    --ca --serial 50 --dn "C=CH, O=strongSwan Test, CN=SW Sub CA" $D $LONG --outform pem >sw-sub.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-sub.crt --cakey sw-misc.key \
    --serial 51 --dn "C=CH, O=strongSwan Test, CN=deep.example.org" --san deep.example.org \
    --flag serverAuth $D $LONG --outform pem >sw-deep.crt

# Root with a directoryName constraint: only subjects under C=CH, O=strongSwan Test.
pki --gen --type ecdsa --size 256 --outform pem >sw-dnroot.key
pki --self --type ecdsa --in sw-dnroot.key --ca --nc-permitted "C=CH, O=strongSwan Test" \
    --dn "C=CH, O=strongSwan Test, CN=SW DN Root" $D $LONG --outform pem >sw-dnroot.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-dnroot.crt --cakey sw-dnroot.key \
    --serial 60 --dn "C=CH, O=strongSwan Test, CN=inside.example.org" --san inside.example.org \
    --flag serverAuth $D $LONG --outform pem >sw-dn-ok.crt
pki --issue --type ecdsa --in sw-misc.key --cacert sw-dnroot.crt --cakey sw-dnroot.key \
    --serial 61 --dn "C=CH, O=Elsewhere, CN=outside.example.org" --san outside.example.org \
    --flag serverAuth $D $LONG --outform pem >sw-dn-outside.crt

# DER forms, pki's default output: a SEC1 and a PKCS#1 key, and a certificate.
pki --gen --type ecdsa --size 384 >sw-der-ec.key
pki --gen --type rsa --size 2048 >sw-der-rsa.key
pki --self --type ecdsa --in sw-der-ec.key --dn "CN=SW DER" $D $LONG >sw-der.crt

# strongSwan's own SPKI SHA-1 (the CERTREQ hash) of each CA, for the tests.
for c in sw-root sw-int sw-edroot sw-ncroot; do
    pki --keyid --type x509 --in $c.crt | sed -n '/subjectPublicKeyInfo/{n;s/^ *//;p}' >$c.spki-sha1
done
chmod 600 ./*.key
