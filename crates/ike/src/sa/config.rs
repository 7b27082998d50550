//! Configuration of the core: one [`EndpointConfig`] with its
//! [`PeerConfig`]s. Built and validated by the daemon; the core only reads it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::eap::{EapCredentials, EapServerConfig};
use crate::crypto::{CryptoProvider, SecretBytes, Signer, Verifier};
use crate::io::{Lifetimes, Mode};
use crate::policy::proposal::ProposalSpec;
use crate::wire::{Cert, HashAlgorithm, Id, TrafficSelector};

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
    /// The CHILD_SA templates of this connection (swanctl `children`),
    /// all negotiated on the same IKE SA: the one named in
    /// [`Command::Initiate`](crate::io::Command) in IKE_AUTH, the others
    /// by CREATE_CHILD_SA (RFC 7296 §1.3.1). As responder the one whose
    /// selectors fit the proposed TSi/TSr best is used (§2.9).
    pub children: Vec<ChildConfig>,
    /// Pretend a NAT so ESP is UDP-encapsulated from the start (strongSwan
    /// `encap = yes`; needed with kernel-libipsec peers).
    pub force_encap: bool,
    /// Idle time before a liveness check; `None` disables DPD.
    pub dpd_delay: Option<Duration>,
    /// Rekey the IKE SA this long after it is established, less a random
    /// jitter of up to a tenth, so both peers rarely rekey at once
    /// (strongSwan: `rekey_time` 4 h with `rand_time`); `None` never.
    pub ike_rekey_time: Option<Duration>,
    /// Virtual IPs and the configuration payload (RFC 7296 §2.19);
    /// `RemoteAccess::default()` for a plain site-to-site peer.
    pub remote_access: RemoteAccess,
    /// Chooses our chain and signer from the peer's CERTREQ and
    /// SIGNATURE_HASH_ALGORITHMS; `None` always uses `signer` and
    /// `local_certs`.
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// Initiator: authenticate with EAP-MSCHAPv2 as this user instead of
    /// an AUTH payload of our own (RFC 7296 §2.16): the first IKE_AUTH
    /// request carries no AUTH, and `signer`/`psk` are not used for us.
    pub eap_client: Option<EapCredentials>,
}

/// One CHILD_SA template of a connection (a swanctl `children` entry):
/// what is negotiated per CHILD_SA rather than per IKE SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildConfig {
    /// Name for logs and the control socket (unique within the peer).
    pub name: String,
    /// ESP proposals, most preferred first; a KE method in them asks for
    /// PFS on CREATE_CHILD_SA (RFC 7296 §1.3.1), never in IKE_AUTH.
    pub esp_proposals: Vec<ProposalSpec>,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport mode (RFC 7296 §1.3.1 USE_TRANSPORT_MODE).
    pub mode: Mode,
    /// Lifetimes programmed into the kernel SAs; the soft one drives
    /// rekeying.
    pub lifetimes: Lifetimes,
}

/// Road-warrior settings of a peer: what we ask for as initiator, what we
/// hand out as responder (RFC 7296 §2.19, §3.15; RFC 8598).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteAccess {
    /// Initiator: virtual IPs to request in a CFG_REQUEST. `0.0.0.0` or
    /// `::` asks for any address of that family, another value asks for
    /// that address (RFC 7296 §3.15.3 lets the responder ignore it).
    /// Empty: no configuration payload is sent.
    pub vips: Vec<IpAddr>,
    /// Responder: pools, in order of preference, to lease the peer's
    /// virtual IPs from through [`EndpointConfig::address_provider`].
    /// Non-empty: a peer that sends no CFG_REQUEST gets no CHILD_SA
    /// (FAILED_CP_REQUIRED, RFC 7296 §3.10.1), since our selectors for it
    /// are its virtual IP.
    pub pools: Vec<String>,
    /// Responder: DNS servers for INTERNAL_IP4_DNS / INTERNAL_IP6_DNS,
    /// sent for the families the peer asked an address of.
    pub dns: Vec<IpAddr>,
    /// Responder: networks reachable through the tunnel, sent as
    /// INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET (split tunnelling,
    /// RFC 7296 §3.15.2): (network address, prefix length).
    pub subnets: Vec<(IpAddr, u8)>,
    /// Responder: DNS domains to resolve through the tunnel's DNS servers
    /// (RFC 8598 §3.1 INTERNAL_DNS_DOMAIN), as text (`corp.example`).
    pub dns_domains: Vec<String>,
}

