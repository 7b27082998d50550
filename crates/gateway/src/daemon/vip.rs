//! Road warriors (#10): the lease store ([`crate::pool::PoolStore`]) seen
//! by the IKE core as its [`AddressProvider`], the configuration payload
//! settings of a connection, and the virtual IPs the peer assigned to us
//! put on the TUN device.
//!
//! The store is shared (`Arc<Mutex<…>>`): the core owns its provider, but
//! a reload builds a new core and must keep the same leases, and the
//! control socket lists them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ike::io::IkeSaId;
use ike::sa::{AddressError, AddressProvider, RemoteAccess};
use tracing::{info, warn};

use crate::config::{Config, Connection};
use crate::control::proto::{LeaseView, PoolView};
use crate::pool::{LoadOutcome, PoolError, PoolStatus, PoolStore};

/// File name of the lease store under `[daemon] state_dir`.
pub(crate) const LEASE_FILE: &str = "leases.json";

/// What a connection asks for and hands out in configuration payloads
/// (RFC 7296 §3.15, RFC 8598): its `vips`, its `pools`, and the DNS
/// servers, split-tunnel networks and split-DNS domains of those pools.
pub(crate) fn remote_access(cfg: &Config, c: &Connection) -> RemoteAccess {
    let mut ra = RemoteAccess {
        vips: c.vips.clone(),
        pools: c.pools.clone(),
        ..RemoteAccess::default()
    };
    for name in &c.pools {
        let Some(p) = cfg.pools.iter().find(|p| &p.name == name) else {
            continue;
        };
        for d in &p.dns {
            if !ra.dns.contains(d) {
                ra.dns.push(*d);
            }
        }
        for s in &p.split_include {
            if !ra.subnets.contains(&(s.addr, s.prefix)) {
                ra.subnets.push((s.addr, s.prefix));
            }
        }
        for d in &p.split_dns {
            if !ra.dns_domains.contains(d) {
                ra.dns_domains.push(d.clone());
            }
        }
    }
    ra
}

/// The daemon's pools: the lease store and each pool's family.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pools {
    inner: Option<Arc<Mutex<PoolStore>>>,
}

impl Pools {
    /// Opens the lease store of `cfg`'s pools under `state_dir` (none when
    /// no pool is configured).
    pub(crate) fn open(cfg: &Config) -> Result<Self, PoolError> {
        if cfg.pools.is_empty() {
            return Ok(Self::default());
        }
        let dir = &cfg.daemon.state_dir;
        let path: PathBuf = dir.join(LEASE_FILE);
        std::fs::create_dir_all(dir).map_err(|source| PoolError::Save {
            path: path.clone(),
            source,
        })?;
        let specs: Vec<_> = cfg.pools.iter().map(|p| p.spec()).collect();
        let (store, outcome) = PoolStore::open(&path, &specs)?;
        match outcome {
            LoadOutcome::Loaded => info!("leases restored from {}", path.display()),
            LoadOutcome::Fresh => info!("no lease file yet at {}", path.display()),
            LoadOutcome::RecoveredFromPrevious { reason } => warn!(
                "lease file {} unusable ({reason}); restored the previous copy",
                path.display()
            ),
            LoadOutcome::Unusable { reason } => warn!(
                "lease file {} and its previous copy unusable ({reason}); every pool starts empty",
                path.display()
            ),
        }
        Ok(Self {
            inner: Some(Arc::new(Mutex::new(store))),
        })
    }

    /// Applies a reloaded configuration's `[pools]` (see
    /// [`PoolStore::reconfigure`]): one line per change or refusal.
    pub(crate) fn reconfigure(&self, cfg: &Config) -> Vec<Result<String, String>> {
        let Some(store) = &self.inner else {
            if cfg.pools.is_empty() {
                return Vec::new();
            }
            return vec![Err(
                "the first [pools] entry takes effect after a restart (the daemon started without pools)".into(),
            )];
        };
        let Ok(mut s) = store.lock() else {
            return vec![Err("lease store poisoned".into())];
        };
        let specs: Vec<_> = cfg.pools.iter().map(|p| p.spec()).collect();
        s.reconfigure(&specs)
    }

