//! `ikegw reload` and SIGHUP with two daemons on loopback: connections the
//! new file leaves alone keep their SAs (same SPIs); a connection the file
//! drops is deleted on both sides. Also: a refused proposal is logged at
//! INFO on the responder.

// Helpers outside #[test] fns are test code too (clippy.toml allows this in tests).
#![allow(clippy::indexing_slicing)]

mod daemon_common;

use std::time::Duration;

use daemon_common::*;
use serde_json::Value;

const SECRET: &str = "0x00112233445566778899aabbccddeeff";

/// A connection to a host that never answers, unrelated to the tunnel.
fn unrelated(me: &Side) -> String {
    format!(
        r#"
[connections.other]
local_addrs = ["{ip}"]
remote_addrs = ["127.0.0.9"]

[connections.other.local]
auth = "psk"
id = "{id}"

[connections.other.remote]
auth = "psk"
id = "other.example"

[connections.other.children.lan]
local_ts = ["10.7.0.0/16"]
remote_ts = ["10.8.0.0/16"]

[secrets.ike.other]
id = ["{id}", "other.example"]
secret = "another secret"
"#,
        ip = me.ip,
        id = me.id,
    )
}

fn established(d: &Daemon) -> Option<Value> {
    let v = d.json(&["list-sas"]);
    let sa = v.get("sas")?.as_array()?.first()?.clone();
    let up = sa.get("state")? == "ESTABLISHED";
    (up && sa.get("children")?.as_array()?.len() == 1).then_some(sa)
}

fn sa_count(d: &Daemon) -> usize {
    d.json(&["list-sas"])["sas"].as_array().map_or(0, Vec::len)
}

/// (IKE SA id, inbound SPI, outbound SPI) of the one tunnel.
fn spis(sa: &Value) -> (String, String, String) {
    let c = &sa["children"][0];
    (
        sa["id"].as_str().unwrap_or_default().to_owned(),
        c["spi_in"].as_str().unwrap_or_default().to_owned(),
        c["spi_out"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Two daemons with the `ab` tunnel up; returns them and a's config path.
fn tunnel(dir: &std::path::Path) -> (Daemon, Daemon, Side, Side, std::path::PathBuf) {
    let (a, b) = pair();
    let ca = write_config(dir, "a", &config(dir, &a, &b, SECRET));
    let cb = write_config(dir, "b", &config(dir, &b, &a, SECRET));
    let da = Daemon::spawn(dir, "a", &ca);
    let db = Daemon::spawn(dir, "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let up = eventually(Duration::from_secs(10), || {
        established(&da).is_some() && established(&db).is_some()
    });
    assert!(up, "no tunnel:\n{}\n{}", da.log_text(), db.log_text());
    (da, db, a, b, ca)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn reload_adding_an_unrelated_connection_keeps_the_tunnels_spis() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db, a, b, ca) = tunnel(dir.path());
    let before_a = spis(&established(&da).unwrap());
    let before_b = spis(&established(&db).unwrap());

    let text = config(dir.path(), &a, &b, SECRET) + &unrelated(&a);
    std::fs::write(&ca, text).unwrap();
    let r = da.json(&["reload"]);
    assert_eq!(r["response"], "reloaded", "{r}");
    assert_eq!(r["applied"], true, "{r}");
    assert_eq!(names(&r["added"]), ["other/lan"], "{r}");
    assert_eq!(names(&r["unchanged"]), ["ab/net"], "{r}");
    assert!(names(&r["removed"]).is_empty() && names(&r["changed"]).is_empty());
    assert_eq!(da.json(&["status"])["connections"], 2);

    // The same file again, by SIGHUP this time: nothing changes either.
    da.signal("HUP");
    let logged = eventually(Duration::from_secs(5), || {
        da.log_text()
            .contains("added none; removed none; changed none; unchanged ab/net other/lan")
    });
    assert!(logged, "{}", da.log_text());

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(spis(&established(&da).unwrap()), before_a);
    assert_eq!(spis(&established(&db).unwrap()), before_b);
    assert_eq!(sa_count(&da), 1);
    assert_eq!(sa_count(&db), 1);
    for d in [&da, &db] {
        let log = d.log_text();
        assert!(!log.contains("IKE SA deleted"), "{log}");
        assert_eq!(log.matches("CHILD SA installed").count(), 1, "{log}");
    }
}

#[test]
fn reload_removing_the_connection_deletes_it_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db, a, _b, ca) = tunnel(dir.path());
    let text = format!(
        r#"[daemon]
backend = "userland"
control_socket = "{dir}/a.sock"
listen = ["{ip}"]
port = {port}
port_nat_t = {natt}
log_level = "debug"
{other}"#,
        dir = dir.path().display(),
        ip = a.ip,
        port = a.port,
        natt = a.natt,
        other = unrelated(&a),
    );
    std::fs::write(&ca, text).unwrap();
    let r = da.json(&["reload"]);
    assert_eq!(r["applied"], true, "{r}");
    assert_eq!(names(&r["removed"]), ["ab/net"], "{r}");
    assert_eq!(names(&r["added"]), ["other/lan"], "{r}");

    let gone = eventually(Duration::from_secs(10), || {
        sa_count(&da) == 0 && sa_count(&db) == 0
    });
    assert!(gone, "{}\n{}", da.log_text(), db.log_text());
    assert!(
        db.log_text().contains("deleted by peer"),
        "{}",
        db.log_text()
    );
    assert!(da.log_text().contains("deleted by us"), "{}", da.log_text());
    assert_eq!(da.json(&["status"])["child_sas"], 0);
    assert_eq!(db.json(&["status"])["child_sas"], 0);
    // The connection is gone from a: initiating it is refused.
    assert!(!da.ctl(&["initiate", "--child", "ab/net"]).status.success());

    // An invalid file keeps the running configuration.
    std::fs::write(&ca, "[daemon\n").unwrap();
    let out = da.ctl(&["reload"]);
    assert!(!out.status.success());
    assert_eq!(da.json(&["status"])["connections"], 1);
}

#[test]
fn a_refused_proposal_is_logged_at_info_on_the_responder() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let text = config(dir.path(), &a, &b, SECRET).replace(
        "remote_port",
        "proposals = [\"aes128-sha256-modp3072\"]\nremote_port",
    );
    let ca = write_config(dir.path(), "a", &text);
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let mut line = None;
    let seen = eventually(Duration::from_secs(10), || {
        line = da
            .log_text()
            .lines()
            .find(|l| l.contains("peer offered"))
            .map(str::to_owned);
        line.is_some()
    });
    assert!(seen, "{}", da.log_text());
    let line = line.unwrap();
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("we accept AES_CBC_128"), "{line}");
}