/// Why an [`AddressProvider`] could not lease an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Every address of the pools is in use.
    #[error("address pool exhausted: {0}")]
    Exhausted(String),
    /// None of the named pools exists or has the requested family.
    #[error("no usable pool: {0}")]
    NoPool(String),
    /// Anything else (e.g. the lease could not be stored).
    #[error("{0}")]
    Other(String),
}

/// The address pools (the seam the daemon plugs its lease store into):
/// the core asks for a virtual IP per family a peer requests and gives it
/// back when the IKE SA is gone (RFC 7296 §2.19). Called from inside the
/// core, so implementations must not block.
pub trait AddressProvider: Send {
    /// Leases an address to `identity` (the peer's authenticated ID, as
    /// text) from the first of `pools` that can serve it. `requested` is
    /// what the peer asked for: an unspecified address (`0.0.0.0`, `::`)
    /// for any, else a preference. The result must have the family of
    /// `requested`; the core refuses it otherwise.
    fn acquire(
        &mut self,
        identity: &str,
        pools: &[String],
        requested: IpAddr,
    ) -> Result<IpAddr, AddressError>;

    /// The lease of `addr` by `identity` ended (its IKE SA is gone).
    fn release(&mut self, identity: &str, addr: IpAddr);
}

impl fmt::Debug for dyn AddressProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressProvider")
    }
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
    /// With EAP-MSCHAPv2 inside IKE_AUTH against a user store, then AUTH
    /// payloads keyed with the MSK (RFC 7296 §2.16). We authenticate
    /// ourselves with our signer (or PSK) as usual.
    EapMschapv2(EapServerConfig),
}

impl fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Psk => "Psk",
            Self::PublicKey(_) => "PublicKey",
            Self::Certificate(_) => "Certificate",
            Self::EapMschapv2(_) => "EapMschapv2",
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

    /// Like [`verifier_for`](Self::verifier_for), validating at `now`: the
    /// wall-clock time the driver gave
    /// [`Endpoint::set_wall_clock`](super::Endpoint::set_wall_clock), since
    /// the core never reads a clock (RFC 5280 §4.1.2.5 validity). The
    /// default ignores `now`, for verifiers that keep their own clock.
    fn verifier_at(
        &self,
        peer_id: &Id,
        certs: &[&Cert],
        now: SystemTime,
    ) -> Result<Box<dyn Verifier>, String> {
        let _ = now;
        self.verifier_for(peer_id, certs)
    }
}

/// A certificate chain and the key that signs for it, chosen for one peer.
pub struct Credentials {
    /// CERT payload contents (DER), end entity first (RFC 7296 §3.6).
    pub certs: Vec<Vec<u8>>,
    /// Signs our AUTH with the end entity's key.
    pub signer: Arc<dyn Signer>,
}

/// Picks our chain and signer per IKE SA, from what the peer told us:
/// the CA hashes of its CERTREQ (RFC 7296 §3.7) and the hash algorithms
/// of its SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4). Consulted when our
/// IKE_AUTH is built; `None` falls back to [`PeerConfig::signer`] and
/// [`PeerConfig::local_certs`].
pub trait CredentialProvider: Send + Sync {
    /// `ca_hashes`: SHA-1 hashes of the SubjectPublicKeyInfo of the CAs
    /// the peer trusts, in its order (empty: it sent no CERTREQ).
    /// `peer_hashes`: the peer's announced hash algorithms (empty: none,
    /// so only the classic AUTH methods are safe).
    fn credentials_for(
        &self,
        ca_hashes: &[[u8; 20]],
        peer_hashes: &[HashAlgorithm],
    ) -> Option<Credentials>;
}

