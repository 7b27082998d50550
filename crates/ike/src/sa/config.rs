//! Configuration of the core: one [`EndpointConfig`] with its
//! [`PeerConfig`]s. Built and validated by the daemon; the core only reads it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::{CryptoProvider, SecretBytes, Signer, Verifier};
use crate::io::{Lifetimes, Mode};
use crate::policy::proposal::ProposalSpec;
use crate::wire::{Cert, Id, TrafficSelector};

/// Retransmission schedule (RFC 7296 §2.1). The defaults are strongSwan's
/// (`retransmit_timeout` 4 s, `retransmit_base` 1.8, `retransmit_tries` 5),
/// so a dead peer is declared after the same ~165 s charon waits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetransmitConfig {
    /// Wait before the first retransmission.
    pub timeout: Duration,
    /// Multiplier per retransmission.
    pub base: f64,
    /// Retransmissions before giving up.
    pub tries: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
        }
    }
}

impl RetransmitConfig {
    /// How long to wait after transmission number `n` (0 = the original).
    pub fn wait(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        self.timeout.mul_f64(self.base.powi(exp).clamp(1.0, 1.0e6))
    }
}

/// One peer (a swanctl "connection"): identities, PSK, proposals, selectors.
pub struct PeerConfig {
    /// Name for logs.
    pub name: String,
    /// Our IKE address (port 500) when we initiate.
    pub local: SocketAddr,
    /// The peer's IKE address (port 500) when we initiate.
    pub remote: SocketAddr,
    /// Our identity (RFC 7296 §3.5).
    pub local_id: Id,
    /// The identity we accept from the peer; `None` accepts any.
    pub remote_id: Option<Id>,
    /// Pre-shared key (RFC 7296 §2.15), for our AUTH when no `signer` is
    /// set and for the peer's when `peer_auth` is [`PeerAuth::Psk`].
    pub psk: Option<SecretBytes>,
    /// Signs our AUTH (RFC 7427 / RFC 4754) instead of the PSK.
    pub signer: Option<Arc<dyn Signer>>,
    /// Our certificate chain (DER, end entity first), sent as CERT payloads.
    pub local_certs: Vec<Vec<u8>>,
    /// SHA-1 hashes of the SubjectPublicKeyInfo of the CAs we trust, sent
    /// in CERTREQ (RFC 7296 §3.7) so the peer sends its certificate
    /// (strongSwan's default `send_cert = ifasked`).
    pub cert_requests: Vec<Vec<u8>>,
    /// How the peer must authenticate.
    pub peer_auth: PeerAuth,
    /// IKE proposals, most preferred first.
    pub ike_proposals: Vec<ProposalSpec>,
    /// ESP proposals, most preferred first.
    pub esp_proposals: Vec<ProposalSpec>,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport mode for the CHILD_SA.
    pub mode: Mode,
    /// Pretend a NAT so ESP is UDP-encapsulated from the start (strongSwan
    /// `encap = yes`; needed with kernel-libipsec peers).
    pub force_encap: bool,
    /// Idle time before a liveness check; `None` disables DPD.
    pub dpd_delay: Option<Duration>,
    /// Lifetimes for CHILD_SAs.
    pub lifetimes: Lifetimes,
    /// Rekey the IKE SA this long after it is established, less a random
    /// jitter of up to a tenth, so both peers rarely rekey at once
    /// (strongSwan: `rekey_time` 4 h with `rand_time`); `None` never.
    pub ike_rekey_time: Option<Duration>,
}

/// How the peer must authenticate (RFC 7296 §2.15).
#[derive(Clone)]
pub enum PeerAuth {
    /// With the shared key in [`PeerConfig::psk`].
    Psk,
    /// With a signature under this (pinned) public key.
    PublicKey(Arc<dyn Verifier>),
    /// With a signature under the key of a certificate it sends, accepted
    /// by this validator.
    Certificate(Arc<dyn CertVerifier>),
}

impl fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Psk => "Psk",
            Self::PublicKey(_) => "PublicKey",
            Self::Certificate(_) => "Certificate",
        })
    }
}

/// Validates a peer's certificates (path, validity, key usage, that the ID
/// matches) and returns a verifier for its key. The `certs` crate provides
/// the production implementation; the core never parses X.509.
pub trait CertVerifier: Send + Sync {
    /// `certs` are the CERT payloads in the order received (end entity
    /// first, RFC 7296 §3.6). The error is a reason for the operator.
    fn verifier_for(&self, peer_id: &Id, certs: &[&Cert]) -> Result<Box<dyn Verifier>, String>;
}

impl fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("name", &self.name)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("psk", &self.psk)
            .field("signer", &self.signer.as_ref().map(|s| s.auth_method()))
            .field("peer_auth", &self.peer_auth)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Everything the [`Endpoint`](super::Endpoint) needs.
#[derive(Debug)]
pub struct EndpointConfig {
    /// Peer configurations; [`Command::Initiate`](crate::io::Command) names one by index.
    pub peers: Vec<Arc<PeerConfig>>,
    /// Algorithms.
    pub crypto: CryptoProvider,
    /// Retransmission schedule.
    pub retransmit: RetransmitConfig,
    /// Half-open SAs above which IKE_SA_INIT requests must carry a COOKIE
    /// (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    /// Half-open SAs above which new IKE_SA_INIT requests are dropped.
    pub half_open_limit: usize,
    /// How long a responder keeps a half-open SA (strongSwan: 30 s).
    pub half_open_timeout: Duration,
    /// How often the COOKIE secret changes (RFC 7296 §2.6).
    pub cookie_secret_lifetime: Duration,
    /// The NAT-T port (RFC 3948: 4500).
    pub natt_port: u16,
    /// NAT-T keepalive period when behind a NAT (RFC 3948 §4; strongSwan
    /// `keep_alive` default 20 s).
    pub keepalive_interval: Duration,
    /// Offer and use IKE fragmentation (RFC 7383).
    pub fragmentation: bool,
    /// Largest IP packet an IKE datagram may make before it is fragmented
    /// (strongSwan's `fragment_size`, default 1280).
    pub fragment_size: usize,
}

impl EndpointConfig {
    /// Defaults for everything but the peers: ring's algorithms,
    /// strongSwan's timers, cookies above 10 half-open SAs (strongSwan's
    /// `cookie_threshold`), at most 1000 half-open SAs.
    pub fn new(peers: Vec<Arc<PeerConfig>>, crypto: CryptoProvider) -> Self {
        Self {
            peers,
            crypto,
            retransmit: RetransmitConfig::default(),
            cookie_threshold: 10,
            half_open_limit: 1000,
            half_open_timeout: Duration::from_secs(30),
            cookie_secret_lifetime: Duration::from_secs(120),
            natt_port: 4500,
            keepalive_interval: Duration::from_secs(20),
            fragmentation: true,
            fragment_size: 1280,
        }
    }
}
