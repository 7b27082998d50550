//! Two `ikegw run` processes authenticate with X.509 certificates issued at
//! test time by `certs::issue` (one CA, two gateway certificates) over
//! loopback (127.0.0.1 ↔ 127.0.0.2), and refuse peers they must refuse.

// Helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod daemon_common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use certs::issue::{generate_key, write_private_key, Ca, CertSpec, KeyAlgorithm, Profile, San};
use certs::Certificate;
use daemon_common::*;
use serde_json::Value;

const DAY: i64 = 86_400;

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn ca(name: &str, alg: KeyAlgorithm) -> Ca {
    let spec = CertSpec::new(
        &format!("CN={name}"),
        Profile::Ca { path_len: None },
        now_unix() - DAY,
        3650,
    );
    Ca::self_signed(&spec, generate_key(alg).unwrap()).unwrap()
}

/// Issues a gateway certificate for `san` under `ca` and writes
/// `<file>.crt` and `<file>.key` (0600) into `dir`.
fn gateway_cert(dir: &Path, ca: &Ca, file: &str, san: &str, alg: KeyAlgorithm) {
    let key = generate_key(alg).unwrap();
    let mut spec = CertSpec::new(&format!("CN={san}"), Profile::Gateway, now_unix() - DAY, 30);
    spec.sans = vec![San::parse(san).unwrap()];
    let cert: Certificate = ca.issue(&spec, &key).unwrap();
    std::fs::write(dir.join(format!("{file}.crt")), cert.to_pem()).unwrap();
    write_private_key(&dir.join(format!("{file}.key")), &key).unwrap();
}

fn write_ca(dir: &Path, ca: &Ca, file: &str) {
    std::fs::write(dir.join(format!("{file}.crt")), ca.cert.to_pem()).unwrap();
}

/// How one daemon authenticates.
struct Auth<'a> {
    /// `local.auth`: "pubkey" or "psk".
    local: &'a str,
    /// `remote.auth`.
    remote: &'a str,
    /// Our certificate's file stem.
    cert: &'a str,
    /// The CA file stem we trust.
    cacert: &'a str,
    /// `remote.id`; `None` accepts any (`%any`).
    remote_id: Option<&'a str>,
}

impl Auth<'_> {
    fn certs(cert: &'static str, remote_id: Option<&'static str>) -> Auth<'static> {
        Auth {
            local: "pubkey",
            remote: "pubkey",
            cert,
            cacert: "ca",
            remote_id,
        }
    }
}

/// Extra connection settings and a pinned peer certificate instead of
/// `cacerts`.
#[derive(Default)]
struct Extra<'a> {
    /// Lines for `[connections.ab]`.
    conn: &'a str,
    /// File stem of the peer certificate pinned in `remote.certs`.
    pin: Option<&'a str>,
}

fn cert_config(dir: &Path, me: &Side, peer: &Side, auth: &Auth<'_>) -> String {
    cert_config_with(dir, me, peer, auth, &Extra::default())
}

fn cert_config_with(
    dir: &Path,
    me: &Side,
    peer: &Side,
    auth: &Auth<'_>,
    extra: &Extra<'_>,
) -> String {
    let d = dir.display();
    let round = |which: &str, method: &str, id: Option<&str>| {
        let mut t = format!("[connections.ab.{which}]\nauth = \"{method}\"\n");
        if let Some(id) = id {
            t.push_str(&format!("id = \"{id}\"\n"));
        }
        if method == "pubkey" && which == "local" {
            t.push_str(&format!("certs = [\"{d}/{}.crt\"]\n", auth.cert));
        }
        if method == "pubkey" && which == "remote" {
            match extra.pin {
                Some(pin) => t.push_str(&format!("certs = [\"{d}/{pin}.crt\"]\n")),
                None => t.push_str(&format!("cacerts = [\"{d}/{}.crt\"]\n", auth.cacert)),
            }
        }
        t
    };
    let mut secrets = String::new();
    if auth.local == "pubkey" {
        secrets.push_str(&format!(
            "[secrets.private.me]\nfile = \"{d}/{}.key\"\n",
            auth.cert
        ));
    }
    if auth.local == "psk" || auth.remote == "psk" {
        secrets.push_str(
            "[secrets.ike.ab]\nid = [\"a.example\", \"b.example\"]\nsecret = \"0x00112233445566778899aabbccddeeff\"\n",
        );
    }
    format!(
        r#"[daemon]
backend = "userland"
control_socket = "{d}/{name}.sock"
listen = ["{ip}"]
port = {port}
port_nat_t = {natt}
log_level = "debug"

[connections.ab]
local_addrs = ["{ip}"]
remote_addrs = ["{pip}"]
remote_port = {pport}
{conn}
{local}
{remote}
[connections.ab.children.net]
local_ts = ["{lan}"]
remote_ts = ["{plan}"]

{secrets}"#,
        name = me.name,
        ip = me.ip,
        port = me.port,
        natt = me.natt,
        pip = peer.ip,
        pport = peer.port,
        conn = extra.conn,
        local = round("local", auth.local, Some(me.id)),
        remote = round("remote", auth.remote, auth.remote_id),
        lan = me.lan,
        plan = peer.lan,
    )
}

