//! `ikegw reload` / SIGHUP: re-read the file and hand the new peer table to
//! the core with [`Endpoint::reconfigure`](ike::sa::Endpoint::reconfigure),
//! so connections whose settings did not change keep their IKE and CHILD
//! SAs; removed and changed ones are deleted (Delete sent), and changed
//! and added ones start again as their `start_action` says. A connection
//! whose IKE settings stay but whose children differ keeps its IKE SA: only
//! the CHILD_SAs of removed or changed children are deleted, and new or
//! changed children start on it as configured. Trap policies of children
//! that are gone or changed are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ike::sa::PeerConfig;
use tracing::{info, warn};

use super::{Driver, Response};
use crate::config::Config;
use crate::control::proto::ControlError;
use crate::daemon::setup::{self, ConnInfo};

/// The name a child has in the daemon's logs and replies.
fn child_key(i: &ConnInfo) -> String {
    format!("{}/{}", i.conn, i.child)
}

/// What the daemon does with child `i` of `cfg` by itself: its actions.
fn child_actions(
    cfg: &Config,
    i: &ConnInfo,
) -> Option<(
    crate::config::Action,
    crate::config::Action,
    crate::config::DpdAction,
)> {
    let ch = cfg
        .connections
        .iter()
        .filter(|c| c.name == i.conn)
        .flat_map(|c| c.children.iter())
        .find(|ch| ch.name == i.child)?;
    Some((ch.start_action, ch.close_action, ch.dpd_action))
}

/// The child configuration of `i` in `peers`.
fn child_config<'a>(
    peers: &'a [Arc<PeerConfig>],
    i: &ConnInfo,
) -> Option<&'a ike::sa::ChildConfig> {
    let (p, c) = setup::locate(peers, i)?;
    peers.get(p)?.children.get(c)
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
        // Always, not only when [pools] changed: a change refused earlier
        // (an online lease outside the new range) is applied once possible.
        for line in self.pools.reconfigure(&new) {
            match line {
                Ok(l) => info!("reload: {l}"),
                Err(l) => warn!("reload: {l}"),
            }
        }

        // The core compares what it negotiates; what only the daemon acts
        // on per child (start, close and DPD actions) is compared below, so
        // changing it never costs the IKE SA.
        let old_peers: Vec<Arc<PeerConfig>> = self.ep.config().peers.clone();
        let old_info = self.info.clone();
        let now = Instant::now();
        let new_peers = peers.peers.clone();
        let r = self
            .ep
            .reconfigure(now, peers.peers, PeerConfig::same_settings);

        // A child is kept (its CHILD_SAs, trap and state stay) when its
        // connection is unchanged, or keeps its IKE SA and the child's
        // own settings (core's and daemon's) are the same.
        let new_index: BTreeMap<String, usize> = peers
            .info
            .iter()
            .enumerate()
            .map(|(n, i)| (child_key(i), n))
            .collect();
        // `core_kept`: the core kept its CHILD_SAs; `kept`: the daemon's
        // actions for it are the same too, so its trap and retries stay.
        let kept_child = |i: &ConnInfo, daemon: bool| -> Option<usize> {
            let n = *new_index.get(&child_key(i))?;
            let ni = peers.info.get(n)?;
            let stays = r.unchanged.contains(&i.conn)
                || (r.children_changed.contains(&i.conn)
                    && child_config(&old_peers, i) == child_config(&new_peers, ni));
            let same_daemon = ni == i && child_actions(&self.config, i) == child_actions(&new, ni);
            (stays && (same_daemon || !daemon)).then_some(n)
        };
        let map = |daemon: bool| -> BTreeMap<usize, usize> {
            old_info
                .iter()
                .enumerate()
                .filter_map(|(o, i)| kept_child(i, daemon).map(|n| (o, n)))
                .collect()
        };
        let (kept, core_kept) = (map(true), map(false));

        // The views follow their connection to its new index; children
        // follow by name (the core does the same with its CHILD_SAs).
        let conn_index = |name: &str| new_peers.iter().position(|p| p.name == name);
        let stays = |name: &str| {
            r.unchanged
                .iter()
                .chain(&r.children_changed)
                .any(|c| c == name)
        };
        let views: Vec<_> = self.views.keys().copied().collect();
        for id in views {
            let Some(v) = self.views.get_mut(&id) else {
                continue;
            };
            let Some(old) = v.peer.and_then(|p| old_peers.get(p)) else {
                continue;
            };
            if !stays(&old.name) {
                v.peer = None;
                continue;
            }
            let np = conn_index(&old.name);
            let remap = |c: usize| -> Option<usize> {
                let name = &old.children.get(c)?.name;
                let (o, _) = old_info
                    .iter()
                    .enumerate()
                    .find(|(_, i)| i.conn == old.name && &i.child == name)?;
                let n = *core_kept.get(&o)?;
                setup::locate(&new_peers, peers.info.get(n)?).map(|(_, c)| c)
            };
            v.wanted = v.wanted.iter().filter_map(|c| remap(*c)).collect();
            for c in v.children.values_mut() {
                // Being deleted by the core: no name any more.
                c.child = remap(c.child).unwrap_or(usize::MAX);
            }
            v.peer = np;
        }
        let moved = |p: usize| kept.get(&p).copied();
        self.retry = std::mem::take(&mut self.retry)
            .into_iter()
            .filter_map(|(p, w)| moved(p).map(|n| (n, w)))
            .collect();
        self.persistent = std::mem::take(&mut self.persistent)
            .into_iter()
            .filter_map(moved)
            .collect();
        for (p, t) in std::mem::take(&mut self.trapped) {
            match moved(p) {
                Some(n) => {
                    self.trapped.insert(n, t);
                }
                None => self.to_untrap.extend(t),
            }
        }
        self.to_trap = std::mem::take(&mut self.to_trap)
            .into_iter()
            .filter_map(moved)
            .collect();
        self.info = peers.info;
        self.config = new;

        // Children that are new or changed start as configured: on their
        // connection's IKE SA if it stayed, else on a new one.
        let kept_new: BTreeSet<usize> = kept.values().copied().collect();
        for p in 0..self.info.len() {
            if kept_new.contains(&p) {
                continue;
            }
            let name = self.peer_name(Some(p));
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

        // Replies and logs name children (`conn/child`), as before
        // connections carried several.
        let old_keys: BTreeSet<String> = old_info.iter().map(child_key).collect();
        let new_keys: BTreeSet<String> = self.info.iter().map(child_key).collect();
        let unchanged: Vec<String> = kept_new
            .iter()
            .filter_map(|n| self.info.get(*n).map(child_key))
            .collect();
        let added: Vec<String> = new_keys.difference(&old_keys).cloned().collect();
        let removed: Vec<String> = old_keys.difference(&new_keys).cloned().collect();
        let changed: Vec<String> = new_keys
            .intersection(&old_keys)
            .filter(|k| !unchanged.contains(k))
            .cloned()
            .collect();
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
            list(&added),
            list(&removed),
            list(&changed),
            list(&unchanged),
        );
        if !r.children_changed.is_empty() {
            info!(
                "reload: connections keeping their IKE SA with other children: {}",
                r.children_changed.join(" ")
            );
        }
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
            added,
            removed,
            changed,
            unchanged,
        }
    }
}