    /// The core's view of the store, when there are pools.
    pub(crate) fn provider(&self) -> Option<Box<dyn AddressProvider>> {
        self.inner.as_ref()?;
        Some(Box::new(self.clone()))
    }

    /// Status and leases of every pool, for `ikegw list-pools`.
    pub(crate) fn views(&self) -> Vec<PoolView> {
        let Some(store) = &self.inner else {
            return Vec::new();
        };
        let Ok(s) = store.lock() else {
            return Vec::new();
        };
        s.list()
            .into_iter()
            .map(|st: PoolStatus| {
                let leases = s
                    .pool(&st.name)
                    .map(|p| p.leases())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| LeaseView {
                        addr: l.addr.to_string(),
                        identity: l.identity,
                        online: l.online,
                    })
                    .collect();
                PoolView {
                    name: st.name,
                    first: st.first.to_string(),
                    last: st.last.to_string(),
                    size: st.size.to_string(),
                    online: st.online,
                    offline: st.offline,
                    leases,
                }
            })
            .collect()
    }
}

fn save(store: &PoolStore) {
    // A lease that could not be stored still serves the peer now; only
    // its stickiness across a crash is lost, which is not worth refusing
    // the connection over.
    if let Err(e) = store.save() {
        warn!("{}", crate::error_chain(&e));
    }
}

impl AddressProvider for Pools {
    fn acquire(
        &mut self,
        identity: &str,
        pools: &[String],
        requested: IpAddr,
    ) -> Result<IpAddr, AddressError> {
        let Some(store) = &self.inner else {
            return Err(AddressError::NoPool(pools.join(",")));
        };
        // The core asks per family (RFC 7296 §3.15.1: one attribute per
        // family); only pools of that family can answer.
        let mut s = store
            .lock()
            .map_err(|_| AddressError::Other("lease store poisoned".into()))?;
        let names: Vec<&str> = pools
            .iter()
            .filter(|n| {
                s.pool(n.as_str())
                    .is_some_and(|p| p.is_ipv4() == requested.is_ipv4())
            })
            .map(String::as_str)
            .collect();
        if names.is_empty() {
            return Err(AddressError::NoPool(format!(
                "no IPv{} pool among {}",
                if requested.is_ipv4() { 4 } else { 6 },
                pools.join(",")
            )));
        }
        let want = (!requested.is_unspecified()).then_some(requested);
        match s.acquire(&names, identity, want) {
            Ok(a) => {
                save(&s);
                info!("leased {a} to {identity}");
                Ok(a)
            }
            Err(e @ PoolError::Exhausted { .. }) => Err(AddressError::Exhausted(e.to_string())),
            Err(e @ PoolError::UnknownPool(_)) => Err(AddressError::NoPool(e.to_string())),
            Err(e) => Err(AddressError::Other(e.to_string())),
        }
    }

    fn release(&mut self, identity: &str, addr: IpAddr) {
        let Some(store) = &self.inner else { return };
        let Ok(mut s) = store.lock() else { return };
        match s.release(identity, addr) {
            Ok(()) => {
                save(&s);
                info!("lease of {addr} by {identity} released");
            }
            Err(e) => warn!("release of {addr} by {identity}: {e}"),
        }
    }
}

/// Virtual IPs the peers assigned to us, put on the TUN device.
#[derive(Debug, Default)]
pub(crate) struct OurVips {
    /// The TUN device (`--tun`); without it there is nowhere to put them.
    tun: Option<String>,
    installed: BTreeMap<IkeSaId, Vec<IpAddr>>,
}

impl OurVips {
    /// Puts virtual IPs on `tun`, when there is one.
    pub(crate) fn new(tun: Option<String>) -> Self {
        Self {
            tun,
            installed: BTreeMap::new(),
        }
    }

    /// `addrs` were assigned to us on `ike_sa`: `ip addr add VIP/32 dev
    /// TUN`, so that traffic routed into the TUN leaves with the VIP as
    /// its source (the only address of the device).
    pub(crate) fn assigned(&mut self, ike_sa: IkeSaId, addrs: &[IpAddr]) {
        let Some(tun) = self.tun.clone() else {
            warn!("virtual IPs assigned but no --tun device to put them on");
            return;
        };
        for a in addrs {
            ip(&["addr", "replace", &host(*a), "dev", &tun]);
        }
        self.installed.entry(ike_sa).or_default().extend(addrs);
    }

