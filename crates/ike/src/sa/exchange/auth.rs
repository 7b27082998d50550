//! IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15) and the first
//! CHILD_SA (§1.3 payloads, §2.9 traffic selector narrowing, §1.3.1
//! USE_TRANSPORT_MODE).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::auth_eap;
use super::init::{error_notify, find_notify};
use super::{find_auth, find_id, find_sa, find_ts};
use crate::crypto::{ct_eq, psk_auth, signed_octets, SignedOctetsInput, Signer};
use crate::error::LocalError;
use crate::error::{AuthFailure, Error, PeerIncompatible, PeerMisbehaved};
use crate::io::{Event, Mode};
use crate::policy::proposal::{self, Chosen};
use crate::policy::ts::{self, TsList};
use crate::sa::child_sa::NewChild;
use crate::sa::config::{ChildConfig, PeerAuth, PeerConfig};
use crate::sa::cp;
use crate::sa::ike_sa::{
    AwaitAuthRequest, AwaitAuthResponse, Established, IkeKeys, IkeSa, InitDone, Rejected, Role,
    Shared, State,
};
use crate::sa::timer::Timer;
use crate::wire::{
    Auth, AuthMethod, CfgType, Cp, Delete, ExchangeType, Id, Notify, NotifyType, Payload,
    PayloadType, ProtocolId, Sa, TrafficSelector, Ts,
};
use crate::wire::{Cert, CertEncoding, CertReq};

/// What the initiator asked for in its first CHILD_SA.
pub(crate) struct ChildRequest {
    /// Index of the child configuration.
    pub(crate) config: usize,
    pub(crate) our_spi: u32,
    pub(crate) ts_i: Vec<TrafficSelector>,
    pub(crate) ts_r: Vec<TrafficSelector>,
    pub(crate) transport: bool,
}

/// The ID payload body as AUTH signs it: type, three reserved zero bytes,
/// data (RFC 7296 §2.15 IDi'/IDr').
fn id_body(id: &Id) -> Vec<u8> {
    let mut v = Vec::with_capacity(id.data.len().saturating_add(4));
    v.extend_from_slice(&[id.id_type.0, 0, 0, 0]);
    v.extend_from_slice(&id.data);
    v
}

/// The octets `signer` signs or MACs (RFC 7296 §2.15).
pub(super) fn octets_for(
    keys: &IkeKeys,
    signer: Role,
    init: &InitDone,
    id: &Id,
) -> Result<Vec<u8>, Error> {
    let (real_message, peer_nonce, sk_p) = match signer {
        Role::Initiator => (&init.init_request, &init.nr, &keys.sk_pi),
        Role::Responder => (&init.init_response, &init.ni, &keys.sk_pr),
    };
    let body = id_body(id);
    Ok(signed_octets(
        keys.suite.prf,
        &SignedOctetsInput {
            real_message,
            peer_nonce,
            sk_p,
            id_payload_body: &body,
        },
    )?)
}

