//! Road-warrior pieces shared by the scenarios in which a client gets a
//! virtual IP from ikegw's pool (`tests/rw_strongswan.rs`,
//! `tests/rw_eap.rs`): the lease as ikegw's CHILD SA shows it, the wait
//! until it is routed into ikegw's TUN, the leases `ikegw list-pools`
//! reports, and strongSwan's connection turned into a road warrior's.
//!
//! ikegw narrows the CHILD SA's remote selector to the address it leased
//! in the configuration payload (RFC 7296 §2.19, §3.15), so the first
//! remote selector, a host prefix, is the VIP.

use std::path::Path;
use std::time::Duration;

use crate::ikegw::{IkeSa, Ikegw, Mixed, TUN};
use crate::netns::{ip_in, Site};
use crate::strongswan::{Charon, Conn};
use crate::{proc, Error, Result};

/// How long a road warrior may take to be up with its VIP routed.
const UP_LIMIT: Duration = Duration::from_secs(20);

/// The address ikegw leased to a road warrior: the first remote selector,
/// without its host `suffix` (`/32`, `/128`), of a CHILD SA of an
/// ESTABLISHED IKE SA (with the peer `identity`, when given).
pub fn leased_vip(sas: &[IkeSa], identity: Option<&str>, suffix: &str) -> Option<String> {
    sas.iter()
        .filter(|sa| sa.state == "ESTABLISHED" && identity.is_none_or(|id| sa.remote_id == id))
        .flat_map(|sa| sa.children.iter())
        .find_map(|c| c.remote_ts.first()?.strip_suffix(suffix))
        .map(str::to_owned)
}

/// Whether `ip route show ADDR` in the namespace `ns` (ikegw's gateway)
/// sends `addr` into ikegw's TUN (`-6` for an IPv6 address).
pub fn routed_into_tun(ns: &str, addr: &str, scratch: &Path) -> Result<bool> {
    let family = if addr.contains(':') { "-6" } else { "-4" };
    let r = ip_in(ns, &[family, "route", "show", addr], scratch)?;
    Ok(r.stdout.contains(TUN))
}

/// What [`wait_leased_vip`] waits for.
#[derive(Clone, Copy, Debug)]
pub struct VipWait<'a> {
    /// The wait, as a timeout names it.
    pub what: &'a str,
    /// Only the lease of this peer identity (any, when `None`).
    pub identity: Option<&'a str>,
    /// The lease's host prefix: `/32` or `/128`.
    pub suffix: &'a str,
    /// Also wait until strongSwan lists its CHILD SA INSTALLED.
    pub strongswan_installed: bool,
}

impl<'a> VipWait<'a> {
    /// Any peer's IPv4 lease (`/32`), whatever strongSwan lists.
    pub fn new(what: &'a str) -> Self {
        Self {
            what,
            identity: None,
            suffix: "/32",
            strongswan_installed: false,
        }
    }
}

/// Waits (20 s) until both daemons are alive (an error when one is not),
/// ikegw has leased a VIP ([`leased_vip`]) and routes it into its TUN in
/// its namespace `gw_ns`, and, when asked, strongSwan has its CHILD SA
/// INSTALLED. Returns the VIP.
pub fn wait_leased_vip(
    w: &VipWait<'_>,
    ikegw: &mut Ikegw,
    charon: &mut Charon,
    gw_ns: &str,
    scratch: &Path,
) -> Result<String> {
    proc::wait_for(w.what, UP_LIMIT, || {
        ikegw.check_alive()?;
        charon.check_alive()?;
        if w.strongswan_installed && !charon.child_installed()? {
            return Ok(None);
        }
        let Some(vip) = leased_vip(&ikegw.list_sas()?, w.identity, w.suffix) else {
            return Ok(None);
        };
        Ok(routed_into_tun(gw_ns, &vip, scratch)?.then_some(vip))
    })
}

/// [`wait_leased_vip`] in a [`Mixed`] scenario.
pub fn wait_vip(m: &mut Mixed, w: &VipWait<'_>) -> Result<String> {
    let gw_ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    wait_leased_vip(w, &mut m.ikegw, &mut m.charon, &gw_ns, &scratch)
}

/// Checks that `vip` comes from the pool whose addresses start with
/// `prefix` (`10.3.0.`, `fd00:3::`); the failed check is named `what`.
pub fn check_from_pool(what: &str, vip: &str, prefix: &str) -> Result<()> {
    crate::check(
        what,
        vip.starts_with(prefix),
        format!("{vip} is not in the pool {prefix}*"),
    )
}

/// One lease of `ikegw list-pools`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The pool's name.
    pub pool: String,
    /// The client's IKE identity.
    pub identity: String,
    /// The leased address.
    pub addr: String,
    /// Whether the client holds it now (an IKE SA is up).
    pub online: bool,
}

/// Every lease of every pool, as `ikegw list-pools` reports them, in order.
pub fn leases(ikegw: &Ikegw) -> Result<Vec<Lease>> {
    let pools: serde_json::Value = serde_json::from_str(&ikegw.verb(&["list-pools"])?)
        .map_err(|e| Error::Check(format!("list-pools: {e}")))?;
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = Vec::new();
    let all = pools.get("pools").and_then(serde_json::Value::as_array);
    for pool in all.into_iter().flatten() {
        let leased = pool.get("leases").and_then(serde_json::Value::as_array);
        for l in leased.into_iter().flatten() {
            out.push(Lease {
                pool: text(pool, "name"),
                identity: text(l, "identity"),
                addr: text(l, "addr"),
                online: l.get("online") == Some(&serde_json::Value::Bool(true)),
            });
        }
    }
    Ok(out)
}

/// strongSwan's connection as a road warrior's: its own selector left to
/// the address it is given (`dynamic`), and `vips` (e.g. `0.0.0.0, ::`)
/// asked for in the configuration payload.
pub fn road_warrior_client(c: &mut Conn, vips: &str) {
    c.local = Site {
        lan_net: "dynamic",
        ..c.local
    };
    c.extra_conn.push_str(&format!("vips = {vips}\n"));
}
