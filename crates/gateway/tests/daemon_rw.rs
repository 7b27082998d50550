//! Road warriors (#10): an `ikegw run` gateway with an address pool and an
//! `ikegw run` client asking for `vips = ["0.0.0.0"]`, over loopback with
//! the userland key engine. The client gets an address from the pool, its
//! CHILD_SA is narrowed to it, and a reconnect gets the same address back
//! (identity-sticky leases, kept in `[daemon] state_dir`).

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::path::Path;
use std::time::Duration;

use daemon_common::*;
use serde_json::Value;

const SECRET: &str = "0x00112233445566778899aabbccddeeff";

fn daemon_head(dir: &Path, s: &Side) -> String {
    format!(
        r#"[daemon]
backend = "userland"
control_socket = "{dir}/{name}.sock"
state_dir = "{dir}/{name}-state"
listen = ["{ip}"]
port = {port}
port_nat_t = {natt}
log_level = "debug"

[secrets.ike.rw]
id = ["gw.example", "alice.example"]
secret = "{SECRET}"
"#,
        dir = dir.display(),
        name = s.name,
        ip = s.ip,
        port = s.port,
        natt = s.natt,
    )
}

fn gateway_config(dir: &Path, gw: &Side) -> String {
    format!(
        r#"{head}
[pools.rw]
addrs = "10.3.0.0/24"
dns = ["10.1.0.53"]
split_include = ["10.1.0.0/16"]

[connections.rw]
local_addrs = ["{ip}"]
pools = ["rw"]

[connections.rw.local]
auth = "psk"
id = "gw.example"

[connections.rw.remote]
auth = "psk"
id = "alice.example"

[connections.rw.children.net]
local_ts = ["10.1.0.0/16"]
remote_ts = ["0.0.0.0/0"]
"#,
        head = daemon_head(dir, gw),
        ip = gw.ip,
    )
}

fn client_config(dir: &Path, me: &Side, gw: &Side) -> String {
    format!(
        r#"{head}
[connections.rw]
local_addrs = ["{ip}"]
remote_addrs = ["{gip}"]
remote_port = {gport}
vips = ["0.0.0.0"]

[connections.rw.local]
auth = "psk"
id = "alice.example"

[connections.rw.remote]
auth = "psk"
id = "gw.example"

[connections.rw.children.net]
remote_ts = ["10.1.0.0/16"]
"#,
        head = daemon_head(dir, me),
        ip = me.ip,
        gip = gw.ip,
        gport = gw.port,
    )
}

fn established(d: &Daemon) -> Option<Value> {
    let v = d.json(&["list-sas"]);
    let sa = v.get("sas")?.as_array()?.first()?.clone();
    let up = sa.get("state")? == "ESTABLISHED";
    (up && sa.get("children")?.as_array()?.len() == 1).then_some(sa)
}

fn no_sas(d: &Daemon) -> bool {
    d.json(&["list-sas"])
        .get("sas")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
}

