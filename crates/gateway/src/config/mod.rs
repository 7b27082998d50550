//! The ikegw configuration: a TOML file in swanctl.conf's vocabulary, read
//! into plain typed structs the daemon consumes, and every problem found on
//! the way reported as `file:line:col: message`.
//!
//! Layers: [`source`] reads spanned TOML values and formats diagnostics;
//! [`schema`] walks the tables, knows every key and its default (the same
//! names, meanings and defaults as swanctl.conf wherever strongSwan has the
//! concept; docs/config.md lists them); [`validate`] checks what needs the
//! whole file (secrets for PSK rounds, key files and their permissions,
//! overlapping selectors and pools, unreachable proposals); [`show`] prints
//! a validated config with secrets redacted; [`check`] is `ikegw check`.
//!
//! [`Config::load`] never stops at the first problem: it returns every
//! error at once, so one `ikegw check` run is enough to fix a file. The
//! daemon refuses to start on an invalid config, and a reload that fails
//! leaves the running config in place, because nothing is replaced until a
//! whole new [`Config`] has been built.
//!
//! Secrets ([`Psk`], private keys) live in zeroizing types with no `Debug`,
//! `Clone` or `Display`; [`show`] prints only their length.

// The daemon (#6) consumes most of these types; until it lands, only
// `ikegw check` reads them.
#![allow(dead_code)]

pub(crate) mod check;
mod schema;
mod show;
pub(crate) mod source;
mod validate;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ike::policy::proposal::ProposalSpec;
use ike::wire::TrafficSelector;
use zeroize::Zeroizing;

pub(crate) use source::{Diagnostic, Severity};

/// A validated configuration file.
#[derive(Debug)]
pub(crate) struct Config {
    /// The file it was read from.
    pub(crate) path: PathBuf,
    /// `[daemon]`: process-wide settings.
    pub(crate) daemon: Daemon,
    /// `[connections.NAME]`, in file order.
    pub(crate) connections: Vec<Connection>,
    /// `[secrets]`, merged with the file named by `secrets.include`.
    pub(crate) secrets: Secrets,
    /// `[pools.NAME]`, in file order.
    pub(crate) pools: Vec<PoolConfig>,
    /// `[site]`, kept as TOML for the provisioning code (`ikegw provision`),
    /// which owns its schema.
    pub(crate) site: Option<toml::Value>,
    /// Warnings found while loading (an invalid config has errors instead).
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Config {
    /// Read, parse and validate `path` (and the secrets file it includes).
    /// Every problem is returned, in file order; warnings alone do not fail.
    pub(crate) fn load(path: &Path) -> Result<Self, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![source::Source::file_diagnostic(
                path,
                Severity::Error,
                format!("cannot read: {e}"),
            )]
        })?;
        Self::from_str(path, text)
    }

    /// Parse and validate `text` as if read from `path` (relative paths in
    /// it are resolved against `path`'s directory).
    pub(crate) fn from_str(path: &Path, text: String) -> Result<Self, Vec<Diagnostic>> {
        let src = source::Source::new(path, text);
        let (doc, errors) = toml::de::DeTable::parse_recoverable(src.text());
        if !errors.is_empty() {
            let mut cx = source::Cx::new(&src);
            for e in &errors {
                cx.error(
                    &e.span().unwrap_or(0..0),
                    format!("TOML syntax: {}", e.message().trim()),
                );
            }
            let mut diags = cx.diags;
            sort_diagnostics(&mut diags);
            return Err(diags);
        }
        let doc = doc.get_ref();
        let (mut config, mut diags, failed) = schema::read(&src, doc);
        // Cross-checks run even when some tables failed to read, so one run
        // reports everything; they skip what depends on a failed table
        // (a pool that did not parse is not also "undefined").
        diags.extend(validate::validate(&config, &src, doc, &failed));
        let is_error = |d: &Diagnostic| d.severity == Severity::Error;
        sort_diagnostics(&mut diags);
        if diags.iter().any(is_error) {
            return Err(diags);
        }
        config.warnings = diags;
        Ok(config)
    }

    /// The connection named `name`.
    pub(crate) fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The pool named `name`.
    pub(crate) fn pool(&self, name: &str) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.name == name)
    }
}

