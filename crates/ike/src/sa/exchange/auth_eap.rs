//! IKE_AUTH with EAP (RFC 7296 §2.16): the extra IKE_AUTH rounds that
//! carry EAP payloads, and the AUTH payloads keyed with the MSK that end
//! them. The EAP conversation itself is `sa::eap`; the CHILD_SA and the
//! configuration payload of the first request are finished by `auth`
//! once the peer is authenticated.
//!
//! Flow (initiator I, responder R):
//! 1. I: IDi, [IDr], SA, TSi, TSr, CP, no AUTH.
//! 2. R: IDr, CERT, AUTH (its signature), EAP-Request.
//! 3. I ↔ R: EAP-Response / EAP-Request ... EAP-Success.
//! 4. I: AUTH = prf(prf(MSK, "Key Pad for IKEv2"), I's signed octets).
//! 5. R: AUTH likewise over its signed octets, CP, SA, TSi, TSr.
//!
//! An EAP failure at the responder answers with EAP-Failure and
//! AUTHENTICATION_FAILED in the same response, then the SA is closed.
//! While EAP runs the responder's SA stays in `AwaitAuthRequest`: it still
//! counts as half-open (cookie threshold, half-open limit), and the
//! half-open timer is re-armed after each round, so a client that stops
//! answering mid-EAP is dropped like one that never sent IKE_AUTH.

use std::time::Instant;

use super::auth::{
    ca_hashes, cert_payloads, check_responder, local_credentials, missing, octets_for, our_auth,
    send_final, Authenticated,
};
use super::init::error_notify;
use super::{find_auth, find_id};
use crate::crypto::{ct_eq, psk_auth, SecretBytes};
use crate::error::{AuthFailure, Error, LocalError, PeerIncompatible};
use crate::sa::config::{PeerAuth, PeerConfig};
use crate::sa::eap::{self, ClientStep, EapClient, EapIdentity, EapServer, ServerStep};
use crate::sa::ike_sa::{
    AwaitAuthRequest, AwaitAuthResponse, IkeSa, InitDone, Rejected, Role, Shared, State,
};
use crate::sa::timer::Timer;
use crate::wire::{
    Auth, AuthMethod, Eap, ExchangeType, Id, IdType, Notify, NotifyType, Payload, PayloadType,
};

/// Responder: an EAP conversation in progress.
pub(crate) struct EapServerRun {
    server: EapServer,
    /// The first IKE_AUTH request: its SA, selectors, CP request and
    /// notifies are answered in the last response (RFC 7296 §2.16).
    first: Vec<Payload>,
    /// Its IDi, which the initiator's MSK-keyed AUTH covers.
    idi: Id,
    /// After EAP-Success: the user and the MSK; the AUTH comes next.
    done: Option<(String, SecretBytes)>,
}

/// Initiator: our EAP conversation in progress.
pub(crate) struct EapClientRun {
    client: EapClient,
    /// The responder's IDr, once its own AUTH verified.
    idr: Option<Id>,
    /// After EAP-Success: the MSK; our AUTH is sent, the responder's next.
    msk: Option<SecretBytes>,
}

impl EapClientRun {
    pub(crate) fn new() -> Self {
        Self {
            client: EapClient::new(),
            idr: None,
            msk: None,
        }
    }
}

fn find_eap(p: &[Payload]) -> Option<&Eap> {
    p.iter().find_map(|x| match x {
        Payload::Eap(e) => Some(e),
        _ => None,
    })
}

fn notify(t: NotifyType) -> Payload {
    Payload::Notify(Notify::new(t, Vec::new()))
}

/// Responder: the configuration that authenticates this initiator with
/// EAP: its IDi exactly, else one that accepts any identity.
pub(super) fn eap_peer(shared: &Shared, p: &[Payload]) -> Option<usize> {
    let idi = find_id(p, true)?;
    let peers = &shared.config.peers;
    let is_eap = |c: &PeerConfig| matches!(c.peer_auth, PeerAuth::EapMschapv2(_));
    peers
        .iter()
        .position(|c| is_eap(c) && c.remote_id.as_ref() == Some(idi))
        .or_else(|| {
            peers
                .iter()
                .position(|c| is_eap(c) && c.remote_id.is_none())
        })
}

/// The IKE identity as an EAP user name, when it is one: FQDN, RFC 822
/// address or KEY_ID as text. Addresses and DNs are not user names.
fn user_from_id(id: &Id) -> Option<String> {
    let textual = [IdType::ID_FQDN, IdType::ID_RFC822_ADDR, IdType::ID_KEY_ID];
    if !textual.contains(&id.id_type) {
        return None;
    }
    String::from_utf8(id.data.clone())
        .ok()
        .filter(|s| !s.is_empty())
}