impl PeerConfig {
    /// Whether `other` configures the same peer the same way, for
    /// [`Endpoint::reconfigure`](super::Endpoint::reconfigure). Every plain
    /// field and the PSK are compared by value, our certificates and the
    /// CA hashes we request (RFC 7296 §3.7) byte for byte. Signers,
    /// verifiers and credential providers are trait objects and only
    /// compared by kind (present or not, pinned key or certificate): a
    /// new private key for the same certificate, or a new trust anchor
    /// with the same key, is not seen here.
    pub fn same_settings(&self, other: &Self) -> bool {
        self.same_ike_settings(other) && self.children == other.children
    }

    /// Like [`same_settings`](Self::same_settings) but ignoring
    /// [`children`](Self::children): the IKE SA could stay while CHILD_SAs
    /// are added or removed (what [`Endpoint::reconfigure`](super::Endpoint::reconfigure)
    /// does for such a peer).
    pub fn same_ike_settings(&self, other: &Self) -> bool {
        let psk = match (&self.psk, &other.psk) {
            (None, None) => true,
            (Some(a), Some(b)) => crate::crypto::ct_eq(a.secret_bytes(), b.secret_bytes()),
            _ => false,
        };
        let auth_kind = |a: &PeerAuth| match a {
            PeerAuth::Psk => 0u8,
            PeerAuth::PublicKey(_) => 1,
            PeerAuth::Certificate(_) => 2,
            PeerAuth::EapMschapv2(e) => match e.identity {
                super::EapIdentity::Ask => 3,
                super::EapIdentity::FromIke => 4,
            },
        };
        let eap = match (&self.eap_client, &other.eap_client) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_as(b),
            _ => false,
        } && match (&self.peer_auth, &other.peer_auth) {
            // Other users or passwords change the peer: a removed user or
            // an old password must stop working (see `EapUsers::fingerprint`).
            (PeerAuth::EapMschapv2(a), PeerAuth::EapMschapv2(b)) => {
                match (a.users.fingerprint(), b.users.fingerprint()) {
                    (Some(x), Some(y)) => x == y,
                    _ => Arc::ptr_eq(&a.users, &b.users),
                }
            }
            _ => true,
        };
        psk && eap
            && self.name == other.name
            && self.local == other.local
            && self.remote == other.remote
            && self.local_id == other.local_id
            && self.remote_id == other.remote_id
            && self.signer.as_ref().map(|s| s.auth_method())
                == other.signer.as_ref().map(|s| s.auth_method())
            && self.local_certs == other.local_certs
            && self.cert_requests == other.cert_requests
            && auth_kind(&self.peer_auth) == auth_kind(&other.peer_auth)
            && self.ike_proposals == other.ike_proposals
            && self.force_encap == other.force_encap
            && self.dpd_delay == other.dpd_delay
            && self.ike_rekey_time == other.ike_rekey_time
            && self.remote_access == other.remote_access
            && self.credentials.is_some() == other.credentials.is_some()
    }
}

impl PeerConfig {
    /// The index of the child named `name`.
    pub fn child_index(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.name == name)
    }
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
            .field("credentials", &self.credentials.is_some())
            .field("eap_client", &self.eap_client)
            .field("remote_access", &self.remote_access)
            .field("children", &self.children)
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
    /// Leases virtual IPs to peers whose configuration names `pools`
    /// (RFC 7296 §2.19); `None`: such peers get INTERNAL_ADDRESS_FAILURE.
    pub address_provider: Option<Box<dyn AddressProvider>>,
    /// Each CHILD_SA carries one address family: selectors of both
    /// families become two CHILD_SAs, one per family, under one child
    /// configuration. PF_KEY tunnel-mode SAs hold one inner address pair
    /// and illumos picks an SA by inner family (an IPv6 packet never uses
    /// an SA added with IPv4 inner addresses), so an SA negotiated for
    /// both would drop one of them. As initiator the first CHILD_SA gets
    /// the family of the first local selector and the other follows by
    /// CREATE_CHILD_SA; as responder the initiator's proposal is narrowed
    /// to one family (RFC 7296 §2.9) and we ask for the other ourselves.
    pub one_family_per_child: bool,
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
            address_provider: None,
            one_family_per_child: false,
        }
    }
}
