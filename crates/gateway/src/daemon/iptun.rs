//! IP tunnel links for tunnel-mode IPsec through the illumos kernel.
//!
//! illumos keeps tunnel-mode policy only on the policy head of an IP
//! tunnel link (reference §6.5): the link's endpoints are the ESP outer
//! addresses, the rules on its head (PF_POLICY `SPD_EXT_TUN_NAME` = the
//! link's name) select the inner traffic, and routes send that traffic
//! into the link. So the illumos backend makes one link per peer the first
//! time a tunnel-mode CHILD_SA or trap needs it, numbers it once per inner
//! family, routes each of the peer's inner blocks into it, and deletes it
//! when the last CHILD_SA or trap using it goes:
//!
//! ```text
//! dladm create-iptun -t -T ipv4 -a local=OURS,remote=PEER ikegw0
//! ipadm create-ip -t ikegw0
//! ipadm create-addr -t -T static -a local=10.1.0.1,remote=10.2.0.1 ikegw0/v4
//! route -n add -net 10.2.0.0/24 10.2.0.1 -ifp ikegw0
//! ...
//! route -n delete -net 10.2.0.0/24 10.2.0.1 -ifp ikegw0
//! ipadm delete-ip ikegw0
//! dladm delete-iptun -t ikegw0
//! ```
//!
//! The link's inner local address is one of ours inside the CHILD_SA's
//! local selector (so packets the gateway itself sends into the tunnel
//! carry a source the peer's policy accepts), else the outer address; the
//! inner remote address is the first host of the peer's first block, a
//! mere next hop for the routes. Links are temporary (`-t`): a reboot
//! forgets them as it forgets SAs, and a daemon restarting after a crash
//! deletes every `ikegwN` link it finds before anything else. The
//! `ikegw<number>` names are therefore ikegw's own.
//!
//! Commands run on a worker thread, in order, so no IKE exchange waits on
//! dladm; a failure is logged with its command line and stderr, counted,
//! and the link's later steps are skipped. The PF_KEY SAs and PF_POLICY
//! rules do not wait for the link: the kernel creates a policy head for an
//! unknown tunnel name and links it to the tunnel when it appears.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::provision::illumos::parse;
use crate::provision::{Cmd, Runner};

/// Names of the links ikegw makes: this prefix and a number.
pub(crate) const LINK_PREFIX: &str = "ikegw";

const DLADM: &str = "/usr/sbin/dladm";
const IPADM: &str = "/usr/sbin/ipadm";
const ROUTE: &str = "/usr/sbin/route";

/// An address block: (network address, prefix length).
pub(crate) type Net = (IpAddr, u8);