/// Order diagnostics by file (in the order files were first mentioned) and
/// then by position.
fn sort_diagnostics(diags: &mut [Diagnostic]) {
    let mut files: Vec<PathBuf> = Vec::new();
    for d in diags.iter() {
        if !files.contains(&d.path) {
            files.push(d.path.clone());
        }
    }
    diags.sort_by_key(|d| (files.iter().position(|f| *f == d.path), d.offset));
}

/// `[daemon]`: settings of the process rather than of one connection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Daemon {
    /// `backend`: where SAs and policies go: the illumos kernel (PF_KEY) or
    /// ikegw's userland ESP engine.
    pub(crate) backend: Backend,
    /// `control_socket`: the Unix socket `ikegw` commands talk to.
    pub(crate) control_socket: PathBuf,
    /// `engine_socket`: with backend = userland, the PF_KEY socket of a
    /// key engine running as its own process (`ikegw pfkey engine`);
    /// `None` runs the engine inside the daemon.
    pub(crate) engine_socket: Option<PathBuf>,
    /// `state_dir`: where address-pool leases are kept across restarts.
    pub(crate) state_dir: PathBuf,
    /// `log_format`: `text` or `json`.
    pub(crate) log_format: LogFormat,
    /// `log_level`: a tracing filter such as `info` or `ike=debug`.
    pub(crate) log_level: String,
    /// `listen`: local addresses for the IKE sockets (empty: all).
    pub(crate) listen: Vec<IpAddr>,
    /// `port`: the IKE port (RFC 7296 §2: 500).
    pub(crate) port: u16,
    /// `port_nat_t`: the NAT-T port (RFC 3948 / RFC 7296 §2.23: 4500).
    pub(crate) port_nat_t: u16,
    /// `retransmit_timeout`: wait before the first retransmission
    /// (strongswan.conf `charon.retransmit_timeout`, 4 s).
    pub(crate) retransmit_timeout: Duration,
    /// `keep_alive`: how often a NAT-T keepalive goes out behind a NAT
    /// (strongswan.conf `charon.keep_alive`, 20 s; RFC 3948 §4).
    pub(crate) keep_alive: Duration,
    /// `cookie_threshold`: half-open IKE SAs from which IKE_SA_INIT
    /// requests must carry a COOKIE (RFC 7296 §2.6; `charon.cookie_threshold`, 10).
    pub(crate) cookie_threshold: usize,
    /// `init_limit_half_open`: half-open IKE SAs above which new
    /// IKE_SA_INIT requests are dropped (`charon.init_limit_half_open`;
    /// strongSwan's default is no limit, ours 1000).
    pub(crate) init_limit_half_open: usize,
    /// `retransmit_base`: factor by which each further wait grows
    /// (`charon.retransmit_base`, 1.8); finite, 1.0 to 10.0.
    pub(crate) retransmit_base: f64,
    /// `retransmit_tries`: retransmissions before the peer is declared
    /// dead (`charon.retransmit_tries`, 5).
    pub(crate) retransmit_tries: u32,
    /// `rsa_pss`: sign with RSASSA-PSS rather than PKCS#1 v1.5 where an
    /// `auth` does not say (`charon.rsa_pss`, no; RFC 7427 §3, RFC 8017 §8.1).
    pub(crate) rsa_pss: bool,
}

// `retransmit_base` is validated finite (never NaN), so `==` is an
// equivalence relation.
impl Eq for Daemon {}