/// The CA hashes of the peer's CERTREQ payloads (RFC 7296 §3.7): X.509
/// signature requests only, cut into 20-octet SHA-1 hashes; a ragged tail
/// is ignored (the request only guides which chain we send).
pub(crate) fn ca_hashes(p: &[Payload]) -> Vec<[u8; 20]> {
    let mut out: Vec<[u8; 20]> = Vec::new();
    for r in p.iter().filter_map(|x| match x {
        Payload::CertReq(r) if r.encoding == CertEncoding::X509_CERT_SIG => Some(r),
        _ => None,
    }) {
        for h in r.data.chunks_exact(20) {
            if let Ok(h) = <[u8; 20]>::try_from(h) {
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
    }
    out
}

/// Our certificates and signer for this SA: from the
/// [`CredentialProvider`](crate::sa::CredentialProvider) given the peer's
/// CERTREQ and announced hashes, else the fixed configuration.
pub(super) fn local_credentials(
    cfg: &PeerConfig,
    ca: &[[u8; 20]],
    peer_hashes: &[crate::wire::HashAlgorithm],
) -> (Vec<Vec<u8>>, Option<Arc<dyn Signer>>) {
    match cfg
        .credentials
        .as_ref()
        .and_then(|c| c.credentials_for(ca, peer_hashes))
    {
        Some(c) => (c.certs, Some(c.signer)),
        None => (cfg.local_certs.clone(), cfg.signer.clone()),
    }
}

/// Our AUTH payload: a signature when we have a signer, otherwise the PSK
/// MAC (RFC 7296 §2.15, RFC 7427 §3).
pub(super) fn our_auth(
    cfg: &PeerConfig,
    signer: Option<&Arc<dyn Signer>>,
    keys: &IkeKeys,
    we: Role,
    init: &InitDone,
) -> Result<Auth, Error> {
    let octets = octets_for(keys, we, init, &cfg.local_id)?;
    if let Some(signer) = signer {
        let d = signer.sign(&octets)?;
        return Ok(Auth {
            method: d.method,
            data: d.data,
        });
    }
    let psk = cfg.psk.as_ref().ok_or(LocalError::Config(
        "neither a PSK nor a signer for our AUTH",
    ))?;
    Ok(Auth {
        method: AuthMethod::SHARED_KEY_MIC,
        data: psk_auth(keys.suite.prf, psk.secret_bytes(), &octets)?,
    })
}

/// Checks the peer's AUTH payload the way its configuration demands
/// (PSK MAC compared in constant time, or a signature under a pinned key
/// or a certificate the [`CertVerifier`](crate::sa::CertVerifier) accepts).
#[allow(clippy::too_many_arguments)]
fn verify_peer(
    wall_clock: Option<SystemTime>,
    cfg: &PeerConfig,
    keys: &IkeKeys,
    peer: Role,
    init: &InitDone,
    id: &Id,
    auth: &Auth,
    p: &[Payload],
) -> Result<(), Error> {
    let octets = octets_for(keys, peer, init, id)?;
    let mismatch = || -> Error { AuthFailure::Mismatch(id.to_string()).into() };
    match &cfg.peer_auth {
        PeerAuth::Psk => {
            if auth.method != AuthMethod::SHARED_KEY_MIC {
                return Err(AuthFailure::Method(auth.method).into());
            }
            let psk = cfg
                .psk
                .as_ref()
                .ok_or(LocalError::Config("PSK authentication without a PSK"))?;
            let expected = psk_auth(keys.suite.prf, psk.secret_bytes(), &octets)?;
            if ct_eq(&expected, &auth.data) {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        PeerAuth::PublicKey(v) => {
            if auth.method == AuthMethod::SHARED_KEY_MIC {
                return Err(AuthFailure::Method(auth.method).into());
            }
            v.verify(auth.method, &auth.data, &octets)
                .map_err(|_| mismatch())
        }
        PeerAuth::Certificate(cv) => {
            if auth.method == AuthMethod::SHARED_KEY_MIC {
                return Err(AuthFailure::Method(auth.method).into());
            }
            let certs: Vec<&Cert> = p
                .iter()
                .filter_map(|x| {
                    if let Payload::Cert(c) = x {
                        Some(c)
                    } else {
                        None
                    }
                })
                .collect();
            let v = match wall_clock {
                Some(t) => cv.verifier_at(id, &certs, t),
                None => cv.verifier_for(id, &certs),
            }
            .map_err(AuthFailure::Certificate)?;
            v.verify(auth.method, &auth.data, &octets)
                .map_err(|_| mismatch())
        }
        // This configuration authenticates with EAP; an AUTH payload in
        // the first request does not (RFC 7296 §2.16).
        PeerAuth::EapMschapv2(_) => Err(AuthFailure::Method(auth.method).into()),
    }
}

/// CERT payloads for our certificates and CERTREQ for the CAs we trust
/// (RFC 7296 §3.6, §3.7).
pub(super) fn cert_payloads(certs: &[Vec<u8>]) -> Vec<Payload> {
    certs
        .iter()
        .map(|der| {
            Payload::Cert(Cert {
                encoding: CertEncoding::X509_CERT_SIG,
                data: der.clone(),
            })
        })
        .collect()
}

pub(crate) fn cert_request(cfg: &PeerConfig) -> Option<Payload> {
    (!cfg.cert_requests.is_empty()).then(|| {
        Payload::CertReq(CertReq {
            encoding: CertEncoding::X509_CERT_SIG,
            data: cfg.cert_requests.concat(),
        })
    })
}

/// ESP proposals as IKE_AUTH uses them: no PFS groups, since the first
/// CHILD_SA's keys come from the IKE SA's key exchange (RFC 7296 §1.2).
/// Proposal numbers stay aligned with the configuration.
fn esp_without_ke(cfg: &ChildConfig) -> Vec<crate::policy::proposal::ProposalSpec> {
    cfg.esp_proposals
        .iter()
        .map(crate::policy::proposal::ProposalSpec::without_ke)
        .collect()
}

/// A fresh inbound ESP SPI; 1..=255 are reserved (RFC 4303 §2.1).
pub(crate) fn new_esp_spi(shared: &Shared) -> Result<u32, Error> {
    loop {
        let spi = shared.random_u32()?;
        if spi > 255 {
            return Ok(spi);
        }
    }
}

fn notify(t: NotifyType) -> Payload {
    Payload::Notify(Notify::new(t, Vec::new()))
}

/// Initiator: sends IKE_AUTH right after IKE_SA_INIT.
pub(crate) fn start(
    sa: &mut IkeSa,
    init: InitDone,
    now: Instant,
    shared: &mut Shared,
) -> Result<(), Rejected> {
    let fatal = |e: Error| Rejected::Fatal {
        respond: None,
        error: e,
    };
    let cfg = sa.cfg.clone();
    let (certs, signer) = local_credentials(&cfg, &init.peer_cert_requests, &sa.peer_sig_hashes);
    // With EAP we leave AUTH out: that asks the responder for EAP
    // (RFC 7296 §2.16); our AUTH comes once EAP has given us an MSK.
    let auth = match cfg.eap_client {
        Some(_) => None,
        None => Some(
            our_auth(&cfg, signer.as_ref(), &init.keys, Role::Initiator, &init).map_err(fatal)?,
        ),
    };
    let our_spi = new_esp_spi(shared).map_err(fatal)?;
    let config = sa.first_child;
    let child_cfg = sa.child_cfg(config).map_err(fatal)?.clone();
    let transport = child_cfg.mode == Mode::Transport;
    // Asking for virtual IPs, we do not know our address yet: propose the
    // whole family and let the responder narrow it (RFC 7296 §2.19).
    let ra = &cfg.remote_access;
    let ts_i = if ra.vips.is_empty() {
        child_cfg.local_ts.clone()
    } else {
        cp::request_selectors(&ra.vips)
    };
    // One family per CHILD_SA: the other follows by CREATE_CHILD_SA.
    let (ts_i, ts_r) = if shared.config.one_family_per_child {
        let (l, r, _) = ts::split_family(&ts_i, &child_cfg.remote_ts, None);
        (l, r)
    } else {
        (ts_i, child_cfg.remote_ts.clone())
    };
    let mut inner = vec![Payload::Idi(cfg.local_id.clone())];
    // RFC 7296 §2.4: only when we hold no other IKE SA with this peer, or
    // the peer would drop the ones we still use (as strongSwan does).
    if sa.initial_contact {
        inner.push(notify(NotifyType::INITIAL_CONTACT));
    }
    inner.extend(cert_payloads(&certs));
    inner.extend(cert_request(&cfg));
    if let Some(r) = &cfg.remote_id {
        inner.push(Payload::Idr(r.clone()));
    }
    inner.extend(auth.map(Payload::Auth));
    inner.extend(cp::request(ra).map(Payload::Cp));
    if transport {
        inner.push(notify(NotifyType::USE_TRANSPORT_MODE));
    }
    // The ESP data plane adds no TFC padding (RFC 7296 §1.3.1).
    inner.push(notify(NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED));
    inner.push(Payload::Sa(proposal::offer(
        &esp_without_ke(&child_cfg),
        &our_spi.to_be_bytes(),
    )));
    inner.push(Payload::Tsi(Ts {
        selectors: ts_i.clone(),
    }));
    inner.push(Payload::Tsr(Ts {
        selectors: ts_r.clone(),
    }));
    let child = ChildRequest {
        config,
        our_spi,
        ts_i,
        ts_r,
        transport,
    };
    let eap = cfg
        .eap_client
        .as_ref()
        .map(|_| Box::new(auth_eap::EapClientRun::new()));
    sa.state = State::AwaitAuthResponse(Box::new(AwaitAuthResponse { init, child, eap }));
    sa.send_request(now, shared, ExchangeType::IKE_AUTH, &inner)
        .map_err(fatal)
}

pub(super) fn missing(payload: PayloadType) -> Error {
    PeerMisbehaved::MissingPayload {
        exchange: ExchangeType::IKE_AUTH,
        payload,
    }
    .into()
}

/// What the responder's authentication step hands the rest of IKE_AUTH.
pub(super) struct Authenticated {
    pub(super) init: InitDone,
    pub(super) cfg: Arc<PeerConfig>,
    /// Our payloads so far (IDr, CERT, AUTH; only AUTH after EAP).
    pub(super) out: Vec<Payload>,
    /// The peer's identity for leases and events (its EAP user name
    /// after EAP).
    pub(super) identity: String,
    /// After EAP: the first IKE_AUTH request, whose SA, TS and CP apply.
    pub(super) first: Option<Vec<Payload>>,
}

/// Responder: authenticates the initiator: its AUTH payload, or an EAP
/// conversation when it sent none and a configuration wants EAP (RFC 7296
/// §2.16). `None` when an EAP round was answered.
fn authenticate_request(
    sa: &mut IkeSa,
    s: AwaitAuthRequest,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<Option<Authenticated>, Rejected> {
    let mut s = s;
    if let Some(run) = s.eap.take() {
        return auth_eap::server_round(sa, s.init, *run, now, shared, msg_id, p);
    }
    if find_auth(p).is_none() {
        if let Some(peer) = auth_eap::eap_peer(shared, p) {
            auth_eap::server_start(sa, s.init, peer, now, shared, msg_id, p)?;
            return Ok(None);
        }
    }
    // On failure the state goes back so the endpoint can still send the
    // protected error notify; then it closes the SA.
    let verified = verify_initiator(shared, &s.init, p);
    let peer = match verified {
        Ok(peer) => peer,
        Err(e) => {
            sa.state = State::AwaitAuthRequest(Box::new(s));
            return Err(Rejected::Fatal {
                respond: Some((msg_id, ExchangeType::IKE_AUTH)),
                error: e,
            });
        }
    };
    let Some(cfg) = shared.config.peers.get(peer).cloned() else {
        sa.state = State::AwaitAuthRequest(Box::new(s));
        return Err(Rejected::Fatal {
            respond: Some((msg_id, ExchangeType::IKE_AUTH)),
            error: AuthFailure::UnknownPeer(String::new()).into(),
        });
    };
    sa.peer = peer;
    sa.cfg = cfg.clone();
    let init = s.init;
    let (certs, signer) = local_credentials(&cfg, &ca_hashes(p), &sa.peer_sig_hashes);
    let auth = match our_auth(&cfg, signer.as_ref(), &init.keys, Role::Responder, &init) {
        Ok(a) => a,
        Err(e) => {
            sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest { init, eap: None }));
            return Err(Rejected::Fatal {
                respond: Some((msg_id, ExchangeType::IKE_AUTH)),
                error: e,
            });
        }
    };
    let mut out = vec![Payload::Idr(cfg.local_id.clone())];
    out.extend(cert_payloads(&certs));
    out.push(Payload::Auth(auth));
    let identity = find_id(p, true)
        .map(ToString::to_string)
        .unwrap_or_default();
    Ok(Some(Authenticated {
        init,
        cfg,
        out,
        identity,
        first: None,
    }))
}

/// Responder: verifies the initiator, answers with our AUTH and the
/// (narrowed) first CHILD_SA.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    s: AwaitAuthRequest,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<(), Rejected> {
    let Some(Authenticated {
        init,
        cfg,
        mut out,
        identity,
        first,
    }) = authenticate_request(sa, s, now, shared, msg_id, p)?
    else {
        // An EAP round was answered; IKE_AUTH goes on (RFC 7296 §2.16).
        return Ok(());
    };
    // After EAP, the CHILD_SA and CP are those of the first request.
    let p: &[Payload] = first.as_deref().unwrap_or(p);
    // Virtual IPs first: the CHILD_SA's selectors depend on them. Failing
    // to assign one fails the CHILD_SA, not the IKE SA (RFC 7296 §3.10.1).
    // The first CHILD_SA; its failure does not fail the IKE SA (RFC 7296 §1.2).
    let (cp_reply, child) = match lease(sa, shared, &identity, p) {
        Ok(reply) => (reply, respond_child(sa, shared, &init, p)),
        Err(e) => (None, Err((None, e))),
    };
    out.extend(cp_reply.clone().map(Payload::Cp));
    let mut install = None;
    match child {
        Ok(Some((config, chosen, our_spi, peer_spi, tsi, tsr, mode, left))) => {
            let lifetimes = cfg
                .children
                .get(config)
                .map(|c| c.lifetimes)
                .unwrap_or_default();
            let built = NewChild {
                ike_sa: sa.id,
                role: Role::Responder,
                path: sa.path,
                nat: sa.nat,
                keys: &init.keys,
                chosen: chosen.clone(),
                our_spi,
                peer_spi,
                ni: &init.ni,
                nr: &init.nr,
                mode,
                local_ts: tsr.clone(),
                remote_ts: tsi.clone(),
                lifetimes,
                config,
            }
            .build();
            match built {
                Ok(b) => {
                    if mode == Mode::Transport {
                        out.push(notify(NotifyType::USE_TRANSPORT_MODE));
                    }
                    out.push(notify(NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED));
                    out.push(Payload::Sa(Sa {
                        proposals: vec![chosen.to_wire(our_spi.to_be_bytes().to_vec())],
                    }));
                    out.push(Payload::Tsi(Ts { selectors: tsi }));
                    out.push(Payload::Tsr(Ts { selectors: tsr }));
                    install = Some((b, config, left));
                }
                Err(e) => {
                    out.push(notify(NotifyType::NO_PROPOSAL_CHOSEN));
                    shared.events.push_back(Event::ChildFailed {
                        ike_sa: sa.id,
                        child: Some(config),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(None) => {}
        Err((config, e)) => {
            out.push(notify(e.notify().unwrap_or(NotifyType::NO_PROPOSAL_CHOSEN)));
            shared.events.push_back(Event::ChildFailed {
                ike_sa: sa.id,
                child: config,
                reason: e.to_string(),
            });
        }
    }
    let keys = init.keys;
    sa.state = State::Established(Box::new(Established {
        keys,
        pending: None,
    }));
    if let Err(e) = sa.send_response(shared, ExchangeType::IKE_AUTH, msg_id, &out) {
        return Err(Rejected::Fatal {
            respond: None,
            error: e,
        });
    }
    established(sa, now, shared, identity);
    if let Some(reply) = cp_reply.filter(|_| !sa.leases.is_empty()) {
        let a = cp::parse_reply(&reply).unwrap_or_default();
        shared.events.push_back(Event::VirtualIp {
            ike_sa: sa.id,
            ours: false,
            addrs: sa.leases.clone(),
            dns: a.dns,
            subnets: a.subnets,
            dns_domains: a.dns_domains,
        });
    }
    if find_notify(p, NotifyType::INITIAL_CONTACT).is_some() {
        shared.initial_contacts.push(sa.id);
    }
    if let Some(((child, req), config, left)) = install {
        install_child(sa, shared, child, req);
        if let Some(f) = left {
            sa.want_sibling(config, f);
        }
    }
    Ok(())
}

/// Responder: leases the virtual IPs a CFG_REQUEST asks for from the
/// [`AddressProvider`](crate::sa::AddressProvider) and builds the
/// CFG_REPLY (RFC 7296 §2.19). `Ok(None)` when nothing is to be assigned.
/// On failure nothing stays leased.
fn lease(
    sa: &mut IkeSa,
    shared: &mut Shared,
    identity: &str,
    p: &[Payload],
) -> Result<Option<Cp>, Error> {
    let request = p.iter().find_map(|x| match x {
        Payload::Cp(c) if c.cfg_type == CfgType::CFG_REQUEST => Some(c),
        _ => None,
    });
    let ra = &sa.cfg.remote_access;
    let Some(request) = request else {
        return if ra.pools.is_empty() {
            Ok(None)
        } else {
            Err(PeerIncompatible::CpRequired.into())
        };
    };
    let wanted = cp::parse_request(request)?;
    if wanted.addrs.is_empty() {
        // Only other attributes asked for: answer what we have (DNS,
        // subnets, domains) without an address.
        return Ok(Some(cp::reply(ra, &wanted, &[])));
    }
    if ra.pools.is_empty() {
        return Err(PeerIncompatible::AddressUnavailable(format!(
            "connection '{}' has no address pool",
            sa.cfg.name
        ))
        .into());
    }
    let Some(provider) = shared.config.address_provider.as_mut() else {
        return Err(PeerIncompatible::AddressUnavailable(
            "no address provider is configured".into(),
        )
        .into());
    };
    let mut got: Vec<IpAddr> = Vec::new();
    for want in &wanted.addrs {
        let r = provider.acquire(identity, &ra.pools, *want);
        match r {
            Ok(a) if a.is_ipv4() == want.is_ipv4() && !a.is_unspecified() => got.push(a),
            other => {
                for a in &got {
                    provider.release(identity, *a);
                }
                let why = match other {
                    Ok(a) => format!("address provider returned {a} for a request of {want}"),
                    Err(e) => format!("{e} (pools {}, for {identity})", ra.pools.join(",")),
                };
                return Err(PeerIncompatible::AddressUnavailable(why).into());
            }
        }
    }
    let reply = cp::reply(ra, &wanted, &got);
    sa.leases = got;
    // Released under this name when the SA goes (see Endpoint::remove).
    sa.remote_id = Some(identity.to_owned());
    Ok(Some(reply))
}

fn verify_initiator(shared: &Shared, init: &InitDone, p: &[Payload]) -> Result<usize, Error> {
    let idi = find_id(p, true).ok_or_else(|| missing(PayloadType::IDI))?;
    let auth = find_auth(p).ok_or_else(|| missing(PayloadType::AUTH))?;
    // Exact identity first, then a configuration that accepts anyone;
    // an AUTH payload skips the EAP ones (RFC 7296 §2.16: their peers send
    // none), so certificate and password road warriors can share a gateway.
    let peers = &shared.config.peers;
    let signs = |c: &PeerConfig| !matches!(c.peer_auth, PeerAuth::EapMschapv2(_));
    let exact = |c: &PeerConfig| c.remote_id.as_ref() == Some(idi);
    let peer = peers
        .iter()
        .position(|c| signs(c) && exact(c))
        .or_else(|| peers.iter().position(|c| signs(c) && c.remote_id.is_none()))
        .or_else(|| peers.iter().position(|c| exact(c)))
        .or_else(|| peers.iter().position(|c| c.remote_id.is_none()))
        .ok_or_else(|| AuthFailure::UnknownPeer(idi.to_string()))?;
    let cfg = peers
        .get(peer)
        .ok_or_else(|| AuthFailure::UnknownPeer(idi.to_string()))?;
    verify_peer(
        shared.wall_clock,
        cfg,
        &init.keys,
        Role::Initiator,
        init,
        idi,
        auth,
        p,
    )?;
    Ok(peer)
}

type ChildOk = (
    usize,
    Chosen,
    u32,
    u32,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    Mode,
    Option<ts::Family>,
);

/// Responder: the first CHILD_SA, from the child configuration whose
/// selectors fit the proposal (RFC 7296 §2.9). An error carries the child
/// chosen, if any, for the event.
fn respond_child(
    sa: &IkeSa,
    shared: &Shared,
    _init: &InitDone,
    p: &[Payload],
) -> Result<Option<ChildOk>, (Option<usize>, Error)> {
    let (Some(sa_p), Some(tsi), Some(tsr)) = (find_sa(p), find_ts(p, true), find_ts(p, false))
    else {
        // Childless IKE_AUTH (RFC 6023) or a broken request: no CHILD_SA.
        return Ok(None);
    };
    // TSi is the initiator's side: our remote; TSr ours (RFC 7296 §2.9).
    // With a leased virtual IP, the peer's side is that address (§2.19).
    let sel = sa
        .select_child(&tsi.selectors, &tsr.selectors)
        .map_err(|e| (None, e))?;
    let config = sel.idx;
    let with = |e: Error| (Some(config), e);
    let cfg = sa.child_cfg(config).map_err(with)?;
    let chosen = proposal::select(
        &esp_without_ke(cfg),
        &proposal::strip_ke(&sa_p.proposals),
        None,
    )
    .map_err(|e| with(e.into()))?;
    let peer_spi = <[u8; 4]>::try_from(chosen.peer_spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| {
            with(
                PeerMisbehaved::BadProposalResponse(proposal::ResponseError::BadSpi(
                    chosen.peer_spi.len(),
                ))
                .into(),
            )
        })?;
    if chosen.protocol != ProtocolId::ESP {
        return Err(with(
            PeerMisbehaved::UnexpectedExchange(ExchangeType::IKE_AUTH).into(),
        ));
    }
    let wants_transport = find_notify(p, NotifyType::USE_TRANSPORT_MODE).is_some();
    // Transport only when both want it; otherwise tunnel, which RFC 7296
    // §1.3.1 lets a responder fall back to.
    let mode = if wants_transport && cfg.mode == Mode::Transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let our_spi = new_esp_spi(shared).map_err(with)?;
    // One family per CHILD_SA (narrowing, RFC 7296 §2.9): the family left
    // out, if the initiator asked for it too, follows from us.
    let (ts_i, ts_r, left) = if shared.config.one_family_per_child {
        ts::split_family(&sel.ts_i, &sel.ts_r, None)
    } else {
        (sel.ts_i, sel.ts_r, None)
    };
    Ok(Some((
        config, chosen, our_spi, peer_spi, ts_i, ts_r, mode, left,
    )))
}

fn established(sa: &mut IkeSa, now: Instant, shared: &mut Shared, remote_id: String) {
    let suite = sa.keys().map(|k| k.chosen.to_string()).unwrap_or_default();
    sa.remote_id = Some(remote_id.clone());
    arm_ike_rekey(sa, now, shared);
    if sa.behind_nat {
        sa.timers
            .set(Timer::Keepalive, now + shared.config.keepalive_interval);
    }
    shared.events.push_back(Event::Established {
        ike_sa: sa.id,
        peer: sa.peer,
        path: sa.path,
        suite,
        remote_id,
        nat: sa.nat,
    });
    if let Some(d) = sa.cfg.dpd_delay {
        sa.timers.set(Timer::Dpd, now + d);
    }
}

/// Arms the IKE rekey timer with jitter (see `PeerConfig::ike_rekey_time`).
pub(crate) fn arm_ike_rekey(sa: &mut IkeSa, now: Instant, shared: &Shared) {
    let Some(t) = sa.cfg.ike_rekey_time else {
        return;
    };
    let tenth = u64::try_from(t.as_millis() / 10).unwrap_or(u64::MAX);
    let jitter = match shared.random_u64() {
        Ok(r) if tenth > 0 => r % tenth,
        _ => 0,
    };
    sa.timers.set(
        Timer::IkeRekey,
        now + t - std::time::Duration::from_millis(jitter),
    );
}

pub(crate) fn install_child(
    sa: &mut IkeSa,
    shared: &mut Shared,
    child: crate::sa::child_sa::ChildSa,
    req: crate::io::KernelRequest,
) {
    shared.events.push_back(Event::ChildInstalled {
        ike_sa: sa.id,
        child: child.config,
        inbound_spi: child.inbound_spi,
        outbound_spi: child.outbound_spi,
        suite: child.chosen.to_string(),
        local_ts: child.local_ts.clone(),
        remote_ts: child.remote_ts.clone(),
    });
    shared.kernel_request(req);
    sa.children.push(child);
}

/// Initiator: checks the responder's identity and AUTH payload.
pub(super) fn check_responder(
    shared: &Shared,
    cfg: &PeerConfig,
    init: &InitDone,
    idr: &Id,
    auth: &Auth,
    p: &[Payload],
) -> Result<(), Error> {
    match &cfg.remote_id {
        Some(expected) if expected != idr => Err(AuthFailure::IdMismatch {
            expected: expected.to_string(),
            got: idr.to_string(),
        }
        .into()),
        _ => verify_peer(
            shared.wall_clock,
            cfg,
            &init.keys,
            Role::Responder,
            init,
            idr,
            auth,
            p,
        ),
    }
}

/// Initiator: authenticates the responder. With EAP this takes several
/// IKE_AUTH rounds; `None` when the next one was sent. `Some` carries the
/// responder's identity.
fn authenticate_response(
    sa: &mut IkeSa,
    s: AwaitAuthResponse,
    now: Instant,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<Option<(AwaitAuthResponse, String)>, Rejected> {
    let fatal = |e: Error| Rejected::Fatal {
        respond: None,
        error: e,
    };
    let mut s = s;
    if let Some(run) = s.eap.take() {
        return auth_eap::client_round(sa, s, *run, now, shared, p);
    }
    let idr = find_id(p, false);
    let auth = find_auth(p);
    let (Some(idr), Some(auth)) = (idr, auth) else {
        // No AUTH: the responder refused us (RFC 7296 §2.21.2).
        let e = match error_notify(p) {
            Some(t) => PeerIncompatible::PeerRejected(t).into(),
            None => missing(PayloadType::AUTH),
        };
        return Err(fatal(e));
    };
    let cfg = sa.cfg.clone();
    if let Err(e) = check_responder(shared, &cfg, &s.init, idr, auth, p) {
        // The responder thinks the SA is up: tell it in a separate
        // INFORMATIONAL, the one case where an error in a response starts
        // an exchange (RFC 7296 §2.21.2), then forget the SA.
        send_final(
            sa,
            shared,
            s.init.keys,
            &[notify(NotifyType::AUTHENTICATION_FAILED)],
        );
        return Err(fatal(e));
    }
    Ok(Some((s, idr.to_string())))
}

/// Initiator: the IKE_AUTH response.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    s: AwaitAuthResponse,
    now: Instant,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<(), Rejected> {
    let fatal = |e: Error| Rejected::Fatal {
        respond: None,
        error: e,
    };
    let cfg = sa.cfg.clone();
    let Some((s, remote_id)) = authenticate_response(sa, s, now, shared, p)? else {
        // We sent the next EAP round (RFC 7296 §2.16).
        return Ok(());
    };
    let init = s.init;
    // We asked for virtual IPs: without one the SA is of no use, so the
    // responder's (established) SA is deleted at once.
    let assigned = if cfg.remote_access.vips.is_empty() {
        None
    } else {
        match assigned_vips(p) {
            Ok(a) => Some(a),
            Err(e) => {
                let d = Payload::Delete(Delete {
                    protocol: ProtocolId::IKE,
                    spis: Vec::new(),
                });
                send_final(sa, shared, init.keys, &[d]);
                return Err(fatal(e));
            }
        }
    };
    let child = accept_child(sa, &init, &s.child, p).and_then(|c| match &assigned {
        Some(a) => narrow_to_vips(c, &a.addrs),
        None => Ok(c),
    });
    let config = s.child.config;
    let lifetimes = sa
        .cfg
        .children
        .get(config)
        .map(|c| c.lifetimes)
        .unwrap_or_default();
    let built = child.and_then(|(chosen, peer_spi, tsi, tsr, mode)| {
        NewChild {
            ike_sa: sa.id,
            role: Role::Initiator,
            path: sa.path,
            nat: sa.nat,
            keys: &init.keys,
            chosen,
            our_spi: s.child.our_spi,
            peer_spi,
            ni: &init.ni,
            nr: &init.nr,
            mode,
            local_ts: tsi,
            remote_ts: tsr,
            lifetimes,
            config,
        }
        .build()
    });
    sa.state = State::Established(Box::new(Established {
        keys: init.keys,
        pending: None,
    }));
    established(sa, now, shared, remote_id);
    if let Some(a) = assigned {
        sa.vips.clone_from(&a.addrs);
        shared.events.push_back(Event::VirtualIp {
            ike_sa: sa.id,
            ours: true,
            addrs: a.addrs,
            dns: a.dns,
            subnets: a.subnets,
            dns_domains: a.dns_domains,
        });
    }
    match built {
        Ok((child, req)) => {
            let local = child.local_ts.clone();
            install_child(sa, shared, child, req);
            super::create_child::want_other_family(sa, shared, config, &local);
        }
        Err(e) => shared.events.push_back(Event::ChildFailed {
            ike_sa: sa.id,
            child: Some(config),
            reason: e.to_string(),
        }),
    }
    Ok(())
}

/// Sends one INFORMATIONAL request under the SA's keys and closes the SA
/// without waiting for the answer, which would change nothing: the SA is
/// gone on our side. The peer gets no retransmission; if this datagram is
/// lost its SA dies by liveness check instead.
pub(super) fn send_final(sa: &mut IkeSa, shared: &mut Shared, keys: IkeKeys, inner: &[Payload]) {
    sa.state = State::Established(Box::new(Established {
        keys,
        pending: None,
    }));
    let header = sa.header(ExchangeType::INFORMATIONAL, false, sa.next_msg_id);
    if let Ok(datagrams) = sa.seal(shared, header, inner) {
        for d in &datagrams {
            shared.send(sa.path, d);
        }
    }
    sa.next_msg_id = sa.next_msg_id.wrapping_add(1);
    sa.state = State::Closed;
}

/// Initiator: the virtual IPs (and DNS, subnets, domains) of the
/// responder's CFG_REPLY (RFC 7296 §2.19). No address is an error: the
/// responder's notify (INTERNAL_ADDRESS_FAILURE, §3.10.1) names why.
fn assigned_vips(p: &[Payload]) -> Result<cp::Assigned, Error> {
    let reply = p.iter().find_map(|x| match x {
        Payload::Cp(c) if c.cfg_type == CfgType::CFG_REPLY => Some(c),
        _ => None,
    });
    let a = reply.map(cp::parse_reply).transpose()?.unwrap_or_default();
    if a.addrs.is_empty() {
        let why = match error_notify(p) {
            Some(t) => format!("responder assigned none and sent {t}"),
            None => "responder assigned none".into(),
        };
        return Err(PeerIncompatible::AddressUnavailable(why).into());
    }
    Ok(a)
}

/// Initiator: our side of the first CHILD_SA is our virtual IPs, within
/// what the responder returned (RFC 7296 §2.19).
fn narrow_to_vips(c: AcceptedChild, vips: &[IpAddr]) -> Result<AcceptedChild, Error> {
    let (chosen, peer_spi, tsi, tsr, mode) = c;
    let hosts = cp::host_selectors(vips);
    let narrowed = ts::narrow(&tsi, &hosts);
    if narrowed.is_empty() {
        return Err(PeerIncompatible::TsUnacceptable {
            proposed: TsList(&tsi).to_string(),
            allowed: TsList(&hosts).to_string(),
        }
        .into());
    }
    Ok((chosen, peer_spi, narrowed, tsr, mode))
}

type AcceptedChild = (
    Chosen,
    u32,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    Mode,
);

fn accept_child(
    sa: &IkeSa,
    _init: &InitDone,
    req: &ChildRequest,
    p: &[Payload],
) -> Result<AcceptedChild, Error> {
    if let Some(t) = error_notify(p) {
        return Err(PeerIncompatible::PeerRejected(t).into());
    }
    let sa_p = find_sa(p).ok_or_else(|| missing(PayloadType::SA))?;
    let tsi = find_ts(p, true).ok_or_else(|| missing(PayloadType::TSI))?;
    let tsr = find_ts(p, false).ok_or_else(|| missing(PayloadType::TSR))?;
    let chosen =
        proposal::validate_response(&esp_without_ke(sa.child_cfg(req.config)?), &sa_p.proposals)?;
    let peer_spi = <[u8; 4]>::try_from(chosen.peer_spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| proposal::ResponseError::BadSpi(chosen.peer_spi.len()))?;
    if !ts::check_narrowed(&tsi.selectors, &req.ts_i)
        || !ts::check_narrowed(&tsr.selectors, &req.ts_r)
    {
        return Err(PeerMisbehaved::TsWidened.into());
    }
    let transport = req.transport && find_notify(p, NotifyType::USE_TRANSPORT_MODE).is_some();
    let mode = if transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    Ok((
        chosen,
        peer_spi,
        tsi.selectors.clone(),
        tsr.selectors.clone(),
        mode,
    ))
}