/// Responder: the first IKE_AUTH request has no AUTH and a configuration
/// wants EAP: answer with our identity, certificates, AUTH and the first
/// EAP request.
pub(super) fn server_start(
    sa: &mut IkeSa,
    init: InitDone,
    peer: usize,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<(), Rejected> {
    let respond = Some((msg_id, ExchangeType::IKE_AUTH));
    let started = start_parts(sa, &init, peer, shared, p);
    let (out, run) = match started {
        Ok(x) => x,
        Err(error) => {
            sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest { init, eap: None }));
            return Err(Rejected::Fatal { respond, error });
        }
    };
    sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest {
        init,
        eap: Some(Box::new(run)),
    }));
    sa.send_response(shared, ExchangeType::IKE_AUTH, msg_id, &out)
        .map_err(|error| Rejected::Fatal {
            respond: None,
            error,
        })?;
    // A peer that stops answering mid-EAP is dropped like a half-open SA.
    sa.timers
        .set(Timer::HalfOpen, now + shared.config.half_open_timeout);
    Ok(())
}

fn start_parts(
    sa: &mut IkeSa,
    init: &InitDone,
    peer: usize,
    shared: &Shared,
    p: &[Payload],
) -> Result<(Vec<Payload>, EapServerRun), Error> {
    let cfg = shared
        .config
        .peers
        .get(peer)
        .cloned()
        .ok_or(LocalError::Config("EAP peer index out of range"))?;
    let PeerAuth::EapMschapv2(eap_cfg) = &cfg.peer_auth else {
        return Err(LocalError::Config("EAP peer without EAP configuration").into());
    };
    let idi = find_id(p, true)
        .cloned()
        .ok_or_else(|| missing(PayloadType::IDI))?;
    let user = match eap_cfg.identity {
        EapIdentity::Ask => None,
        EapIdentity::FromIke => user_from_id(&idi),
    };
    let (certs, signer) = local_credentials(&cfg, &ca_hashes(p), &sa.peer_sig_hashes);
    let auth = our_auth(&cfg, signer.as_ref(), &init.keys, Role::Responder, init)?;
    let (server, req) = EapServer::start(shared.rng.as_ref(), user)?;
    let mut out = vec![Payload::Idr(cfg.local_id.clone())];
    out.extend(cert_payloads(&certs));
    out.push(Payload::Auth(auth));
    out.push(Payload::Eap(Eap { data: req }));
    sa.peer = peer;
    sa.cfg = cfg;
    Ok((
        out,
        EapServerRun {
            server,
            first: p.to_vec(),
            idi,
            done: None,
        },
    ))
}

/// Responder: a later IKE_AUTH request of an EAP conversation. `Some`
/// once the initiator's MSK-keyed AUTH verified: the caller then answers
/// the first request's CHILD_SA and CP.
pub(super) fn server_round(
    sa: &mut IkeSa,
    init: InitDone,
    mut run: EapServerRun,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<Option<Authenticated>, Rejected> {
    let cfg = sa.cfg.clone();
    if let Some((user, msk)) = run.done.take() {
        let checked = final_auth(&cfg, &init, &run.idi, &user, &msk, p);
        return match checked {
            Ok(ours) => Ok(Some(Authenticated {
                init,
                cfg,
                out: vec![Payload::Auth(ours)],
                identity: user,
                first: Some(run.first),
            })),
            Err(error) => {
                // The state goes back so the endpoint can answer the
                // protected AUTHENTICATION_FAILED, then it closes the SA.
                sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest { init, eap: None }));
                Err(Rejected::Fatal {
                    respond: Some((msg_id, ExchangeType::IKE_AUTH)),
                    error,
                })
            }
        };
    }
    let PeerAuth::EapMschapv2(eap_cfg) = &cfg.peer_auth else {
        sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest { init, eap: None }));
        return Err(Rejected::Fatal {
            respond: Some((msg_id, ExchangeType::IKE_AUTH)),
            error: LocalError::Config("EAP conversation without EAP configuration").into(),
        });
    };
    let step = match find_eap(p) {
        Some(e) => run
            .server
            .handle(eap_cfg.users.as_ref(), shared.rng.as_ref(), &e.data),
        None => Err(missing(PayloadType::EAP)),
    };
    let reply = match step {
        Ok(ServerStep::Request(r)) => r,
        Ok(ServerStep::Success(s)) => {
            run.done = run.server.take_result();
            s
        }
        Err(error) => {
            // EAP-Failure tells the EAP layer (RFC 3748 §4.2), the notify
            // the IKE layer; then the SA is gone.
            let failure = eap::outcome(false, run.server.failure_id());
            sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest { init, eap: None }));
            let out = [
                Payload::Eap(Eap { data: failure }),
                notify(NotifyType::AUTHENTICATION_FAILED),
            ];
            // Unsent, the peer only times out; the error is the same.
            let _ = sa.send_response(shared, ExchangeType::IKE_AUTH, msg_id, &out);
            return Err(Rejected::Fatal {
                respond: None,
                error,
            });
        }
    };
    sa.state = State::AwaitAuthRequest(Box::new(AwaitAuthRequest {
        init,
        eap: Some(Box::new(run)),
    }));
    sa.send_response(
        shared,
        ExchangeType::IKE_AUTH,
        msg_id,
        &[Payload::Eap(Eap { data: reply })],
    )
    .map_err(|error| Rejected::Fatal {
        respond: None,
        error,
    })?;
    sa.timers
        .set(Timer::HalfOpen, now + shared.config.half_open_timeout);
    Ok(None)
}

