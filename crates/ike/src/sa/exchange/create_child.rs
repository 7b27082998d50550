//! CREATE_CHILD_SA (RFC 7296 §1.3): rekeying a CHILD_SA (§1.3.3, REKEY_SA,
//! optional PFS key exchange) and rekeying the IKE SA itself (§1.3.2,
//! §2.18), as initiator and responder.
//!
//! The requester of a CHILD_SA rekey deletes the old CHILD_SA once the new
//! one is installed (§2.8); the requester of an IKE rekey deletes the old
//! IKE SA, whose CHILD_SAs have moved to the new one.
//!
//! Simultaneous rekeys (§2.8.1 for CHILD_SAs, §2.8.2 for IKE SAs) are
//! resolved by nonce: of the two new SAs, the one from the exchange holding
//! the lowest of the four nonces is redundant and deleted by its requester,
//! and the other requester deletes the old SA. For IKE SAs the CHILD_SAs
//! end up under the surviving new IKE SA on both sides, also when the peer
//! deletes the old IKE SA before our own rekey is answered; a redundant SA
//! the peer never deletes is deleted by us after a grace period. A rekey
//! request reaching an IKE SA that has already been rekeyed is answered
//! TEMPORARY_FAILURE (§2.25).

use std::time::Instant;

use super::init::{error_notify, find_notify, NONCE_LEN};
use super::{find_ke, find_nonce, find_sa, find_ts};
use crate::crypto::{derive_ike_sa_keys, rekey_skeyseed, ActiveKeyExchange, SkKeys};
use crate::error::{Error, LocalError, PeerIncompatible, PeerMisbehaved};
use crate::io::{Event, IkeSaId, Mode};
use crate::policy::proposal::{self, Chosen};
use crate::policy::ts;
use crate::sa::child_sa::NewChild;
use crate::sa::ike_sa::{Established, IkeKeys, IkeSa, Outstanding, Rejected, Role, Shared, State};
use crate::sa::timer::Timer;
use crate::wire::{
    ExchangeType, Ke, KeMethod, Nonce, Notify, NotifyType, Payload, PayloadType, ProtocolId, Sa,
    TrafficSelector, Ts,
};

/// Our outstanding CREATE_CHILD_SA request.
pub(crate) enum Pending {
    RekeyChild {
        /// The CHILD_SA being rekeyed (our inbound SPI); `None` for a new one.
        old_inbound: Option<u32>,
        /// Index of the child configuration.
        config: usize,
        our_spi: u32,
        ni: Vec<u8>,
        ke: Option<Box<dyn ActiveKeyExchange>>,
        ts_i: Vec<TrafficSelector>,
        ts_r: Vec<TrafficSelector>,
        mode: Mode,
    },
    RekeyIke {
        new_spi: u64,
        ni: Vec<u8>,
        ke: Box<dyn ActiveKeyExchange>,
    },
}

fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

fn missing(payload: PayloadType) -> Error {
    PeerMisbehaved::MissingPayload {
        exchange: ExchangeType::CREATE_CHILD_SA,
        payload,
    }
    .into()
}

fn established_mut(sa: &mut IkeSa) -> Result<&mut Established, Error> {
    match &mut sa.state {
        State::Established(s) => Ok(s),
        _ => Err(LocalError::NoSuchSa.into()),
    }
}

fn keys(sa: &IkeSa) -> Result<&IkeKeys, Error> {
    sa.keys().ok_or_else(|| LocalError::NoSuchSa.into())
}

/// Starts rekeying the CHILD_SA with our inbound SPI `old_inbound`.
pub(crate) fn start_rekey_child(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    old_inbound: u32,
) -> Result<(), Error> {
    let config = sa
        .children
        .iter()
        .find(|c| c.inbound_spi == old_inbound)
        .ok_or(LocalError::NoSuchSa)?
        .config;
    start_child(sa, now, shared, Some(old_inbound), config, None)
}

