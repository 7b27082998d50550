//! Issue #9: a road warrior joins the home data centre that
//! `ikegw provision apply --target linux` builds.
//!
//! ```text
//!  strongSwan road warrior            router namespace            web namespace
//!  (<prefix>-wan, 203.0.113.1) ══ WAN ══ ikegw 203.0.113.10 ── LAN ── 10.0.0.10:80
//!  VIP from the pool 10.8.0.0/24         (nftables NAT/firewall)
//! ```
//!
//! The site is `examples/home-datacentre.toml` with its IKE side
//! `examples/home-datacentre-ike.toml` appended, unchanged: apply starts
//! `ikegw run` in the router namespace with the branch tunnel and the
//! road-warrior connection `rw` (group PSK, pool `rw` = the site's VPN pool).
//! charon (kernel-libipsec) runs in the lab's WAN namespace, which stands
//! for the Internet.
//!
//! Checked:
//! - before any tunnel, a packet from a pool address that arrives on the WAN
//!   in clear (a spoof) does not reach the web zone;
//! - strongSwan gets a virtual IP from the pool; the router's CHILD SA is
//!   narrowed to it and the address is routed into ikegw's TUN;
//! - an HTTP request from the road warrior reaches the web zone through ESP,
//!   and the web server logs the VIP as the client: routed, not NATed (the
//!   router masquerades everything else that leaves the LAN);
//! - the router counts the packets on that CHILD SA both ways, and lists the
//!   lease online for the road warrior's identity;
//! - at the same time, the example's branch site with strongSwan as its
//!   gateway (198.51.100.20, LAN 172.16.1.0/24, namespaces `<prefix>-bgw`
//!   and `-bhost` on a link the WAN namespace routes): the branch host
//!   fetches the page through the tunnel and the web zone logs the host's
//!   own address; the router's branch CHILD SA counts it, and the road
//!   warrior's IKE SA is still up;
//! - teardown stops the daemon and leaves no namespace.
//!
//! The gateway crate's `provision_linux` test runs the same site with a
//! second ikegw as the branch gateway.
//!
//! Needs root, `ip`, `nft`, `curl`, python3, strongSwan with
//! kernel-libipsec and the `ikegw` binary (see `interop_tests::ikegw`):
//! otherwise `SKIPPED:` (or a failure when `CI` is set).

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use interop_tests::ikegw::{binary, parse_list_sas, IkeSa};
use interop_tests::netns::{Netns, Site, IP, LEFT};
use interop_tests::proc::{self, Daemon};
use interop_tests::strongswan::{
    strongswan_conf, swanctl_conf, Auth, Charon, CharonOptions, Conn, TEST_PSK,
};
use interop_tests::{Error, Result, ScenarioDir};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre.toml"
);
const EXAMPLE_IKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre-ike.toml"
);

/// Addresses of the example site (`[site.wan]`, the web zone, `[site.vpn]`).
const ROUTER_WAN: &str = "203.0.113.10";
const UPSTREAM: &str = "203.0.113.1";
const WEB: &str = "10.0.0.10";
const LAN: &str = "10.0.0.0/24";
const POOL_PREFIX: &str = "10.8.0.";
/// `[connections.rw.remote] id` and `[connections.rw.local] id` of the example.
const RW_ID: &str = "roadwarrior.example";
const HOME_ID: &str = "vpn.home.example";

/// The example's branch site (`[[site.vpn.branches]]`, `[connections.branch]`).
const BRANCH_WAN: &str = "198.51.100.20";
const BRANCH_HOST: &str = "172.16.1.10";
const BRANCH_NET: &str = "172.16.1.0/24";
const BRANCH_ID: &str = "branch.example";

const CURL: &str = "/usr/bin/curl";
const LIMIT: Duration = Duration::from_secs(30);

fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Check(format!("{what}: {detail}")))
    }
}

/// A PSK of the example (`[secrets.ike.NAME] secret`), read from the file
/// so that the test follows the example.
fn example_secret(ike_toml: &str, name: &str) -> Result<String> {
    let table = format!("[secrets.ike.{name}]");
    let mut inside = false;
    for line in ike_toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == table;
        } else if inside {
            if let Some(v) = l.strip_prefix("secret = ") {
                return Ok(v.trim_matches('"').to_owned());
            }
        }
    }
    Err(Error::Check(format!(
        "examples/home-datacentre-ike.toml has no {table} secret"
    )))
}

