//! From a validated [`Config`] to what the core needs: one
//! [`PeerConfig`] per connection, with one [`ChildConfig`] per CHILD_SA
//! template (swanctl `children`), all negotiated on the connection's one
//! IKE SA; and one [`ConnInfo`] per (connection, child) for the daemon.
//!
//! `auth = pubkey` rounds get their credentials from [`creds`].
//!
//! Things the core cannot do yet are refused here with a message naming
//! the connection and what to change, instead of being silently ignored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ike::crypto::SecretBytes;
use ike::io::{Lifetimes, Mode as IoMode};
use ike::sa::{ChildConfig, PeerAuth, PeerConfig};
use ike::wire::{Id, IdType, TrafficSelector};

use super::creds;
use crate::config::{self, AddrSpec, AuthMethod, Config, Connection, Ts};

/// One configured CHILD_SA of a connection as the daemon knows it (for
/// `list-conns` and `initiate --child`); [`Peers::info`] has one per
/// (connection, child), in the order of [`Peers::peers`] and their
/// children.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ConnInfo {
    /// Connection name.
    pub(crate) conn: String,
    /// CHILD_SA name.
    pub(crate) child: String,
    /// Our IKE address.
    pub(crate) local: String,
    /// The peer's IKE address (`%any` for responder-only).
    pub(crate) remote: String,
    /// Our identity.
    pub(crate) local_id: String,
    /// The identity we accept.
    pub(crate) remote_id: String,
    /// IKE proposals as configured.
    pub(crate) ike_proposals: Vec<String>,
    /// ESP proposals as configured.
    pub(crate) esp_proposals: Vec<String>,
    /// Our selectors.
    pub(crate) local_ts: Vec<String>,
    /// The peer's selectors.
    pub(crate) remote_ts: Vec<String>,
    /// `start_action = start`.
    pub(crate) start: bool,
}

/// Why a connection cannot be run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// More than one authentication round on a side.
    #[error("connection {conn}: {table} is a second authentication round, which the daemon does not run yet; remove it")]
    Rounds {
        /// Connection.
        conn: String,
        /// The extra round's table (`local-2`).
        table: String,
    },
    /// A certificate round cannot be set up.
    #[error("{0}")]
    Cert(#[from] super::creds::CredError),
    /// No PSK matches the identities.
    #[error("connection {conn}: no [secrets.ike.*] entry matches id {local} or {remote}; add one with the shared key")]
    NoSecret {
        /// Connection.
        conn: String,
        /// Our ID.
        local: String,
        /// Peer ID.
        remote: String,
    },
    /// A DNS name in remote_addrs/local_addrs.
    #[error("connection {conn}: host name '{host}' in addresses is not resolved by the daemon yet; write an IP address")]
    Host {
        /// Connection.
        conn: String,
        /// The name.
        host: String,
    },
    /// pass/drop children.
    #[error("connection {conn}: child {child} has mode = {mode:?}, which the daemon does not install yet; use tunnel or transport")]
    Mode {
        /// Connection.
        conn: String,
        /// Child.
        child: String,
        /// Mode.
        mode: config::Mode,
    },
}

/// The peers, their descriptions, and the indexes to initiate at start.
pub(crate) struct Peers {
    /// One per connection, named like it.
    pub(crate) peers: Vec<Arc<PeerConfig>>,
    /// One per (connection, child).
    pub(crate) info: Vec<ConnInfo>,
}

/// Where the child of an info entry lives in the core's table: (peer
/// index, child index), found by the connection's and the child's names.
pub(crate) fn locate(peers: &[Arc<PeerConfig>], i: &ConnInfo) -> Option<(usize, usize)> {
    let p = peers.iter().position(|p| p.name == i.conn)?;
    let c = peers.get(p)?.child_index(&i.child)?;
    Some((p, c))
}

fn id_of(i: &certs::IkeId) -> Id {
    Id {
        id_type: IdType(i.id_type()),
        data: i.data(),
    }
}