/// Whether `name` is one of ours (`ikegw` and a decimal number).
pub(crate) fn is_ours(name: &str) -> bool {
    name.strip_prefix(LINK_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The commands that create link `name` between our `local` and the
/// peer's `remote` outer address and plumb IP on it.
pub(crate) fn create_cmds(name: &str, local: IpAddr, remote: IpAddr) -> Vec<Cmd> {
    let ttype = if remote.is_ipv4() { "ipv4" } else { "ipv6" };
    let ends = format!("local={local},remote={remote}");
    vec![
        Cmd::new(&[DLADM, "create-iptun", "-t", "-T", ttype, "-a", &ends, name]),
        Cmd::new(&[IPADM, "create-ip", "-t", name]),
    ]
}

/// Numbers one family of point-to-point tunnel link `name` with our
/// address `ours` and the peer's `peer` (ipadm(8): both ends are given
/// for a point-to-point interface; `ours` may be an address another
/// interface has, which makes this one unnumbered). An IPv6 interface
/// needs its addrconf (link-local) address before a static one.
pub(crate) fn number_cmds(name: &str, ours: IpAddr, peer: IpAddr) -> Vec<Cmd> {
    let pair = format!("local={ours},remote={peer}");
    let mut cmds = Vec::new();
    if ours.is_ipv6() {
        cmds.push(Cmd::new(&[
            IPADM,
            "create-addr",
            "-t",
            "-T",
            "addrconf",
            &format!("{name}/v6ll"),
        ]));
    }
    let obj = format!("{name}/{}", if ours.is_ipv4() { "v4" } else { "v6" });
    cmds.push(Cmd::new(&[
        IPADM,
        "create-addr",
        "-t",
        "-T",
        "static",
        "-a",
        &pair,
        &obj,
    ]));
    cmds
}

/// `route add` or `route delete` of `net` via the link's inner peer
/// address `via`, bound to the link itself (`-ifp`: a route bound to no
/// interface may be moved to another one when the link goes, illumos'
/// `ill_downi`).
pub(crate) fn route_cmd(add: bool, name: &str, net: Net, via: IpAddr) -> Cmd {
    let mut argv = vec![ROUTE, "-n", if add { "add" } else { "delete" }];
    if net.0.is_ipv6() {
        argv.push("-inet6");
    }
    let net = format!("{}/{}", net.0, net.1);
    let via = via.to_string();
    argv.extend(["-net", &net, &via, "-ifp", name]);
    Cmd::new(&argv)
}

/// The commands that take link `name` down (its routes first).
pub(crate) fn delete_cmds(name: &str) -> Vec<Cmd> {
    vec![
        Cmd::new(&[IPADM, "delete-ip", name]),
        Cmd::new(&[DLADM, "delete-iptun", "-t", name]),
    ]
}

/// The host next to `net`'s network address (the block's own address
/// for a single host or a /31, /127), used as the link's inner peer.
pub(crate) fn first_host(net: Net) -> IpAddr {
    match net.0 {
        IpAddr::V4(a) if net.1 < 31 => IpAddr::V4(u32::from(a).saturating_add(1).into()),
        IpAddr::V6(a) if net.1 < 127 => IpAddr::V6(u128::from(a).saturating_add(1).into()),
        a => a,
    }
}

/// One step for the worker.
enum Op {
    /// Create link `name` (the commands in order; stop at the first failure).
    Create { name: String, cmds: Vec<Cmd> },
    /// Number one family of `name`: our address inside `ours` (else
    /// `fallback`) to `peer`.
    Number {
        name: String,
        ours: Net,
        fallback: Option<IpAddr>,
        peer: IpAddr,
    },
    /// A route into `name` (skipped when the link is broken).
    Route { name: String, cmd: Cmd },
    /// Take `name` down (routes first); runs even for a broken link, to
    /// clear whatever part of it exists.
    Delete { name: String, cmds: Vec<Cmd> },
    /// Delete every link of ours; reply with their names.
    Cleanup(tokio::sync::oneshot::Sender<Result<Vec<String>, String>>),
    /// Reply once every earlier step has run.
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// The worker: runs steps in order with the runner.
struct Worker {
    runner: Box<dyn Runner + Send>,
    /// Links whose creation failed: their numbering and routes are skipped.
    broken: BTreeSet<String>,
    failures: Arc<AtomicU64>,
}

impl Worker {
    /// Runs `cmd`; a failure is logged, counted and returned as `false`.
    fn run(&mut self, what: &str, cmd: &Cmd) -> bool {
        let line = cmd.display();
        let why = match self.runner.run(cmd) {
            Ok(out) if out.ok() => {
                tracing::debug!("{what}: {line}");
                return true;
            }
            Ok(out) => format!(
                "exited with {}: {}",
                out.code
                    .map_or_else(|| "a signal".to_owned(), |c| c.to_string()),
                out.stderr.trim()
            ),
            Err(e) => crate::error_chain(&e),
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!("{what}: `{line}` {why}");
        false
    }

    /// Our addresses, as `ipadm show-addr` lists them.
    fn our_addrs(&mut self) -> Result<Vec<Net>, String> {
        let cmd = Cmd::new(&[IPADM, "show-addr", "-p", "-o", "addr"]);
        let out = self.runner.run(&cmd).map_err(|e| crate::error_chain(&e))?;
        if !out.ok() {
            return Err(format!("`{}` failed: {}", cmd.display(), out.stderr.trim()));
        }
        // One field: printed as it is, IPv6 colons unescaped; addresses
        // still being configured print as `?`.
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| parse::cidr(l.trim()))
            .collect())
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Create { name, cmds } => {
                self.broken.remove(&name);
                let what = format!("creating IP tunnel link {name}");
                if !cmds.iter().all(|c| self.run(&what, c)) {
                    self.broken.insert(name);
                }
            }
            Op::Number {
                name,
                ours,
                fallback,
                peer,
            } => {
                if self.broken.contains(&name) {
                    return;
                }
                // Not loopback nor link-local: those are no source for
                // packets that leave the host.
                let inside = |a: &IpAddr| {
                    pfkey::dataplane::prefix_covers(ours, *a)
                        && !a.is_loopback()
                        && !pfkey::dataplane::prefix_covers(
                            (
                                IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
                                10,
                            ),
                            *a,
                        )
                };
                let local = match self.our_addrs() {
                    Ok(list) => list.into_iter().map(|n| n.0).find(inside),
                    Err(e) => {
                        tracing::warn!("{name}: cannot list our addresses ({e}); numbering the link with the outer address");
                        None
                    }
                }
                .or(fallback);
                let Some(local) = local else {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "{name}: no address of ours inside {}/{} nor an outer address of that family to number the link's {} side with; traffic of that family is not routed into it",
                        ours.0,
                        ours.1,
                        if ours.0.is_ipv4() { "IPv4" } else { "IPv6" }
                    );
                    return;
                };
                let what = format!("numbering IP tunnel link {name}");
                for c in number_cmds(&name, local, peer) {
                    if !self.run(&what, &c) {
                        break;
                    }
                }
            }
            Op::Route { name, cmd } => {
                if !self.broken.contains(&name) {
                    self.run(&format!("routing into IP tunnel link {name}"), &cmd);
                }
            }
            Op::Delete { name, cmds } => {
                let what = format!("deleting IP tunnel link {name}");
                let broken = self.broken.remove(&name);
                for c in &cmds {
                    // A broken link may lack any part: failures there are
                    // expected and only logged at debug level.
                    if broken {
                        let _ = self.runner.run(c);
                    } else {
                        self.run(&what, c);
                    }
                }
            }
            Op::Cleanup(reply) => {
                let _ = reply.send(self.cleanup());
            }
            Op::Sync(reply) => {
                let _ = reply.send(());
            }
        }
    }

    /// Deletes the links a previous run left (crash, SIGKILL).
    fn cleanup(&mut self) -> Result<Vec<String>, String> {
        let cmd = Cmd::new(&[DLADM, "show-iptun", "-p", "-o", "link"]);
        let out = self.runner.run(&cmd).map_err(|e| crate::error_chain(&e))?;
        if !out.ok() {
            return Err(format!("`{}` failed: {}", cmd.display(), out.stderr.trim()));
        }
        let stale: Vec<String> = parse::names(&out.stdout)
            .into_iter()
            .filter(|n| is_ours(n))
            .collect();
        for name in &stale {
            // The IP interface may never have been plumbed.
            let mut cmds = delete_cmds(name).into_iter();
            if let Some(ip) = cmds.next() {
                let _ = self.runner.run(&ip);
            }
            for c in cmds {
                self.run(&format!("deleting stale IP tunnel link {name}"), &c);
            }
        }
        Ok(stale)
    }
}

