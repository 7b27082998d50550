//! The control socket verbs against a running `ikegw run`: typed answers,
//! typed errors, socket permissions, reload keeping the old config on
//! error (by verb and by SIGHUP), log streaming.

#[path = "daemon_common/mod.rs"]
mod daemon_common;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use daemon_common::*;

const SECRET: &str = "0x00112233445566778899aabbccddeeff";

#[test]
fn verbs_answer_with_typed_json_and_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);

    let mode = std::fs::metadata(&da.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "control socket mode {mode:o}");

    let st = da.json(&["status"]);
    assert_eq!(st["response"], "status");
    assert_eq!(st["connections"], 1);
    assert_eq!(st["ike_sas"], 0);
    assert_eq!(st["sockets"].as_array().unwrap().len(), 2, "{st}");

    let conns = da.json(&["list-conns"]);
    let c = &conns["conns"][0];
    assert_eq!(c["conn"], "ab");
    assert_eq!(c["child"], "net");
    assert_eq!(c["local_id"], "a.example");
    assert_eq!(c["remote_id"], "b.example");
    assert_eq!(c["local_ts"][0], "10.1.0.0/16");

    let e = da.json(&["initiate", "--child", "nope"]);
    assert_eq!(e["response"], "error");
    assert_eq!(e["error"], "no-such-child");
    assert_eq!(e["name"], "nope");
    let out = da.ctl(&["initiate", "--child", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no child named 'nope'"));

    let e = da.json(&["terminate", "--ike", "ab"]);
    assert_eq!(e["error"], "no-such-ike-sa");
    let e = da.json(&["rekey", "--ike", "ab"]);
    assert_eq!(e["error"], "no-such-ike-sa");

    // Initiating towards a peer that is not running: the SA shows as
    // CONNECTING and can be terminated by connection name.
    let i = da.json(&["initiate", "--child", "ab/net"]);
    assert_eq!(i["response"], "initiated", "{i}");
    let sas = da.json(&["list-sas"]);
    assert_eq!(sas["sas"][0]["state"], "CONNECTING", "{sas}");
    assert_eq!(sas["sas"][0]["id"], i["ike"]);
    let t = da.json(&["terminate", "--ike", "ab"]);
    assert_eq!(t["response"], "terminating", "{t}");
    assert_eq!(t["ike"][0], i["ike"]);

    let s = da.json(&["stats"]);
    assert_eq!(s["response"], "stats");
    assert!(s["ike_out"].as_u64().unwrap() >= 1, "{s}");

    // A malformed request line gets a typed error, not a hang-up.
    let resp = raw_request(&da.socket, "{\"request\":\"format-disk\"}");
    assert!(resp.contains("\"error\":\"bad-request\""), "{resp}");
}

#[test]
fn reload_keeps_the_running_config_when_the_new_one_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let good = config(dir.path(), &a, &b, SECRET);
    let ca = write_config(dir.path(), "a", &good);
    let da = Daemon::spawn(dir.path(), "a", &ca);

    // Broken: an unknown key. The verb reports every diagnostic.
    write_config(
        dir.path(),
        "a",
        &good.replace("remote_addrs =", "remote_adrs ="),
    );
    let r = da.json(&["reload"]);
    assert_eq!(r["error"], "config-invalid", "{r}");
    let diags = r["diagnostics"].as_array().unwrap();
    assert!(
        diags
            .iter()
            .any(|d| d.as_str().unwrap().contains("remote_adrs")),
        "{r}"
    );
    assert_eq!(da.json(&["list-conns"])["conns"][0]["remote"], "127.0.0.2");

    // SIGHUP with the same broken file: still running, old config kept,
    // the log says why.
    da.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || da
        .log_text()
        .contains("keeping the running configuration")));
    assert_eq!(da.json(&["status"])["connections"], 1);

    // A valid new file with a second child is taken (no SA is up).
    let two = format!(
        "{good}\n[connections.ab.children.more]\nlocal_ts = [\"10.3.0.0/16\"]\nremote_ts = [\"10.4.0.0/16\"]\n"
    );
    write_config(dir.path(), "a", &two);
    let r = da.json(&["reload"]);
    assert_eq!(r["response"], "reloaded", "{r}");
    assert_eq!(r["connections"], 2);
    assert_eq!(r["applied"], true);
    let conns = da.json(&["list-conns"]);
    assert_eq!(conns["conns"].as_array().unwrap().len(), 2);
    assert_eq!(conns["conns"][1]["child"], "more");
}

#[test]
fn log_streams_lines_to_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let mut log = Command::new(BIN)
        .args(["log", "--socket"])
        .arg(&da.socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = log.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // The subscription races the first event: initiate until a line shows.
    let mut got = None;
    for _ in 0..50 {
        da.json(&["initiate", "--child", "net"]);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            got = Some(l);
            break;
        }
    }
    let _ = log.kill();
    let _ = log.wait();
    let line = got.expect("no log line streamed");
    assert!(line.contains("INFO") || line.contains("DEBUG"), "{line}");
}

#[test]
fn log_json_writes_one_json_object_per_line_with_the_ike_sa_span() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let da = Daemon::spawn_with(dir.path(), "a", &ca, &["--log-json"]);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    assert!(eventually(Duration::from_secs(10), || da
        .log_text()
        .contains("CHILD SA installed")));
    let log = da.log_text();
    let mut saw_span = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        if v["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("established")
        {
            assert_eq!(v["span"]["name"], "ike_sa", "{line}");
            assert!(v["span"]["id"].is_string(), "{line}");
            saw_span = true;
        }
    }
    assert!(saw_span, "{log}");
}
