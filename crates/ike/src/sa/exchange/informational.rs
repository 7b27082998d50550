//! INFORMATIONAL (RFC 7296 §1.4): deleting the IKE SA or CHILD_SAs
//! (§1.4.1) and liveness checks (empty INFORMATIONAL, §2.4).

use std::time::Instant;

use crate::error::{Error, LocalError};
use crate::io::Event;
use crate::sa::ike_sa::{Established, IkeSa, Outstanding, Rejected, Shared, State};
use crate::sa::timer::Timer;
use crate::wire::{Delete, ExchangeType, NotifyType, Payload, ProtocolId};

/// What our outstanding INFORMATIONAL request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingKind {
    DeleteIke,
    /// By our inbound SPI.
    DeleteChild(u32),
    Dpd,
}

fn begin(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    kind: PendingKind,
    inner: &[Payload],
) -> Result<(), Error> {
    let State::Established(_) = &sa.state else {
        return Err(LocalError::NoSuchSa.into());
    };
    sa.send_request(now, shared, ExchangeType::INFORMATIONAL, inner)?;
    if let State::Established(s) = &mut sa.state {
        s.pending = Some(Outstanding::Info(kind));
    }
    Ok(())
}

/// Sends Delete for the IKE SA (RFC 7296 §1.4.1).
pub(crate) fn start_delete(sa: &mut IkeSa, now: Instant, shared: &mut Shared) -> Result<(), Error> {
    let d = Payload::Delete(Delete {
        protocol: ProtocolId::IKE,
        spis: Vec::new(),
    });
    begin(sa, now, shared, PendingKind::DeleteIke, &[d])
}

/// Sends Delete for one CHILD_SA, naming our inbound SPI (RFC 7296 §3.11).
pub(crate) fn start_delete_child(
    sa: &mut IkeSa,
    now: Instant,
    shared: &mut Shared,
    inbound_spi: u32,
) -> Result<(), Error> {
    if !sa.children.iter().any(|c| c.inbound_spi == inbound_spi) {
        return Err(LocalError::NoSuchSa.into());
    }
    let d = Payload::Delete(Delete {
        protocol: ProtocolId::ESP,
        spis: vec![inbound_spi.to_be_bytes().to_vec()],
    });
    begin(sa, now, shared, PendingKind::DeleteChild(inbound_spi), &[d])
}

/// Sends an empty INFORMATIONAL as a liveness check (RFC 7296 §2.4).
pub(crate) fn start_dpd(sa: &mut IkeSa, now: Instant, shared: &mut Shared) -> Result<(), Error> {
    begin(sa, now, shared, PendingKind::Dpd, &[])
}

fn rearm_dpd(sa: &mut IkeSa, now: Instant) {
    if let Some(d) = sa.cfg.dpd_delay {
        sa.timers.set(Timer::Dpd, now + d);
    }
}

/// Responder side of INFORMATIONAL.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    s: Established,
    now: Instant,
    shared: &mut Shared,
    msg_id: u32,
    p: &[Payload],
) -> Result<(), Rejected> {
    sa.state = State::Established(Box::new(s));
    rearm_dpd(sa, now);
    let mut out = Vec::new();
    let mut delete_ike = false;
    let mut ours = Vec::new();
    for d in p.iter().filter_map(|x| {
        if let Payload::Delete(d) = x {
            Some(d)
        } else {
            None
        }
    }) {
        match d.protocol {
            ProtocolId::IKE => delete_ike = true,
            ProtocolId::ESP | ProtocolId::AH => {
                // The peer names its inbound SPIs, which are our outbound
                // ones; we answer with our inbound SPIs (RFC 7296 §1.4.1).
                for spi in &d.spis {
                    let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                        continue;
                    };
                    let spi = u32::from_be_bytes(b);
                    if let Some(pos) = sa.children.iter().position(|c| c.outbound_spi == spi) {
                        let c = sa.children.remove(pos);
                        shared.kernel_request(c.delete_request(sa.id, sa.path));
                        shared.events.push_back(Event::ChildDeleted {
                            ike_sa: sa.id,
                            inbound_spi: c.inbound_spi,
                        });
                        ours.push(c.inbound_spi.to_be_bytes().to_vec());
                    }
                }
            }
            _ => {}
        }
    }
    if !ours.is_empty() && !delete_ike {
        out.push(Payload::Delete(Delete {
            protocol: ProtocolId::ESP,
            spis: ours,
        }));
    }
    // The initiator refused our AUTH after we had answered IKE_AUTH and
    // says so in its own INFORMATIONAL (RFC 7296 §2.21.2): the SA is dead.
    let auth_failed = p.iter().any(
        |x| matches!(x, Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED),
    );
    if auth_failed {
        delete_ike = true;
    }
    if delete_ike {
        // An empty response acknowledges the IKE SA's deletion (§1.4.1).
        out.clear();
    }
    sa.send_response(shared, ExchangeType::INFORMATIONAL, msg_id, &out)
        .map_err(|e| Rejected::Fatal {
            respond: None,
            error: e,
        })?;
    if delete_ike {
        if let Some((theirs, _, _)) = sa.ike_collision.take() {
            // Both sides rekeyed this IKE SA and the peer, having won,
            // deletes it before answering our own rekey (or without having
            // seen it): its new IKE SA, which we answered, takes the
            // CHILD_SAs (RFC 7296 §2.8.2). The endpoint moves them before
            // it removes this SA.
            shared.child_moves.push((sa.id, theirs));
            shared.events.push_back(Event::IkeRekeyed {
                old: sa.id,
                new: theirs,
            });
        } else {
            sa.delete_children(shared);
        }
        sa.state = State::Closed;
        shared.events.push_back(Event::Deleted {
            ike_sa: sa.id,
            reason: if auth_failed {
                "peer rejected our authentication (AUTHENTICATION_FAILED)"
            } else if sa.superseded {
                "rekeyed"
            } else {
                "deleted by peer"
            }
            .into(),
        });
    }
    Ok(())
}

/// Requester side: the response to our INFORMATIONAL.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    mut s: Established,
    now: Instant,
    shared: &mut Shared,
    _exchange: ExchangeType,
    _p: &[Payload],
) -> Result<(), Rejected> {
    let kind = match s.pending.take() {
        Some(Outstanding::Info(k)) => Some(k),
        _ => None,
    };
    sa.state = State::Established(Box::new(s));
    rearm_dpd(sa, now);
    match kind {
        Some(PendingKind::DeleteIke) => {
            sa.delete_children(shared);
            sa.state = State::Closed;
            shared.events.push_back(Event::Deleted {
                ike_sa: sa.id,
                reason: if sa.superseded {
                    "rekeyed"
                } else {
                    "deleted by us"
                }
                .into(),
            });
        }
        Some(PendingKind::DeleteChild(spi)) => {
            if let Some(pos) = sa.children.iter().position(|c| c.inbound_spi == spi) {
                let c = sa.children.remove(pos);
                shared.kernel_request(c.delete_request(sa.id, sa.path));
                shared.events.push_back(Event::ChildDeleted {
                    ike_sa: sa.id,
                    inbound_spi: spi,
                });
            }
        }
        Some(PendingKind::Dpd) | None => {}
    }
    Ok(())
}