/// Which key engine gets SAs and policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The illumos kernel through PF_KEY v2 and PF_POLICY.
    Illumos,
    /// ikegw's userland ESP engine over TUN (for Linux and tests).
    Userland,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[connections.NAME]`: one IKE_SA configuration (swanctl `connections.<conn>`).
#[derive(Debug)]
pub(crate) struct Connection {
    /// The table name.
    pub(crate) name: String,
    /// `version`: 0 (any) or 2; ikegw speaks only IKEv2.
    pub(crate) version: u8,
    /// `local_addrs`: addresses we accept/initiate from.
    pub(crate) local_addrs: Vec<AddrSpec>,
    /// `remote_addrs`: peers; `%any` to accept from anyone.
    pub(crate) remote_addrs: Vec<AddrSpec>,
    /// `local_port`.
    pub(crate) local_port: u16,
    /// `remote_port`.
    pub(crate) remote_port: u16,
    /// `proposals`: IKE proposals in order of preference.
    pub(crate) proposals: Vec<ProposalSpec>,
    /// `vips`: virtual IPs to request (road-warrior client); `0.0.0.0`/`::` for any.
    pub(crate) vips: Vec<IpAddr>,
    /// `pools`: pools to assign virtual IPs from (responder).
    pub(crate) pools: Vec<String>,
    /// `dpd_delay`: liveness check interval; zero disables (RFC 7296 §2.4).
    pub(crate) dpd_delay: Duration,
    /// `rekey_time`: IKE_SA rekeying interval; zero disables.
    pub(crate) rekey_time: Duration,
    /// `reauth_time`: reauthentication interval; zero disables.
    pub(crate) reauth_time: Duration,
    /// `over_time`: hard lifetime beyond rekey/reauth time.
    pub(crate) over_time: Duration,
    /// `rand_time`: random jitter subtracted from rekey/reauth time.
    pub(crate) rand_time: Duration,
    /// `mobike`: RFC 4555.
    pub(crate) mobike: bool,
    /// `fragmentation`: RFC 7383.
    pub(crate) fragmentation: Fragmentation,
    /// `send_certreq`: send CERTREQ payloads.
    pub(crate) send_certreq: bool,
    /// `send_cert`: when to send our certificate.
    pub(crate) send_cert: SendCert,
    /// `encap`: force UDP encapsulation (fake NAT detection, RFC 7296 §2.23).
    pub(crate) encap: bool,
    /// `unique`: what to do with other IKE_SAs of the same peer identity.
    pub(crate) unique: Unique,
    /// `keyingtries`: initiation attempts; 0 = forever.
    pub(crate) keyingtries: u32,
    /// `local`, `local-N`: our authentication rounds, in round order.
    pub(crate) local: Vec<AuthRound>,
    /// `remote`, `remote-N`: the peer's authentication rounds.
    pub(crate) remote: Vec<AuthRound>,
    /// `children.NAME`: CHILD_SA configurations, in file order.
    pub(crate) children: Vec<Child>,
}

/// An entry of `local_addrs` / `remote_addrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrSpec {
    /// `%any`: any address of either family.
    Any,
    /// `%any4`.
    Any4,
    /// `%any6`.
    Any6,
    /// A single address.
    Addr(IpAddr),
    /// A CIDR subnet or an `a-b` range (responder matching only).
    Range(IpRange),
    /// A DNS name, resolved when used.
    Host(String),
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    /// First address.
    pub(crate) first: IpAddr,
    /// Last address (same family, not below `first`).
    pub(crate) last: IpAddr,
}

impl IpRange {
    /// Both ends as numbers; IPv4 and IPv6 never compare as overlapping
    /// because [`Self::overlaps`] checks the family first.
    pub(crate) fn bounds(&self) -> (u128, u128) {
        (ip_to_u128(self.first), ip_to_u128(self.last))
    }

    /// Whether the two ranges share an address.
    pub(crate) fn overlaps(&self, other: &Self) -> bool {
        let (a0, a1) = self.bounds();
        let (b0, b1) = other.bounds();
        self.first.is_ipv4() == other.first.is_ipv4() && a0 <= b1 && b0 <= a1
    }
}

pub(crate) fn ip_to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

/// `fragmentation` (RFC 7383).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragmentation {
    /// Announce support and fragment when needed (`yes`, the default).
    Yes,
    /// Accept fragments but never announce or send them.
    Accept,
    /// Fragment IKE_AUTH even before the peer announced support.
    Force,
    /// Neither announce nor accept.
    No,
}

/// `send_cert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendCert {
    /// Always send our certificate.
    Always,
    /// Only when the peer sent a CERTREQ (the default).
    IfAsked,
    /// Never (the peer has it already).
    Never,
}