fn established(d: &Daemon) -> Option<Value> {
    let v = d.json(&["list-sas"]);
    let sa = v.get("sas")?.as_array()?.first()?.clone();
    let up = sa.get("state")? == "ESTABLISHED";
    (up && sa.get("children")?.as_array()?.len() == 1).then_some(sa)
}

/// Starts both daemons, has b initiate, and returns both SAs once up.
fn bring_up(
    dir: &Path,
    a: &Side,
    b: &Side,
    auth_a: &Auth<'_>,
    auth_b: &Auth<'_>,
) -> (Value, Value) {
    let ca = write_config(dir, "a", &cert_config(dir, a, b, auth_a));
    let cb = write_config(dir, "b", &cert_config(dir, b, a, auth_b));
    let da = Daemon::spawn(dir, "a", &ca);
    let db = Daemon::spawn(dir, "b", &cb);
    let out = db.ctl(&["initiate", "--child", "net"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sas = None;
    let up = eventually(Duration::from_secs(15), || {
        sas = established(&da).zip(established(&db));
        sas.is_some()
    });
    assert!(
        up,
        "no tunnel:\n--- a ---\n{}\n--- b ---\n{}",
        da.log_text(),
        db.log_text()
    );
    for d in [&da, &db] {
        let log = d.log_text();
        assert!(!log.contains("ERROR"), "{log}");
    }
    sas.unwrap()
}

fn assert_matching(sa_a: &Value, sa_b: &Value) {
    let (ch_a, ch_b) = (&sa_a["children"][0], &sa_b["children"][0]);
    // Each side's inbound SPI is the other's outbound SPI.
    assert_eq!(ch_a["spi_in"], ch_b["spi_out"]);
    assert_eq!(ch_a["spi_out"], ch_b["spi_in"]);
    assert_ne!(ch_a["spi_in"], ch_a["spi_out"]);
    assert_eq!(sa_a["suite"], sa_b["suite"]);
    assert_eq!(sa_a["remote_id"], "b.example");
    assert_eq!(sa_b["remote_id"], "a.example");
}

fn both(dir: &Path, alg: KeyAlgorithm) {
    let ca = ca("Test VPN CA", alg);
    write_ca(dir, &ca, "ca");
    gateway_cert(dir, &ca, "a", "a.example", alg);
    gateway_cert(dir, &ca, "b", "b.example", alg);
}

#[test]
fn ecdsa_p256_certificates_bring_up_a_tunnel_with_matching_spis() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    let (a, b) = pair();
    let auth = |peer| Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: if peer == "b.example" { "a" } else { "b" },
        cacert: "ca",
        remote_id: Some(peer),
    };
    let (sa_a, sa_b) = bring_up(dir.path(), &a, &b, &auth("b.example"), &auth("a.example"));
    assert_matching(&sa_a, &sa_b);
}

#[test]
fn ed25519_certificates_work_and_percent_any_accepts_the_certified_id() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::Ed25519);
    let (a, b) = pair();
    // a (the responder) accepts any identity its CA certified.
    let auth_a = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "a",
        cacert: "ca",
        remote_id: None,
    };
    let auth_b = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "b",
        cacert: "ca",
        remote_id: Some("a.example"),
    };
    let (sa_a, sa_b) = bring_up(dir.path(), &a, &b, &auth_a, &auth_b);
    assert_matching(&sa_a, &sa_b);
}

#[test]
fn one_side_signs_while_the_other_uses_the_shared_key() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    let (a, b) = pair();
    // a signs and checks b's PSK MAC; b sends the PSK MAC and checks a's
    // certificate (RFC 7296 §2.15 allows different methods per direction).
    let auth_a = Auth {
        local: "pubkey",
        remote: "psk",
        cert: "a",
        cacert: "ca",
        remote_id: Some("b.example"),
    };
    let auth_b = Auth {
        local: "psk",
        remote: "pubkey",
        cert: "b",
        cacert: "ca",
        remote_id: Some("a.example"),
    };
    let (sa_a, sa_b) = bring_up(dir.path(), &a, &b, &auth_a, &auth_b);
    assert_matching(&sa_a, &sa_b);
}

/// Starts both, has b initiate, waits for b to count a failure (and for a
/// to log its side), and returns both daemons.
fn expect_failure(
    dir: &Path,
    a: &Side,
    b: &Side,
    auth_a: &Auth<'_>,
    auth_b: &Auth<'_>,
) -> (Daemon, Daemon) {
    let ca = write_config(dir, "a", &cert_config(dir, a, b, auth_a));
    let cb = write_config(dir, "b", &cert_config(dir, b, a, auth_b));
    let da = Daemon::spawn(dir, "a", &ca);
    let db = Daemon::spawn(dir, "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let failed = eventually(Duration::from_secs(15), || {
        db.json(&["stats"])["failed"].as_u64() == Some(1)
    });
    assert!(failed, "{}\n{}", da.log_text(), db.log_text());
    assert!(db.json(&["list-sas"])["sas"].as_array().unwrap().is_empty());
    (da, db)
}

