//! Issue #6's daemon tests in network namespaces: two `ikegw run` daemons
//! (userland key engine, ESP over TUN), one on each gateway of the
//! site-to-site [`Topology`], no strongSwan:
//!
//! ```text
//! lan 10.1.0.10 — ikegw "left" 198.51.100.1 ══ WAN ══ 198.51.100.2 ikegw "right" — lan 10.2.0.10
//! ```
//!
//! Each side loads two connections to the other: `s2s` (child `net`, the
//! two LANs, PSK identities `*.ikegw.example`) and `b` (child `net2`,
//! 10.11.0.0/24 === 10.12.0.0/24, its own identities, so the responder
//! tells the two apart by IDi, RFC 7296 §2.15).
//!
//! - every control verb against a live daemon: `status`, `list-conns`,
//!   `initiate`, `list-sas` (CHILD SPIs crossed between the two daemons'
//!   views), `stats`, `rekey` of a CHILD SA and of the IKE SA, `terminate`;
//! - `reload` with one connection changed and one unchanged: the unchanged
//!   IKE SA keeps its SPIs at both ends and keeps carrying traffic, the
//!   changed one is deleted at both ends; an invalid file (by `reload` and
//!   by SIGHUP) is refused with its diagnostic and the old configuration
//!   keeps running;
//! - SIGTERM: the daemon sends Delete (the peer's view has no SA left),
//!   removes its TUN device and exits 0;
//! - a crash (SIGKILL) and restart: the peer still holds the dead run's
//!   IKE SA; the restarted daemon comes up with no SA, and its new IKE SA
//!   (with INITIAL_CONTACT, RFC 7296 §2.4) replaces the stale one at the
//!   peer.
//!
//! Restart reconciliation against a key engine that outlives the daemon
//! and still holds the dead run's SAs (`ikegw pfkey engine` as a process
//! of its own, `daemon.engine_socket`) is tests/engine_process.rs; here
//! each daemon runs its engine in-process, so a crash takes the SAs with
//! it and only the peer is left holding stale state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use interop_tests::ikegw::{self, render_config, IkeSa, Ikegw, IkegwConf, TUN};
use interop_tests::netns::{Netns, Site, Topology, IP, LEFT, RIGHT};
use interop_tests::proc;
use interop_tests::strongswan::TEST_PSK;
use interop_tests::{Error, Result, ScenarioDir};

const PROPOSALS: &str = "aes256gcm16-prfsha384-x25519";
const ESP_PROPOSALS: &str = "aes128gcm16-x25519";
/// How long SAs get to come up, go away or settle after a verb.
const SETTLE: Duration = Duration::from_secs(15);

/// Which daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    fn sites(self) -> (Site, Site) {
        match self {
            Self::Left => (LEFT, RIGHT),
            Self::Right => (RIGHT, LEFT),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Left => Self::Right,
            Self::Right => Self::Left,
        }
    }
}

/// Connection `b`'s selectors for a site: a prefix next to its LAN, with
/// no host in it (`ikegw check` refuses selectors that overlap `s2s`'s;
/// `b` only has to be negotiated, not to carry traffic).
fn b_net(site: Site) -> String {
    site.lan_net.replace("10.", "10.1")
}

/// Extra lines of connection `b`, on one end, for the reload test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BVariant {
    /// As first loaded.
    Original,
    /// `dpd_delay` added: a changed connection.
    Changed,
    /// `remote_addr` instead of `remote_addrs`: a file that must not load.
    Invalid,
}