/// `unique`: the uniqueness policy for a peer identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unique {
    /// Allow duplicates, but replace on INITIAL_CONTACT (the default).
    No,
    /// Allow duplicates, ignore INITIAL_CONTACT.
    Never,
    /// Keep the existing IKE_SA, reject the new one.
    Keep,
    /// Replace the existing IKE_SA.
    Replace,
}

/// `local` / `remote` (and `local-N` / `remote-N`): one authentication round.
#[derive(Debug, Clone)]
pub(crate) struct AuthRound {
    /// The round number (`local-2` is round 2; `local` is round 1 unless
    /// `round` says otherwise).
    pub(crate) round: u32,
    /// The table's name as written (`local`, `local-2`), for messages.
    pub(crate) table: String,
    /// `auth`: the method.
    pub(crate) auth: AuthMethod,
    /// `id`: the IKE identity; `None` for `%any` (remote) or the default
    /// (our address, or the certificate's subject).
    pub(crate) id: Option<certs::IkeId>,
    /// `id` as written, for messages and secret lookup.
    pub(crate) id_text: Option<String>,
    /// `certs`: certificate files (ours for `local`, pinned peer certs for `remote`).
    pub(crate) certs: Vec<PathBuf>,
    /// `cacerts`: trust anchors the peer's chain must lead to (remote only).
    pub(crate) cacerts: Vec<PathBuf>,
    /// `revocation`: how strictly to check CRLs.
    pub(crate) revocation: Revocation,
    /// `eap_id` (remote round with `auth = eap-mschapv2`): `%any` asks the
    /// client with EAP-Identity; absent, the IKE identity names the user
    /// when it can.
    pub(crate) eap_id: Option<String>,
    /// Signature constraints written into `auth` (`rsa/pss-sha256`,
    /// `ike:pubkey-sha384`, …); empty for a plain `pubkey`.
    pub(crate) signature: SigConstraints,
}

/// A key type named in an `auth` constraint (swanctl.conf `auth`:
/// `rsa-2048`, `ecdsa-256`, `ed25519`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigKey {
    /// `rsa`: PKCS#1 v1.5 padding (RFC 8017 §8.2), or RSASSA-PSS with
    /// `[daemon] rsa_pss`.
    Rsa,
    /// `rsa/pss`: RSASSA-PSS (RFC 8017 §8.1, RFC 4055 parameters).
    RsaPss,
    /// `ecdsa`.
    Ecdsa,
    /// `ed25519`.
    Ed25519,
}

/// A hash named in an `auth` constraint (`sha256`, `sha384`, `sha512`;
/// RFC 7427 §4 with the IANA "IKEv2 Hash Algorithms" numbers 2, 3, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigHash {
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

/// The signature scheme constraints of one `auth` value, in strongSwan's
/// syntax: an optional `ike:` prefix, then dash-separated key types (each
/// with an optional minimum size) and hashes, e.g. `rsa/pss-sha256`,
/// `ike:pubkey-sha384-sha256`, `rsa-2048-sha256-ecdsa-256-sha384`.
/// Empty (`pubkey`) constrains nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SigConstraints {
    /// Key types with their minimum size in bits (0: any); empty = any key.
    pub(crate) keys: Vec<(SigKey, u32)>,
    /// Hashes in order of preference; empty = any.
    pub(crate) hashes: Vec<SigHash>,
}

impl SigConstraints {
    /// Whether nothing is constrained (a plain `pubkey`).
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.hashes.is_empty()
    }

    /// The `auth` value that reads back as these constraints.
    pub(crate) fn to_auth(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.keys.is_empty() {
            parts.push("pubkey".into());
        }
        for (k, bits) in &self.keys {
            let name = match k {
                SigKey::Rsa => "rsa",
                SigKey::RsaPss => "rsa/pss",
                SigKey::Ecdsa => "ecdsa",
                SigKey::Ed25519 => "ed25519",
            };
            parts.push(name.into());
            if *bits > 0 {
                parts.push(bits.to_string());
            }
        }
        for h in &self.hashes {
            let name = match h {
                SigHash::Sha256 => "sha256",
                SigHash::Sha384 => "sha384",
                SigHash::Sha512 => "sha512",
            };
            parts.push(name.into());
        }
        parts.join("-")
    }
}

