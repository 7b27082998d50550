//! The sans-IO IKE SA core (RFC 7296 §1, §2).
//!
//! [`Endpoint`] owns every IKE SA of one gateway. It never touches a socket,
//! the clock or a global random number generator: datagrams, commands,
//! kernel events and the current [`Instant`](std::time::Instant) come in
//! through `handle_*`; datagrams, kernel requests and events go out through
//! `poll_*`, and [`Endpoint::poll_timeout`] names the next deadline
//! (STYLE §7, after quinn-proto's `Endpoint`/`Connection`).
//!
//! Layout: `endpoint` routes datagrams by SPI and answers before any state
//! exists (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN); `ike_sa` holds
//! one IKE SA (state enum, message-ID windows, retransmission, SK
//! protection); `exchange/*` has one file per exchange; `child_sa` turns
//! negotiated CHILD_SAs into kernel requests; `timer` is the deadline table.
//!
//! Handshake state is an enum of per-state structs; a transition consumes
//! the old state, so a stale key or transcript cannot be reused.
//!
//! Implemented: IKE_SA_INIT (proposal selection, NAT detection, COOKIE,
//! INVALID_KE_PAYLOAD retry, fragmentation and signature-hash
//! negotiation), IKE_AUTH with PSK or signatures (pinned key or a
//! [`CertVerifier`]) and the first CHILD_SA (TS narrowing, transport mode),
//! NAT-T floating and keepalives, retransmission with strongSwan's schedule
//! and response caching, INFORMATIONAL (Delete, liveness), CREATE_CHILD_SA
//! (CHILD_SA and IKE SA rekeying, PFS, collision handling), RFC 7383
//! fragmentation, half-open limits and INITIAL_CONTACT.
//!
//! Configuration payloads in IKE_AUTH (RFC 7296 §2.19): virtual IPs as
//! initiator, and leases from an [`AddressProvider`] as responder. Our
//! chain and signer can be chosen per SA from the peer's CERTREQ and
//! SIGNATURE_HASH_ALGORITHMS ([`CredentialProvider`]); certificate
//! validity uses the wall-clock time the driver passes in
//! ([`Endpoint::set_wall_clock`]). An initiator that rejects the
//! responder's AUTH says so in an INFORMATIONAL (RFC 7296 §2.21.2).
//!
//! A peer has several CHILD_SA templates ([`ChildConfig`]), all on one
//! IKE SA: the one named by the command in IKE_AUTH, others by
//! CREATE_CHILD_SA, queued while the request window is busy (RFC 7296
//! §2.3); as responder the template whose selectors fit the proposed
//! TSi/TSr best is chosen (§2.9), with its own proposals, mode and
//! lifetimes, which its rekeys keep. ACQUIREs pick the template whose
//! selectors hold the traffic.
//!
//! The peer table can be replaced while SAs are up
//! ([`Endpoint::reconfigure`]): unchanged peers keep their SAs, and peers
//! whose children alone changed keep their IKE SA.
//!
//! EAP inside IKE_AUTH (RFC 7296 §2.16), for password road warriors: a
//! responder whose peer authenticates with [`PeerAuth::EapMschapv2`] signs
//! its own AUTH, then runs EAP-Identity and EAP-MSCHAPv2 against an
//! [`EapUsers`] store; an initiator with [`PeerConfig::eap_client`] leaves
//! AUTH out and answers. Both AUTH payloads after EAP-Success are keyed
//! with the MSK; a failure answers EAP-Failure with AUTHENTICATION_FAILED.
//!
//! Not implemented: other EAP methods, CFG_SET/CFG_ACK, MOBIKE,
//! kernel-assigned SPIs
//! (SADB_GETSPI): inbound SPIs are drawn from the [`Random`](crate::crypto::Random).

mod child_sa;
mod config;
mod cp;
mod eap;
mod endpoint;
mod exchange;
mod ike_sa;
mod timer;

pub use config::{
    AddressError, AddressProvider, CertVerifier, ChildConfig, CredentialProvider, Credentials,
    EndpointConfig, PeerAuth, PeerConfig, RemoteAccess, RetransmitConfig,
};
pub use eap::{EapCredentials, EapError, EapIdentity, EapServerConfig, EapUsers, MAX_EAP_ROUNDS};
pub use endpoint::{Endpoint, Reconfigured};
pub use timer::Timer;