/// One peer's link, as far as the daemon has asked for it.
#[derive(Debug)]
struct Link {
    name: String,
    /// Inner peer address of the IPv4 side, once numbered.
    peer_v4: Option<IpAddr>,
    /// Inner peer address of the IPv6 side, once numbered.
    peer_v6: Option<IpAddr>,
    /// Routes added: (block, via).
    routes: Vec<(Net, IpAddr)>,
    /// CHILD_SAs and traps using it.
    users: usize,
}

/// The illumos backend's tunnel links, by peer (outer remote) address.
pub(crate) struct Iptun {
    tx: std_mpsc::Sender<Op>,
    links: BTreeMap<IpAddr, Link>,
    /// The next link's number. Names are not reused within a run: the
    /// kernel drops a link's policy head with the link, so a new link
    /// under the name of one whose deletion is still queued would lose
    /// the rules added for it meanwhile.
    next: u32,
    failures: Arc<AtomicU64>,
}

impl Iptun {
    /// Starts the worker that runs the commands with `runner`.
    pub(crate) fn start(runner: Box<dyn Runner + Send>) -> Self {
        let (tx, rx) = std_mpsc::channel::<Op>();
        let failures = Arc::new(AtomicU64::new(0));
        let mut worker = Worker {
            runner,
            broken: BTreeSet::new(),
            failures: failures.clone(),
        };
        // Ends when the sender (this struct) is dropped.
        std::thread::Builder::new()
            .name("ikegw-iptun".into())
            .spawn(move || {
                while let Ok(op) = rx.recv() {
                    worker.step(op);
                }
            })
            .map_or_else(
                |e| tracing::error!("cannot start the IP tunnel worker: {e}"),
                drop,
            );
        Self {
            tx,
            links: BTreeMap::new(),
            next: 0,
            failures,
        }
    }