/// The MSK-keyed AUTH of `signer` over its signed octets (RFC 7296 §2.16).
fn msk_auth(init: &InitDone, signer: Role, id: &Id, msk: &SecretBytes) -> Result<Vec<u8>, Error> {
    let octets = octets_for(&init.keys, signer, init, id)?;
    Ok(psk_auth(init.keys.suite.prf, msk.secret_bytes(), &octets)?)
}

/// Responder: checks the initiator's AUTH after EAP-Success and builds ours.
fn final_auth(
    cfg: &PeerConfig,
    init: &InitDone,
    idi: &Id,
    user: &str,
    msk: &SecretBytes,
    p: &[Payload],
) -> Result<Auth, Error> {
    let auth = find_auth(p).ok_or_else(|| missing(PayloadType::AUTH))?;
    if auth.method != AuthMethod::SHARED_KEY_MIC {
        return Err(AuthFailure::Method(auth.method).into());
    }
    let expected = msk_auth(init, Role::Initiator, idi, msk)?;
    if !ct_eq(&expected, &auth.data) {
        return Err(AuthFailure::Mismatch(format!("{idi} (EAP user '{user}')")).into());
    }
    Ok(Auth {
        method: AuthMethod::SHARED_KEY_MIC,
        data: msk_auth(init, Role::Responder, &cfg.local_id, msk)?,
    })
}

/// Initiator: the IKE_AUTH response has no AUTH (or no EAP) where one
/// was due: the responder's error notify says why, if it sent one.
fn refused(p: &[Payload], absent: PayloadType) -> Error {
    match error_notify(p) {
        Some(t) => PeerIncompatible::PeerRejected(t).into(),
        None => missing(absent),
    }
}

/// Initiator: an IKE_AUTH response while we authenticate with EAP.
/// `Some` with the responder's identity once its MSK-keyed AUTH verified;
/// `None` when we sent the next IKE_AUTH request.
pub(super) fn client_round(
    sa: &mut IkeSa,
    mut s: AwaitAuthResponse,
    mut run: EapClientRun,
    now: Instant,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<Option<(AwaitAuthResponse, String)>, Rejected> {
    let fatal = |error: Error| Rejected::Fatal {
        respond: None,
        error,
    };
    let cfg = sa.cfg.clone();
    let Some(creds) = cfg.eap_client.as_ref() else {
        return Err(fatal(
            LocalError::Config("EAP conversation without EAP credentials").into(),
        ));
    };
    if let Some(msk) = run.msk.take() {
        // Last response: the responder's AUTH keyed with the MSK.
        let Some(idr) = run.idr.take() else {
            return Err(fatal(LocalError::Config("EAP finished before IDr").into()));
        };
        let Some(auth) = find_auth(p) else {
            return Err(fatal(refused(p, PayloadType::AUTH)));
        };
        let ok = auth.method == AuthMethod::SHARED_KEY_MIC
            && msk_auth(&s.init, Role::Responder, &idr, &msk)
                .map(|e| ct_eq(&e, &auth.data))
                .unwrap_or(false);
        if !ok {
            send_final(
                sa,
                shared,
                s.init.keys,
                &[notify(NotifyType::AUTHENTICATION_FAILED)],
            );
            return Err(fatal(AuthFailure::Mismatch(idr.to_string()).into()));
        }
        return Ok(Some((s, idr.to_string())));
    }
    if run.idr.is_none() {
        // First response: the responder authenticates itself as usual.
        let (Some(idr), Some(auth)) = (find_id(p, false), find_auth(p)) else {
            return Err(fatal(refused(p, PayloadType::AUTH)));
        };
        if let Err(e) = check_responder(shared, &cfg, &s.init, idr, auth, p) {
            send_final(
                sa,
                shared,
                s.init.keys,
                &[notify(NotifyType::AUTHENTICATION_FAILED)],
            );
            return Err(fatal(e));
        }
        run.idr = Some(idr.clone());
    }
    let Some(eap) = find_eap(p) else {
        return Err(fatal(refused(p, PayloadType::EAP)));
    };
    let step = run
        .client
        .handle(creds, shared.rng.as_ref(), &eap.data)
        .map_err(fatal)?;
    let next = match step {
        ClientStep::Respond(r) => Payload::Eap(Eap { data: r }),
        ClientStep::Done(msk) => {
            let data = msk_auth(&s.init, Role::Initiator, &cfg.local_id, &msk).map_err(fatal)?;
            run.msk = Some(msk);
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data,
            })
        }
    };
    s.eap = Some(Box::new(run));
    sa.state = State::AwaitAuthResponse(Box::new(s));
    sa.send_request(now, shared, ExchangeType::IKE_AUTH, &[next])
        .map_err(fatal)?;
    Ok(None)
}