/// Everything the test started, undone in `Drop` even when a check failed:
/// processes by PID first, then `provision teardown`, then (if that failed)
/// the daemon by its PID file and our namespaces by name.
struct Lab {
    charon: Option<Charon>,
    branch: Option<Charon>,
    servers: Vec<Daemon>,
    /// The branch's gateway and host namespaces (not the site's: deleted
    /// on drop, after the processes in them).
    branch_ns: Vec<Netns>,
    bin: PathBuf,
    config: PathBuf,
    prefix: String,
    dir: ScenarioDir,
}

impl Lab {
    fn ns(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    fn state(&self) -> PathBuf {
        PathBuf::from(format!("/run/ikegw-lab/{}", self.prefix))
    }

    fn provision(&self, action: &str) -> Result<proc::Output> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["provision", action, "--target", "linux", "--config"])
            .arg(&self.config)
            .args(["--lab-prefix", &self.prefix])
            .env("NO_COLOR", "1");
        proc::run_unchecked(&mut cmd, Duration::from_secs(120), self.dir.path())
    }

    /// `ikegw VERB --socket <router's> --json`.
    fn router(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--socket")
            .arg(self.state().join("ikegw.sock"))
            .arg("--json")
            .env("NO_COLOR", "1");
        Ok(proc::run(&mut cmd, Duration::from_secs(15), self.dir.path())?.stdout)
    }

    fn router_log(&self) -> String {
        std::fs::read_to_string(self.state().join("ikegw.log")).unwrap_or_default()
    }

    /// `curl -s -m SECS [ARGS] URL` in namespace `what`: (exit code, body).
    fn curl(&self, what: &str, args: &[&str], url: &str, secs: u64) -> Result<(i32, String)> {
        let mut cmd = Command::new(IP);
        cmd.args(["netns", "exec", &self.ns(what), CURL, "-s", "-m"])
            .arg(secs.to_string())
            .args(args)
            .arg(url);
        let o = proc::run_unchecked(
            &mut cmd,
            Duration::from_secs(secs.saturating_add(10)),
            self.dir.path(),
        )?;
        Ok((o.status.code().unwrap_or(-1), o.stdout))
    }

    fn ip(&self, what: &str, args: &[&str]) -> Result<()> {
        let mut cmd = Command::new(IP);
        cmd.args(["-n", &self.ns(what)]).args(args);
        proc::run(&mut cmd, Duration::from_secs(10), self.dir.path()).map(drop)
    }

    fn report(&mut self) {
        self.dir.keep();
        let charon = self
            .charon
            .as_ref()
            .map(Charon::log_text)
            .unwrap_or_default();
        let tail = |t: &str| {
            let lines: Vec<&str> = t.lines().filter(|l| !l.contains("vici client")).collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        let branch = self
            .branch
            .as_ref()
            .map(Charon::log_text)
            .unwrap_or_default();
        eprintln!(
            "===== router ikegw ({}):\n{}\n===== road-warrior charon:\n{}\n===== branch charon:\n{}",
            self.state().join("ikegw.log").display(),
            tail(&self.router_log()),
            tail(&charon),
            tail(&branch)
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in [self.charon.take(), self.branch.take()]
            .into_iter()
            .flatten()
        {
            let mut c = c;
            c.stop();
        }
        self.servers.clear();
        self.branch_ns.clear();
        let down = self.provision("teardown").is_ok_and(|o| o.status.success());
        if !down {
            // The daemon by the PID apply recorded, if it is still ikegw.
            let pidfile = self.state().join("ikegw.pid");
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                let is_ikegw = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("ikegw"));
                if is_ikegw {
                    let _ = Command::new(proc::KILL)
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
            }
            for what in ["wan", "stub", "router", "web", "game", "global"] {
                let _ = Command::new(IP)
                    .args(["netns", "delete", &self.ns(what)])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(self.state());
        // The parent only when empty: another lab may be using it.
        let _ = std::fs::remove_dir("/run/ikegw-lab");
    }
}

/// The road warrior's one ESTABLISHED IKE SA at the router, with its VIP.
fn rw_sa(sas: &[IkeSa]) -> Option<(IkeSa, String)> {
    sas.iter()
        .filter(|sa| sa.state == "ESTABLISHED" && sa.remote_id == RW_ID)
        .find_map(|sa| {
            let vip = sa
                .children
                .first()?
                .remote_ts
                .first()?
                .strip_suffix("/32")?
                .to_owned();
            Some((sa.clone(), vip))
        })
}

/// Step 8 of [`scenario`]: the branch gateway (strongSwan) and its host,
/// the tunnel to the router, and a page fetched from the branch host that
/// the web zone sees coming from the host's own address.
fn branch(lab: &mut Lab, ike_text: &str, url: &str) -> Result<()> {
    let scratch = lab.dir.path().to_path_buf();
    let (wan, bgw, bhost) = (lab.ns("wan"), lab.ns("bgw"), lab.ns("bhost"));
    lab.branch_ns.push(Netns::create(&bgw, &scratch)?);
    lab.branch_ns.push(Netns::create(&bhost, &scratch)?);
    proc::run(
        Command::new(IP).args([
            "netns",
            "exec",
            &wan,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]),
        Duration::from_secs(10),
        &scratch,
    )?;
    lab.ip(
        "wan",
        &[
            "link", "add", "bup", "type", "veth", "peer", "name", "bwan", "netns", &bgw,
        ],
    )?;
    lab.ip("wan", &["addr", "add", "198.51.100.1/24", "dev", "bup"])?;
    lab.ip("wan", &["link", "set", "bup", "up"])?;
    lab.ip(
        "bgw",
        &["addr", "add", &format!("{BRANCH_WAN}/24"), "dev", "bwan"],
    )?;
    lab.ip("bgw", &["link", "set", "bwan", "up"])?;
    lab.ip("bgw", &["route", "add", "default", "via", "198.51.100.1"])?;
    lab.ip(
        "bgw",
        &[
            "link", "add", "blan", "type", "veth", "peer", "name", "eth0", "netns", &bhost,
        ],
    )?;
    lab.ip("bgw", &["addr", "add", "172.16.1.1/24", "dev", "blan"])?;
    lab.ip("bgw", &["link", "set", "blan", "up"])?;
    lab.ip(
        "bhost",
        &["addr", "add", &format!("{BRANCH_HOST}/24"), "dev", "eth0"],
    )?;
    lab.ip("bhost", &["link", "set", "eth0", "up"])?;
    lab.ip("bhost", &["route", "add", "default", "via", "172.16.1.1"])?;
    if let Some(gw) = lab.branch_ns.first() {
        gw.sysctl("net.ipv4.ip_forward=1", &scratch)?;
        // decrypted packets re-enter through charon's TUN device
        gw.sysctl("net.ipv4.conf.all.rp_filter=0", &scratch)?;
    }

    let secret = example_secret(ike_text, "branch")?;
    let addr = |a: &str| {
        a.parse()
            .map_err(|_| Error::Check(format!("not an address: {a}")))
    };
    let conn = Conn {
        local: Site {
            wan: addr(BRANCH_WAN)?,
            lan_gw: addr("172.16.1.1")?,
            lan_host: addr(BRANCH_HOST)?,
            lan_net: BRANCH_NET,
        },
        remote: Site {
            wan: addr(ROUTER_WAN)?,
            lan_net: LAN,
            ..LEFT
        },
        local_id: BRANCH_ID.into(),
        remote_id: "home.example".into(),
        proposals: "aes256gcm16-prfsha384-x25519".into(),
        esp_proposals: "aes128gcm16".into(),
        auth: Auth::Psk,
        fragmentation: false,
        dpd_delay: None,
        extra_conn: "mobike = no\n".into(),
        extra_child: String::new(),
    };
    let sw = swanctl_conf(&conn).replace(
        &format!("secret = \"{TEST_PSK}\""),
        &format!("secret = \"{secret}\""),
    );
    let dir = scratch.join("branch");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let charon = Charon::start(
        "charon-branch",
        &bgw,
        &dir,
        &strongswan_conf(&dir, &CharonOptions::default()),
        &sw,
    )?;
    charon.load_all()?;
    let charon = lab.branch.insert(charon);
    charon.swanctl_within(
        &["--initiate", "--child", "net", "--timeout", "20"],
        Duration::from_secs(25),
    )?;

    // The branch host fetches the page; the web zone sees its own address.
    let (code, body) = proc::wait_for("the branch host reaches the web zone", LIMIT, || {
        let r = lab.curl("bhost", &[], url, 2)?;
        Ok((r.0 == 0).then_some(r))
    })?;
    check(
        "the branch host's page",
        body.contains("road warrior page"),
        format!("curl exit {code}, body {body:?}"),
    )?;
    let log = std::fs::read_to_string(scratch.join("web.log")).unwrap_or_default();
    check(
        "the web zone saw the branch host's own address (routed, not NATed)",
        log.lines()
            .any(|l| l.starts_with(&format!("{BRANCH_HOST} - -")) && l.contains("\"GET / HTTP")),
        &log,
    )?;
    let sas = parse_list_sas(&lab.router(&["list-sas"])?)?;
    let child = sas
        .iter()
        .filter(|sa| sa.state == "ESTABLISHED" && sa.remote_id == BRANCH_ID)
        .flat_map(|sa| sa.children.iter())
        .find(|c| c.remote_ts == [BRANCH_NET])
        .ok_or_else(|| Error::Check(format!("no branch CHILD SA at the router: {sas:?}")))?;
    check(
        "the router's branch CHILD SA carried the request",
        child.packets_in > 0 && child.packets_out > 0 && child.local_ts == [LAN],
        format!("{child:?}"),
    )
}

fn scenario(lab: &mut Lab) -> Result<()> {
    // 1. The site, with the daemon in the router namespace.
    let o = lab.provision("apply")?;
    check(
        "provision apply",
        o.status.success(),
        format!("{}{}", o.stdout, o.stderr),
    )?;
    proc::wait_for("the router's ikegw answers", LIMIT, || {
        Ok(lab.router(&["status"]).is_ok().then_some(()))
    })?;

    // 2. The web zone serves a page.
    let www = lab.dir.path().join("www");
    std::fs::create_dir_all(&www).map_err(|e| Error::Io {
        path: www.clone(),
        source: e,
    })?;
    let token = format!("road warrior page {}", lab.prefix);
    std::fs::write(www.join("index.html"), &token).map_err(|e| Error::Io {
        path: www.clone(),
        source: e,
    })?;
    let web_log = lab.dir.path().join("web.log");
    let python = interop_tests::ikegw::python3()
        .ok_or_else(|| Error::Check("python3 is not on PATH".into()))?;
    let web = Daemon::spawn(
        "web",
        &lab.ns("web"),
        None,
        &[
            &python.to_string_lossy(),
            "-m",
            "http.server",
            "80",
            "--bind",
            WEB,
            "--directory",
            &www.to_string_lossy(),
        ],
        &web_log,
        "TERM",
    )?;
    lab.servers.push(web);
    let url = format!("http://{WEB}/");
    // Probed from the router under another path, so that its log lines
    // are not mistaken for the road warrior's below.
    let probe = format!("http://{WEB}/?ready");
    proc::wait_for("the web zone's server", LIMIT, || {
        Ok((lab.curl("router", &[], &probe, 2)?.0 == 0).then_some(()))
    })?;

    // 3. Before any tunnel: a pool address arriving on the WAN in clear is
    //    a spoof and must not get through (curl 28 = timeout, not refused).
    let spoof = format!("{POOL_PREFIX}200");
    lab.ip("wan", &["addr", "add", &format!("{spoof}/32"), "dev", "lo"])?;
    lab.ip("wan", &["route", "add", LAN, "via", ROUTER_WAN])?;
    let (code, body) = lab.curl("wan", &["--interface", &spoof], &url, 3)?;
    check(
        "a spoofed pool address from the WAN is dropped",
        code == 28,
        format!("curl exit {code}, body {body:?}"),
    )?;
    lab.ip("wan", &["route", "del", LAN, "via", ROUTER_WAN])?;
    lab.ip("wan", &["addr", "del", &format!("{spoof}/32"), "dev", "lo"])?;

    // 4. The road warrior: charon in the WAN namespace, PSK from the example.
    let ike_text = std::fs::read_to_string(EXAMPLE_IKE).map_err(|e| Error::Io {
        path: PathBuf::from(EXAMPLE_IKE),
        source: e,
    })?;
    let secret = example_secret(&ike_text, "rw")?;
    let me = Site {
        wan: UPSTREAM.parse().map_err(|_| Error::Check("addr".into()))?,
        lan_net: "dynamic",
        ..LEFT
    };
    let router = Site {
        wan: ROUTER_WAN
            .parse()
            .map_err(|_| Error::Check("addr".into()))?,
        lan_net: LAN,
        ..LEFT
    };
    let conn = Conn {
        local: me,
        remote: router,
        local_id: RW_ID.into(),
        remote_id: HOME_ID.into(),
        proposals: "aes256gcm16-prfsha384-x25519".into(),
        esp_proposals: "aes128gcm16".into(),
        auth: Auth::Psk,
        fragmentation: false,
        dpd_delay: None,
        extra_conn: "vips = 0.0.0.0\nmobike = no\n".into(),
        extra_child: String::new(),
    };
    let sw = swanctl_conf(&conn).replace(
        &format!("secret = \"{TEST_PSK}\""),
        &format!("secret = \"{secret}\""),
    );
    check(
        "the example's secret is in swanctl.conf",
        sw.contains(&secret),
        &sw,
    )?;
    let ss_dir = lab.dir.path().join("strongswan");
    std::fs::create_dir_all(&ss_dir).map_err(|e| Error::Io {
        path: ss_dir.clone(),
        source: e,
    })?;
    let charon = Charon::start(
        "charon",
        &lab.ns("wan"),
        &ss_dir,
        &strongswan_conf(&ss_dir, &CharonOptions::default()),
        &sw,
    )?;
    charon.load_all()?;
    let charon = lab.charon.insert(charon);
    charon.swanctl_within(
        &["--initiate", "--child", "net", "--timeout", "20"],
        Duration::from_secs(25),
    )?;

    // 5. Up at the router, narrowed to a VIP from the pool, routed into the TUN.
    let router_ns = lab.ns("router");
    let (sa, vip) = proc::wait_for(
        "road warrior up at the router, its VIP routed into ikegw0",
        LIMIT,
        || {
            let Some((sa, vip)) = rw_sa(&parse_list_sas(&lab.router(&["list-sas"])?)?) else {
                return Ok(None);
            };
            let routes = proc::run(
                Command::new(IP).args(["-n", &router_ns, "route", "show", &vip]),
                Duration::from_secs(5),
                lab.dir.path(),
            )?;
            Ok(routes.stdout.contains("ikegw0").then_some((sa, vip)))
        },
    )?;
    check(
        "VIP from the site's pool",
        vip.starts_with(POOL_PREFIX),
        format!("{vip} is not in {POOL_PREFIX}0/24"),
    )?;
    check(
        "the router's CHILD SA selectors",
        sa.children.len() == 1 && sa.children[0].local_ts == [LAN],
        format!("{sa:?}"),
    )?;
    let raw = lab
        .charon
        .as_ref()
        .map(|c| c.list_sas_raw())
        .transpose()?
        .unwrap_or_default();
    check("strongSwan lists the VIP", raw.contains(&vip), &raw)?;

    // 6. The road warrior fetches the page through the tunnel (charon's
    //    route into ipsec0 picks the VIP as source); the web zone sees the
    //    VIP itself, not the router's address.
    let (code, body) = lab.curl("wan", &[], &url, 5)?;
    check(
        "the road warrior reaches the web zone",
        code == 0 && body == token,
        format!("curl exit {code}, body {body:?}"),
    )?;
    let log = std::fs::read_to_string(&web_log).unwrap_or_default();
    let fetched: Vec<&str> = log.lines().filter(|l| l.contains("\"GET / HTTP")).collect();
    check(
        "the web zone saw the VIP, and only the VIP (routed, not NATed)",
        !fetched.is_empty() && fetched.iter().all(|l| l.starts_with(&format!("{vip} - -"))),
        &log,
    )?;

    // 7. It went through ESP at the router, and the lease is the operator's view.
    let sas = parse_list_sas(&lab.router(&["list-sas"])?)?;
    let (sa, _) = rw_sa(&sas).ok_or_else(|| Error::Check(format!("{sas:?}")))?;
    let c = &sa.children[0];
    check(
        "the router's CHILD SA carried the request",
        c.packets_in > 0 && c.packets_out > 0,
        format!("{c:?}"),
    )?;
    let pools: serde_json::Value = serde_json::from_str(&lab.router(&["list-pools"])?)
        .map_err(|e| Error::Check(format!("list-pools: {e}")))?;
    let lease = pools
        .pointer("/pools")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "rw")
        .flat_map(|p| p["leases"].as_array().cloned().unwrap_or_default())
        .find(|l| l["addr"] == vip.as_str());
    check(
        "list-pools shows the lease online for the road warrior",
        lease
            .as_ref()
            .is_some_and(|l| l["identity"] == RW_ID && l["online"] == true),
        &pools,
    )?;

    // 8. A branch site at the same time: strongSwan as the branch gateway
    //    of [[site.vpn.branches]] / [connections.branch] (198.51.100.20,
    //    LAN 172.16.1.0/24) with a host behind it, on an "Internet" link
    //    that the WAN namespace routes.
    branch(lab, &ike_text, &url)?;
    let sas = parse_list_sas(&lab.router(&["list-sas"])?)?;
    check(
        "the road warrior's IKE SA is still up next to the branch's",
        rw_sa(&sas).is_some_and(|(_, v)| v == vip),
        format!("{sas:?}"),
    )?;

    // 9. Teardown: the daemon goes first, then every namespace.
    for c in [lab.charon.take(), lab.branch.take()].into_iter().flatten() {
        let mut c = c;
        c.stop();
    }
    lab.servers.clear();
    let o = lab.provision("teardown")?;
    check(
        "provision teardown",
        o.status.success(),
        format!("{}{}", o.stdout, o.stderr),
    )?;
    lab.branch_ns.clear();
    let list = proc::run(
        Command::new(IP).args(["netns", "list"]),
        Duration::from_secs(5),
        lab.dir.path(),
    )?;
    check(
        "no namespace left",
        !list.stdout.contains(&format!("{}-", lab.prefix)),
        &list.stdout,
    )?;
    Ok(())
}

#[test]
fn road_warrior_reaches_the_lab_lan_through_the_router_and_is_not_natted() -> Result<()> {
    let name = "road_warrior_reaches_the_lab_lan_through_the_router_and_is_not_natted";
    if interop_tests::ikegw_prerequisites(name)? == interop_tests::Gate::Skip {
        return Ok(());
    }
    if !Path::new(CURL).exists() {
        if interop_tests::in_ci() {
            return Err(Error::Check(format!("{name}: curl missing at {CURL}")));
        }
        eprintln!("SKIPPED: {name}: missing curl at {CURL}");
        return Ok(());
    }
    let bin = binary().map_err(Error::Check)?;
    // Short and unique: namespace names are <prefix>-<zone>.
    let prefix = format!("ikr{:x}", std::process::id() % 0xfffff);
    let dir = ScenarioDir::create(&interop_tests::unique_tag("lab-rw"))?;
    let config = dir.path().join("home.toml");
    let text = std::fs::read_to_string(EXAMPLE).map_err(|e| Error::Io {
        path: PathBuf::from(EXAMPLE),
        source: e,
    })? + &std::fs::read_to_string(EXAMPLE_IKE).map_err(|e| Error::Io {
        path: PathBuf::from(EXAMPLE_IKE),
        source: e,
    })?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(&config, text).map_err(|e| Error::Io {
            path: config.clone(),
            source: e,
        })?;
        // It holds PSKs: ikegw refuses a world-readable secrets file.
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            Error::Io {
                path: config.clone(),
                source: e,
            }
        })?;
    }
    let mut lab = Lab {
        charon: None,
        branch: None,
        servers: Vec::new(),
        branch_ns: Vec::new(),
        bin,
        config,
        prefix,
        dir,
    };
    let started = std::time::Instant::now();
    match scenario(&mut lab) {
        Ok(()) => {
            eprintln!("PASS {name}: {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            eprintln!("FAIL {name}: {e}");
            lab.report();
            Err(e)
        }
    }
}