/// `auth` in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `psk`: shared key (RFC 7296 §2.15).
    Psk,
    /// `pubkey`: certificate signature (RFC 7296 §3.8, RFC 7427).
    Pubkey,
    /// `eap-mschapv2`: the peer runs EAP-MSCHAPv2 inside IKE_AUTH
    /// against the `[secrets.eap-NAME]` users (RFC 7296 §2.16, RFC 2759).
    /// Remote rounds only.
    EapMschapv2,
}

/// `revocation` in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// Fail only on a certificate known to be revoked (the default).
    Relaxed,
    /// Fail on revoked, and on a CRL that is stale.
    IfUri,
    /// Fail unless a current CRL says the certificate is good.
    Strict,
}

/// `children.NAME`: one CHILD_SA configuration.
#[derive(Debug)]
pub(crate) struct Child {
    /// The table name.
    pub(crate) name: String,
    /// `local_ts`.
    pub(crate) local_ts: Vec<Ts>,
    /// `remote_ts`.
    pub(crate) remote_ts: Vec<Ts>,
    /// `esp_proposals`.
    pub(crate) esp_proposals: Vec<ProposalSpec>,
    /// `mode`.
    pub(crate) mode: Mode,
    /// `start_action`.
    pub(crate) start_action: Action,
    /// `close_action`.
    pub(crate) close_action: Action,
    /// `dpd_action`.
    pub(crate) dpd_action: DpdAction,
    /// `rekey_time`, `life_time`, `rand_time`, and the byte and packet limits.
    pub(crate) lifetime: ChildLifetime,
    /// `inactivity`: close after this long without traffic; zero disables.
    pub(crate) inactivity: Duration,
    /// `updown`: a script run on up/down events.
    pub(crate) updown: Option<PathBuf>,
    /// `hostaccess`: let the gateway itself reach the local subnet.
    pub(crate) hostaccess: bool,
    /// `policies`: install IPsec policies (no = SAs only).
    pub(crate) policies: bool,
    /// `priority`: policy priority; 0 = computed from the selectors.
    pub(crate) priority: u32,
    /// `reqid`: fixed reqid; 0 = allocated.
    pub(crate) reqid: u32,
}

/// A traffic selector entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ts {
    /// `dynamic`: the IKE address or virtual IP, known only at run time.
    Dynamic,
    /// A fixed selector (RFC 7296 §3.13.1).
    Fixed(TrafficSelector),
}

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Tunnel mode (the default).
    Tunnel,
    /// Transport mode (USE_TRANSPORT_MODE, RFC 7296 §1.3.1).
    Transport,
    /// A bypass policy; no SA is negotiated.
    Pass,
    /// A drop policy; no SA is negotiated.
    Drop,
}

/// `start_action` / `close_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Do nothing.
    None,
    /// Install a trap policy: negotiate on the first packet.
    Trap,
    /// Initiate at once.
    Start,
}

/// `dpd_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DpdAction {
    /// Close the CHILD_SA (the default).
    Clear,
    /// Install a trap policy to renegotiate on traffic.
    Trap,
    /// Renegotiate at once.
    Restart,
}

/// CHILD_SA lifetimes (RFC 7296 §2.8: each side rekeys on its own limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildLifetime {
    /// `rekey_time`: soft limit.
    pub(crate) rekey_time: Duration,
    /// `life_time`: hard limit.
    pub(crate) life_time: Duration,
    /// `rand_time`: jitter subtracted from `rekey_time`.
    pub(crate) rand_time: Duration,
    /// `rekey_bytes` (0 = none).
    pub(crate) rekey_bytes: u64,
    /// `life_bytes`.
    pub(crate) life_bytes: u64,
    /// `rand_bytes`.
    pub(crate) rand_bytes: u64,
    /// `rekey_packets` (0 = none).
    pub(crate) rekey_packets: u64,
    /// `life_packets`.
    pub(crate) life_packets: u64,
    /// `rand_packets`.
    pub(crate) rand_packets: u64,
}

