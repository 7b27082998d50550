//! Two `ikegw run` processes with the userland key engine negotiate a PSK
//! site-to-site tunnel over loopback (127.0.0.1 ↔ 127.0.0.2).

mod daemon_common;

use std::time::Duration;

use daemon_common::*;
use serde_json::Value;

const SECRET: &str = "0x00112233445566778899aabbccddeeff";

fn established(d: &Daemon) -> Option<Value> {
    let v = d.json(&["list-sas"]);
    let sa = v.get("sas")?.as_array()?.first()?.clone();
    let up = sa.get("state")? == "ESTABLISHED";
    (up && sa.get("children")?.as_array()?.len() == 1).then_some(sa)
}

#[test]
fn two_daemons_negotiate_a_psk_tunnel_with_matching_spis_and_clean_up_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let mut da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);

    let out = db.ctl(&["initiate", "--child", "net"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut sa_a = None;
    let mut sa_b = None;
    let up = eventually(Duration::from_secs(10), || {
        sa_a = established(&da);
        sa_b = established(&db);
        sa_a.is_some() && sa_b.is_some()
    });
    assert!(
        up,
        "no tunnel:\n--- a ---\n{}\n--- b ---\n{}",
        da.log_text(),
        db.log_text()
    );
    let (sa_a, sa_b) = (sa_a.unwrap(), sa_b.unwrap());
    let (ch_a, ch_b) = (&sa_a["children"][0], &sa_b["children"][0]);
    // Each side's inbound SPI is the other's outbound SPI.
    assert_eq!(ch_a["spi_in"], ch_b["spi_out"]);
    assert_eq!(ch_a["spi_out"], ch_b["spi_in"]);
    assert_ne!(ch_a["spi_in"], ch_a["spi_out"]);
    assert_eq!(ch_a["suite"], ch_b["suite"]);
    assert_eq!(sa_a["suite"], sa_b["suite"]);
    assert_eq!(sa_a["remote_id"], "b.example");
    assert_eq!(sa_b["remote_id"], "a.example");
    assert_eq!(ch_a["local_ts"][0], "10.1.0.0/16");
    assert_eq!(ch_a["remote_ts"][0], "10.2.0.0/16");
    assert_eq!(sa_a["remote"], format!("127.0.0.2:{}", b.port));
    let st = da.json(&["status"]);
    assert_eq!(st["child_sas"], 1, "{st}");
    assert_eq!(st["backend"], "userland");

    // Rekey the CHILD_SA from a: both sides move to the same new SPIs.
    let spi_in = ch_a["spi_in"].as_str().unwrap().to_string();
    let r = da.json(&["rekey", "--ike", "ab", "--child", &spi_in]);
    assert_eq!(r["response"], "rekeying", "{r}");
    let mut new = None;
    let rekeyed = eventually(Duration::from_secs(10), || {
        let (Some(x), Some(y)) = (established(&da), established(&db)) else {
            return false;
        };
        let (cx, cy) = (&x["children"][0], &y["children"][0]);
        let moved = cx["spi_in"] != spi_in.as_str() && cx["spi_in"] == cy["spi_out"];
        if moved {
            new = Some((cx.clone(), cy.clone()));
        }
        moved
    });
    assert!(
        rekeyed,
        "no CHILD rekey:\n{}\n{}",
        da.log_text(),
        db.log_text()
    );
    let (nx, ny) = new.unwrap();
    assert_eq!(nx["spi_out"], ny["spi_in"]);
    assert_eq!(da.json(&["stats"])["kernel_errors"], 0);
    for d in [&da, &db] {
        let log = d.log_text();
        assert!(!log.contains("ERROR"), "{log}");
    }

    // SIGTERM: Delete goes to the peer, our SAs leave the engine, exit 0.
    da.signal("TERM");
    assert_eq!(
        da.wait(Duration::from_secs(10)),
        Some(0),
        "{}",
        da.log_text()
    );
    let log = da.log_text();
    assert!(log.contains("shutting down: deleting 1 IKE SAs"), "{log}");
    assert!(log.contains("IKE SA deleted"), "{log}");
    assert!(!da.socket.exists(), "control socket left behind");
    let gone = eventually(Duration::from_secs(5), || {
        db.json(&["list-sas"])["sas"]
            .as_array()
            .is_some_and(Vec::is_empty)
    });
    assert!(gone, "peer kept the SA:\n{}", db.log_text());
    assert!(
        db.log_text().contains("deleted by peer"),
        "{}",
        db.log_text()
    );
    assert_eq!(db.json(&["status"])["child_sas"], 0);
}

#[test]
fn a_wrong_psk_fails_with_one_log_line_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let other = "0xffeeddccbbaa99887766554433221100";
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, other));
    let _da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let failed = eventually(Duration::from_secs(10), || {
        db.json(&["stats"])["failed"].as_u64() == Some(1)
    });
    assert!(failed, "{}", db.log_text());
    let log = db.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("IKE SA ab/net failed"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(db.json(&["list-sas"])["sas"].as_array().unwrap().is_empty());
}

#[test]
fn the_tunnel_also_comes_up_over_ipv6_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pa, na) = free_ports("[::1]");
    let (pb, nb) = free_ports("[::1]");
    let a = Side {
        name: "a",
        ip: "::1",
        port: pa,
        natt: na,
        id: "a.example",
        lan: "10.1.0.0/16",
    };
    let b = Side {
        name: "b",
        ip: "::1",
        port: pb,
        natt: nb,
        id: "b.example",
        lan: "10.2.0.0/16",
    };
    let ca = write_config(dir.path(), "a", &config(dir.path(), &a, &b, SECRET));
    let cb = write_config(dir.path(), "b", &config(dir.path(), &b, &a, SECRET));
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let mut sas = None;
    let up = eventually(Duration::from_secs(10), || {
        sas = established(&da).zip(established(&db));
        sas.is_some()
    });
    assert!(up, "{}\n{}", da.log_text(), db.log_text());
    let (x, y) = sas.unwrap();
    assert_eq!(x["remote"], format!("[::1]:{pb}"));
    assert_eq!(x["children"][0]["spi_in"], y["children"][0]["spi_out"]);
}
