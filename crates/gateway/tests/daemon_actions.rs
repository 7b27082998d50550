//! `start_action = start` retries with back-off, and `close_action`
//! honoured when the peer deletes the IKE SA: two `ikegw run` processes on
//! loopback with the userland key engine.

mod daemon_common;

use std::time::Duration;

use daemon_common::*;

const SECRET: &str = "0x00112233445566778899aabbccddeeff";
const WRONG: &str = "0xffeeddccbbaa99887766554433221100";

/// `config()` with `extra` lines in the CHILD_SA section.
fn with_child(text: &str, extra: &str) -> String {
    text.replace("[secrets.ike.ab]", &format!("{extra}\n\n[secrets.ike.ab]"))
}

fn established_id(d: &Daemon) -> Option<String> {
    let v = d.json(&["list-sas"]);
    let sa = v.get("sas")?.as_array()?.first()?.clone();
    (sa.get("state")? == "ESTABLISHED" && sa.get("children")?.as_array()?.len() == 1).then(|| {
        sa.get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    })
}

#[test]
fn start_action_start_retries_with_growing_back_off_until_the_peer_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(
        dir.path(),
        "a",
        &with_child(
            &config(dir.path(), &a, &b, SECRET),
            "start_action = \"start\"",
        ),
    );
    // b refuses a's PSK at first.
    let good_b = config(dir.path(), &b, &a, SECRET);
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, WRONG));
    let db = Daemon::spawn(dir.path(), "b", &cb);
    let da = Daemon::spawn(dir.path(), "a", &ca);

    let retried = eventually(Duration::from_secs(10), || {
        da.json(&["stats"])["failed"].as_u64() >= Some(2)
    });
    assert!(retried, "{}", da.log_text());
    let log = da.log_text();
    assert!(log.contains("re-initiating ab/net in 1s"), "{log}");
    assert!(log.contains("re-initiating ab/net in 2s"), "{log}");

    // b takes the right key; a's next attempt gets through on its own.
    write_config(dir.path(), "b", &good_b);
    assert_eq!(db.json(&["reload"])["response"], "reloaded");
    let up = eventually(Duration::from_secs(15), || {
        established_id(&da).is_some() && established_id(&db).is_some()
    });
    assert!(up, "{}\n{}", da.log_text(), db.log_text());
    // Success resets the back-off: no retry is pending any more.
    let n = da.json(&["stats"])["failed"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(da.json(&["stats"])["failed"].as_u64(), Some(n));
}

#[test]
fn close_action_start_renegotiates_after_the_peer_deletes_the_ike_sa() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(
        dir.path(),
        "a",
        &with_child(
            &config(dir.path(), &a, &b, SECRET),
            "close_action = \"start\"",
        ),
    );
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let mut first = None;
    let up = eventually(Duration::from_secs(10), || {
        first = established_id(&da);
        first.is_some() && established_id(&db).is_some()
    });
    assert!(up, "{}\n{}", da.log_text(), db.log_text());
    let first = first.unwrap();

    // b deletes it; a (close_action = start) brings up a new one.
    let r = db.json(&["terminate", "--ike", "ab"]);
    assert_eq!(r["response"], "terminating", "{r}");
    let again = eventually(Duration::from_secs(10), || {
        established_id(&da).is_some_and(|id| id != first)
    });
    assert!(again, "{}\n{}", da.log_text(), db.log_text());
    assert!(
        da.log_text()
            .contains("ab/net closed (deleted by peer): restarting"),
        "{}",
        da.log_text()
    );
}

#[test]
fn close_action_trap_installs_the_trap_policy_and_does_not_renegotiate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(
        dir.path(),
        "a",
        &with_child(
            &config(dir.path(), &a, &b, SECRET),
            "close_action = \"trap\"",
        ),
    );
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let up = eventually(Duration::from_secs(10), || {
        established_id(&da).is_some() && established_id(&db).is_some()
    });
    assert!(up, "{}\n{}", da.log_text(), db.log_text());
    assert!(!da.log_text().contains("trap policy"), "{}", da.log_text());

    let r = db.json(&["terminate", "--ike", "ab"]);
    assert_eq!(r["response"], "terminating", "{r}");
    let trapped = eventually(Duration::from_secs(10), || {
        da.log_text()
            .contains("trap policy outbound 10.1.0.0/16 -> 10.2.0.0/16")
    });
    assert!(trapped, "{}", da.log_text());
    assert!(da
        .log_text()
        .contains("ab/net closed (deleted by peer): installing its trap policy"));
    // No traffic, so nothing is negotiated.
    std::thread::sleep(Duration::from_secs(1));
    assert!(da.json(&["list-sas"])["sas"]
        .as_array()
        .is_some_and(Vec::is_empty));
    assert_eq!(da.json(&["stats"])["kernel_errors"], 0);
}
