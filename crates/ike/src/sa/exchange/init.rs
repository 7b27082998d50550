//! IKE_SA_INIT (RFC 7296 §1.2): proposal selection, key exchange, nonces,
//! NAT detection (§2.23), COOKIE (§2.6) and INVALID_KE_PAYLOAD (§1.2)
//! round trips, and the key derivation that follows (§2.14).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::auth;
use super::{find_ke, find_nonce, find_sa};
use crate::crypto::{derive_ike_sa_keys, skeyseed, SkKeys};
use crate::error::{Error, LocalError, PeerIncompatible, PeerMisbehaved};
use crate::io::{IkeSaId, Path};
use crate::policy::proposal::{self, Chosen, NoProposalChosen, ProposalSpec};
use crate::sa::config::PeerConfig;
use crate::sa::ike_sa::{
    AwaitAuthRequest, AwaitInitResponse, IkeKeys, IkeSa, InitDone, Rejected, Role, Shared, State,
};
use crate::sa::timer::Timer;
use crate::wire::{
    ExchangeType, HashAlgorithm, Header, Ke, KeMethod, Message, Nonce, Notify, NotifyType, Payload,
    PayloadType,
};

/// Our nonce length: 32 bytes, at least half the PRF key size of every PRF
/// we offer (RFC 7296 §2.10).
pub(crate) const NONCE_LEN: usize = 32;

/// COOKIE and INVALID_KE round trips an initiator accepts before giving up
/// (a responder that keeps asking is broken or hostile).
const MAX_INIT_RETRIES: u8 = 4;

/// NAT detection hash: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).
pub(crate) fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

/// SIGNATURE_HASH_ALGORITHMS data (RFC 7427 §4): SHA2-256/384/512, and
/// Identity, which RFC 8420 §2 requires of anyone verifying Ed25519 (the
/// scheme signs the octets themselves, without a separate hash).
fn sig_hash_algorithms() -> Vec<u8> {
    [
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
        HashAlgorithm::IDENTITY,
    ]
    .iter()
    .flat_map(|h| h.0.to_be_bytes())
    .collect()
}