fn ip_id(ip: IpAddr) -> Id {
    match ip {
        IpAddr::V4(a) => Id {
            id_type: IdType::ID_IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        IpAddr::V6(a) => Id {
            id_type: IdType::ID_IPV6_ADDR,
            data: a.octets().to_vec(),
        },
    }
}

/// First usable address of a list; `None` for `%any`.
fn first_addr(conn: &str, list: &[AddrSpec]) -> Result<Option<IpAddr>, SetupError> {
    for a in list {
        match a {
            AddrSpec::Addr(ip) => return Ok(Some(*ip)),
            AddrSpec::Range(r) => return Ok(Some(r.first)),
            AddrSpec::Host(h) => {
                return Err(SetupError::Host {
                    conn: conn.to_string(),
                    host: h.clone(),
                })
            }
            AddrSpec::Any | AddrSpec::Any4 | AddrSpec::Any6 => {}
        }
    }
    Ok(None)
}

fn host_ts(ip: IpAddr) -> TrafficSelector {
    match ip {
        IpAddr::V4(a) => TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: a,
            end: a,
        },
        IpAddr::V6(a) => TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: a,
            end: a,
        },
    }
}

fn any_ts(v4: bool) -> TrafficSelector {
    if v4 {
        TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv4Addr::UNSPECIFIED,
            end: Ipv4Addr::BROADCAST,
        }
    } else {
        TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv6Addr::UNSPECIFIED,
            end: Ipv6Addr::from(u128::MAX),
        }
    }
}

/// `dynamic` is the IKE address (swanctl semantics without virtual IPs).
fn resolve_ts(list: &[Ts], addr: Option<IpAddr>, v4: bool) -> Vec<TrafficSelector> {
    list.iter()
        .map(|t| match t {
            Ts::Fixed(ts) => ts.clone(),
            Ts::Dynamic => addr.map_or_else(|| any_ts(v4), host_ts),
        })
        .collect()
}

/// Text form of a selector for `list-conns` / `list-sas` (strongSwan style:
/// CIDR when possible, otherwise a range).
pub(crate) fn ts_text(ts: &TrafficSelector) -> String {
    let ports = |p: u8, s: u16, e: u16| {
        if p == 0 && s == 0 && e == 65535 {
            String::new()
        } else if s == e {
            format!("[{p}/{s}]")
        } else if s == 0 && e == 65535 {
            format!("[{p}]")
        } else {
            format!("[{p}/{s}-{e}]")
        }
    };
    match ts {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => {
            let base = match super::kernel::ts_prefix(std::slice::from_ref(ts)) {
                Some((ip, p)) => format!("{ip}/{p}"),
                None => format!("{start}..{end}"),
            };
            format!("{base}{}", ports(*ip_protocol, *start_port, *end_port))
        }
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => {
            let base = match super::kernel::ts_prefix(std::slice::from_ref(ts)) {
                Some((ip, p)) => format!("{ip}/{p}"),
                None => format!("{start}..{end}"),
            };
            format!("{base}{}", ports(*ip_protocol, *start_port, *end_port))
        }
        TrafficSelector::Other { ts_type, .. } => format!("{ts_type:?}"),
    }
}

fn id_text(id: &Id) -> String {
    match certs::IkeId::from_payload(id.id_type.0, &id.data) {
        Some(Ok(i)) => i.to_string(),
        _ => format!("{}:{}", id.id_type.0, hex::encode(&id.data)),
    }
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// How well the identities of a `[secrets.ike.*]` entry fit one side's
/// identity, in strongSwan's order (`id_match_t` in libstrongswan
/// `utils/identification.h`): an equal identity beats the `%any` that an
/// entry without ids stands for, which beats no match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IdMatch {
    /// No id of the entry is this identity.
    None,
    /// The entry has no ids (swanctl stores it under `%any`).
    Any,
    /// An id of the entry is this identity.
    Perfect,
}

/// A secret's rank for a connection; the derived order compares the
/// peer's side first, then ours, as strongSwan's credential manager does
/// (`get_shared` in libstrongswan `credentials/credential_manager.c`):
/// both ids > the peer's id only > an entry without ids > our id only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SecretRank {
    /// How the entry fits the peer's identity.
    pub(crate) remote: IdMatch,
    /// How the entry fits ours.
    pub(crate) local: IdMatch,
}