    fn send(&self, op: Op) {
        if self.tx.send(op).is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!("the IP tunnel worker is gone; link change not made");
        }
    }

    /// Commands that failed so far.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The link carrying traffic to the peer at `remote`, if there is one.
    pub(crate) fn name_of(&self, remote: IpAddr) -> Option<&str> {
        self.links.get(&remote).map(|l| l.name.as_str())
    }

    /// The link to the peer at `remote` (made on first use), with
    /// `remote_net` routed into it; `local_net` is the selector block on
    /// our side, inside which the link's own inner address is chosen.
    pub(crate) fn link(
        &mut self,
        local: IpAddr,
        remote: IpAddr,
        local_net: Net,
        remote_net: Net,
    ) -> String {
        if !self.links.contains_key(&remote) {
            let name = format!("{LINK_PREFIX}{}", self.next);
            self.next = self.next.wrapping_add(1);
            tracing::info!("IP tunnel link {name}: {local} -> {remote}");
            self.send(Op::Create {
                name: name.clone(),
                cmds: create_cmds(&name, local, remote),
            });
            self.links.insert(
                remote,
                Link {
                    name,
                    peer_v4: None,
                    peer_v6: None,
                    routes: Vec::new(),
                    users: 0,
                },
            );
        }
        let mut ops = Vec::new();
        let Some(link) = self.links.get_mut(&remote) else {
            return String::new();
        };
        let name = link.name.clone();
        let side = if remote_net.0.is_ipv4() {
            &mut link.peer_v4
        } else {
            &mut link.peer_v6
        };
        let peer = match *side {
            Some(p) => p,
            None => {
                let p = first_host(remote_net);
                *side = Some(p);
                ops.push(Op::Number {
                    name: name.clone(),
                    ours: local_net,
                    fallback: (local.is_ipv4() == remote_net.0.is_ipv4()).then_some(local),
                    peer: p,
                });
                p
            }
        };
        let host = (peer, if peer.is_ipv4() { 32 } else { 128 });
        if pfkey::dataplane::prefix_covers(remote_net, remote) {
            // Routing the peer's own address into the link would send the
            // tunnel's outer packets into itself.
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "{name}: {}/{} covers the peer's own address {remote}; not routed into the link (narrow the remote selector)",
                remote_net.0,
                remote_net.1
            );
        } else if remote_net != host && !link.routes.iter().any(|(n, _)| *n == remote_net) {
            link.routes.push((remote_net, peer));
            ops.push(Op::Route {
                name: name.clone(),
                cmd: route_cmd(true, &name, remote_net, peer),
            });
        }
        for op in ops {
            self.send(op);
        }
        name
    }

    /// One more CHILD_SA or trap uses the link to `remote`.
    pub(crate) fn hold(&mut self, remote: IpAddr) {
        if let Some(l) = self.links.get_mut(&remote) {
            l.users = l.users.saturating_add(1);
        }
    }

    /// One CHILD_SA or trap less uses the link to `remote`; the last one
    /// takes the link down.
    pub(crate) fn release(&mut self, remote: IpAddr) {
        let Some(l) = self.links.get_mut(&remote) else {
            return;
        };
        l.users = l.users.saturating_sub(1);
        if l.users == 0 {
            if let Some(l) = self.links.remove(&remote) {
                self.take_down(l);
            }
        }
    }

    /// Takes every link down (shutdown).
    pub(crate) fn release_all(&mut self) {
        for (_, l) in std::mem::take(&mut self.links) {
            self.take_down(l);
        }
    }

    fn take_down(&self, l: Link) {
        tracing::info!(
            "IP tunnel link {}: no CHILD_SA or trap left; deleting it",
            l.name
        );
        let mut cmds: Vec<Cmd> = l
            .routes
            .iter()
            .map(|(net, via)| route_cmd(false, &l.name, *net, *via))
            .collect();
        cmds.extend(delete_cmds(&l.name));
        self.send(Op::Delete { name: l.name, cmds });
    }

    /// Deletes the `ikegwN` links a previous run left; returns their
    /// names (their policy heads are the caller's to flush).
    pub(crate) async fn cleanup(&self, limit: Duration) -> Result<Vec<String>, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Op::Cleanup(tx));
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the IP tunnel worker is gone".into()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        }
    }

    /// Waits until every command asked for so far has run (or `limit`).
    pub(crate) async fn settle(&self, limit: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Op::Sync(tx));
        matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(())))
    }
}

