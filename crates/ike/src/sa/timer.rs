//! Per-IKE-SA deadlines: a closed enum indexing an array (the quinn-proto
//! `TimerTable` idea). The core holds no timer objects; the driver sleeps
//! until [`Endpoint::poll_timeout`](super::Endpoint::poll_timeout).

use std::time::Instant;

/// The deadlines one IKE SA can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Resend the outstanding request, or give up (RFC 7296 §2.1).
    Retransmit,
    /// Send a liveness check after this much silence (RFC 7296 §2.4).
    Dpd,
    /// Drop a responder's half-open SA that never saw IKE_AUTH.
    HalfOpen,
    /// Send a NAT-T keepalive (RFC 3948 §4) to keep our NAT mapping.
    Keepalive,
    /// Rekey the IKE SA (RFC 7296 §2.8).
    IkeRekey,
    /// Delete the peer's redundant IKE SA from a simultaneous IKE rekey
    /// that we won, if the peer has not deleted it by then (RFC 7296
    /// §2.8.2 leaves that to the peer, which may never do it).
    RedundantIke,
}

impl Timer {
    const ALL: [Self; 6] = [
        Self::Retransmit,
        Self::Dpd,
        Self::HalfOpen,
        Self::Keepalive,
        Self::IkeRekey,
        Self::RedundantIke,
    ];

    const fn index(self) -> usize {
        match self {
            Self::Retransmit => 0,
            Self::Dpd => 1,
            Self::HalfOpen => 2,
            Self::Keepalive => 3,
            Self::IkeRekey => 4,
            Self::RedundantIke => 5,
        }
    }
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable([Option<Instant>; 6]);

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.0.get_mut(t.index()) {
            *slot = Some(at);
        }
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        if let Some(slot) = self.0.get_mut(t.index()) {
            *slot = None;
        }
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.0.get(t.index()).copied().flatten()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The timers due at `now`, in a fixed order, cleared as they are returned.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        for t in Timer::ALL {
            if self.get(t).is_some_and(|at| at <= now) {
                self.stop(t);
                out.push(t);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn returns_the_earliest_and_fires_only_due_timers() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Dpd, t0 + Duration::from_secs(30));
        t.set(Timer::Retransmit, t0 + Duration::from_secs(4));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(
            t.expired(t0 + Duration::from_secs(5)),
            vec![Timer::Retransmit]
        );
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(30)));
        t.stop(Timer::Dpd);
        assert_eq!(t.next(), None);
    }
}