/// One daemon's `ikegw.toml`: `s2s`/`net` through the harness renderer,
/// `b`/`net2` appended as extra tables.
fn config(end: End, dir: &Path, b: BVariant) -> String {
    let (me, peer) = end.sites();
    let mut c = IkegwConf::site_to_site(
        me,
        peer,
        &format!("{}.ikegw.example", end.word()),
        &format!("{}.ikegw.example", end.other().word()),
        PROPOSALS,
        ESP_PROPOSALS,
    );
    let (lid, rid) = (
        format!("b-{}.ikegw.example", end.word()),
        format!("b-{}.ikegw.example", end.other().word()),
    );
    let remote_key = if b == BVariant::Invalid {
        "remote_addr"
    } else {
        "remote_addrs"
    };
    let dpd = if b == BVariant::Changed {
        "dpd_delay = \"30s\"\n"
    } else {
        ""
    };
    c.extra = format!(
        "
[connections.b]
version = 2
local_addrs = [\"{me_wan}\"]
{remote_key} = [\"{peer_wan}\"]
proposals = [\"{PROPOSALS}\"]
encap = true
mobike = false
{dpd}
[connections.b.local]
auth = \"psk\"
id = \"{lid}\"

[connections.b.remote]
auth = \"psk\"
id = \"{rid}\"

[connections.b.children.net2]
local_ts = [\"{lts}\"]
remote_ts = [\"{rts}\"]
esp_proposals = [\"{ESP_PROPOSALS}\"]
start_action = \"none\"

[secrets.ike.b]
id = [\"{lid}\", \"{rid}\"]
secret = \"{TEST_PSK}\"
",
        me_wan = me.wan,
        peer_wan = peer.wan,
        lts = b_net(me),
        rts = b_net(peer),
    );
    render_config(dir, &c)
}

/// Two ikegw daemons on a fresh topology. Field order is drop order:
/// daemons (stopped by PID) before the namespaces, the directory last.
struct Pair {
    left: Ikegw,
    right: Ikegw,
    topo: Topology,
    dir: ScenarioDir,
    bin: PathBuf,
    started: Instant,
}

impl Pair {
    fn start(tag: &str) -> Result<Self> {
        let bin = ikegw::binary().map_err(Error::Check)?;
        let started = Instant::now();
        let mut dir = ScenarioDir::create(tag)?;
        let up = (|| {
            let topo = Topology::create(tag, dir.path())?;
            let left = Self::start_end(End::Left, &topo.left, dir.path(), &bin)?;
            let right = Self::start_end(End::Right, &topo.right, dir.path(), &bin)?;
            Ok::<_, Error>((topo, left, right))
        })();
        match up {
            Ok((topo, left, right)) => Ok(Self {
                left,
                right,
                topo,
                dir,
                bin,
                started,
            }),
            Err(e) => {
                dir.keep();
                print_logs(dir.path());
                Err(e)
            }
        }
    }

    fn end_dir(scratch: &Path, end: End) -> PathBuf {
        scratch.join(end.word())
    }

    fn start_end(end: End, ns: &Netns, scratch: &Path, bin: &Path) -> Result<Ikegw> {
        let dir = Self::end_dir(scratch, end);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ikegw::start(
            end.word(),
            ns,
            &dir,
            bin,
            &config(end, &dir, BVariant::Original),
        )
    }

    fn gw(&self, end: End) -> &Ikegw {
        match end {
            End::Left => &self.left,
            End::Right => &self.right,
        }
    }

    /// Rewrites one daemon's config file in place (its mode, 0600, stays).
    fn rewrite(&self, end: End, b: BVariant) -> Result<()> {
        let dir = Self::end_dir(self.dir.path(), end);
        let file = dir.join("ikegw.toml");
        std::fs::write(&file, config(end, &dir, b)).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })
    }

    /// The one ESTABLISHED IKE SA named `name` at each end, with the CHILD
    /// SAs crossed: every CHILD SA of the left daemon has a twin at the
    /// right one with inbound and outbound SPIs swapped, and none is left
    /// over on either side.
    fn matched(&self, name: &str) -> Result<(IkeSa, IkeSa)> {
        let one = |gw: &Ikegw, who: &str| -> Result<IkeSa> {
            let sas: Vec<IkeSa> = gw
                .list_sas()?
                .into_iter()
                .filter(|s| s.name == name)
                .collect();
            match sas.as_slice() {
                [s] if s.state == "ESTABLISHED" && !s.children.is_empty() => Ok(s.clone()),
                _ => Err(Error::Check(format!(
                    "{who}: want one ESTABLISHED {name} IKE SA with CHILD SAs, have {sas:?}"
                ))),
            }
        };
        let (l, r) = (one(&self.left, "left")?, one(&self.right, "right")?);
        let crossed = l.children.len() == r.children.len()
            && l.children.iter().all(|lc| {
                r.children.iter().any(|rc| {
                    same_hex(&lc.spi_in, &rc.spi_out) && same_hex(&lc.spi_out, &rc.spi_in)
                })
            });
        if !crossed {
            return Err(Error::Check(format!(
                "{name}: CHILD SPIs not crossed: left {:?}, right {:?}",
                l.children, r.children
            )));
        }
        Ok((l, r))
    }

    /// Waits for [`Pair::matched`] to hold and `also` to accept it.
    fn wait_matched(
        &self,
        name: &str,
        what: &str,
        also: impl Fn(&IkeSa, &IkeSa) -> bool,
    ) -> Result<(IkeSa, IkeSa)> {
        proc::wait_for(what, SETTLE, || {
            Ok(self.matched(name).ok().filter(|(l, r)| also(l, r)))
        })
    }

    /// Waits until neither daemon lists an IKE SA named `name`.
    fn wait_gone(&self, name: &str, what: &str) -> Result<()> {
        proc::wait_for(what, SETTLE, || {
            let l = self.left.list_sas()?.iter().any(|s| s.name == name);
            let r = self.right.list_sas()?.iter().any(|s| s.name == name);
            Ok((!l && !r).then_some(()))
        })
    }

    /// Pings LAN host to LAN host through `s2s` (both directions).
    fn ping_both_ways(&self) -> Result<()> {
        for (ns, to) in [
            (&self.topo.left_lan, RIGHT.lan_host),
            (&self.topo.right_lan, LEFT.lan_host),
        ] {
            ns.ping(&to.to_string(), 2, None, self.dir.path())?;
        }
        Ok(())
    }

    fn log(&self, end: End) -> String {
        self.gw(end).log_text()
    }
}

fn same_hex(a: &str, b: &str) -> bool {
    match (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `v[key]` without indexing: `Null` when absent.
fn at<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v.get(key).unwrap_or(&serde_json::Value::Null)
}

fn json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::Check(format!("ikegw --json output is not JSON ({e}): {text}")))
}

fn print_logs(dir: &Path) {
    const TAIL: usize = 80;
    for end in [End::Left, End::Right] {
        let file = Pair::end_dir(dir, end).join("ikegw.log");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(TAIL);
        let mut out = format!(
            "===== ikegw {}: {} (last {TAIL} lines)\n",
            end.word(),
            file.display()
        );
        for l in lines.iter().skip(skip) {
            out.push_str(l);
            out.push('\n');
        }
        let _ = std::io::Write::write_all(&mut std::io::stderr(), out.as_bytes());
    }
}

/// Prerequisites, bring-up, `body`, a clean SIGTERM stop of both daemons
/// (exit 0 required), a 90 s bound; logs printed and files kept on failure.
fn run(name: &str, body: impl FnOnce(&mut Pair) -> Result<()>) -> Result<()> {
    if interop_tests::ikegw_prerequisites(name)? == interop_tests::Gate::Skip {
        return Ok(());
    }
    let mut p = Pair::start(&interop_tests::unique_tag("ikd"))?;
    let r = body(&mut p)
        .and_then(|()| {
            let t = p.started.elapsed();
            if t > Duration::from_secs(90) {
                Err(Error::Timeout {
                    what: name.to_owned(),
                    after: t,
                })
            } else {
                Ok(())
            }
        })
        .and_then(|()| p.left.stop())
        .and_then(|()| p.right.stop());
    match r {
        Ok(()) => {
            eprintln!("PASS {name}: {:.1} s", p.started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            eprintln!("FAIL {name}: {e}");
            p.dir.keep();
            print_logs(p.dir.path());
            Err(e)
        }
    }
}

fn control_verbs(p: &mut Pair) -> Result<()> {
    // status: this very process, the userland engine, both connections,
    // IKE bound on our WAN address, nothing up yet
    let st = json(&p.left.verb(&["status"])?)?;
    let sockets = at(&st, "sockets").to_string();
    if at(&st, "response") != "status"
        || at(&st, "pid").as_u64() != Some(u64::from(p.left.pid()))
        || at(&st, "backend") != "userland"
        || at(&st, "connections").as_u64() != Some(2)
        || at(&st, "ike_sas").as_u64() != Some(0)
        || !sockets.contains(&format!("{}:500", LEFT.wan))
        || !sockets.contains(&format!("{}:4500", LEFT.wan))
    {
        return Err(Error::Check(format!("unexpected status: {st}")));
    }
    // list-conns: both connections as configured
    let conns = json(&p.left.verb(&["list-conns"])?)?;
    let list = at(&conns, "conns").as_array().cloned().unwrap_or_default();
    let find = |child: &str| list.iter().find(|c| at(c, "child") == child).cloned();
    let (Some(net), Some(net2)) = (find("net"), find("net2")) else {
        return Err(Error::Check(format!(
            "list-conns lacks net or net2: {conns}"
        )));
    };
    let s = |v: &serde_json::Value| v.to_string();
    if at(&net, "conn") != "s2s"
        || !s(at(&net, "remote")).contains(&RIGHT.wan.to_string())
        || at(&net, "remote_id") != "right.ikegw.example"
        || !s(at(&net, "local_ts")).contains(LEFT.lan_net)
        || at(&net2, "conn") != "b"
        || at(&net2, "remote_id") != "b-right.ikegw.example"
        || !s(at(&net2, "remote_ts")).contains("10.12.0.0/24")
    {
        return Err(Error::Check(format!("list-conns: {conns}")));
    }
    // initiate: the id it returns is the IKE SA list-sas shows, at both ends
    let id = p.left.initiate("net")?;
    let (l, r) = p.wait_matched("s2s/net", "s2s up at both ends", |_, _| true)?;
    if !same_hex(&l.id, &id)
        || l.remote_id != "right.ikegw.example"
        || r.remote_id != "left.ikegw.example"
    {
        return Err(Error::Check(format!(
            "initiate answered {id}; left lists {l:?}; right lists {r:?}"
        )));
    }
    p.ping_both_ways()?;
    let moved = p.left.list_sas()?;
    let out = moved
        .iter()
        .flat_map(|s| s.children.iter())
        .map(|c| c.packets_out)
        .sum::<u64>();
    if out < 2 {
        return Err(Error::Check(format!(
            "ESP counters did not move: {moved:?}"
        )));
    }
    // stats at both ends
    for end in [End::Left, End::Right] {
        let st = p.gw(end).stats()?;
        if st.established < 1 || st.children_installed < 1 || st.ike_in < 2 || st.ike_out < 2 {
            return Err(Error::Check(format!("{} stats: {st:?}", end.word())));
        }
    }
    // rekey the CHILD SA: new SPIs at both ends, same IKE SA
    let child = l
        .children
        .first()
        .map(|c| c.spi_in.clone())
        .ok_or_else(|| Error::Check("no CHILD SA".into()))?;
    let rekeying = p.left.rekey(&l.id, Some(&child))?;
    if !same_hex(&rekeying, &l.id) {
        return Err(Error::Check(format!(
            "rekey answered {rekeying}, not {}",
            l.id
        )));
    }
    let (l2, r2) = p.wait_matched("s2s/net", "CHILD SA rekeyed", |nl, _| {
        nl.children.len() == 1 && nl.children.iter().all(|c| c.spi_in != child)
    })?;
    if l2.id != l.id || r2.id != r.id {
        return Err(Error::Check("the IKE SA changed in a CHILD rekey".into()));
    }
    // rekey the IKE SA (from the responder this time): new SPIs at both
    // ends, the CHILD SA moves over unchanged
    p.right.rekey(&r2.id, None)?;
    let (l3, _) = p.wait_matched("s2s/net", "IKE SA rekeyed", |nl, nr| {
        nl.id != l2.id && nr.id != r2.id
    })?;
    if l3.children.first().map(|c| &c.spi_in) != l2.children.first().map(|c| &c.spi_in) {
        return Err(Error::Check(format!(
            "the CHILD SA changed in an IKE rekey: {:?} -> {:?}",
            l2.children, l3.children
        )));
    }
    p.ping_both_ways()?;
    // terminate by connection name: gone at both ends, the peer hears it
    let ids = p.left.terminate("s2s")?;
    if ids.len() != 1 || !ids.iter().any(|i| same_hex(i, &l3.id)) {
        return Err(Error::Check(format!(
            "terminate answered {ids:?}, not [{}]",
            l3.id
        )));
    }
    p.wait_gone("s2s/net", "s2s gone at both ends after terminate")?;
    if !p
        .log(End::Right)
        .contains("IKE SA deleted: deleted by peer")
    {
        return Err(Error::Check("right did not log the peer's Delete".into()));
    }
    // a verb naming nothing is refused with a typed error
    let bad = p.left.verb_unchecked(&["terminate", "--ike", "nosuch"])?;
    if bad.status.success() || !bad.stdout.contains("no-such-ike-sa") {
        return Err(Error::Check(format!(
            "terminate of an unknown IKE SA: {} {}",
            bad.status, bad.stdout
        )));
    }
    // and the other connection, initiated by the right daemon
    p.right.initiate("net2")?;
    p.wait_matched("b/net2", "b up at both ends", |_, _| true)?;
    eprintln!(
        "verbs: status, list-conns, initiate {id}, list-sas, stats, CHILD and IKE rekey, \
         terminate, initiate from the other end"
    );
    Ok(())
}

/// `ikegw reload` with `b` changed and `s2s` unchanged, then an invalid
/// file by `reload` and by SIGHUP.
fn reload(p: &mut Pair) -> Result<()> {
    p.left.initiate("net")?;
    let (l, r) = p.wait_matched("s2s/net", "s2s up", |_, _| true)?;
    p.left.initiate("net2")?;
    let (bl, br) = p.wait_matched("b/net2", "b up", |_, _| true)?;
    p.rewrite(End::Left, BVariant::Changed)?;
    let rel = json(&p.left.verb(&["reload"])?)?;
    let names = |k: &str| -> Vec<String> {
        at(&rel, k)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    if at(&rel, "response") != "reloaded"
        || names("changed") != ["b/net2"]
        || names("unchanged") != ["s2s/net"]
        || !names("added").is_empty()
        || !names("removed").is_empty()
    {
        return Err(Error::Check(format!("reload answered {rel}")));
    }
    // the changed connection's IKE SA is deleted at both ends
    p.wait_gone("b/net2", "b's IKE SA deleted after reload")?;
    // the unchanged one keeps its SPIs at both ends, and carries traffic
    let (l2, r2) = p.matched("s2s/net")?;
    let spis = |sa: &IkeSa| -> Vec<(String, String)> {
        sa.children
            .iter()
            .map(|c| (c.spi_in.clone(), c.spi_out.clone()))
            .collect()
    };
    if l2.id != l.id || r2.id != r.id || spis(&l2) != spis(&l) || spis(&r2) != spis(&r) {
        return Err(Error::Check(format!(
            "the unchanged connection's SAs changed in the reload: {l:?} -> {l2:?}; \
             {r:?} -> {r2:?}"
        )));
    }
    p.ping_both_ways()?;
    // the changed connection comes back on demand, with new SPIs
    p.left.initiate("net2")?;
    let (bl2, br2) = p.wait_matched("b/net2", "b up again", |_, _| true)?;
    if bl2.id == bl.id || br2.id == br.id {
        return Err(Error::Check("b came back with the old IKE SA".into()));
    }

    // an invalid file: refused with its diagnostic, the old config runs on
    p.rewrite(End::Left, BVariant::Invalid)?;
    let bad = p.left.verb_unchecked(&["reload"])?;
    if bad.status.success()
        || !bad.stdout.contains("config-invalid")
        || !bad.stdout.contains("remote_addr")
    {
        return Err(Error::Check(format!(
            "reload of an invalid file: {} stdout {} stderr {}",
            bad.status, bad.stdout, bad.stderr
        )));
    }
    let pid = p.left.pid().to_string();
    proc::run(
        Command::new(proc::KILL).args(["-HUP", &pid]),
        Duration::from_secs(5),
        p.dir.path(),
    )?;
    proc::wait_for("SIGHUP refusal logged", Duration::from_secs(5), || {
        Ok(p.log(End::Left)
            .lines()
            .any(|l| l.contains("SIGHUP: configuration not reloaded"))
            .then_some(()))
    })?;
    p.left.check_alive()?;
    let (l3, r3) = p.matched("s2s/net")?;
    let (bl3, br3) = p.matched("b/net2")?;
    if l3.id != l.id || r3.id != r.id || bl3.id != bl2.id || br3.id != br2.id {
        return Err(Error::Check(
            "an invalid reload touched the running SAs".into(),
        ));
    }
    let conns = json(&p.left.verb(&["list-conns"])?)?;
    if at(&conns, "conns").as_array().map(Vec::len) != Some(2) {
        return Err(Error::Check(format!(
            "list-conns after an invalid reload: {conns}"
        )));
    }
    p.ping_both_ways()?;
    // a valid file again, for the clean stop
    p.rewrite(End::Left, BVariant::Changed)?;
    eprintln!(
        "reload: s2s kept {} / {}, b replaced; invalid file refused twice (reload, SIGHUP)",
        l.id, r.id
    );
    Ok(())
}

fn sigterm(p: &mut Pair) -> Result<()> {
    p.left.initiate("net")?;
    p.wait_matched("s2s/net", "s2s up", |_, _| true)?;
    p.right.initiate("net2")?;
    p.wait_matched("b/net2", "b up", |_, _| true)?;
    p.ping_both_ways()?;
    // the initiator of one IKE SA and responder of the other goes
    p.left.stop()?;
    let log = p.log(End::Left);
    if !log.contains("shutting down: deleting 2 IKE SAs") {
        return Err(Error::Check(
            "left did not log deleting its 2 IKE SAs".into(),
        ));
    }
    // the peer heard both Deletes: no SA left in its view
    let right = p.right.list_sas()?;
    if !right.is_empty() {
        return Err(Error::Check(format!(
            "right still lists SAs after left's SIGTERM: {right:?}"
        )));
    }
    let deleted = p
        .log(End::Right)
        .matches("IKE SA deleted: deleted by peer")
        .count();
    if deleted != 2 {
        return Err(Error::Check(format!(
            "right logged {deleted} Deletes from its peer, want 2"
        )));
    }
    // the TUN device went with the daemon
    let link = proc::run_unchecked(
        Command::new(IP).args(["-n", p.topo.left.name(), "link", "show", TUN]),
        Duration::from_secs(5),
        p.dir.path(),
    )?;
    if link.status.success() {
        return Err(Error::Check(format!(
            "left's {TUN} outlived the daemon: {}",
            link.stdout
        )));
    }
    // traffic no longer passes
    if p.topo.lan_ping(1, p.dir.path()).is_ok() {
        return Err(Error::Check("LAN to LAN ping passes with no tunnel".into()));
    }
    eprintln!("SIGTERM: exit 0, 2 Deletes heard by the peer, {TUN} removed");
    Ok(())
}

fn crash_restart(p: &mut Pair) -> Result<()> {
    p.left.initiate("net")?;
    let (l, r) = p.wait_matched("s2s/net", "s2s up", |_, _| true)?;
    let status = p.left.kill();
    if status.is_some_and(|s| s.success()) {
        return Err(Error::Check("SIGKILLed ikegw exited 0".into()));
    }
    // the peer has no liveness checks configured: it still holds the SA
    let stale = p.right.list_sas()?;
    if !stale.iter().any(|s| s.id == r.id) {
        return Err(Error::Check(format!(
            "right lost the IKE SA without being told: {stale:?}"
        )));
    }
    let left_dir = Pair::end_dir(p.dir.path(), End::Left);
    let conf =
        std::fs::read_to_string(left_dir.join("ikegw.toml")).map_err(|source| Error::Io {
            path: left_dir.join("ikegw.toml"),
            source,
        })?;
    // the control socket file of the dead run is still there: the new
    // daemon must replace it
    p.left = Ikegw::start("left", &p.topo.left, &left_dir, &p.bin, &conf)?;
    let st = json(&p.left.verb(&["status"])?)?;
    if at(&st, "ike_sas").as_u64() != Some(0) || at(&st, "child_sas").as_u64() != Some(0) {
        return Err(Error::Check(format!("restarted daemon is not empty: {st}")));
    }
    p.left.initiate("net")?;
    // the right daemon replaces its stale IKE SA with the new one
    let (l2, r2) = p.wait_matched(
        "s2s/net",
        "one s2s IKE SA at both ends after the restart",
        |nl, nr| nl.id != l.id && nr.id != r.id,
    )?;
    p.ping_both_ways()?;
    eprintln!(
        "crash/restart: right's stale IKE SA {} replaced by {} (left {})",
        r.id, r2.id, l2.id
    );
    Ok(())
}

#[test]
fn two_daemons_in_namespaces_serve_every_control_verb() -> Result<()> {
    run(
        "two_daemons_in_namespaces_serve_every_control_verb",
        control_verbs,
    )
}

#[test]
fn reload_keeps_unchanged_sas_and_invalid_reload_keeps_old_config() -> Result<()> {
    run(
        "reload_keeps_unchanged_sas_and_invalid_reload_keeps_old_config",
        reload,
    )
}

#[test]
fn sigterm_deletes_sas_at_the_peer_removes_tun_and_exits_zero() -> Result<()> {
    run(
        "sigterm_deletes_sas_at_the_peer_removes_tun_and_exits_zero",
        sigterm,
    )
}

#[test]
fn crash_and_restart_replace_the_peers_stale_ike_sa() -> Result<()> {
    run(
        "crash_and_restart_replace_the_peers_stale_ike_sa",
        crash_restart,
    )
}
