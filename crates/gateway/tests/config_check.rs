//! `ikegw check` end to end: the example configs under `examples/` pass
//! (with the certificates and keys they name generated into a temp dir),
//! a broken file prints every error as `file:line:col` and exits 1, and
//! `--show` never prints a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use certs::issue::{generate_key, write_private_key, Ca, CertSpec, KeyAlgorithm, Profile, San};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Run `ikegw check --config FILE [extra]`: (exit code, stdout, stderr).
fn check(file: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .arg("check")
        .arg("--config")
        .arg(file)
        .args(extra)
        .output()
        .expect("run ikegw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Copy an example into `dir` with mode 0600, as an installed config would be.
fn install(dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::copy(examples().join(name), &dst).unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
    dst
}

/// What `ikegw pki ca` / `ikegw pki issue` would write, as the examples'
/// comments say: pki/ca/ca.crt and pki/NAME.{crt,key} for each name.
fn make_pki(dir: &Path, names: &[&str]) {
    let now = 1_700_000_000;
    std::fs::create_dir_all(dir.join("pki/ca")).unwrap();
    let ca = Ca::self_signed(
        &CertSpec::new(
            "CN=Example VPN CA",
            Profile::Ca { path_len: None },
            now,
            3650,
        ),
        generate_key(KeyAlgorithm::EcdsaP256).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("pki/ca/ca.crt"), ca.cert.to_pem()).unwrap();
    for name in names {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spec = CertSpec::new(&format!("CN={name}"), Profile::Gateway, now, 825);
        spec.sans = vec![San::parse(&format!("DNS:{name}")).unwrap()];
        let cert = ca.issue(&spec, &key).unwrap();
        std::fs::write(dir.join(format!("pki/{name}.crt")), cert.to_pem()).unwrap();
        write_private_key(&dir.join(format!("pki/{name}.key")), &key).unwrap();
    }
}

#[test]
fn site_to_site_psk_example_passes() {
    let dir = tempfile::tempdir().unwrap();
    let f = install(dir.path(), "site-to-site-psk.toml");
    let (code, _, err) = check(&f, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.ends_with("site-to-site-psk.toml: OK: 1 connection(s), 1 child(ren), 0 pool(s), 1 shared key(s), 0 private key(s)\n"),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn site_to_site_certs_example_passes() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path(), &["hq.example.com"]);
    let f = install(dir.path(), "site-to-site-certs.toml");
    let (code, _, err) = check(&f, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.ends_with(
            "OK: 2 connection(s), 2 child(ren), 0 pool(s), 0 shared key(s), 1 private key(s)\n"
        ),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn road_warrior_example_passes() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path(), &["vpn.example.com"]);
    let f = install(dir.path(), "road-warrior-server.toml");
    let (code, _, err) = check(&f, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.ends_with(
            "OK: 1 connection(s), 1 child(ren), 2 pool(s), 0 shared key(s), 1 private key(s)\n"
        ),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn certs_example_without_its_files_says_which_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let f = install(dir.path(), "site-to-site-certs.toml");
    let (code, _, err) = check(&f, &[]);
    assert_eq!(code, 1);
    let err = err.replace(&dir.path().display().to_string(), "D");
    let enoent = "No such file or directory (os error 2)";
    assert_eq!(
        err,
        format!(
            "D/site-to-site-certs.toml:22:9: cannot load certificate for 'certs' in connections.branch1.local: cannot read D/pki/hq.example.com.crt: {enoent}\n\
             D/site-to-site-certs.toml:27:11: cannot load certificate for 'cacerts' in connections.branch1.remote: cannot read D/pki/ca/ca.crt: {enoent}\n\
             D/site-to-site-certs.toml:47:9: cannot load certificate for 'certs' in connections.branch2.local: cannot read D/pki/hq.example.com.crt: {enoent}\n\
             D/site-to-site-certs.toml:52:11: cannot load certificate for 'cacerts' in connections.branch2.remote: cannot read D/pki/ca/ca.crt: {enoent}\n\
             D/site-to-site-certs.toml:62:8: cannot read private key D/pki/hq.example.com.key: {enoent}\n\
             D/site-to-site-certs.toml: 5 error(s); configuration rejected\n"
        )
    );
}

#[test]
fn broken_config_prints_every_error_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ikegw.toml");
    std::fs::write(
        &f,
        "[connections.branch]\nremote_addr = [\"198.51.100.2\"]\ndpd_delay = \"soon\"\n\
         [connections.branch.local]\nauth = \"psk\"\n[connections.branch.remote]\nauth = \"psk\"\n",
    )
    .unwrap();
    let (code, out, err) = check(&f, &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    let d = dir.path().display().to_string();
    assert_eq!(
        err.replace(&d, "D"),
        "D/ikegw.toml:2:1: unknown key 'remote_addr' in connections.branch; did you mean 'remote_addrs'?\n\
         D/ikegw.toml:3:13: invalid duration 'soon' for 'dpd_delay' in connections.branch; expected e.g. 30s, 5m, 4h or 1d\n\
         D/ikegw.toml: 2 error(s); configuration rejected\n"
    );
}

#[test]
fn show_prints_the_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let f = install(dir.path(), "site-to-site-psk.toml");
    let (code, out, _) = check(&f, &["--show"]);
    assert_eq!(code, 0);
    assert!(out.contains("[connections.branch.children.lan]\n"), "{out}");
    assert!(out.contains("secret = \"<redacted, 32 bytes>\"\n"), "{out}");
    assert!(!out.contains("6f3d1c0b"), "{out}");
}