/// The hash algorithms a peer announced in SIGNATURE_HASH_ALGORITHMS
/// (RFC 7427 §4), in its order; unknown values are kept. A trailing odd
/// byte is ignored rather than failing the exchange, since the list only
/// guides which signature we may send. Empty when the peer sent none.
pub(crate) fn peer_sig_hashes(p: &[Payload]) -> Vec<HashAlgorithm> {
    find_notify(p, NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .map(|n| {
            n.data
                .chunks_exact(2)
                .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                .map(|c| HashAlgorithm(u16::from_be_bytes(c)))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// The first error notify, if any (RFC 7296 §3.10.1: types below 16384).
pub(crate) fn error_notify(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}

fn missing(exchange: ExchangeType, payload: PayloadType) -> Error {
    PeerMisbehaved::MissingPayload { exchange, payload }.into()
}

/// Initiator: a new IKE SA with its first IKE_SA_INIT request on the wire.
pub(crate) fn start(
    shared: &mut Shared,
    now: Instant,
    id: IkeSaId,
    peer: usize,
    cfg: Arc<PeerConfig>,
) -> Result<IkeSa, Error> {
    let group = cfg
        .ike_proposals
        .first()
        .and_then(ProposalSpec::first_ke)
        .ok_or(LocalError::Config("no IKE proposal"))?;
    let ke = shared
        .config
        .crypto
        .group(group)?
        .start(shared.rng.as_ref())?;
    let ni = shared.random(NONCE_LEN)?;
    let path = Path {
        local: cfg.local,
        remote: cfg.remote,
    };
    let state = AwaitInitResponse {
        ni,
        ke,
        cookie: None,
        retries: 0,
    };
    let mut sa = IkeSa::new(id, Role::Initiator, id.0, 0, peer, cfg, path, State::Closed);
    let bytes = request_bytes(&sa, &state, shared)?;
    sa.state = State::AwaitInitResponse(Box::new(state));
    sa.start_request(now, shared, ExchangeType::IKE_SA_INIT, vec![bytes]);
    Ok(sa)
}

fn request_bytes(sa: &IkeSa, s: &AwaitInitResponse, shared: &Shared) -> Result<Vec<u8>, Error> {
    let mut payloads = Vec::with_capacity(8);
    if let Some(c) = &s.cookie {
        // RFC 7296 §2.6: the COOKIE notify comes first.
        payloads.push(notify(NotifyType::COOKIE, c.clone()));
    }
    payloads.push(Payload::Sa(proposal::offer(&sa.cfg.ike_proposals, &[])));
    payloads.push(Payload::Ke(Ke {
        method: s.ke.group(),
        data: s.ke.public_value().to_vec(),
    }));
    payloads.push(Payload::Nonce(Nonce { data: s.ni.clone() }));
    let src = if sa.cfg.force_encap {
        // strongSwan's trick for `encap = yes`: a source hash that cannot
        // match makes the peer see a NAT and both sides float to 4500.
        shared.random(20)?
    } else {
        nat_hash(sa.spi_i, 0, sa.path.local)
    };
    payloads.push(notify(NotifyType::NAT_DETECTION_SOURCE_IP, src));
    payloads.push(notify(
        NotifyType::NAT_DETECTION_DESTINATION_IP,
        nat_hash(sa.spi_i, 0, sa.path.remote),
    ));
    if shared.config.fragmentation {
        payloads.push(notify(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        ));
    }
    payloads.push(notify(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        sig_hash_algorithms(),
    ));
    let msg = Message {
        header: sa.header(ExchangeType::IKE_SA_INIT, false, 0),
        payloads,
    };
    msg.try_to_vec().map_err(|e| LocalError::Emit(e).into())
}

/// Moves the SA to the NAT-T port pair (RFC 7296 §2.23, RFC 3948).
pub(crate) fn float(path: Path, natt_port: u16) -> Path {
    Path {
        local: SocketAddr::new(path.local.ip(), natt_port),
        remote: SocketAddr::new(path.remote.ip(), natt_port),
    }
}

/// Initiator: the IKE_SA_INIT response (or a COOKIE / INVALID_KE request
/// to try again).
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    mut s: AwaitInitResponse,
    now: Instant,
    shared: &mut Shared,
    _path: Path,
    msg: &Message,
    bytes: &[u8],
) -> Result<(), Rejected> {
    let p = &msg.payloads;
    let fatal = |e: Error| Rejected::Fatal {
        respond: None,
        error: e,
    };
    if let Some(c) = find_notify(p, NotifyType::COOKIE) {
        if s.retries >= MAX_INIT_RETRIES {
            return Err(fatal(PeerMisbehaved::TooManyRetries.into()));
        }
        s.retries = s.retries.saturating_add(1);
        s.cookie = Some(c.data.clone());
        return retry(sa, s, now, shared);
    }
    if let Some(n) = find_notify(p, NotifyType::INVALID_KE_PAYLOAD) {
        let group = <[u8; 2]>::try_from(n.data.as_slice())
            .map(|b| KeMethod(u16::from_be_bytes(b)))
            .map_err(|_| {
                fatal(PeerMisbehaved::BadNotifyData(NotifyType::INVALID_KE_PAYLOAD).into())
            })?;
        let offered = sa
            .cfg
            .ike_proposals
            .iter()
            .any(|sp| sp.ke.iter().any(|a| a.id == group.0));
        if !offered || group == s.ke.group() || s.retries >= MAX_INIT_RETRIES {
            return Err(fatal(PeerMisbehaved::BadInvalidKe(group).into()));
        }
        s.retries = s.retries.saturating_add(1);
        let grp = shared
            .config
            .crypto
            .group(group)
            .map_err(|e| fatal(e.into()))?;
        s.ke = grp
            .start(shared.rng.as_ref())
            .map_err(|e| fatal(e.into()))?;
        return retry(sa, s, now, shared);
    }
    if let Some(t) = error_notify(p) {
        return Err(fatal(PeerIncompatible::PeerRejected(t).into()));
    }
    let h = msg.header;
    if h.spi_r == 0 {
        sa.state = State::AwaitInitResponse(Box::new(s));
        return Err(Rejected::Drop(PeerMisbehaved::ZeroSpi.into()));
    }
    let ex = ExchangeType::IKE_SA_INIT;
    let result = (|| -> Result<(Chosen, Vec<u8>, Vec<u8>), Error> {
        let sa_p = find_sa(p);
        let sa_p = sa_p.ok_or_else(|| missing(ex, PayloadType::SA))?;
        let chosen = proposal::validate_response(&sa.cfg.ike_proposals, &sa_p.proposals)?;
        let ke = find_ke(p);
        let ke = ke.ok_or_else(|| missing(ex, PayloadType::KE))?;
        let nr = find_nonce(p);
        let nr = nr.ok_or_else(|| missing(ex, PayloadType::NONCE))?;
        let chosen_ke = chosen.ke_method().unwrap_or_default();
        if chosen_ke != ke.method || ke.method != s.ke.group() {
            return Err(PeerMisbehaved::KeGroupMismatch {
                got: ke.method,
                chosen: chosen_ke,
            }
            .into());
        }
        Ok((chosen, ke.data.clone(), nr.data.clone()))
    })();
    let (chosen, peer_ke, nr) = result.map_err(fatal)?;
    // NAT detection (RFC 7296 §2.23): the peer hashed the addresses it saw.
    let spi_r = h.spi_r;
    let dst_seen = find_notify(p, NotifyType::NAT_DETECTION_DESTINATION_IP);
    let src_seen = find_notify(p, NotifyType::NAT_DETECTION_SOURCE_IP);
    let we_are_natted =
        dst_seen.is_some_and(|n| n.data != nat_hash(sa.spi_i, spi_r, sa.path.local));
    let peer_natted = src_seen.is_some_and(|n| n.data != nat_hash(sa.spi_i, spi_r, sa.path.remote));
    let nat_d_supported = dst_seen.is_some() && src_seen.is_some();
    let nat = we_are_natted || peer_natted || (sa.cfg.force_encap && nat_d_supported);

    let ni = s.ni.clone();
    let keys = derive(
        shared,
        &chosen,
        s,
        &peer_ke,
        &ni,
        &nr,
        sa.spi_i,
        spi_r,
        Role::Initiator,
    )
    .map_err(fatal)?;
    let init_request = sa
        .pending
        .as_ref()
        .and_then(|p| p.datagrams.first().cloned())
        .unwrap_or_default();
    sa.spi_r = spi_r;
    sa.complete_request();
    sa.nat = nat;
    sa.behind_nat = we_are_natted || (sa.cfg.force_encap && nat_d_supported);
    sa.frag = shared.config.fragmentation
        && find_notify(p, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
    sa.peer_sig_hashes = peer_sig_hashes(p);
    if nat {
        sa.path = float(sa.path, shared.config.natt_port);
    }
    let init = InitDone {
        keys,
        ni,
        nr,
        init_request,
        init_response: bytes.to_vec(),
        // A responder asks for our certificate here (RFC 7296 §1.2).
        peer_cert_requests: auth::ca_hashes(p),
    };
    auth::start(sa, init, now, shared)
}

fn retry(
    sa: &mut IkeSa,
    s: AwaitInitResponse,
    now: Instant,
    shared: &mut Shared,
) -> Result<(), Rejected> {
    let bytes = request_bytes(sa, &s, shared).map_err(|e| Rejected::Fatal {
        respond: None,
        error: e,
    })?;
    sa.state = State::AwaitInitResponse(Box::new(s));
    sa.pending = None;
    sa.timers.stop(Timer::Retransmit);
    sa.start_request(now, shared, ExchangeType::IKE_SA_INIT, vec![bytes]);
    Ok(())
}

/// Completes the key exchange and derives SKEYSEED and SK_* (RFC 7296 §2.14).
#[allow(clippy::too_many_arguments)]
fn derive(
    shared: &Shared,
    chosen: &Chosen,
    s: AwaitInitResponse,
    peer_ke: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    role: Role,
) -> Result<IkeKeys, Error> {
    let g_ir = s.ke.complete(peer_ke)?;
    keys_from_secret(shared, chosen, &g_ir, ni, nr, spi_i, spi_r, role)
}

#[allow(clippy::too_many_arguments)]
fn keys_from_secret(
    shared: &Shared,
    chosen: &Chosen,
    g_ir: &crate::crypto::SharedSecret,
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    role: Role,
) -> Result<IkeKeys, Error> {
    let prf_id = chosen
        .prf_id()
        .ok_or(LocalError::Config("IKE proposal without PRF"))?;
    let integ = chosen.integ.map(|_| chosen.integ_id());
    let suite = shared.config.crypto.ike_suite(
        chosen.encr_id(),
        chosen.encr.key_bits,
        prf_id,
        integ,
        chosen.ke_method().unwrap_or_default(),
    )?;
    let seed = skeyseed(suite.prf, ni, nr, g_ir)?;
    let keys = derive_ike_sa_keys(
        suite.prf,
        &seed,
        ni,
        nr,
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
        suite.key_lengths(),
    )?;
    let sk = SkKeys::new(suite.cipher, suite.integ, &keys, role == Role::Initiator)?;
    Ok(IkeKeys {
        suite,
        chosen: chosen.clone(),
        sk,
        sk_d: keys.sk_d,
        sk_pi: keys.sk_pi,
        sk_pr: keys.sk_pr,
    })
}

/// What the responder decided about an IKE_SA_INIT request.
pub(crate) struct Selection {
    pub(crate) peer: usize,
    pub(crate) chosen: Chosen,
}

/// Responder, before any state: pick a configuration and proposal
/// (RFC 7296 §2.7) and check the KE group (§1.2). Errors carry the notify
/// the endpoint answers with statelessly.
pub(crate) fn select(shared: &Shared, msg: &Message) -> Result<Selection, Error> {
    let ex = ExchangeType::IKE_SA_INIT;
    let p = &msg.payloads;
    let sa_p = find_sa(p);
    let sa_p = sa_p.ok_or_else(|| missing(ex, PayloadType::SA))?;
    let ke = find_ke(p);
    let ke = ke.ok_or_else(|| missing(ex, PayloadType::KE))?;
    if !p.iter().any(|x| matches!(x, Payload::Nonce(_))) {
        return Err(missing(ex, PayloadType::NONCE));
    }
    let peers = &shared.config.peers;
    for (idx, cfg) in peers.iter().enumerate() {
        if let Ok(chosen) = proposal::select(&cfg.ike_proposals, &sa_p.proposals, Some(ke.method)) {
            let group = chosen.ke_method().unwrap_or_default();
            if group != ke.method {
                return Err(PeerIncompatible::InvalidKe(group).into());
            }
            return Ok(Selection { peer: idx, chosen });
        }
    }
    let accepted = peers
        .iter()
        .flat_map(|c| c.ike_proposals.iter().cloned())
        .collect();
    Err(NoProposalChosen {
        offered: sa_p.proposals.clone(),
        accepted,
    }
    .into())
}

/// Responder: builds the IKE SA for an accepted IKE_SA_INIT request and
/// sends the response.
pub(crate) fn respond(
    shared: &mut Shared,
    now: Instant,
    path: Path,
    msg: &Message,
    request: &[u8],
    spi_r: u64,
    sel: Selection,
) -> Result<IkeSa, Error> {
    let h = msg.header;
    let p = &msg.payloads;
    let ke = find_ke(p);
    let ke = ke.ok_or_else(|| missing(ExchangeType::IKE_SA_INIT, PayloadType::KE))?;
    let ni = find_nonce(p).map(|v| v.data.clone());
    let ni = ni.ok_or_else(|| missing(ExchangeType::IKE_SA_INIT, PayloadType::NONCE))?;
    let group = shared.config.crypto.group(ke.method)?;
    let ours = group.start(shared.rng.as_ref())?;
    let our_public = ours.public_value().to_vec();
    let g_ir = ours.complete(&ke.data)?;
    let nr = shared.random(NONCE_LEN)?;
    let keys = keys_from_secret(
        shared,
        &sel.chosen,
        &g_ir,
        &ni,
        &nr,
        h.spi_i,
        spi_r,
        Role::Responder,
    )?;

    // NAT detection on the request: its SPIr was zero (RFC 7296 §2.23).
    let src_seen = find_notify(p, NotifyType::NAT_DETECTION_SOURCE_IP);
    let dst_seen = find_notify(p, NotifyType::NAT_DETECTION_DESTINATION_IP);
    let peer_natted = src_seen.is_some_and(|n| n.data != nat_hash(h.spi_i, 0, path.remote));
    let we_are_natted = dst_seen.is_some_and(|n| n.data != nat_hash(h.spi_i, 0, path.local));
    let nat_d = src_seen.is_some() && dst_seen.is_some();

    let cfg = shared
        .config
        .peers
        .get(sel.peer)
        .cloned()
        .ok_or(LocalError::Config("peer index"))?;
    let mut payloads = vec![
        Payload::Sa(crate::wire::Sa {
            proposals: vec![sel.chosen.to_wire(Vec::new())],
        }),
        Payload::Ke(Ke {
            method: ke.method,
            data: our_public,
        }),
        Payload::Nonce(Nonce { data: nr.clone() }),
    ];
    if nat_d {
        let src = if cfg.force_encap {
            shared.random(20)?
        } else {
            nat_hash(h.spi_i, spi_r, path.local)
        };
        payloads.push(notify(NotifyType::NAT_DETECTION_SOURCE_IP, src));
        payloads.push(notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(h.spi_i, spi_r, path.remote),
        ));
    }
    let frag = shared.config.fragmentation
        && find_notify(p, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
    if shared.config.fragmentation {
        payloads.push(notify(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        ));
    }
    if find_notify(p, NotifyType::SIGNATURE_HASH_ALGORITHMS).is_some() {
        payloads.push(notify(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            sig_hash_algorithms(),
        ));
    }
    // A responder asks for certificates here (RFC 7296 §1.2, CERTREQ).
    payloads.extend(super::auth::cert_request(&cfg));
    let header = Header {
        spi_i: h.spi_i,
        spi_r,
        minor_version: 0,
        exchange: ExchangeType::IKE_SA_INIT,
        initiator: false,
        version_flag: false,
        response: true,
        message_id: 0,
    };
    let response = Message { header, payloads }
        .try_to_vec()
        .map_err(LocalError::Emit)?;
    shared.send(path, &response);

    let state = AwaitAuthRequest {
        eap: None,
        init: InitDone {
            keys,
            ni,
            nr,
            init_request: request.to_vec(),
            init_response: response.clone(),
            // The initiator's CERTREQ comes with its IKE_AUTH request.
            peer_cert_requests: Vec::new(),
        },
    };
    let mut sa = IkeSa::new(
        IkeSaId(spi_r),
        Role::Responder,
        h.spi_i,
        spi_r,
        sel.peer,
        cfg,
        path,
        State::AwaitAuthRequest(Box::new(state)),
    );
    sa.nat = peer_natted || we_are_natted || (sa.cfg.force_encap && nat_d);
    sa.behind_nat = we_are_natted || (sa.cfg.force_encap && nat_d);
    sa.cached_response = Some((0, vec![response]));
    sa.frag = frag;
    sa.peer_sig_hashes = peer_sig_hashes(p);
    sa.peer_next_id = 1;
    sa.timers
        .set(Timer::HalfOpen, now + shared.config.half_open_timeout);
    Ok(sa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_hash_covers_spis_address_and_port() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let h = nat_hash(1, 2, a);
        assert_eq!(h.len(), 20);
        assert_ne!(h, nat_hash(1, 2, b));
        assert_ne!(h, nat_hash(1, 3, a));
        assert_ne!(h, nat_hash(2, 2, a));
        // Independent check of the input layout: SHA-1 over
        // SPIi | SPIr | 4-byte address | 2-byte port.
        let mut input = Vec::new();
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(&2u64.to_be_bytes());
        input.extend_from_slice(&[192, 0, 2, 1, 0x01, 0xf4]);
        let want = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        assert_eq!(h, want.as_ref());
    }

    #[test]
    fn signature_hash_algorithms_lists_sha2_and_identity() {
        assert_eq!(sig_hash_algorithms(), vec![0, 2, 0, 3, 0, 4, 0, 5]);
    }

    #[test]
    fn peer_sig_hashes_keeps_order_and_unknown_values() {
        let p = vec![notify(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            vec![0, 5, 0, 2, 0x12, 0x34, 0xff],
        )];
        assert_eq!(
            peer_sig_hashes(&p),
            vec![
                HashAlgorithm::IDENTITY,
                HashAlgorithm::SHA2_256,
                HashAlgorithm(0x1234)
            ]
        );
        assert!(peer_sig_hashes(&[]).is_empty());
    }
}