#[test]
fn a_peer_certified_by_an_untrusted_ca_is_refused_with_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    // a trusts only another CA, of the same name.
    let rogue = ca("Test VPN CA", KeyAlgorithm::EcdsaP256);
    write_ca(dir.path(), &rogue, "other-ca");
    let (a, b) = pair();
    let auth_a = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "a",
        cacert: "other-ca",
        remote_id: Some("b.example"),
    };
    let auth_b = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "b",
        cacert: "ca",
        remote_id: Some("a.example"),
    };
    let (da, db) = expect_failure(dir.path(), &a, &b, &auth_a, &auth_b);
    // a, the responder, refused b's certificate and kept no SA.
    let refused = eventually(Duration::from_secs(5), || {
        da.json(&["stats"])["failed"].as_u64() == Some(1)
    });
    assert!(refused, "{}", da.log_text());
    assert!(da.json(&["list-sas"])["sas"].as_array().unwrap().is_empty());
    let (log_a, log_b) = (da.log_text(), db.log_text());
    let lines: Vec<&str> = log_a
        .lines()
        .filter(|l| l.contains("peer certificate rejected"))
        .collect();
    assert_eq!(lines.len(), 1, "{log_a}");
    let line = lines[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("CN=Test VPN CA"), "{line}");
    // Same name, other key: the line says so, and what to put in cacerts.
    assert!(line.contains("has another key"), "{line}");
    assert!(
        line.contains(
            "the 'CN=Test VPN CA' in connections.ab.remote.cacerts is not the one that \
             signed the peer's certificate: replace it with the CA's current certificate"
        ),
        "{line}"
    );
    let b_line = log_b
        .lines()
        .find(|l| l.contains("IKE SA ab/net failed"))
        .unwrap_or_else(|| panic!("{log_b}"));
    assert!(b_line.contains("AUTHENTICATION_FAILED"), "{b_line}");
}

#[test]
fn a_peer_whose_certified_id_is_not_the_configured_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    let (a, b) = pair();
    // b expects a to be branch.example, but a's certificate (and ID) is
    // a.example: b refuses the IKE_AUTH response before using the key.
    let auth_a = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "a",
        cacert: "ca",
        remote_id: Some("b.example"),
    };
    let auth_b = Auth {
        local: "pubkey",
        remote: "pubkey",
        cert: "b",
        cacert: "ca",
        remote_id: Some("branch.example"),
    };
    let (_da, db) = expect_failure(dir.path(), &a, &b, &auth_a, &auth_b);
    let log_b = db.log_text();
    let line = log_b
        .lines()
        .find(|l| l.contains("IKE SA ab/net failed"))
        .unwrap_or_else(|| panic!("{log_b}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("peer identity a.example is not the expected branch.example"),
        "{line}"
    );
    assert!(line.contains("remote.id"), "{line}");
}

#[test]
fn send_cert_never_works_against_a_pinned_certificate_and_fails_against_cacerts() {
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    let (a, b) = pair();
    let never = Extra {
        conn: "send_cert = \"never\"",
        pin: None,
    };
    // b has a's certificate pinned, so a need not send it.
    let pinned = Extra {
        conn: "",
        pin: Some("a"),
    };
    let ca = write_config(
        dir.path(),
        "a",
        &cert_config_with(
            dir.path(),
            &a,
            &b,
            &Auth::certs("a", Some("b.example")),
            &never,
        ),
    );
    let cb = write_config(
        dir.path(),
        "b",
        &cert_config_with(
            dir.path(),
            &b,
            &a,
            &Auth::certs("b", Some("a.example")),
            &pinned,
        ),
    );
    let da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let mut sas = None;
    let up = eventually(Duration::from_secs(15), || {
        sas = established(&da).zip(established(&db));
        sas.is_some()
    });
    assert!(up, "{}\n{}", da.log_text(), db.log_text());
    let (x, y) = sas.unwrap();
    assert_matching(&x, &y);
    drop((da, db));

    // The same a against a b that only has the CA: nothing to validate.
    let dir = tempfile::tempdir().unwrap();
    both(dir.path(), KeyAlgorithm::EcdsaP256);
    let (a, b) = pair();
    let ca = write_config(
        dir.path(),
        "a",
        &cert_config_with(
            dir.path(),
            &a,
            &b,
            &Auth::certs("a", Some("b.example")),
            &never,
        ),
    );
    let cb = write_config(
        dir.path(),
        "b",
        &cert_config(dir.path(), &b, &a, &Auth::certs("b", Some("a.example"))),
    );
    let _da = Daemon::spawn(dir.path(), "a", &ca);
    let db = Daemon::spawn(dir.path(), "b", &cb);
    assert!(db.ctl(&["initiate", "--child", "net"]).status.success());
    let failed = eventually(Duration::from_secs(15), || {
        db.json(&["stats"])["failed"].as_u64() == Some(1)
    });
    assert!(failed, "{}", db.log_text());
    let log = db.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("IKE SA ab/net failed"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("peer a.example sent no certificate"),
        "{line}"
    );
}