/// A recording runner a test keeps a handle on after the worker took it.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Shared(pub(crate) Arc<std::sync::Mutex<crate::provision::fake::FakeRunner>>);

#[cfg(test)]
impl Runner for Shared {
    fn run(
        &mut self,
        cmd: &Cmd,
    ) -> Result<crate::provision::Output, crate::provision::ProvisionError> {
        self.0
            .lock()
            .map_err(|_| crate::provision::ProvisionError::Precondition("poisoned".into()))?
            .run(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Net {
        let (a, p) = s.split_once('/').unwrap();
        (ip(a), p.parse().unwrap())
    }

    /// The link to `peer` from our 192.0.2.1, for `theirs` behind it and
    /// `ours` on our side.
    fn link(t: &mut Iptun, peer: &str, ours: &str, theirs: &str) -> String {
        t.link(ip("192.0.2.1"), ip(peer), net(ours), net(theirs))
    }

    const SHOW_ADDR: &str = "/usr/sbin/ipadm show-addr -p -o addr";

    fn setup() -> (Shared, Iptun) {
        let r = Shared::default();
        r.0.lock().unwrap().ok(
            SHOW_ADDR,
            "127.0.0.1/8\n192.0.2.1/24\n10.1.0.1/24\n?\n::1/128\nfd00:1::1/64\n",
        );
        let t = Iptun::start(Box::new(r.clone()));
        (r, t)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn ran(r: &Shared, t: &Iptun) -> Vec<String> {
        assert!(rt().block_on(t.settle(Duration::from_secs(5))));
        std::mem::take(&mut r.0.lock().unwrap().log)
    }

    #[test]
    fn only_ikegw_and_a_number_is_ours() {
        assert!(is_ours("ikegw0"));
        assert!(is_ours("ikegw12"));
        for n in [
            "ikegw", "ikegw.0", "ikegwx", "ip.tun0", "xikegw0", "ikegw0a",
        ] {
            assert!(!is_ours(n), "{n}");
        }
    }

    #[test]
    fn first_host_is_the_next_address_except_for_single_hosts() {
        assert_eq!(first_host(net("10.2.0.0/24")), ip("10.2.0.1"));
        assert_eq!(first_host(net("10.9.0.7/32")), ip("10.9.0.7"));
        assert_eq!(first_host(net("10.9.0.6/31")), ip("10.9.0.6"));
        assert_eq!(first_host(net("fd00:2::/64")), ip("fd00:2::1"));
        assert_eq!(first_host(net("fd00:9::7/128")), ip("fd00:9::7"));
    }

    #[test]
    fn a_branch_gets_a_link_numbered_inside_our_lan_and_its_blocks_routed() {
        let (r, mut t) = setup();
        let name = link(&mut t, "198.51.100.2", "10.1.0.0/24", "10.2.0.0/24");
        assert_eq!(name, "ikegw0");
        t.hold(ip("198.51.100.2"));
        // A second block of the same peer: one more route, same link.
        let again = link(&mut t, "198.51.100.2", "10.1.0.0/24", "10.3.0.0/16");
        assert_eq!(again, "ikegw0");
        // The same block again (a rekeyed CHILD_SA): nothing to do.
        link(&mut t, "198.51.100.2", "10.1.0.0/24", "10.2.0.0/24");
        assert_eq!(
            ran(&r, &t),
            [
                "/usr/sbin/dladm create-iptun -t -T ipv4 -a local=192.0.2.1,remote=198.51.100.2 ikegw0",
                "/usr/sbin/ipadm create-ip -t ikegw0",
                SHOW_ADDR,
                "/usr/sbin/ipadm create-addr -t -T static -a local=10.1.0.1,remote=10.2.0.1 ikegw0/v4",
                "/usr/sbin/route -n add -net 10.2.0.0/24 10.2.0.1 -ifp ikegw0",
                "/usr/sbin/route -n add -net 10.3.0.0/16 10.2.0.1 -ifp ikegw0",
            ]
        );
        assert_eq!(t.name_of(ip("198.51.100.2")), Some("ikegw0"));
        t.release(ip("198.51.100.2"));
        assert_eq!(
            ran(&r, &t),
            [
                "/usr/sbin/route -n delete -net 10.2.0.0/24 10.2.0.1 -ifp ikegw0",
                "/usr/sbin/route -n delete -net 10.3.0.0/16 10.2.0.1 -ifp ikegw0",
                "/usr/sbin/ipadm delete-ip ikegw0",
                "/usr/sbin/dladm delete-iptun -t ikegw0",
            ]
        );
        assert_eq!(t.name_of(ip("198.51.100.2")), None);
        assert_eq!(t.failures(), 0);
    }

    #[test]
    fn road_warriors_get_a_link_each_and_names_are_not_reused() {
        let (r, mut t) = setup();
        let a = link(&mut t, "203.0.113.10", "10.1.0.0/24", "10.9.0.7/32");
        t.hold(ip("203.0.113.10"));
        let b = link(&mut t, "203.0.113.20", "0.0.0.0/0", "10.9.0.8/32");
        t.hold(ip("203.0.113.20"));
        assert_eq!((a.as_str(), b.as_str()), ("ikegw0", "ikegw1"));
        let log = ran(&r, &t);
        // A VIP is the link's point-to-point destination: no route.
        assert!(!log.iter().any(|c| c.contains("route ")), "{log:?}");
        assert!(log.contains(
            &"/usr/sbin/ipadm create-addr -t -T static -a local=10.1.0.1,remote=10.9.0.7 ikegw0/v4"
                .to_owned()
        ));
        // 0.0.0.0/0 on our side: the first IPv4 address listed that is
        // not loopback.
        assert!(log.contains(
            &"/usr/sbin/ipadm create-addr -t -T static -a local=192.0.2.1,remote=10.9.0.8 ikegw1/v4"
                .to_owned()
        ));
        t.release(ip("203.0.113.10"));
        let c = link(&mut t, "203.0.113.30", "10.1.0.0/24", "10.9.0.9/32");
        assert_eq!(c, "ikegw2");
    }

    #[test]
    fn ipv6_blocks_number_the_v6_side_and_an_ipv6_peer_gets_an_ipv6_tunnel() {
        let (r, mut t) = setup();
        link(&mut t, "198.51.100.2", "fd00:1::/64", "fd00:2::/64");
        t.link(
            ip("2001:db8::1"),
            ip("2001:db8:1::2"),
            net("fd00:1::/64"),
            net("fd00:3::/64"),
        );
        let log = ran(&r, &t);
        for want in [
            "/usr/sbin/ipadm create-addr -t -T static -a local=fd00:1::1,remote=fd00:2::1 ikegw0/v6",
            "/usr/sbin/ipadm create-addr -t -T addrconf ikegw0/v6ll",
            "/usr/sbin/route -n add -inet6 -net fd00:2::/64 fd00:2::1 -ifp ikegw0",
            "/usr/sbin/dladm create-iptun -t -T ipv6 -a local=2001:db8::1,remote=2001:db8:1::2 ikegw1",
        ] {
            assert!(log.iter().any(|c| c == want), "{want} not in {log:?}");
        }
    }

    #[test]
    fn without_an_address_of_ours_inside_the_selector_the_outer_one_numbers_ipv4_only() {
        let (r, mut t) = setup();
        link(&mut t, "198.51.100.2", "172.16.0.0/24", "10.2.0.0/24");
        link(&mut t, "198.51.100.2", "fd00:7::/64", "fd00:2::/64");
        let log = ran(&r, &t);
        assert!(log.contains(
            &"/usr/sbin/ipadm create-addr -t -T static -a local=192.0.2.1,remote=10.2.0.1 ikegw0/v4"
                .to_owned()
        ));
        assert!(!log.iter().any(|c| c.ends_with("ikegw0/v6")), "{log:?}");
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn a_block_covering_the_peer_is_not_routed_into_its_own_tunnel() {
        let (r, mut t) = setup();
        link(&mut t, "198.51.100.2", "10.1.0.0/24", "0.0.0.0/0");
        let log = ran(&r, &t);
        assert!(!log.iter().any(|c| c.contains("route ")), "{log:?}");
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn a_failed_create_skips_the_links_steps_and_its_delete_clears_what_exists() {
        let (r, mut t) = setup();
        r.0.lock().unwrap().fail = Some((
            "/usr/sbin/dladm create-iptun -t -T ipv4 -a local=192.0.2.1,remote=198.51.100.2 ikegw0"
                .into(),
            "dladm: insufficient privileges".into(),
        ));
        link(&mut t, "198.51.100.2", "10.1.0.0/24", "10.2.0.0/24");
        t.hold(ip("198.51.100.2"));
        t.release(ip("198.51.100.2"));
        assert_eq!(
            ran(&r, &t),
            [
                "/usr/sbin/dladm create-iptun -t -T ipv4 -a local=192.0.2.1,remote=198.51.100.2 ikegw0",
                "/usr/sbin/route -n delete -net 10.2.0.0/24 10.2.0.1 -ifp ikegw0",
                "/usr/sbin/ipadm delete-ip ikegw0",
                "/usr/sbin/dladm delete-iptun -t ikegw0",
            ]
        );
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn cleanup_deletes_only_the_links_named_like_ours() {
        let (r, t) = setup();
        r.0.lock().unwrap().ok(
            "/usr/sbin/dladm show-iptun -p -o link",
            "ip.tun0\nikegw0\nikegw12\nikegw.3\n",
        );
        let gone = rt().block_on(t.cleanup(Duration::from_secs(5))).unwrap();
        assert_eq!(gone, ["ikegw0", "ikegw12"]);
        let log = ran(&r, &t);
        assert_eq!(
            log,
            [
                "/usr/sbin/dladm show-iptun -p -o link",
                "/usr/sbin/ipadm delete-ip ikegw0",
                "/usr/sbin/dladm delete-iptun -t ikegw0",
                "/usr/sbin/ipadm delete-ip ikegw12",
                "/usr/sbin/dladm delete-iptun -t ikegw12",
            ]
        );
    }

    #[test]
    fn cleanup_reports_a_failing_listing() {
        let (r, t) = setup();
        r.0.lock().unwrap().err(
            "/usr/sbin/dladm show-iptun -p -o link",
            "dladm: permission denied",
        );
        let e = rt()
            .block_on(t.cleanup(Duration::from_secs(5)))
            .unwrap_err();
        assert!(e.contains("permission denied"), "{e}");
    }
}
