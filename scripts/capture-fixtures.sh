#!/usr/bin/env bash
# Regenerates the strongSwan fixtures committed under crates/ike/tests/vectors/:
# packet captures of real IKEv2 exchanges between two strongSwan 5.9.8
# daemons, and known-answer key material taken from charon's own debug log.
# See crates/ike/tests/vectors/README.md for what each file holds.
#
# usage (root, Debian 12 with scripts/install-deps.sh done):
#   scripts/capture-fixtures.sh [--out DIR] [--keep-work] [--only NAME...]
#   NAME is one of: psk cbc cert rw6 cookie
#
# How it works: for every scenario two fresh network namespaces ("left" and
# "right", named uniquely per run) are joined by a veth "WAN" (192.0.2.1/24
# <-> 192.0.2.2/24, or 2001:db8:2::1/64 <-> ::2 for the IPv6 run), each with
# a LAN namespace behind it (10.1.0.0/24 and 10.2.0.0/24).  Each gateway runs
# its own charon with a private /run (unshare -m + a bind mount: charon's PID
# file path is compiled in), an explicit plugin list with kernel-libipsec
# before kernel-netlink (this kernel has no ESP: libipsec does ESP in
# userspace over a TUN device, always UDP-encapsulated on port 4500), its own
# vici socket and a log file.  tcpdump records the WAN veth.
#
# Nothing leaves the machine: the veths exist only inside our namespaces and
# only documentation/private addresses are used.  Every process is started
# and stopped by its recorded PID; the EXIT trap removes the namespaces even
# when a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
OUT=$ROOT/crates/ike/tests/vectors
KEEP_WORK=no
ONLY=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) OUT=$2; shift 2 ;;
        --keep-work) KEEP_WORK=yes; shift ;;
        --only) shift; while [[ $# -gt 0 && $1 != --* ]]; do ONLY+=("$1"); shift; done ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ ${#ONLY[@]} -gt 0 ]] || ONLY=(psk cbc cert rw6 cookie)

CHARON=${CHARON:-/usr/lib/ipsec/charon}
SWANCTL=${SWANCTL:-/usr/sbin/swanctl}
PKI=${PKI:-/usr/bin/pki}
PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 aes gcm sha1 sha2 hmac kdf kernel-libipsec kernel-netlink socket-default vici attr counters"
# The PSK is a test secret, committed with the key files on purpose.
PSK="ikegw-test-psk-not-secret-0123456789"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces)"
for b in "$CHARON" "$SWANCTL" "$PKI" /usr/sbin/ip /usr/bin/unshare /usr/bin/tcpdump /usr/bin/perl; do
    [[ -x $b ]] || die "missing $b (run scripts/install-deps.sh)"
done
[[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]] || die "kernel-libipsec plugin missing"
[[ -c /dev/net/tun ]] || die "/dev/net/tun missing (kernel-libipsec needs it)"

WORK=$(mktemp -d /tmp/ikegw-capture.XXXXXX)
TAG=ikf$$
NS_L=$TAG-l NS_R=$TAG-r NS_LL=$TAG-ll NS_RL=$TAG-rl
PIDS=()      # every background process we started, stopped by PID on exit

# stop_pid PID [SIG]: stop one of our processes, then forget its PID so the
# EXIT trap can never signal a recycled PID that belongs to someone else
stop_pid() {
    local pid=$1 sig=${2:-TERM} i p keep=()
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
    fi
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
netns_down() {
    local ns
    for ns in "$NS_LL" "$NS_RL" "$NS_L" "$NS_R"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done   # (stop_pid edits PIDS; the loop has its own copy)
    netns_down
    if [[ $KEEP_WORK == yes || $rc -ne 0 ]]; then
        log "work files (logs, configs) kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ topology
# netns_up 4|6: two gateways joined by the WAN veth, each with a LAN host.
netns_up() {
    local fam=$1 ns
    netns_down
    for ns in "$NS_L" "$NS_R" "$NS_LL" "$NS_RL"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    # veths are created inside the namespaces: nothing appears on the host
    ip -n "$NS_L" link add wan0 type veth peer name wan0 netns "$NS_R"
    ip -n "$NS_L" link add lan0 type veth peer name eth0 netns "$NS_LL"
    ip -n "$NS_R" link add lan0 type veth peer name eth0 netns "$NS_RL"
    for ns in "$NS_L" "$NS_R" "$NS_LL" "$NS_RL"; do
        # IPv6 only where the scenario wants it: link-local addresses
        # appearing mid-run would make MOBIKE send address updates
        if [[ $fam == 4 ]]; then
            ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
            ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
        fi
    done
    if [[ $fam == 4 ]]; then
        WAN_L=192.0.2.1 WAN_R=192.0.2.2
        ip -n "$NS_L" addr add 192.0.2.1/24 dev wan0
        ip -n "$NS_R" addr add 192.0.2.2/24 dev wan0
    else
        WAN_L=2001:db8:2::1 WAN_R=2001:db8:2::2
        ip -n "$NS_L" -6 addr add 2001:db8:2::1/64 dev wan0 nodad
        ip -n "$NS_R" -6 addr add 2001:db8:2::2/64 dev wan0 nodad
    fi
    ip -n "$NS_L" addr add 10.1.0.1/24 dev lan0
    ip -n "$NS_R" addr add 10.2.0.1/24 dev lan0
    ip -n "$NS_LL" addr add 10.1.0.10/24 dev eth0
    ip -n "$NS_RL" addr add 10.2.0.10/24 dev eth0
    for ns in "$NS_L" "$NS_R"; do
        ip -n "$ns" link set wan0 up
        ip -n "$ns" link set lan0 up
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
        # decrypted packets re-enter through the TUN device
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0
    done
    ip -n "$NS_LL" link set eth0 up
    ip -n "$NS_RL" link set eth0 up
    # the gateways have no route to the remote LAN: only charon's route in
    # table 220 (via the TUN device) gets a LAN-to-LAN ping through
    ip -n "$NS_LL" route add default via 10.1.0.1
    ip -n "$NS_RL" route add default via 10.2.0.1
    ip netns exec "$NS_L" ping -c1 -W2 "$WAN_R" >/dev/null || die "WAN ping failed"
}

# ------------------------------------------------------------------ strongSwan
# ss_prepare NAME CHARON_EXTRA LOG_LEVELS: instance dir with strongswan.conf
ss_prepare() {
    local name=$1 extra=$2 levels=$3 d=$WORK/$1
    rm -rf "$d"
    mkdir -p "$d/run" "$d"/swanctl/{x509,x509ca,x509ocsp,x509aa,x509ac,x509crl,pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12,conf.d}
    cat >"$d/strongswan.conf" <<EOF
# charon instance $name (generated by scripts/capture-fixtures.sh)
charon {
    # kernel-libipsec BEFORE kernel-netlink: the first IPsec backend wins
    load = $PLUGINS
    install_routes = yes
    routing_table = 220
    routing_table_prio = 220
    retransmit_timeout = 2.0
    retransmit_tries = 3
$extra
    filelog {
        charon {
            path = $d/charon.log
            time_format = %H:%M:%S
            ike_name = yes
            append = no
            flush_line = yes
            default = 1
$levels
        }
        stderr {
            default = 0
        }
    }
    syslog {
        daemon {
            default = -1
        }
        auth {
            default = -1
        }
    }
    plugins {
        vici {
            socket = unix://$d/charon.vici
        }
    }
}
swanctl {
    socket = unix://$d/charon.vici
    load = pem pkcs1 pkcs8 x509 openssl curve25519 pubkey random nonce sha1 sha2
}
EOF
}

# ss_start NAME NS: charon in NS with a private /run, PID recorded
ss_start() {
    local name=$1 ns=$2 d=$WORK/$1 i
    # ip netns exec, unshare, sh and env all exec without forking: $! is charon
    ip netns exec "$ns" unshare -m --propagation private \
        sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh "$d/run" \
        env STRONGSWAN_CONF="$d/strongswan.conf" "$CHARON" \
        >"$d/daemon.log" 2>&1 </dev/null &
    PIDS+=($!)
    echo $! >"$d/pid"
    for i in $(seq 100); do
        [[ -S $d/charon.vici ]] && break
        kill -0 "$(cat "$d/pid")" 2>/dev/null || break
        sleep 0.1
    done
    [[ -S $d/charon.vici ]] || { cat "$d/daemon.log" >&2; die "charon $name did not come up"; }
}
sw() { local name=$1; shift; STRONGSWAN_CONF=$WORK/$name/strongswan.conf "$SWANCTL" "$@"; }
ss_load() {
    local name=$1
    sw "$name" --load-all --file "$WORK/$name/swanctl/swanctl.conf" >"$WORK/$name/load.log" 2>&1 \
        || { cat "$WORK/$name/load.log" >&2; die "swanctl --load-all failed for $name"; }
}
ss_stop() { stop_pid "$(cat "$WORK/$1/pid")"; }

# capture_start NS NAME [FILTER]: tcpdump on wan0, by default all UDP (IKE on
# 500/4500 and ESP-in-UDP)
capture_start() {
    local ns=$1 name=$2 filter=${3:-udp} i
    # -Z root: write the file as root (tcpdump drops to user tcpdump otherwise)
    # --immediate-mode: hand every packet over at once, otherwise the last
    # ones can still sit in the ring buffer when tcpdump is stopped
    ip netns exec "$ns" tcpdump -i wan0 -n -U --immediate-mode -s 0 -Z root -w "$WORK/$name.pcap" "$filter" \
        >"$WORK/$name.tcpdump.log" 2>&1 &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    for i in $(seq 50); do grep -q listening "$WORK/$name.tcpdump.log" 2>/dev/null && break; sleep 0.1; done
}
capture_stop() {
    sleep 1
    stop_pid "$CAP_PID" INT
}

# s2s_conf NAME SIDE PROPOSALS ESP AUTH EXTRA_CONN: site-to-site swanctl.conf
s2s_conf() {
    local name=$1 side=$2 prop=$3 esp=$4 auth=$5 extra=${6:-} la ra lts rts lid rid certs=""
    if [[ $side == left ]]; then
        la=$WAN_L ra=$WAN_R lts=10.1.0.0/24 rts=10.2.0.0/24 lid=left.ikegw.example rid=right.ikegw.example
    else
        la=$WAN_R ra=$WAN_L lts=10.2.0.0/24 rts=10.1.0.0/24 lid=right.ikegw.example rid=left.ikegw.example
    fi
    [[ $auth == pubkey ]] && certs="certs = $side.pem"
    cat >"$WORK/$name/swanctl/swanctl.conf" <<EOF
connections {
    s2s {
        version = 2
        local_addrs = $la
        remote_addrs = $ra
        proposals = $prop
        encap = yes
$extra
        local {
            auth = $auth
            id = $lid
            $certs
        }
        remote {
            auth = $auth
            id = $rid
        }
        children {
            net {
                mode = tunnel
                local_ts = $lts
                remote_ts = $rts
                esp_proposals = $esp
                start_action = none
            }
        }
    }
}
secrets {
    ike-test {
        id-left = left.ikegw.example
        id-right = right.ikegw.example
        secret = "$PSK"
    }
}
EOF
}

lan_ping() {
    ip netns exec "$NS_LL" ping -c "${1:-2}" -i 0.2 -W 2 10.2.0.10 >"$WORK/ping.log" 2>&1 \
        || { cat "$WORK/ping.log" >&2; die "LAN-to-LAN ping through the tunnel failed"; }
}

# Key-material levels: keymat_v2 prints DH secret, SKEYSEED, SK_* and CHILD
# keys at level 4 (ike/chd); cfg/enc at 2-3 add the proposal and payload lists.
KAT_LEVELS="            ike = 4
            chd = 4
            lib = 4
            enc = 3
            cfg = 2
            knl = 1
            net = 2"
QUIET_LEVELS="            ike = 2
            cfg = 1
            enc = 1
            net = 1"

# ------------------------------------------------------------------ pcap tools
# pcap_summary FILE: one line per IKE message "exchange role msgid len"
# (perl, so no python/tshark is needed on a fresh machine)
PCAP_PL=$(cat <<'PERL'
use strict; use warnings;
my %xchg = (34 => 'IKE_SA_INIT', 35 => 'IKE_AUTH', 36 => 'CREATE_CHILD_SA', 37 => 'INFORMATIONAL');
my ($file, $mode) = @ARGV;
open(my $fh, '<:raw', $file) or die "$file: $!";
local $/; my $buf = <$fh>; close $fh;
my $magic = unpack('V', substr($buf, 0, 4));
my $e = $magic == 0xa1b2c3d4 ? 'V' : $magic == 0xd4c3b2a1 ? 'N' : die "not a pcap";
my $link = unpack($e, substr($buf, 20, 4));
die "link type $link, want Ethernet" unless $link == 1;
my $off = 24; my %count; my $esp = 0; my @out;
while ($off + 16 <= length $buf) {
    my ($ts, $tus, $incl) = unpack("$e$e$e", substr($buf, $off, 12));
    my $pkt = substr($buf, $off + 16, $incl); $off += 16 + $incl;
    my $et = unpack('n', substr($pkt, 12, 2)); my $l3 = 14; my $l4;
    if ($et == 0x0800) { $l4 = $l3 + 4 * (unpack('C', substr($pkt, $l3, 1)) & 0x0f);
                         next unless unpack('C', substr($pkt, $l3 + 9, 1)) == 17; }
    elsif ($et == 0x86dd) { next unless unpack('C', substr($pkt, $l3 + 6, 1)) == 17; $l4 = $l3 + 40; }
    else { next }
    my ($sp, $dp) = unpack('nn', substr($pkt, $l4, 4));
    my $ike = substr($pkt, $l4 + 8);
    if ($sp == 4500 || $dp == 4500) {
        if (unpack('N', substr($ike, 0, 4)) != 0) { $esp++; next }
        $ike = substr($ike, 4);
    } elsif ($sp != 500 && $dp != 500) { next }
    my ($spii, $spir, $np, $ver, $x, $fl, $mid, $len) = unpack('a8a8CCCCNN', $ike);
    my $name = $xchg{$x} // "EXCHANGE_$x";
    my $role = ($fl & 0x20) ? 'response' : 'request';
    my $frag = $np == 53 ? ' SKF' : '';
    $count{"$name $role$frag"}++;
    push @out, sprintf("%s %s%s msgid=%d len=%d spi_i=%s spi_r=%s", $name, $role, $frag, $mid, $len,
                       unpack('H*', $spii), unpack('H*', $spir));
    if (($mode // '') eq 'init' && $x == 34) {
        # walk the plaintext IKE_SA_INIT payload chain for Nonce (40)
        my $p = 28;
        while ($np != 0 && $p + 4 <= length $ike) {
            my ($next, $crit, $plen) = unpack('CCn', substr($ike, $p, 4));
            print "nonce ", ($fl & 0x08 ? 'i' : 'r'), " ", unpack('H*', substr($ike, $p + 4, $plen - 4)),
                  " ", unpack('H*', $spii), " ", unpack('H*', $spir), "\n" if $np == 40;
            $np = $next; $p += $plen;
        }
    }
}
exit 0 if ($mode // '') eq 'init';
print "$_\n" for @out;
print "-- per exchange:\n";
print "   $count{$_} x $_\n" for sort keys %count;
print "   $esp x ESP-in-UDP\n";
PERL
)
pcap_summary() { perl -e "$PCAP_PL" "$@"; }

# ------------------------------------------------------------------ key extraction
# Parses charon's level-4 hex dumps ("LABEL => N bytes @ 0x..." followed by
# "   0: 01 02 ..." lines of the same thread) into "label<TAB>ike_sa<TAB>hex".
DUMP_PL=$(cat <<'PERL'
use strict; use warnings;
# Output: one line per dump, "label<TAB>ike_sa<TAB>hex", in log order.  Nonce
# payload bodies (enc level 3: the CHUNK_DATA rule of a NONCE payload being
# generated or parsed) get the labels "nonce gen" / "nonce parse".
my (%cur, %want, %label, %sa, %ctx, %chunk);
while (my $l = <STDIN>) {
    chomp $l;
    # "HH:MM:SS TT[GRP] <name|N> text"
    next unless $l =~ /^\S+ (\d+)\[(\w+)\] (?:<([^>]*)> )?(.*)$/;
    my ($t, $sa, $txt) = ($1, $3 // '', $4);
    if ($txt =~ /^generating payload of type NONCE$/) { $ctx{$t} = 'nonce gen'; next }
    if ($txt =~ /^parsing NONCE payload, \d+ bytes left$/) { $ctx{$t} = 'nonce parse'; next }
    if ($txt =~ /NONCE payload finished$/) { delete $ctx{$t}; next }
    if ($txt =~ /^\s*(generating|parsing) rule \d+ CHUNK_DATA$/) { $chunk{$t} = 1; next }
    if ($txt =~ /^(.*?) => (\d+) bytes @ 0x[0-9a-f]+$/) {
        flush($t) if exists $want{$t};
        my ($lab, $n) = ($1, $2);
        $lab =~ s/^\s+//;
        if ($lab eq '' && $chunk{$t} && $ctx{$t}) { $lab = $ctx{$t} }
        delete $chunk{$t};
        ($label{$t}, $want{$t}, $cur{$t}, $sa{$t}) = ($lab, $n, '', $sa);
        flush($t) if $n == 0;
        next;
    }
    if (exists $want{$t} && $txt =~ /^\s*\d+: ((?:[0-9A-F]{2} ?)+)/) {
        (my $h = $1) =~ s/ //g; $cur{$t} .= lc $h;
        flush($t) if length($cur{$t}) >= 2 * $want{$t};
        next;
    }
    delete $chunk{$t};
}
sub flush { my $t = shift; print "$label{$t}\t$sa{$t}\t", substr($cur{$t}, 0, 2 * $want{$t}), "\n";
            delete $want{$t}; }
PERL
)

# ================================================================== scenarios
# Left initiates, right responds, in every scenario.

two_gateways() {   # two_gateways FAM PROPOSAL_L PROPOSAL_R ESP AUTH LEVELS CHARON_EXTRA CONN_EXTRA_L
    local fam=$1 pl=$2 pr=$3 esp=$4 auth=$5 levels=$6 extra=${7:-} connx=${8:-}
    netns_up "$fam"
    ss_prepare ss-left "$extra" "$levels"
    ss_prepare ss-right "$extra" "$levels"
    s2s_conf ss-left left "$pl" "$esp" "$auth" "$connx"
    s2s_conf ss-right right "$pr" "$esp" "$auth"
}
start_both() {
    ss_start ss-right "$NS_R"
    ss_start ss-left "$NS_L"
    ss_load ss-right
    ss_load ss-left
}
finish() {   # finish NAME: stop daemons, copy pcap out, summary
    local name=$1
    capture_stop
    ss_stop ss-left
    ss_stop ss-right
    cp "$WORK/$name.pcap" "$OUT/$name.pcap"
    chmod 644 "$OUT/$name.pcap"
    pcap_summary "$OUT/$name.pcap" >"$WORK/$name.summary"
    # strongSwan's own view of every message the initiator built or parsed:
    # "<ike_sa|n> generating|parsed EXCHANGE request|response MID [ payloads ]"
    {
        echo "# strongSwan 5.9.8 initiator (left) log, enc level 1: payloads of every IKE message in $name.pcap."
        echo "# Encrypted payloads are listed as strongSwan saw them inside SK; EF(i/n) is an SKF fragment."
        sed -nE 's/^[0-9:]+ [0-9]+\[ENC\] <([^>]*)> ((generating|parsed) .*(request|response) [0-9]+ \[.*\])$/<\1> \2/p' \
            "$WORK/ss-left/charon.log" | grep -v '^<decoy|'
    } >"$OUT/$name-payloads.txt"
    log "$name.pcap: $(grep -c . "$WORK/$name.summary") lines of summary"
    sed -n '/^-- per exchange/,$p' "$WORK/$name.summary" >&2
}

# pick DUMPS LABEL N: the N-th dump (1-based) with that label
pick() { awk -F'\t' -v l="$2" -v n="$3" '$1 == l { if (++c == n) { print $3; exit } }' "$1"; }
# pick_before DUMPS LABEL STOP_LABEL STOP_N: the last LABEL dump before the
# STOP_N-th STOP_LABEL dump (the nonces that went into a key derivation)
pick_before() {
    awk -F'\t' -v l="$2" -v s="$3" -v n="$4" \
        '$1 == l { v = $3 } $1 == s { if (++c == n) { print v; exit } }' "$1"
}
# kv NAME VALUE: a "name = value" line, or nothing when there is no value
kv() { [[ -n $2 ]] && echo "$1 = $2"; return 0; }
# need FILE NAMES...: every name must be present
need() {
    local f=$1 n; shift
    for n in "$@"; do grep -q "^$n = " "$f" || die "$f: no value for $n (see $WORK)"; done
}

# keys_file OUT TAG IKE_PROPOSAL ESP_PROPOSAL: the KAT file of one run, from
# the initiator's log (key derivation #1), list-sas and the pcap (nonces, SPIs)
keys_file() {
    local out=$1 tag=$2 ikep=$3 espp=$4 dumps=$WORK/$tag.dumps
    perl -e "$DUMP_PL" <"$WORK/ss-left/charon.log" >"$dumps"
    local init ni nr spi_i spi_r
    init=$(pcap_summary "$WORK/$tag.pcap" init)
    ni=$(awk '$1 == "nonce" && $2 == "i" { print $3; exit }' <<<"$init")
    nr=$(awk '$1 == "nonce" && $2 == "r" { print $3; exit }' <<<"$init")
    spi_i=$(awk '$1 == "nonce" && $2 == "r" { print $4; exit }' <<<"$init")
    spi_r=$(awk '$1 == "nonce" && $2 == "r" { print $5; exit }' <<<"$init")
    # the log's own view of the nonces must agree with the wire
    [[ $(pick_before "$dumps" 'nonce gen' SKEYSEED 1) == "$ni" ]] || die "$tag: Ni in log != pcap"
    [[ $(pick_before "$dumps" 'nonce parse' SKEYSEED 1) == "$nr" ]] || die "$tag: Nr in log != pcap"
    {
        echo "# strongSwan 5.9.8 known-answer values, scenario '$tag' (scripts/capture-fixtures.sh)."
        echo "# From the initiator's charon log (ike/chd level 4, enc level 3) and the pcap; see README.md."
        kv ike_proposal "$ikep"
        kv esp_proposal "$espp"
        kv spi_i "$spi_i"
        kv spi_r "$spi_r"
        kv ni "$ni"
        kv nr "$nr"
        kv g_ir "$(pick "$dumps" 'shared Diffie Hellman secret' 1)"
        kv skeyseed "$(pick "$dumps" SKEYSEED 1)"
        local k
        for k in d ai ar ei er pi pr; do kv "sk_$k" "$(pick "$dumps" "Sk_$k secret" 1)"; done
        kv child_spi_i "$CHILD_SPI_I"
        kv child_spi_r "$CHILD_SPI_R"
        kv child_encr_i "$(pick "$dumps" 'encryption initiator key' 1)"
        kv child_encr_r "$(pick "$dumps" 'encryption responder key' 1)"
        kv child_integ_i "$(pick "$dumps" 'integrity initiator key' 1)"
        kv child_integ_r "$(pick "$dumps" 'integrity responder key' 1)"
        kv psk "$(printf '%s' "$PSK" | od -An -tx1 | tr -d ' \n')"
        kv id_i "$(id_hex left.ikegw.example)"
        kv id_r "$(id_hex right.ikegw.example)"
        # RFC 7296 §2.15: the initiator first signs its own octets, then
        # checks the responder's
        kv auth_octets_i "$(pick "$dumps" 'octets = message + nonce + prf(Sk_px, IDx'"'"')' 1)"
        kv auth_i "$(pick "$dumps" 'AUTH = prf(prf(secret, keypad), octets)' 1)"
        kv auth_octets_r "$(pick "$dumps" 'octets = message + nonce + prf(Sk_px, IDx'"'"')' 2)"
        kv auth_r "$(pick "$dumps" 'AUTH = prf(prf(secret, keypad), octets)' 2)"
    } >"$out"
    need "$out" ike_proposal esp_proposal spi_i spi_r ni nr g_ir skeyseed sk_d sk_ei sk_er sk_pi sk_pr \
        child_spi_i child_spi_r child_encr_i child_encr_r psk id_i id_r auth_i auth_r
}

# rekey_file OUT TAG: the IKE_SA made by `swanctl --rekey --ike` (RFC 7296
# §2.18: SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr)); its derivation is
# the second SKEYSEED in the initiator's log
rekey_file() {
    local out=$1 tag=$2 dumps=$WORK/$2.dumps raw=$WORK/$2.sas2
    {
        echo "# strongSwan 5.9.8: IKE_SA rekeyed with CREATE_CHILD_SA (swanctl --rekey --ike), scenario '$tag'."
        echo "# skeyseed = prf(sk_d_old, g_ir_new | ni | nr); spi_i/spi_r/ni/nr are the new SA's. See README.md."
        kv ike_proposal "$IKE_PROPOSAL_TEXT"
        kv sk_d_old "$(pick "$dumps" 'Sk_d secret' 1)"
        kv spi_i "$(grep -o 'initiator-spi=[0-9a-f]*' "$raw" | head -1 | cut -d= -f2)"
        kv spi_r "$(grep -o 'responder-spi=[0-9a-f]*' "$raw" | head -1 | cut -d= -f2)"
        kv ni "$(pick_before "$dumps" 'nonce gen' SKEYSEED 2)"
        kv nr "$(pick_before "$dumps" 'nonce parse' SKEYSEED 2)"
        kv g_ir_new "$(pick_before "$dumps" 'shared Diffie Hellman secret' SKEYSEED 2)"
        kv skeyseed "$(pick "$dumps" SKEYSEED 2)"
        local k
        for k in d ai ar ei er pi pr; do kv "sk_$k" "$(pick "$dumps" "Sk_$k secret" 2)"; done
    } >"$out"
    need "$out" sk_d_old spi_i spi_r ni nr g_ir_new skeyseed sk_d sk_ei sk_er sk_pi sk_pr
}
# ID payload body (RFC 7296 §3.5: type, 3 reserved, data) for an FQDN (type 2)
id_hex() { printf '02000000'; printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# child SPIs as the initiator sees them (list-sas --raw: spi-in is the SPI the
# initiator chose, spi-out the responder's)
child_spis() {
    local raw; raw=$(sw ss-left --list-sas --raw)
    CHILD_SPI_I=$(grep -o 'spi-in=[0-9a-f]*' <<<"$raw" | head -1 | cut -d= -f2)
    CHILD_SPI_R=$(grep -o 'spi-out=[0-9a-f]*' <<<"$raw" | head -1 | cut -d= -f2)
}

initiate() {
    sw ss-left --initiate --child net --timeout 30 >"$WORK/initiate.log" 2>&1 \
        || { cat "$WORK/initiate.log" >&2; die "initiate failed"; }
}

# KAT run: PSK with AES-GCM for IKE and ESP.  The initiator offers three
# proposals, the responder accepts only the first.  Then CHILD rekey (with
# PFS: a KE payload), IKE rekey, an idle pause longer than dpd_delay (empty
# INFORMATIONAL = DPD), and the Delete from --terminate.
scenario_psk() {
    local name=strongswan-psk-init-auth tag=psk
    log "== $name: PSK, several proposals, CHILD + IKE rekey, DPD, delete"
    IKE_PROPOSAL_TEXT=AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519
    two_gateways 4 "aes256gcm16-prfsha384-x25519,aes128gcm16-prfsha256-ecp256,aes256-sha256-modp2048" \
        "aes256gcm16-prfsha384-x25519" "aes256gcm16-x25519" psk "$KAT_LEVELS" "" "        dpd_delay = 2s"
    start_both
    capture_start "$NS_R" "$name"
    initiate
    child_spis
    lan_ping 2
    sw ss-left --rekey --child net >/dev/null
    sleep 0.5
    sw ss-left --rekey --ike s2s >/dev/null
    sleep 0.5
    sw ss-left --list-sas --raw >"$WORK/$tag.sas2"
    # idle for longer than dpd_delay: the initiator sends an empty INFORMATIONAL
    sleep 3
    sw ss-left --terminate --ike s2s --timeout 10 >/dev/null
    finish "$name"
    cp "$OUT/$name.pcap" "$WORK/$tag.pcap"
    keys_file "$OUT/strongswan-psk-keys.txt" "$tag" "$IKE_PROPOSAL_TEXT" AES_GCM_16_256
    rekey_file "$OUT/strongswan-psk-rekey-keys.txt" "$tag"
}

# KAT run with classic (non-AEAD) algorithms: SK_a*, integrity keys present.
scenario_cbc() {
    local name=strongswan-psk-cbc tag=cbc
    log "== $name: PSK, AES-CBC/HMAC-SHA256/MODP-2048, ESP AES-CBC-128/HMAC-SHA256"
    IKE_PROPOSAL_TEXT=AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
    two_gateways 4 "aes256-sha256-modp2048" "aes256-sha256-modp2048" "aes128-sha256" psk "$KAT_LEVELS"
    start_both
    capture_start "$NS_R" "$name"
    initiate
    child_spis
    lan_ping 2
    sw ss-left --terminate --ike s2s --timeout 10 >/dev/null
    finish "$name"
    cp "$OUT/$name.pcap" "$WORK/$tag.pcap"
    keys_file "$OUT/strongswan-psk-cbc-keys.txt" "$tag" "$IKE_PROPOSAL_TEXT" AES_CBC_128/HMAC_SHA2_256_128
    need "$OUT/strongswan-psk-cbc-keys.txt" sk_ai sk_ar child_integ_i child_integ_r
}

# Certificate authentication with a three-level RSA chain (root 4096,
# intermediate 3072, end entities 3072): CERTREQ in IKE_SA_INIT, CERT (end
# entity + intermediate) in IKE_AUTH, which is then too big for the
# 576-byte fragment size and travels as RFC 7383 Encrypted Fragments (SKF).
make_pki() {
    local p=$WORK/pki
    [[ -s $p/right.pem ]] && return 0
    mkdir -p "$p"
    printf 'pki {\n    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey sha1 sha2 gmp\n}\n' >"$p/pki.conf"
    (
        cd "$p"
        export STRONGSWAN_CONF=$p/pki.conf
        "$PKI" --gen --type rsa --size 4096 --outform pem >root.key
        "$PKI" --self --ca --lifetime 3650 --in root.key --type rsa \
            --dn "C=XX, O=ikegw test, CN=ikegw test root CA" --outform pem >root.pem
        "$PKI" --gen --type rsa --size 3072 --outform pem >inter.key
        "$PKI" --pub --in inter.key --type rsa |
            "$PKI" --issue --ca --lifetime 3650 --cacert root.pem --cakey root.key \
                --dn "C=XX, O=ikegw test, CN=ikegw test intermediate CA" --outform pem >inter.pem
        for h in left right; do
            case $h in left) ip=192.0.2.1 ;; *) ip=192.0.2.2 ;; esac
            "$PKI" --gen --type rsa --size 3072 --outform pem >$h.key
            "$PKI" --pub --in $h.key --type rsa |
                "$PKI" --issue --lifetime 3650 --cacert inter.pem --cakey inter.key \
                    --dn "C=XX, O=ikegw test, CN=$h.ikegw.example" --san $h.ikegw.example --san $ip \
                    --flag serverAuth --flag ikeIntermediate --outform pem >$h.pem
        done
    ) 2>"$WORK/pki.log" || { cat "$WORK/pki.log" >&2; die "pki failed"; }
}
install_creds() {   # install_creds INSTANCE SIDE
    local d=$WORK/$1/swanctl p=$WORK/pki
    cp "$p/root.pem" "$p/inter.pem" "$d/x509ca/"
    cp "$p/$2.pem" "$d/x509/"
    cp "$p/$2.key" "$d/private/"
}
scenario_cert() {
    local name=strongswan-cert-fragmented
    log "== $name: RSA certificate chain, IKE_AUTH in SKF fragments (fragment_size 576)"
    make_pki
    two_gateways 4 "aes128gcm16-prfsha256-ecp256" "aes128gcm16-prfsha256-ecp256" "aes128gcm16" pubkey \
        "$QUIET_LEVELS" "    fragment_size = 576" "        fragmentation = yes"
    install_creds ss-left left
    install_creds ss-right right
    # the responder fragments its IKE_AUTH response as well
    sed -i 's/^        encap = yes$/        encap = yes\n        fragmentation = yes/' \
        "$WORK/ss-right/swanctl/swanctl.conf"
    start_both
    capture_start "$NS_R" "$name"
    initiate
    lan_ping 1
    sw ss-left --terminate --ike s2s --timeout 10 >/dev/null
    finish "$name"
    grep -q 'IKE_AUTH request SKF' "$WORK/$name.summary" || die "$name: no SKF fragments captured"
}

# Road warrior over an IPv6 WAN: the client asks for a virtual IPv4 address
# (CP CFG_REQUEST) and gets one, plus a DNS server, from the responder's pool
# (CFG_REPLY).
scenario_rw6() {
    local name=strongswan-rw-ipv6-cp
    log "== $name: IPv6 WAN, virtual IP from a pool (configuration payloads)"
    netns_up 6
    ss_prepare ss-left "" "$QUIET_LEVELS"
    ss_prepare ss-right "" "$QUIET_LEVELS"
    local secrets
    secrets="secrets {
    ike-test {
        id-left = left.ikegw.example
        id-right = right.ikegw.example
        secret = \"$PSK\"
    }
}"
    cat >"$WORK/ss-left/swanctl/swanctl.conf" <<EOF
connections {
    home {
        version = 2
        local_addrs = $WAN_L
        remote_addrs = $WAN_R
        proposals = aes128gcm16-prfsha256-x25519
        encap = yes
        vips = 0.0.0.0
        local {
            auth = psk
            id = left.ikegw.example
        }
        remote {
            auth = psk
            id = right.ikegw.example
        }
        children {
            home {
                mode = tunnel
                remote_ts = 10.2.0.0/24
                esp_proposals = aes128gcm16
                start_action = none
            }
        }
    }
}
$secrets
EOF
    cat >"$WORK/ss-right/swanctl/swanctl.conf" <<EOF
connections {
    rw {
        version = 2
        local_addrs = $WAN_R
        proposals = aes128gcm16-prfsha256-x25519
        encap = yes
        pools = rwpool
        local {
            auth = psk
            id = right.ikegw.example
        }
        remote {
            auth = psk
            id = left.ikegw.example
        }
        children {
            rw {
                mode = tunnel
                local_ts = 10.2.0.0/24
                esp_proposals = aes128gcm16
            }
        }
    }
}
pools {
    rwpool {
        addrs = 10.3.0.0/24
        dns = 10.2.0.53
    }
}
$secrets
EOF
    start_both
    capture_start "$NS_R" "$name"
    sw ss-left --initiate --child home --timeout 30 >"$WORK/initiate.log" 2>&1 \
        || { cat "$WORK/initiate.log" >&2; die "initiate failed"; }
    ip -n "$NS_L" -4 addr show dev ipsec0 | grep -q 'inet 10\.3\.0\.' || die "$name: no virtual IP on ipsec0"
    ip netns exec "$NS_L" ping -c 1 -W 2 -I 10.3.0.1 10.2.0.10 >"$WORK/ping.log" 2>&1 \
        || { cat "$WORK/ping.log" >&2; die "$name: ping from the virtual IP failed"; }
    sw ss-left --terminate --ike home --timeout 10 >/dev/null
    finish "$name"
}

# COOKIE and INVALID_KE_PAYLOAD round trips of IKE_SA_INIT: the responder
# only accepts ECP-256 while the initiator's first guess is X25519, and it
# demands a COOKIE because it already holds a half-open IKE_SA
# (cookie_threshold = 1; charon's threshold 0 means "never").  The half-open
# SA is a decoy connection from a second address, 192.0.2.3, whose IKE_AUTH
# is dropped by nftables on the responder; the decoy's packets are filtered
# out of the capture.
scenario_cookie() {
    local name=strongswan-cookie-invalid-ke
    log "== $name: COOKIE + INVALID_KE_PAYLOAD retries of IKE_SA_INIT"
    two_gateways 4 "aes128gcm16-prfsha256-x25519-ecp256" "aes128gcm16-prfsha256-ecp256" "aes128gcm16" psk \
        "$QUIET_LEVELS" "    cookie_threshold = 1"
    ip -n "$NS_L" addr add 192.0.2.3/24 dev wan0
    ip netns exec "$NS_R" nft -f - <<'NFT'
table inet ikegw_capture {
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr 192.0.2.3 udp dport 4500 drop
    }
}
NFT
    # the decoy connection, at both ends (the responder picks configs by address)
    local side la ra lid rid
    for side in left right; do
        if [[ $side == left ]]; then
            la=192.0.2.3 ra=$WAN_R lid=left.ikegw.example rid=right.ikegw.example
        else
            la=$WAN_R ra=192.0.2.3 lid=right.ikegw.example rid=left.ikegw.example
        fi
        cat >>"$WORK/ss-$side/swanctl/swanctl.conf" <<EOF
connections {
    decoy {
        version = 2
        local_addrs = $la
        remote_addrs = $ra
        proposals = aes128gcm16-prfsha256-ecp256
        encap = yes
        local {
            auth = psk
            id = $lid
        }
        remote {
            auth = psk
            id = $rid
        }
        children {
            decoy {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24
                esp_proposals = aes128gcm16
                start_action = none
            }
        }
    }
}
EOF
    done
    start_both
    capture_start "$NS_R" "$name" "udp and not host 192.0.2.3"
    sw ss-left --initiate --child decoy --timeout 1 >/dev/null 2>&1 || true
    initiate
    grep -q 'COOKIE' "$WORK/ss-left/charon.log" || die "$name: no COOKIE round trip"
    grep -q 'INVAL_KE' "$WORK/ss-left/charon.log" || die "$name: no INVALID_KE_PAYLOAD round trip"
    lan_ping 1
    sw ss-left --terminate --ike s2s --timeout 10 >/dev/null
    finish "$name"
}

main() {
    mkdir -p "$OUT"
    local s
    for s in "${ONLY[@]}"; do "scenario_$s"; done
    log "done: fixtures in $OUT"
}
main