/// `[secrets]`.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    /// `secrets.ike.NAME`: shared keys.
    pub(crate) ike: Vec<IkeSecret>,
    /// `secrets.private.NAME`: private key files, loaded.
    pub(crate) private: Vec<PrivateKeySecret>,
    /// `secrets.eap-NAME` (swanctl `eap<suffix>`): EAP user passwords.
    pub(crate) eap: Vec<EapSecret>,
    /// `secrets.include`: the separate secrets file, if any.
    pub(crate) include: Option<PathBuf>,
    /// Whether the main file itself holds shared keys (then it should be
    /// as private as a secrets file).
    pub(crate) inline: bool,
}

/// A pre-shared key.
#[derive(Debug)]
pub(crate) struct IkeSecret {
    /// The table name.
    pub(crate) name: String,
    /// `id`: identities it is for (swanctl `id`, `id-N`); empty = any.
    pub(crate) ids: Vec<certs::IkeId>,
    /// `secret`.
    pub(crate) secret: Psk,
}

/// An EAP user's password (swanctl `secrets.eap<suffix>`).
#[derive(Debug)]
pub(crate) struct EapSecret {
    /// The table name (`eap-alice`).
    pub(crate) name: String,
    /// `id`, `id-N`: the EAP user names the password is for.
    pub(crate) ids: Vec<String>,
    /// `secret`: the password (swanctl syntax: text, `0x` hex, `0s` base64).
    pub(crate) secret: Psk,
}

/// Pre-shared key bytes, zeroized on drop; never printed.
pub(crate) struct Psk(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Psk {
    /// Only the length: a PSK must never reach a log (STYLE.md §6).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret len={}>", self.0.len())
    }
}

impl Psk {
    /// A secret from bytes (tests build EAP users without a file).
    #[cfg(test)]
    pub(crate) fn from_bytes(b: &[u8]) -> Self {
        Self(Zeroizing::new(b.to_vec()))
    }

    /// The key bytes (RFC 7296 §2.15: used as the PRF key for AUTH).
    pub(crate) fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes, for redacted display.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never true for a loaded config).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `secrets.private.NAME`: a private key loaded from a file.
#[derive(Debug)]
pub(crate) struct PrivateKeySecret {
    /// The table name.
    pub(crate) name: String,
    /// `file`.
    pub(crate) path: PathBuf,
    /// The key.
    pub(crate) key: certs::PrivateKey,
}

/// `[pools.NAME]`: virtual IPs and the attributes sent with them
/// (RFC 7296 §3.15 configuration attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// The table name.
    pub(crate) name: String,
    /// `addrs`: the leasable addresses. For a CIDR, the network address (and
    /// for IPv4 the broadcast address) is left out, as strongSwan does.
    pub(crate) addrs: IpRange,
    /// `addrs` as written.
    pub(crate) addrs_text: String,
    /// `dns`: INTERNAL_IP4_DNS / INTERNAL_IP6_DNS.
    pub(crate) dns: Vec<IpAddr>,
    /// `nbns`: INTERNAL_IP4_NBNS.
    pub(crate) nbns: Vec<IpAddr>,
    /// `subnet`: INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET (protected networks).
    pub(crate) subnet: Vec<Subnet>,
    /// `split_include`: networks to send through the tunnel (split tunnelling).
    pub(crate) split_include: Vec<Subnet>,
    /// `split_exclude`: networks to keep out of the tunnel.
    pub(crate) split_exclude: Vec<Subnet>,
    /// `split_dns`: INTERNAL_DNS_DOMAIN (RFC 8598) domains to resolve via `dns`.
    pub(crate) split_dns: Vec<String>,
}

impl PoolConfig {
    /// The lease store's view of this pool (`crate::pool`, #10).
    pub(crate) fn spec(&self) -> crate::pool::PoolSpec {
        crate::pool::PoolSpec {
            name: self.name.clone(),
            first: self.addrs.first,
            last: self.addrs.last,
        }
    }
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subnet {
    /// The network address (host bits cleared).
    pub(crate) addr: IpAddr,
    /// Prefix length.
    pub(crate) prefix: u8,
}