/// Starts an additional CHILD_SA from the child configuration at `config`
/// (§1.3.1).
pub(crate) fn start_new_child(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    config: usize,
) -> Result<(), Error> {
    start_child(sa, now, shared, None, config, None)
}

/// Starts the CHILD_SA of family `family` for child configuration
/// `config`, whose other family's CHILD_SA is up (see
/// [`EndpointConfig::one_family_per_child`](crate::sa::EndpointConfig)).
pub(crate) fn start_sibling(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    config: usize,
    family: ts::Family,
) -> Result<(), Error> {
    start_child(sa, now, shared, None, config, Some(family))
}

fn start_child(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    old_inbound: Option<u32>,
    config: usize,
    family: Option<ts::Family>,
) -> Result<(), Error> {
    established_mut(sa)?;
    let cfg = sa.child_cfg(config)?.clone();
    let (local_ts, remote_ts, mode, last_group) = match old_inbound {
        Some(old) => {
            let c = sa
                .children
                .iter()
                .find(|c| c.inbound_spi == old)
                .ok_or(LocalError::NoSuchSa)?;
            (
                c.local_ts.clone(),
                c.remote_ts.clone(),
                c.mode,
                c.chosen.ke_method(),
            )
        }
        None if shared.config.one_family_per_child => {
            // A child asked for again while one family is up gets the
            // family that is missing, not a second CHILD_SA of the first.
            let family = family.or_else(|| sa.missing_family(config));
            let (l, r, _) =
                ts::split_family(&sa.child_local_ts(&cfg), &sa.child_remote_ts(&cfg), family);
            (l, r, cfg.mode, None)
        }
        None => (
            sa.child_local_ts(&cfg),
            sa.child_remote_ts(&cfg),
            cfg.mode,
            None,
        ),
    };
    let our_spi = super::auth::new_esp_spi(shared)?;
    let ni = shared.random(NONCE_LEN)?;
    // PFS (§1.3.3): the group the CHILD_SA was rekeyed with last time, or
    // the first group configured (the first CHILD_SA, from IKE_AUTH, had
    // none).
    let group = last_group.or_else(|| cfg.esp_proposals.iter().find_map(|p| p.first_ke()));
    let ke = match group {
        Some(g) => Some(shared.config.crypto.group(g)?.start(shared.rng.as_ref())?),
        None => None,
    };
    let mut inner = Vec::new();
    if let Some(old) = old_inbound {
        inner.push(Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: old.to_be_bytes().to_vec(),
            notify_type: NotifyType::REKEY_SA,
            data: Vec::new(),
        }));
    }
    if mode == Mode::Transport {
        inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
    }
    inner.push(Payload::Sa(proposal::offer(
        &cfg.esp_proposals,
        &our_spi.to_be_bytes(),
    )));
    inner.push(Payload::Nonce(Nonce { data: ni.clone() }));
    if let Some(k) = &ke {
        inner.push(Payload::Ke(Ke {
            method: k.group(),
            data: k.public_value().to_vec(),
        }));
    }
    inner.push(Payload::Tsi(Ts {
        selectors: local_ts.clone(),
    }));
    inner.push(Payload::Tsr(Ts {
        selectors: remote_ts.clone(),
    }));
    sa.send_request(now, shared, ExchangeType::CREATE_CHILD_SA, &inner)?;
    let pending = Pending::RekeyChild {
        old_inbound,
        config,
        our_spi,
        ni,
        ke,
        ts_i: local_ts,
        ts_r: remote_ts,
        mode,
    };
    established_mut(sa)?.pending = Some(Outstanding::CreateChild(Box::new(pending)));
    Ok(())
}

/// Initiator, after a new CHILD_SA of `config` whose selectors on our
/// side were `local`: with one family per CHILD_SA, queue the CHILD_SA of
/// the other family when the configuration has one.
pub(crate) fn want_other_family(
    sa: &mut IkeSa,
    shared: &Shared,
    config: usize,
    local: &[TrafficSelector],
) {
    if !shared.config.one_family_per_child {
        return;
    }
    if let Some(f) = local.iter().find_map(ts::Family::of) {
        sa.want_sibling(config, f.other());
    }
}

