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
    // swanctl picks the secret whose ids match our or the peer's identity;
    // an entry without ids matches anyone.
    let matches = |s: &config::IkeSecret| {
        s.ids.is_empty()
            || s.ids.iter().any(|i| {
                let i = id_of(i);
                i == local_id || remote_id.as_ref() == Some(&i)
            })
    };
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
        let secret = cfg
            .secrets
            .ike
            .iter()
            .find(|s| !s.ids.is_empty() && matches(s))
            .or_else(|| cfg.secrets.ike.iter().find(|s| matches(s)))
            .ok_or_else(|| SetupError::NoSecret {
                conn: name.clone(),
                local: id_text(&local_id),
                remote: remote_id.as_ref().map_or("%any".into(), id_text),
            })?;
        Some(secret)
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

    use super::{locate, peers};
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
}