/// Connects the client and returns the virtual IP both sides agree on.
fn connect(gw: &Daemon, cl: &Daemon) -> String {
    let out = cl.ctl(&["initiate", "--child", "net"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sas = None;
    let up = eventually(Duration::from_secs(10), || {
        sas = established(gw).zip(established(cl));
        sas.is_some()
    });
    assert!(
        up,
        "no tunnel:\n--- gateway ---\n{}\n--- client ---\n{}",
        gw.log_text(),
        cl.log_text()
    );
    let (g, c) = sas.unwrap();
    let (gc, cc) = (&g["children"][0], &c["children"][0]);
    // The client's selector is its virtual IP alone (RFC 7296 §2.19), and
    // the gateway routes exactly that address into the tunnel.
    let vip = cc["local_ts"][0].as_str().unwrap().to_owned();
    assert_eq!(gc["remote_ts"][0], vip.as_str(), "{g}\n{c}");
    assert_eq!(cc["remote_ts"][0], "10.1.0.0/16", "{c}");
    assert_eq!(gc["local_ts"][0], "10.1.0.0/16", "{g}");
    assert_eq!(g["remote_id"], "alice.example");
    let addr = vip.strip_suffix("/32").unwrap_or_else(|| panic!("{vip}"));
    let ip: std::net::Ipv4Addr = addr.parse().unwrap();
    assert_eq!(ip.octets()[..3], [10, 3, 0], "not from the pool: {vip}");
    assert!(
        cl.log_text()
            .contains(&format!("virtual IPs assigned to us: {addr}")),
        "{}",
        cl.log_text()
    );
    assert!(
        gw.log_text()
            .contains(&format!("leased {addr} to alice.example")),
        "{}",
        gw.log_text()
    );
    addr.to_owned()
}

/// `list-pools --json`: (address, online) of `identity`'s lease in `rw`.
fn lease_of(gw: &Daemon, identity: &str) -> Option<(String, bool)> {
    let v = gw.json(&["list-pools"]);
    let pool = v["pools"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == "rw")?
        .clone();
    let l = pool["leases"]
        .as_array()?
        .iter()
        .find(|l| l["identity"] == identity)?
        .clone();
    Some((l["addr"].as_str()?.to_owned(), l["online"].as_bool()?))
}

#[test]
fn a_client_gets_a_pool_address_and_the_same_one_after_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let (g, c) = pair();
    let cg = write_config(dir.path(), "a", &gateway_config(dir.path(), &g));
    let cc = write_config(dir.path(), "b", &client_config(dir.path(), &c, &g));
    let mut gw = Daemon::spawn(dir.path(), "a", &cg);
    let cl = Daemon::spawn(dir.path(), "b", &cc);

    let first = connect(&gw, &cl);
    // The lease is on disk under state_dir, named by identity.
    let leases = std::fs::read_to_string(dir.path().join("a-state/leases.json")).unwrap();
    assert!(leases.contains("alice.example"), "{leases}");
    assert!(leases.contains(&first), "{leases}");
    assert_eq!(lease_of(&gw, "alice.example"), Some((first.clone(), true)));

    // Disconnect: the core releases the lease (the address goes offline,
    // still reserved for alice), then reconnect.
    let r = cl.json(&["terminate", "--ike", "rw"]);
    assert_ne!(r["response"], "error", "{r}");
    let down = eventually(Duration::from_secs(10), || no_sas(&gw) && no_sas(&cl));
    assert!(down, "{}\n{}", gw.log_text(), cl.log_text());
    assert!(
        eventually(Duration::from_secs(5), || gw
            .log_text()
            .contains(&format!("lease of {first} by alice.example released"))),
        "{}",
        gw.log_text()
    );
    assert_eq!(lease_of(&gw, "alice.example"), Some((first.clone(), false)));
    let out = gw.ctl(&["list-pools"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rw: 10.3.0.1 - 10.3.0.254, 254 addresses, 0 online, 1 offline"),
        "{text}"
    );
    let second = connect(&gw, &cl);
    assert_eq!(first, second);

    // A restarted gateway still knows alice's address.
    drop(cl);
    gw.signal("TERM");
    assert!(gw.wait(Duration::from_secs(10)).is_some());
    drop(gw);
    let gw = Daemon::spawn(dir.path(), "a", &cg);
    let cl = Daemon::spawn(dir.path(), "b", &cc);
    let third = connect(&gw, &cl);
    assert_eq!(first, third);
}

/// `ikegw reload` applies `[pools]` changes the way `swanctl --load-pools`
/// does: a pool is added at once; a range change that would strand an
/// online lease is refused (the pool stays as it was) and applied once the
/// lease is offline; the connection and its IKE SA are untouched.
#[test]
fn a_reload_changes_pools_without_stranding_online_leases() {
    let dir = tempfile::tempdir().unwrap();
    let (g, c) = pair();
    let gw_text = gateway_config(dir.path(), &g);
    let cg = write_config(dir.path(), "a", &gw_text);
    let cc = write_config(dir.path(), "b", &client_config(dir.path(), &c, &g));
    let gw = Daemon::spawn(dir.path(), "a", &cg);
    let cl = Daemon::spawn(dir.path(), "b", &cc);
    let first = connect(&gw, &cl);
    assert_eq!(first, "10.3.0.1");
    let ike_before = established(&gw).unwrap()["id"].clone();

    let moved = gw_text.replace("addrs = \"10.3.0.0/24\"", "addrs = \"10.3.0.128/25\"")
        + "\n[pools.more]\naddrs = \"10.4.0.0/24\"\n";
    write_config(dir.path(), "a", &moved);
    let r = gw.json(&["reload"]);
    assert_ne!(r["response"], "error", "{r}");
    let log = gw.log_text();
    assert!(
        log.contains("reload: pool 'rw' keeps 10.3.0.1 - 10.3.0.254: 10.3.0.1 online outside 10.3.0.129 - 10.3.0.254"),
        "{log}"
    );
    assert!(
        log.contains("reload: pool 'more' added: 10.4.0.1 - 10.4.0.254"),
        "{log}"
    );
    let pools = gw.ctl(&["list-pools"]);
    let text = String::from_utf8_lossy(&pools.stdout);
    assert!(text.contains("more: 10.4.0.1 - 10.4.0.254"), "{text}");
    assert!(text.contains("rw: 10.3.0.1 - 10.3.0.254"), "{text}");
    let now = established(&gw).unwrap_or_else(|| panic!("{}", gw.log_text()));
    assert_eq!(now["id"], ike_before);

    // Offline now: the same reload moves the pool and drops the lease.
    let r = cl.json(&["terminate", "--ike", "rw"]);
    assert_ne!(r["response"], "error", "{r}");
    assert!(eventually(Duration::from_secs(10), || no_sas(&gw)
        && lease_of(&gw, "alice.example")
            == Some((first.clone(), false))));
    let r = gw.json(&["reload"]);
    assert_ne!(r["response"], "error", "{r}");
    assert!(
        gw.log_text().contains(
            "reload: pool 'rw' now 10.3.0.129 - 10.3.0.254 (1 offline leases outside it dropped)"
        ),
        "{}",
        gw.log_text()
    );
    assert_eq!(connect(&gw, &cl), "10.3.0.129");
}