/// Starts rekeying the IKE SA (RFC 7296 §1.3.2); `new_spi` is our SPI for
/// the new IKE SA, unique in the endpoint.
pub(crate) fn start_rekey_ike(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    new_spi: u64,
) -> Result<(), Error> {
    let group = keys(sa)?
        .chosen
        .ke_method()
        .ok_or(LocalError::Config("IKE SA without KE method"))?;
    let ke = shared
        .config
        .crypto
        .group(group)?
        .start(shared.rng.as_ref())?;
    let ni = shared.random(NONCE_LEN)?;
    // Offer the current suite first so the peer keeps it if it can.
    let inner = vec![
        Payload::Sa(proposal::offer(
            &sa.cfg.ike_proposals,
            &new_spi.to_be_bytes(),
        )),
        Payload::Nonce(Nonce { data: ni.clone() }),
        Payload::Ke(Ke {
            method: ke.group(),
            data: ke.public_value().to_vec(),
        }),
    ];
    sa.send_request(now, shared, ExchangeType::CREATE_CHILD_SA, &inner)?;
    established_mut(sa)?.pending = Some(Outstanding::CreateChild(Box::new(Pending::RekeyIke {
        new_spi,
        ni,
        ke,
    })));
    Ok(())
}

/// Responder side of CREATE_CHILD_SA.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    s: Established,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<(), Rejected> {
    sa.state = State::Established(Box::new(s));
    if let Some(d) = sa.cfg.dpd_delay {
        sa.timers.set(Timer::Dpd, now + d);
    }
    // An IKE SA that has been rekeyed takes no new work (RFC 7296 §2.25).
    if sa.superseded {
        let t = Payload::Notify(Notify::new(NotifyType::TEMPORARY_FAILURE, Vec::new()));
        return sa
            .send_response(shared, ExchangeType::CREATE_CHILD_SA, msg_id, &[t])
            .map_err(|e| Rejected::Fatal {
                respond: None,
                error: e,
            });
    }
    let is_ike =
        find_sa(p).is_some_and(|x| x.proposals.iter().any(|pr| pr.protocol == ProtocolId::IKE));
    let result = if is_ike {
        respond_ike(sa, shared, p)
    } else {
        respond_child(sa, shared, p)
    };
    let (out, after) = match result {
        Ok(v) => v,
        Err(e) => {
            let data = match &e {
                Error::PeerIncompatible(PeerIncompatible::InvalidKe(g)) => {
                    g.0.to_be_bytes().to_vec()
                }
                _ => Vec::new(),
            };
            let t = e.notify().unwrap_or(NotifyType::NO_PROPOSAL_CHOSEN);
            shared.events.push_back(Event::ChildFailed {
                ike_sa: sa.id,
                child: None,
                reason: e.to_string(),
            });
            (vec![notify(t, data)], After::Nothing)
        }
    };
    sa.send_response(shared, ExchangeType::CREATE_CHILD_SA, msg_id, &out)
        .map_err(|e| Rejected::Fatal {
            respond: None,
            error: e,
        })?;
    match after {
        After::Nothing => {}
        After::Child(b) => {
            let (child, req) = *b;
            super::auth::install_child(sa, shared, child, req);
        }
        After::Ike(new) => {
            if sa.ike_collision.is_some() {
                // Keep the CHILD_SAs where they are until the collision is
                // decided; the new SA joins the endpoint empty. IkeRekeyed
                // is reported once, for the SA that gets the CHILD_SAs,
                // when that is known.
                sa.superseded = true;
                sa.timers.stop(Timer::IkeRekey);
                shared.new_sas.push(*new);
            } else {
                adopt(sa, shared, *new, now);
            }
        }
    }
    Ok(())
}

enum After {
    Nothing,
    Child(Box<(crate::sa::child_sa::ChildSa, crate::io::KernelRequest)>),
    Ike(Box<IkeSa>),
}