    /// A CHILD_SA of `ike_sa` carries `remote` (a prefix): route it with
    /// our VIP as source, so the kernel does not pick another address.
    pub(crate) fn child(&self, ike_sa: IkeSaId, remote: Option<(IpAddr, u8)>) {
        let (Some(tun), Some((net, len))) = (&self.tun, remote) else {
            return;
        };
        let Some(src) = self
            .installed
            .get(&ike_sa)
            .and_then(|v| v.iter().find(|a| a.is_ipv4() == net.is_ipv4()))
        else {
            return;
        };
        ip(&[
            "route",
            "replace",
            &format!("{net}/{len}"),
            "dev",
            tun,
            "src",
            &src.to_string(),
        ]);
    }

    /// The IKE SA is gone: take its addresses off the TUN.
    pub(crate) fn gone(&mut self, ike_sa: IkeSaId) {
        let (Some(tun), Some(addrs)) = (&self.tun, self.installed.remove(&ike_sa)) else {
            return;
        };
        for a in addrs {
            ip(&["addr", "del", &host(a), "dev", tun]);
        }
    }

    /// The successor of a rekeyed IKE SA keeps the addresses.
    pub(crate) fn rekeyed(&mut self, old: IkeSaId, new: IkeSaId) {
        if let Some(v) = self.installed.remove(&old) {
            self.installed.insert(new, v);
        }
    }

    /// Shutdown: remove every address we added.
    pub(crate) fn clear(&mut self) {
        let ids: Vec<IkeSaId> = self.installed.keys().copied().collect();
        for id in ids {
            self.gone(id);
        }
    }
}

fn host(a: IpAddr) -> String {
    format!("{a}/{}", if a.is_ipv4() { 32 } else { 128 })
}

fn ip(args: &[&str]) {
    let text = args.join(" ");
    match std::process::Command::new("ip").args(args).status() {
        Ok(s) if s.success() => info!("ip {text}"),
        Ok(s) => warn!("ip {text} failed ({s})"),
        Err(e) => warn!("cannot run ip {text}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::from_str(
            std::path::Path::new("/nonexistent-dir/ikegw.toml"),
            text.to_owned(),
        )
        .unwrap()
    }

    #[test]
    fn provider_picks_a_pool_of_the_requested_family_and_is_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(&format!(
            r#"[daemon]
state_dir = "{}"
[pools.v6]
addrs = "fd00::/120"
[pools.v4]
addrs = "10.3.0.0/24"
"#,
            dir.path().display()
        ));
        let pools = Pools::open(&c).unwrap();
        let mut p = pools.provider().unwrap();
        let names = vec!["v6".to_owned(), "v4".to_owned()];
        let a = p
            .acquire("alice", &names, "0.0.0.0".parse().unwrap())
            .unwrap();
        assert!(a.is_ipv4(), "{a}");
        let b = p.acquire("alice", &names, "::".parse().unwrap()).unwrap();
        assert!(b.is_ipv6(), "{b}");
        p.release("alice", a);
        // Persisted: a fresh store (a restarted daemon) gives alice the
        // same address again.
        let mut q = Pools::open(&c).unwrap().provider().unwrap();
        let again = q
            .acquire("alice", &names, "0.0.0.0".parse().unwrap())
            .unwrap();
        assert_eq!(again, a);
        let err = q
            .acquire("alice", &["v4".to_owned()], "::".parse().unwrap())
            .unwrap_err();
        assert!(matches!(err, AddressError::NoPool(_)), "{err:?}");
        let listed = pools.views();
        assert_eq!(listed.len(), 2);
        let v4 = listed.iter().find(|p| p.name == "v4").unwrap();
        assert_eq!(v4.leases.len(), 1, "{listed:?}");
        assert_eq!(v4.leases[0].addr, a.to_string());
        assert_eq!(v4.leases[0].identity, "alice");
    }
}
