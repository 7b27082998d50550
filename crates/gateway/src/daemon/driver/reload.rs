//! `ikegw reload` / SIGHUP: re-read the file and hand the new peer table to
//! the core with [`Endpoint::reconfigure`](ike::sa::Endpoint::reconfigure),
//! so connections whose settings did not change keep their IKE and CHILD
//! SAs; removed and changed ones are deleted (Delete sent), and changed
//! and added ones start again as their `start_action` says.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use ike::sa::PeerConfig;
use tracing::{info, warn};

use super::{Driver, Response};
use crate::config::Config;
use crate::control::proto::ControlError;
use crate::daemon::setup::{self, ConnInfo};

/// The name a peer has in the core and in the daemon's logs.
fn conn_name(i: &ConnInfo) -> String {
    format!("{}/{}", i.conn, i.child)
}

impl Driver {
    /// Re-reads the config file. An invalid file changes nothing.
    pub(super) fn reload(&mut self) -> Response {
        let path: PathBuf = self.config.path.clone();
        let new = match Config::load(&path) {
            Ok(c) => c,
            Err(diags) => {
                let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
                for l in &lines {
                    warn!("reload: {l}");
                }
                warn!(
                    "reload of {} failed; keeping the running configuration",
                    path.display()
                );
                return Response::Error(ControlError::ConfigInvalid { diagnostics: lines });
            }
        };
        let ike_port = self
            .socks
            .port_of(false, true)
            .or_else(|| self.socks.port_of(false, false))
            .unwrap_or(new.daemon.port);
        let peers = match setup::peers(&new, ike_port) {
            Ok(p) => p,
            Err(errs) => {
                let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
                for l in &lines {
                    warn!("reload: {l}");
                }
                warn!(
                    "reload of {} failed; keeping the running configuration",
                    path.display()
                );
                return Response::Error(ControlError::ConfigInvalid { diagnostics: lines });
            }
        };
        if new.daemon != self.config.daemon {
            warn!(
                "reload: [daemon] changes (sockets, backend, logging, retransmission) take effect after a restart"
            );
        }
        if new.pools != self.config.pools {
            warn!("reload: [pools] changes take effect after a restart");
        }

        // What the daemon itself keeps per peer (start_action, selectors
        // for traps) must match too, not only what the core sees.
        let old_info: BTreeMap<String, ConnInfo> = self
            .info
            .iter()
            .map(|i| (conn_name(i), i.clone()))
            .collect();
        let new_info: BTreeMap<String, ConnInfo> = peers
            .info
            .iter()
            .map(|i| (conn_name(i), i.clone()))
            .collect();
        let same = |a: &PeerConfig, b: &PeerConfig| {
            a.same_settings(b) && old_info.get(&a.name) == new_info.get(&b.name)
        };
        let now = Instant::now();
        let r = self.ep.reconfigure(now, peers.peers, same);

        // Move the daemon's per-peer state to the new indexes; peers
        // whose SAs are being deleted lose it (their deletion is ours, so
        // no close_action follows).
        let new_index: BTreeMap<String, usize> = peers
            .info
            .iter()
            .enumerate()
            .map(|(n, i)| (conn_name(i), n))
            .collect();
        let kept = |p: usize| -> Option<usize> {
            let name = conn_name(self.info.get(p)?);
            if r.unchanged.contains(&name) {
                new_index.get(&name).copied()
            } else {
                None
            }
        };
        let views: Vec<_> = self.views.keys().copied().collect();
        for id in views {
            let moved = self.views.get(&id).and_then(|v| v.peer).and_then(kept);
            if let Some(v) = self.views.get_mut(&id) {
                v.peer = moved;
            }
        }
        self.retry = std::mem::take(&mut self.retry)
            .into_iter()
            .filter_map(|(p, w)| kept(p).map(|n| (n, w)))
            .collect();
        self.persistent = std::mem::take(&mut self.persistent)
            .into_iter()
            .filter_map(kept)
            .collect();
        self.trapped = std::mem::take(&mut self.trapped)
            .into_iter()
            .filter_map(kept)
            .collect();
        self.to_trap = std::mem::take(&mut self.to_trap)
            .into_iter()
            .filter_map(kept)
            .collect();
        self.info = peers.info;
        self.config = new;

        // Changed and added peers start as configured.
        for name in r.changed.iter().chain(&r.added) {
            let Some(&p) = new_index.get(name) else {
                continue;
            };
            if self.info.get(p).is_some_and(|i| i.start) {
                self.persistent.insert(p);
                if let Response::Error(e) = self.initiate(p) {
                    warn!("reload: initiating {name}: {e}");
                    self.schedule_retry(p, now);
                }
            } else if self.is_trap(p) {
                self.to_trap.push(p);
            }
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(" ")
            }
        };
        info!(
            "reloaded {}: added {}; removed {}; changed {}; unchanged {}",
            path.display(),
            list(&r.added),
            list(&r.removed),
            list(&r.changed),
            list(&r.unchanged),
        );
        if !r.deleted.is_empty() {
            let ids: Vec<String> = r.deleted.iter().map(ToString::to_string).collect();
            info!(
                "reload: deleting IKE SAs of removed or changed connections: {}",
                ids.join(" ")
            );
        }
        Response::Reloaded {
            connections: self.info.len(),
            applied: true,
            added: r.added,
            removed: r.removed,
            changed: r.changed,
            unchanged: r.unchanged,
        }
    }
}