/// Completes the KE (if any) for a CHILD_SA exchange, checking the group.
fn child_dh(
    shared: &Shared,
    chosen: &Chosen,
    ke: Option<&Ke>,
) -> Result<(Option<crate::crypto::SharedSecret>, Option<Vec<u8>>), Error> {
    match (chosen.ke_method(), ke) {
        (None, _) => Ok((None, None)),
        (Some(g), Some(k)) if k.method == g => {
            let ours = shared.config.crypto.group(g)?.start(shared.rng.as_ref())?;
            let public = ours.public_value().to_vec();
            Ok((Some(ours.complete(&k.data)?), Some(public)))
        }
        (Some(g), _) => Err(PeerIncompatible::InvalidKe(g).into()),
    }
}

fn respond_child(
    sa: &mut IkeSa,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<(Vec<Payload>, After), Error> {
    let sa_p = find_sa(p).ok_or_else(|| missing(PayloadType::SA))?;
    let ni = find_nonce(p).ok_or_else(|| missing(PayloadType::NONCE))?;
    let tsi = find_ts(p, true).ok_or_else(|| missing(PayloadType::TSI))?;
    let tsr = find_ts(p, false).ok_or_else(|| missing(PayloadType::TSR))?;
    let ke = find_ke(p);
    // REKEY_SA names the requester's inbound SPI, our outbound (§1.3.3).
    let rekeyed = find_notify(p, NotifyType::REKEY_SA).map(|n| {
        <[u8; 4]>::try_from(n.spi.as_slice())
            .map(u32::from_be_bytes)
            .ok()
            .and_then(|spi| sa.children.iter().find(|c| c.outbound_spi == spi).cloned())
    });
    if let Some(None) = rekeyed {
        return Err(PeerIncompatible::ChildSaNotFound.into());
    }
    // Are we rekeying the same CHILD_SA right now (§2.8.1)?
    let colliding = match (&rekeyed, &sa.state) {
        (Some(Some(old)), State::Established(s)) => match &s.pending {
            Some(Outstanding::CreateChild(p)) => match p.as_ref() {
                Pending::RekeyChild {
                    old_inbound: Some(o),
                    ..
                } if *o == old.inbound_spi => Some(old.inbound_spi),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    // A rekey keeps its CHILD_SA's configuration and narrows against it;
    // a new CHILD_SA gets the configuration its selectors fit (§2.9).
    let (config, ni_narrow, nr_narrow) = match &rekeyed {
        Some(Some(old)) => {
            let c = sa.child_cfg(old.config)?;
            let (ar, al) = (sa.child_remote_ts(c), sa.child_local_ts(c));
            let (ni_n, nr_n) = (
                ts::narrow(&tsi.selectors, &ar),
                ts::narrow(&tsr.selectors, &al),
            );
            if ni_n.is_empty() || nr_n.is_empty() {
                return Err(PeerIncompatible::TsUnacceptable {
                    proposed: format!(
                        "{} === {}",
                        ts::TsList(&tsi.selectors),
                        ts::TsList(&tsr.selectors)
                    ),
                    allowed: format!("{} === {}", ts::TsList(&ar), ts::TsList(&al)),
                }
                .into());
            }
            (old.config, ni_n, nr_n)
        }
        _ => {
            let sel = sa.select_child(&tsi.selectors, &tsr.selectors)?;
            if shared.config.one_family_per_child {
                // One family per CHILD_SA (§2.9 narrowing); the other
                // follows from us once this exchange is done.
                let (ni_n, nr_n, left) = ts::split_family(&sel.ts_i, &sel.ts_r, None);
                if let Some(f) = left {
                    sa.want_sibling(sel.idx, f);
                }
                (sel.idx, ni_n, nr_n)
            } else {
                (sel.idx, sel.ts_i, sel.ts_r)
            }
        }
    };
    let cfg = sa.child_cfg(config)?.clone();
    let chosen = proposal::select(&cfg.esp_proposals, &sa_p.proposals, ke.map(|k| k.method))?;
    let peer_spi = <[u8; 4]>::try_from(chosen.peer_spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| {
            PeerMisbehaved::BadProposalResponse(proposal::ResponseError::BadSpi(
                chosen.peer_spi.len(),
            ))
        })?;
    let (g_ir, our_ke) = child_dh(shared, &chosen, ke)?;
    let nr = shared.random(NONCE_LEN)?;
    let our_spi = super::auth::new_esp_spi(shared)?;
    let wants_transport = find_notify(p, NotifyType::USE_TRANSPORT_MODE).is_some();
    let mode = if wants_transport && cfg.mode == Mode::Transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let (child, req) = NewChild {
        ike_sa: sa.id,
        role: Role::Responder,
        path: sa.path,
        nat: sa.nat,
        keys: keys(sa)?,
        chosen: chosen.clone(),
        our_spi,
        peer_spi,
        ni: &ni.data,
        nr: &nr,
        mode,
        local_ts: nr_narrow.clone(),
        remote_ts: ni_narrow.clone(),
        lifetimes: cfg.lifetimes,
        config,
    }
    .build_with(g_ir.as_ref())?;
    if let Some(old) = colliding {
        sa.collisions.push((old, ni.data.clone(), nr.clone()));
    }
    let mut out = Vec::new();
    if mode == Mode::Transport {
        out.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
    }
    out.push(Payload::Sa(Sa {
        proposals: vec![chosen.to_wire(our_spi.to_be_bytes().to_vec())],
    }));
    out.push(Payload::Nonce(Nonce { data: nr }));
    if let (Some(g), Some(public)) = (chosen.ke_method(), our_ke) {
        out.push(Payload::Ke(Ke {
            method: g,
            data: public,
        }));
    }
    out.push(Payload::Tsi(Ts {
        selectors: ni_narrow,
    }));
    out.push(Payload::Tsr(Ts {
        selectors: nr_narrow,
    }));
    Ok((out, After::Child(Box::new((child, req)))))
}

fn respond_ike(
    sa: &mut IkeSa,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<(Vec<Payload>, After), Error> {
    let sa_p = find_sa(p).ok_or_else(|| missing(PayloadType::SA))?;
    let ni = find_nonce(p).ok_or_else(|| missing(PayloadType::NONCE))?;
    let ke = find_ke(p).ok_or_else(|| missing(PayloadType::KE))?;
    let chosen = proposal::select(&sa.cfg.ike_proposals, &sa_p.proposals, Some(ke.method))?;
    let group = chosen.ke_method().unwrap_or_default();
    if group != ke.method {
        return Err(PeerIncompatible::InvalidKe(group).into());
    }
    let peer_spi = <[u8; 8]>::try_from(chosen.peer_spi.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| {
            PeerMisbehaved::BadProposalResponse(proposal::ResponseError::BadSpi(
                chosen.peer_spi.len(),
            ))
        })?;
    let ours = shared
        .config
        .crypto
        .group(group)?
        .start(shared.rng.as_ref())?;
    let public = ours.public_value().to_vec();
    let g_ir = ours.complete(&ke.data)?;
    let nr = shared.random(NONCE_LEN)?;
    let new_spi = loop {
        let s = shared.random_u64()?;
        if s != 0 {
            break s;
        }
    };
    let new = rekeyed_sa(
        sa,
        shared,
        &chosen,
        &g_ir,
        &ni.data,
        &nr,
        peer_spi,
        new_spi,
        Role::Responder,
    )?;
    // Our own IKE rekey of this SA is in flight: a collision (§2.8.2).
    // Which new IKE SA survives is decided when our response arrives.
    let rekeying = matches!(&sa.state, State::Established(s)
        if matches!(&s.pending, Some(Outstanding::CreateChild(p)) if matches!(p.as_ref(), Pending::RekeyIke { .. })));
    if rekeying {
        sa.ike_collision = Some((new.id, ni.data.clone(), nr.clone()));
    }
    let out = vec![
        Payload::Sa(Sa {
            proposals: vec![chosen.to_wire(new_spi.to_be_bytes().to_vec())],
        }),
        Payload::Nonce(Nonce { data: nr }),
        Payload::Ke(Ke {
            method: group,
            data: public,
        }),
    ];
    Ok((out, After::Ike(Box::new(new))))
}

/// The new IKE SA of a rekey (RFC 7296 §2.18): SKEYSEED from the old SK_d,
/// keys over the new SPIs; the rekey's requester is its initiator.
#[allow(clippy::too_many_arguments)]
fn rekeyed_sa(
    old: &IkeSa,
    shared: &Shared,
    chosen: &Chosen,
    g_ir: &crate::crypto::SharedSecret,
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    role: Role,
) -> Result<IkeSa, Error> {
    let old_keys = keys(old)?;
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
    let seed = rekey_skeyseed(old_keys.suite.prf, &old_keys.sk_d, g_ir, ni, nr)?;
    let k = derive_ike_sa_keys(
        suite.prf,
        &seed,
        ni,
        nr,
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
        suite.key_lengths(),
    )?;
    let sk = SkKeys::new(suite.cipher, suite.integ, &k, role == Role::Initiator)?;
    let keys = IkeKeys {
        suite,
        chosen: chosen.clone(),
        sk,
        sk_d: k.sk_d,
        sk_pi: k.sk_pi,
        sk_pr: k.sk_pr,
    };
    let our_spi = if role == Role::Initiator {
        spi_i
    } else {
        spi_r
    };
    let mut new = IkeSa::new(
        IkeSaId(our_spi),
        role,
        spi_i,
        spi_r,
        old.peer,
        old.cfg.clone(),
        old.path,
        State::Established(Box::new(Established {
            keys,
            pending: None,
        })),
    );
    new.nat = old.nat;
    new.frag = old.frag;
    new.behind_nat = old.behind_nat;
    new.remote_id = old.remote_id.clone();
    new.peer_sig_hashes = old.peer_sig_hashes.clone();
    Ok(new)
}

/// Arms the timers of the IKE SA that now carries the CHILD_SAs after a
/// rekey: liveness checks, NAT-T keepalives and its own next rekey. The
/// endpoint calls it too when a collision moves the CHILD_SAs to the
/// peer's new SA (RFC 7296 §2.8.2).
pub(crate) fn arm_survivor(new: &mut IkeSa, now: Instant, shared: &Shared) {
    if let Some(d) = new.cfg.dpd_delay {
        new.timers.set(Timer::Dpd, now + d);
    }
    if new.behind_nat {
        new.timers
            .set(Timer::Keepalive, now + shared.config.keepalive_interval);
    }
    // A survivor is never the redundant SA of a collision.
    new.timers.stop(Timer::RedundantIke);
    super::auth::arm_ike_rekey(new, now, shared);
}

/// Moves the CHILD_SAs to the new IKE SA and hands it to the endpoint.
fn adopt(old: &mut IkeSa, shared: &mut Shared, mut new: IkeSa, now: Instant) {
    new.children = std::mem::take(&mut old.children);
    // Queued work follows the CHILD_SAs to the SA that now owns them.
    new.queued_children = std::mem::take(&mut old.queued_children);
    new.queued_siblings = std::mem::take(&mut old.queued_siblings);
    new.queued_deletes = std::mem::take(&mut old.queued_deletes);
    // Virtual IP leases follow the CHILD_SAs that use them (RFC 7296 §2.19).
    new.vips = std::mem::take(&mut old.vips);
    new.leases = std::mem::take(&mut old.leases);
    arm_survivor(&mut new, now, shared);
    old.superseded = true;
    old.timers.stop(Timer::IkeRekey);
    shared.events.push_back(Event::IkeRekeyed {
        old: old.id,
        new: new.id,
    });
    shared.new_sas.push(new);
}

/// Requester side: the response to our CREATE_CHILD_SA.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    pending: Pending,
    now: Instant,
    shared: &mut Shared,
    p: &[Payload],
) -> Result<(), Rejected> {
    match pending {
        Pending::RekeyChild {
            old_inbound,
            config,
            our_spi,
            ni,
            ke,
            ts_i,
            ts_r,
            mode,
        } => {
            let r = (|| -> Result<_, Error> {
                if let Some(t) = error_notify(p) {
                    return Err(PeerIncompatible::PeerRejected(t).into());
                }
                let sa_p = find_sa(p).ok_or_else(|| missing(PayloadType::SA))?;
                let nr = find_nonce(p).ok_or_else(|| missing(PayloadType::NONCE))?;
                let tsi = find_ts(p, true).ok_or_else(|| missing(PayloadType::TSI))?;
                let tsr = find_ts(p, false).ok_or_else(|| missing(PayloadType::TSR))?;
                let cfg = sa.child_cfg(config)?;
                let lifetimes = cfg.lifetimes;
                let chosen = proposal::validate_response(&cfg.esp_proposals, &sa_p.proposals)?;
                let peer_spi = <[u8; 4]>::try_from(chosen.peer_spi.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| proposal::ResponseError::BadSpi(chosen.peer_spi.len()))?;
                let g_ir = match (chosen.ke_method(), ke, find_ke(p)) {
                    (None, _, _) => None,
                    (Some(g), Some(ours), Some(theirs))
                        if ours.group() == g && theirs.method == g =>
                    {
                        Some(ours.complete(&theirs.data)?)
                    }
                    (Some(g), _, got) => {
                        return Err(PeerMisbehaved::KeGroupMismatch {
                            got: got.map_or(KeMethod::KE_NONE, |k| k.method),
                            chosen: g,
                        }
                        .into())
                    }
                };
                if !ts::check_narrowed(&tsi.selectors, &ts_i)
                    || !ts::check_narrowed(&tsr.selectors, &ts_r)
                {
                    return Err(PeerMisbehaved::TsWidened.into());
                }
                let mode = if mode == Mode::Transport
                    && find_notify(p, NotifyType::USE_TRANSPORT_MODE).is_some()
                {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                };
                NewChild {
                    ike_sa: sa.id,
                    role: Role::Initiator,
                    path: sa.path,
                    nat: sa.nat,
                    keys: keys(sa)?,
                    chosen,
                    our_spi,
                    peer_spi,
                    ni: &ni,
                    nr: &nr.data,
                    mode,
                    local_ts: tsi.selectors.clone(),
                    remote_ts: tsr.selectors.clone(),
                    lifetimes,
                    config,
                }
                .build_with(g_ir.as_ref())
                .map(|built| (built, nr.data.clone()))
            })();
            match r {
                Ok(((child, req), nr)) => {
                    super::auth::install_child(sa, shared, child, req);
                    // The rekey's requester deletes the old CHILD_SA (§2.8),
                    // unless both sides rekeyed it at once and our exchange
                    // holds the lowest of the four nonces: then our new
                    // CHILD_SA is the redundant one and we delete it, while
                    // the peer deletes the old one (§2.8.1).
                    let Some(old_inbound) = old_inbound else {
                        // A new CHILD_SA replaces nothing; with one family
                        // per CHILD_SA, the other family may follow.
                        want_other_family(sa, shared, config, &ts_i);
                        return Ok(());
                    };
                    let mut victim = old_inbound;
                    if let Some(pos) = sa.collisions.iter().position(|c| c.0 == old_inbound) {
                        let (_, pni, pnr) = sa.collisions.remove(pos);
                        let ours = ni.as_slice().min(nr.as_slice());
                        let theirs = pni.as_slice().min(pnr.as_slice());
                        if ours < theirs {
                            victim = our_spi;
                        }
                    }
                    if super::informational::start_delete_child(sa, now, shared, victim).is_err() {
                        shared.events.push_back(Event::ChildFailed {
                            ike_sa: sa.id,
                            child: Some(config),
                            reason: "could not delete the rekeyed CHILD_SA".into(),
                        });
                    }
                }
                Err(e) => shared.events.push_back(Event::ChildFailed {
                    ike_sa: sa.id,
                    child: Some(config),
                    reason: e.to_string(),
                }),
            }
            Ok(())
        }
        Pending::RekeyIke { new_spi, ni, ke } => {
            let r = (|| -> Result<(IkeSa, Vec<u8>), Error> {
                if let Some(t) = error_notify(p) {
                    return Err(PeerIncompatible::PeerRejected(t).into());
                }
                let sa_p = find_sa(p).ok_or_else(|| missing(PayloadType::SA))?;
                let nr = find_nonce(p).ok_or_else(|| missing(PayloadType::NONCE))?;
                let theirs = find_ke(p).ok_or_else(|| missing(PayloadType::KE))?;
                let chosen = proposal::validate_response(&sa.cfg.ike_proposals, &sa_p.proposals)?;
                let peer_spi = <[u8; 8]>::try_from(chosen.peer_spi.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| proposal::ResponseError::BadSpi(chosen.peer_spi.len()))?;
                let g = chosen.ke_method().unwrap_or_default();
                if theirs.method != g || ke.group() != g {
                    return Err(PeerMisbehaved::KeGroupMismatch {
                        got: theirs.method,
                        chosen: g,
                    }
                    .into());
                }
                let g_ir = ke.complete(&theirs.data)?;
                rekeyed_sa(
                    sa,
                    shared,
                    &chosen,
                    &g_ir,
                    &ni,
                    &nr.data,
                    new_spi,
                    peer_spi,
                    Role::Initiator,
                )
                .map(|new| (new, nr.data.clone()))
            })();
            let collision = sa.ike_collision.take();
            match r {
                Ok((mut new, nr)) => {
                    if let Some((theirs_id, pni, pnr)) = &collision {
                        // §2.8.2: the new IKE SA from the exchange holding
                        // the lowest of the four nonces is redundant; its
                        // initiator deletes it, the other one deletes the
                        // old SA.
                        let ours = ni.as_slice().min(nr.as_slice());
                        let theirs = pni.as_slice().min(pnr.as_slice());
                        if ours < theirs {
                            shared.child_moves.push((sa.id, *theirs_id));
                            new.delete_on_adopt = true;
                            shared.events.push_back(Event::IkeRekeyed {
                                old: sa.id,
                                new: *theirs_id,
                            });
                            shared.new_sas.push(new);
                            return Ok(());
                        }
                    }
                    if let Some((theirs_id, _, _)) = collision {
                        // We won (§2.8.2): the peer's new IKE SA is
                        // redundant and the peer is to delete it. A peer
                        // that sees our Delete of the old SA before our
                        // response to its rekey never completes that SA
                        // (strongSwan 5.9 then gives up its own rekey), so
                        // the endpoint deletes it after a grace period.
                        shared.redundant.push(theirs_id);
                    }
                    adopt(sa, shared, new, now);
                    // The requester deletes the old IKE SA (§1.3.2).
                    if let Err(e) = super::informational::start_delete(sa, now, shared) {
                        return Err(Rejected::Fatal {
                            respond: None,
                            error: e,
                        });
                    }
                }
                Err(e) => {
                    if let Some((theirs_id, _, _)) = collision {
                        // The peer's rekey of this SA succeeded where ours
                        // failed: its new IKE SA takes the CHILD_SAs.
                        shared.child_moves.push((sa.id, theirs_id));
                        shared.events.push_back(Event::IkeRekeyed {
                            old: sa.id,
                            new: theirs_id,
                        });
                    }
                    shared.events.push_back(Event::ChildFailed {
                        ike_sa: sa.id,
                        child: None,
                        reason: format!("IKE rekey: {e}"),
                    });
                }
            }
            Ok(())
        }
    }
}