/// Same identity, with FQDNs and email addresses compared without case
/// (RFC 4945 §3.1.2 / §3.1.3; strongSwan compares them so too).
fn same_id(a: &certs::IkeId, b: &certs::IkeId) -> bool {
    use certs::IkeId::{Fqdn, Rfc822};
    match (a, b) {
        (Fqdn(x), Fqdn(y)) | (Rfc822(x), Rfc822(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// The rank of `secret` for a connection whose identities are `local`
/// and `remote` (each empty when unknown, e.g. a peer that may be
/// anyone); `None` when it matches neither, so it is not a candidate.
pub(crate) fn secret_rank(
    secret: &config::IkeSecret,
    local: &[certs::IkeId],
    remote: &[certs::IkeId],
) -> Option<SecretRank> {
    if secret.ids.is_empty() {
        return Some(SecretRank {
            remote: IdMatch::Any,
            local: IdMatch::Any,
        });
    }
    let side = |ids: &[certs::IkeId]| {
        if secret.ids.iter().any(|s| ids.iter().any(|i| same_id(s, i))) {
            IdMatch::Perfect
        } else {
            IdMatch::None
        }
    };
    let rank = SecretRank {
        remote: side(remote),
        local: side(local),
    };
    (rank.remote != IdMatch::None || rank.local != IdMatch::None).then_some(rank)
}

/// The PSK a connection uses: the best-ranked entry ([`SecretRank`]),
/// the first of equals in file order (strongSwan keeps the first on a
/// tie too); `tied` lists the others that rank as high, which is almost
/// always a configuration mistake.
pub(crate) struct PskChoice<'a> {
    /// The entry used.
    pub(crate) best: &'a config::IkeSecret,
    /// Entries ranked as high as `best`, after it.
    pub(crate) tied: Vec<&'a config::IkeSecret>,
}

/// Picks the PSK for identities `local` / `remote` ([`PskChoice`]);
/// `None` when no entry matches either.
pub(crate) fn choose_psk<'a>(
    secrets: &'a [config::IkeSecret],
    local: &[certs::IkeId],
    remote: &[certs::IkeId],
) -> Option<PskChoice<'a>> {
    let ranked: Vec<(SecretRank, &config::IkeSecret)> = secrets
        .iter()
        .filter_map(|s| Some((secret_rank(s, local, remote)?, s)))
        .collect();
    let top = ranked.iter().map(|(r, _)| *r).max()?;
    let mut at_top = ranked
        .into_iter()
        .filter(|(r, _)| *r == top)
        .map(|(_, s)| s);
    let best = at_top.next()?;
    Some(PskChoice {
        best,
        tied: at_top.collect(),
    })
}

/// Builds the peers of `cfg`; `ike_port` is the port our IKE socket is
/// bound to (the core sends from `PeerConfig::local`).
pub(crate) fn peers(cfg: &Config, ike_port: u16) -> Result<Peers, Vec<SetupError>> {
    let mut out = Peers {
        peers: Vec::new(),
        info: Vec::new(),
    };
    let mut errors = Vec::new();
    for c in &cfg.connections {
        match conn_peers(cfg, c, ike_port) {
            Ok(Some((p, info))) => {
                out.peers.push(Arc::new(p));
                out.info.extend(info);
            }
            // No children: nothing the core could negotiate.
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn conn_peers(
    cfg: &Config,
    c: &Connection,
    ike_port: u16,
) -> Result<Option<(PeerConfig, Vec<ConnInfo>)>, SetupError> {
    let name = c.name.clone();
    // The core runs one AUTH round per side (RFC 4739 multiple rounds are
    // not implemented).
    if let Some(r) = c.local.get(1).or_else(|| c.remote.get(1)) {
        return Err(SetupError::Rounds {
            conn: name,
            table: r.table.clone(),
        });
    }
    let local_cert = match c.local.first() {
        Some(r) if r.auth == AuthMethod::Pubkey => Some(creds::local(cfg, &name, r, c.send_cert)?),
        _ => None,
    };
    let verifier = match c.remote.first() {
        Some(r) if r.auth == AuthMethod::Pubkey => Some(creds::remote(&name, r)?),
        _ => None,
    };
    let local_ip =
        first_addr(&name, &c.local_addrs)?.or_else(|| cfg.daemon.listen.first().copied());
    let remote_ip = first_addr(&name, &c.remote_addrs)?;
    let v4 = local_ip.or(remote_ip).is_none_or(|a| a.is_ipv4());
    let unspecified = if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let local_id = c
        .local
        .first()
        .and_then(|r| r.id.as_ref())
        .map(id_of)
        .or_else(|| {
            // With a certificate and no `id`, strongSwan uses the subject DN.
            let lc = local_cert.as_ref()?;
            certs::IkeId::parse(&lc.subject).ok().map(|i| id_of(&i))
        })
        .unwrap_or_else(|| ip_id(local_ip.unwrap_or(unspecified)));
    let remote_id = c.remote.first().and_then(|r| r.id.as_ref()).map(id_of);
    // A PSK is needed when either side authenticates with it (one side may
    // sign while the other uses the key: RFC 7296 §2.15 lets the methods
    // differ per direction).
    // EAP-MSCHAPv2 road warriors (RFC 7296 §2.16): the users are the
    // [secrets.eap-NAME] sections, not a PSK.
    let eap = c
        .remote
        .first()
        .filter(|r| r.auth == AuthMethod::EapMschapv2)
        .map(|r| super::eap_users::server_config(&cfg.secrets.eap, r));
    let psk = if local_cert.is_none() || (verifier.is_none() && eap.is_none()) {
        let ike_id = |i: &Id| match certs::IkeId::from_payload(i.id_type.0, &i.data) {
            Some(Ok(i)) => Some(i),
            _ => None,
        };
        let mine: Vec<certs::IkeId> = ike_id(&local_id).into_iter().collect();
        let theirs: Vec<certs::IkeId> = remote_id.as_ref().and_then(ike_id).into_iter().collect();
        let choice =
            choose_psk(&cfg.secrets.ike, &mine, &theirs).ok_or_else(|| SetupError::NoSecret {
                conn: name.clone(),
                local: id_text(&local_id),
                remote: remote_id.as_ref().map_or("%any".into(), id_text),
            })?;
        if !choice.tied.is_empty() {
            let names: Vec<&str> = choice.tied.iter().map(|s| s.name.as_str()).collect();
            tracing::warn!(
                "connection {name}: [secrets.ike.{}] and [secrets.ike.{}] match its identities equally well; using the first",
                choice.best.name,
                names.join("], [secrets.ike.")
            );
        }
        Some(choice.best)
    } else {
        None
    };
    let peer_auth = match (&verifier, eap) {
        (_, Some(e)) => PeerAuth::EapMschapv2(e),
        (Some(v), None) => PeerAuth::Certificate(v.clone()),
        (None, None) => PeerAuth::Psk,
    };
    // CERTREQ for our anchors so the peer sends its chain (RFC 7296 §3.7).
    let cert_requests = match &verifier {
        Some(v) if c.send_certreq => v.cert_requests(),
        _ => Vec::new(),
    };
    let mut children = Vec::new();
    let mut info = Vec::new();
    for ch in &c.children {
        let mode = match ch.mode {
            config::Mode::Tunnel => IoMode::Tunnel,
            config::Mode::Transport => IoMode::Transport,
            m => {
                return Err(SetupError::Mode {
                    conn: name,
                    child: ch.name.clone(),
                    mode: m,
                })
            }
        };
        let local_ts = resolve_ts(&ch.local_ts, local_ip, v4);
        let remote_ts = resolve_ts(&ch.remote_ts, remote_ip, v4);
        info.push(ConnInfo {
            conn: c.name.clone(),
            child: ch.name.clone(),
            local: local_ip.map_or("%any".into(), |a| a.to_string()),
            remote: remote_ip.map_or("%any".into(), |a| a.to_string()),
            local_id: id_text(&local_id),
            remote_id: remote_id.as_ref().map_or("%any".into(), id_text),
            ike_proposals: c.proposals.iter().map(ToString::to_string).collect(),
            esp_proposals: ch.esp_proposals.iter().map(ToString::to_string).collect(),
            local_ts: local_ts.iter().map(ts_text).collect(),
            remote_ts: remote_ts.iter().map(ts_text).collect(),
            start: ch.start_action == config::Action::Start && remote_ip.is_some(),
        });
        children.push(ChildConfig {
            name: ch.name.clone(),
            esp_proposals: ch.esp_proposals.clone(),
            local_ts,
            remote_ts,
            mode,
            lifetimes: Lifetimes {
                soft: nonzero(ch.lifetime.rekey_time),
                hard: nonzero(ch.lifetime.life_time),
            },
        });
    }
    if children.is_empty() {
        return Ok(None);
    }
    let peer = PeerConfig {
        eap_client: None,
        name: c.name.clone(),
        local: SocketAddr::new(local_ip.unwrap_or(unspecified), ike_port),
        remote: SocketAddr::new(remote_ip.unwrap_or(unspecified), c.remote_port),
        local_id: local_id.clone(),
        remote_id: remote_id.clone(),
        psk: psk.map(|s| SecretBytes::from_slice(s.secret.expose_secret())),
        signer: local_cert.as_ref().map(|l| l.signer.clone()),
        local_certs: local_cert
            .as_ref()
            .map(|l| l.certs.clone())
            .unwrap_or_default(),
        cert_requests,
        peer_auth,
        ike_proposals: c.proposals.clone(),
        children,
        force_encap: c.encap,
        dpd_delay: nonzero(c.dpd_delay),
        ike_rekey_time: nonzero(c.rekey_time),
        remote_access: super::vip::remote_access(cfg, c),
        credentials: local_cert.as_ref().map(|l| l.provider.clone()),
    };
    Ok(Some((peer, info)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{choose_psk, locate, peers, secret_rank, IdMatch, SecretRank};
    use crate::config::Config;

    const TWO_CHILDREN: &str = r#"[connections.branch]
local_addrs = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]

[connections.branch.local]
auth = "psk"
id = "hq.example.com"

[connections.branch.remote]
auth = "psk"
id = "branch.example.com"

[connections.branch.children.lan]
local_ts = ["10.1.0.0/16"]
remote_ts = ["10.2.0.0/24"]
start_action = "start"

[connections.branch.children.web]
local_ts = ["10.1.5.0/24[tcp/443]"]
remote_ts = ["10.2.0.0/24"]
esp_proposals = ["aes256gcm16-x25519"]
mode = "transport"

[secrets.ike.branch]
id = ["hq.example.com", "branch.example.com"]
secret = "0x00112233445566778899aabbccddeeff"
"#;

    #[test]
    fn a_connection_with_two_children_is_one_peer_with_two_child_configs() {
        let cfg = Config::from_str(
            Path::new("/nonexistent-dir/ikegw.toml"),
            TWO_CHILDREN.to_owned(),
        )
        .unwrap();
        let p = peers(&cfg, 500).unwrap();
        assert_eq!(p.peers.len(), 1);
        let peer = &p.peers[0];
        assert_eq!(peer.name, "branch");
        let names: Vec<&str> = peer.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["lan", "web"]);
        let web = &peer.children[1];
        assert_eq!(web.mode, ike::io::Mode::Transport);
        assert_eq!(
            web.local_ts,
            [ike::policy::ts::parse_ts("10.1.5.0/24[tcp/443]").unwrap()]
        );
        assert_ne!(peer.children[0].esp_proposals, web.esp_proposals);
        // One info entry per child, each found again in the core's table.
        assert_eq!(p.info.len(), 2);
        assert_eq!((p.info[0].child.as_str(), p.info[0].start), ("lan", true));
        assert_eq!((p.info[1].child.as_str(), p.info[1].start), ("web", false));
        assert_eq!(locate(&p.peers, &p.info[0]), Some((0, 0)));
        assert_eq!(locate(&p.peers, &p.info[1]), Some((0, 1)));
    }

    /// Two connections with one local identity: a branch office and a
    /// road warrior, each with its own key. The branch's secret comes
    /// first and also lists the shared local id.
    const SHARED_LOCAL_ID: &str = r#"[connections.branch]
local_addrs = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]

[connections.branch.local]
auth = "psk"
id = "hq.example.com"

[connections.branch.remote]
auth = "psk"
id = "branch.example.com"

[connections.branch.children.lan]
local_ts = ["10.1.0.0/16"]
remote_ts = ["10.2.0.0/24"]

[connections.rw]
local_addrs = ["192.0.2.1"]

[connections.rw.local]
auth = "psk"
id = "hq.example.com"

[connections.rw.remote]
auth = "psk"
id = "Alice@Example.com"

[connections.rw.children.lan]
local_ts = ["10.1.0.0/16"]
remote_ts = ["dynamic"]

[secrets.ike.branch]
id = ["hq.example.com", "branch.example.com"]
secret = "0x00000000000000000000000000000001"

[secrets.ike.rw]
id = ["hq.example.com", "alice@example.com"]
secret = "0x00000000000000000000000000000002"
"#;

    fn config(text: &str) -> Config {
        Config::from_str(Path::new("/nonexistent-dir/ikegw.toml"), text.to_owned()).unwrap()
    }

    fn psk_of(p: &super::Peers, conn: &str) -> Vec<u8> {
        let peer = p.peers.iter().find(|p| p.name == conn).unwrap();
        peer.psk.as_ref().unwrap().secret_bytes().to_vec()
    }

    #[test]
    fn connections_sharing_a_local_id_each_get_the_secret_naming_their_peer() {
        let p = peers(&config(SHARED_LOCAL_ID), 500).unwrap();
        assert_eq!(psk_of(&p, "branch").last(), Some(&1));
        // Before: the first secret matching either id won, so the road
        // warrior got the branch's key. The email id matches without case.
        assert_eq!(psk_of(&p, "rw").last(), Some(&2));
    }

    #[test]
    fn secrets_rank_as_strongswan_ranks_them() {
        let cfg = config(
            r#"[secrets.ike.local-only]
id = ["hq.example.com"]
secret = "0x01"

[secrets.ike.any]
secret = "0x02"

[secrets.ike.remote-only]
id = ["alice@example.com"]
secret = "0x03"

[secrets.ike.both]
id = ["hq.example.com", "alice@example.com"]
secret = "0x04"

[secrets.ike.other]
id = ["bob@example.com"]
secret = "0x05"
"#,
        );
        let local = [certs::IkeId::Fqdn("hq.example.com".into())];
        let remote = [certs::IkeId::Rfc822("alice@example.com".into())];
        let rank = |name: &str| {
            let s = cfg.secrets.ike.iter().find(|s| s.name == name).unwrap();
            secret_rank(s, &local, &remote)
        };
        let r = |remote, local| Some(SecretRank { remote, local });
        assert_eq!(rank("both"), r(IdMatch::Perfect, IdMatch::Perfect));
        assert_eq!(rank("remote-only"), r(IdMatch::Perfect, IdMatch::None));
        assert_eq!(rank("any"), r(IdMatch::Any, IdMatch::Any));
        assert_eq!(rank("local-only"), r(IdMatch::None, IdMatch::Perfect));
        assert_eq!(rank("other"), None);
        // both > remote only > no ids > local only (the peer's side is
        // compared first, as in strongSwan's get_shared).
        assert!(rank("both") > rank("remote-only"));
        assert!(rank("remote-only") > rank("any"));
        assert!(rank("any") > rank("local-only"));
        let pick = |secrets: &[crate::config::IkeSecret]| {
            choose_psk(secrets, &local, &remote).map(|c| c.best.name.clone())
        };
        let all = &cfg.secrets.ike;
        assert_eq!(pick(all).as_deref(), Some("both"));
        let without = |drop: &[&str]| -> Vec<_> {
            all.iter()
                .filter(|s| !drop.contains(&s.name.as_str()))
                .map(|s| crate::config::IkeSecret {
                    name: s.name.clone(),
                    ids: s.ids.clone(),
                    secret: crate::config::Psk::from_bytes(s.secret.expose_secret()),
                })
                .collect()
        };
        assert_eq!(pick(&without(&["both"])).as_deref(), Some("remote-only"));
        assert_eq!(
            pick(&without(&["both", "remote-only"])).as_deref(),
            Some("any")
        );
        assert_eq!(
            pick(&without(&["both", "remote-only", "any"])).as_deref(),
            Some("local-only")
        );
        assert!(pick(&without(&["both", "remote-only", "any", "local-only"])).is_none());
    }

    #[test]
    fn equally_good_secrets_are_reported_and_the_first_is_used() {
        let cfg = config(
            r#"[secrets.ike.first]
id = ["hq.example.com"]
secret = "0x01"

[secrets.ike.second]
id = ["hq.example.com", "branch.example.com"]
secret = "0x02"
"#,
        );
        let local = [certs::IkeId::Fqdn("hq.example.com".into())];
        // A peer whose identity is not known (remote id %any): both
        // secrets match only our id.
        let c = choose_psk(&cfg.secrets.ike, &local, &[]).unwrap();
        assert_eq!(c.best.name, "first");
        let tied: Vec<&str> = c.tied.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(tied, ["second"]);
        // Knowing the peer breaks the tie.
        let remote = [certs::IkeId::Fqdn("branch.example.com".into())];
        let c = choose_psk(&cfg.secrets.ike, &local, &remote).unwrap();
        assert_eq!(c.best.name, "second");
        assert!(c.tied.is_empty());
    }

    #[test]
    fn ikegw_check_warns_about_equally_good_secrets_only() {
        let good = config(SHARED_LOCAL_ID);
        assert!(good.warnings.is_empty(), "{:?}", good.warnings);
        // A second entry for the branch with the same two ids.
        let text = format!(
            "{SHARED_LOCAL_ID}\n[secrets.ike.branch-old]\nid = [\"branch.example.com\", \"hq.example.com\"]\nsecret = \"0x0000000000000000000000000000000f\"\n"
        );
        let c = config(&text);
        let w: Vec<&str> = c.warnings.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            w,
            ["secrets.ike.branch and secrets.ike.branch-old match connections.branch.local equally well; the first is used; give each the ids of both ends"]
        );
        // The daemon uses the first, as before the duplicate was added.
        let p = peers(&c, 500).unwrap();
        assert_eq!(psk_of(&p, "branch").last(), Some(&1));
    }
}
