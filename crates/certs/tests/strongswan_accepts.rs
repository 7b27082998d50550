//! The other direction of interop: strongSwan's own `pki --verify` accepts
//! certificates and CRLs made by `certs::issue`, for every key type we
//! generate. Skipped, loudly, when strongSwan's `pki` is not installed.
// Helpers outside #[test] functions unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use certs::issue::{generate_key, Ca, CertSpec, KeyAlgorithm, Profile, San};

const PKI: &str = "/usr/bin/pki";
const DAY: i64 = 86_400;

fn now() -> i64 {
    // strongSwan checks lifetimes against its own clock, so issue around it.
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

fn pki_verify(dir: &Path, cert: &Path, ca: &Path, crl: Option<&Path>) -> (bool, String) {
    let conf = dir.join("strongswan.conf");
    std::fs::write(
        &conf,
        "pki {\n  load = random nonce drbg hmac pem pkcs1 pkcs8 x509 revocation sha1 sha2 mgf1 gmp openssl curve25519 pubkey\n}\n",
    )
    .unwrap();
    let mut cmd = Command::new(PKI);
    cmd.env("STRONGSWAN_CONF", &conf)
        .arg("--verify")
        .arg("--in")
        .arg(cert)
        .arg("--cacert")
        .arg(ca);
    if let Some(crl) = crl {
        cmd.arg("--crl").arg(crl);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn strongswan_pki_verifies_our_certificates_and_crls() {
    if !Path::new(PKI).exists() {
        eprintln!("SKIPPED: {PKI} (Debian strongswan-pki) is not installed");
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("certs-sw-accepts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let now = now();
    for (i, alg) in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ]
    .into_iter()
    .enumerate()
    {
        let spec = CertSpec::new(
            "C=CH, O=ikegw test, CN=Issued Root",
            Profile::Ca { path_len: Some(1) },
            now - DAY,
            30,
        );
        let ca = Ca::self_signed(&spec, generate_key(alg).unwrap()).unwrap();
        let mut gw_spec = CertSpec::new("CN=gw.example.org", Profile::Gateway, now - DAY, 30);
        gw_spec.sans = vec![
            San::Dns("gw.example.org".into()),
            San::Ip("192.0.2.1".parse().unwrap()),
        ];
        let gw = ca.issue(&gw_spec, &generate_key(alg).unwrap()).unwrap();
        let ca_path = dir.join(format!("ca{i}.crt"));
        let gw_path = dir.join(format!("gw{i}.crt"));
        std::fs::write(&ca_path, ca.cert.to_pem()).unwrap();
        std::fs::write(&gw_path, gw.to_pem()).unwrap();
        let (ok, text) = pki_verify(&dir, &gw_path, &ca_path, None);
        assert!(ok, "{alg:?}: strongSwan rejected our certificate:\n{text}");
        assert!(
            text.contains("certificate trusted, lifetimes valid"),
            "{text}"
        );

        let crl = ca
            .issue_crl(&[(gw.serial(), now - 60)], 1, now - 120, 7)
            .unwrap();
        let crl_path = dir.join(format!("ca{i}.crl"));
        std::fs::write(&crl_path, crl.to_pem()).unwrap();
        let (ok, text) = pki_verify(&dir, &gw_path, &ca_path, Some(&crl_path));
        assert!(
            !ok,
            "{alg:?}: strongSwan accepted a revoked certificate:\n{text}"
        );
        assert!(text.contains("crl correctly signed by"), "{alg:?}: {text}");
        assert!(
            text.contains("certificate was revoked on"),
            "{alg:?}: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `pki --verify` with the root and an intermediate made by
/// [`Ca::issue_intermediate`]: strongSwan builds the path through the
/// intermediate (AKI = SKI, cA, keyCertSign, pathLen) up to the root.
#[test]
fn strongswan_pki_verifies_a_chain_through_our_intermediate() {
    if !Path::new(PKI).exists() {
        eprintln!("SKIPPED: {PKI} (Debian strongswan-pki) is not installed");
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("certs-sw-inter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let now = now();
    for (i, alg) in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519]
        .into_iter()
        .enumerate()
    {
        let root_spec = CertSpec::new(
            "C=CH, O=ikegw test, CN=Chain Root",
            Profile::Ca { path_len: Some(1) },
            now - DAY,
            30,
        );
        let root = Ca::self_signed(&root_spec, generate_key(alg).unwrap()).unwrap();
        let inter_key = generate_key(alg).unwrap();
        let inter_spec = CertSpec::new(
            "C=CH, O=ikegw test, CN=Chain Intermediate",
            Profile::Ca { path_len: None },
            now - DAY,
            30,
        );
        let inter_cert = root.issue_intermediate(&inter_spec, &inter_key).unwrap();
        assert_eq!(inter_cert.basic_constraints(), Some((true, Some(0))));
        let inter = Ca::new(inter_cert, inter_key).unwrap();
        let mut gw_spec = CertSpec::new("CN=gw.example.org", Profile::Gateway, now - DAY, 30);
        gw_spec.sans = vec![San::Dns("gw.example.org".into())];
        let gw = inter.issue(&gw_spec, &generate_key(alg).unwrap()).unwrap();
        let root_path = dir.join(format!("root{i}.crt"));
        let inter_path = dir.join(format!("inter{i}.crt"));
        let gw_path = dir.join(format!("gw{i}.crt"));
        std::fs::write(&root_path, root.cert.to_pem()).unwrap();
        std::fs::write(&inter_path, inter.cert.to_pem()).unwrap();
        std::fs::write(&gw_path, gw.to_pem()).unwrap();
        let conf = dir.join("strongswan.conf");
        std::fs::write(
            &conf,
            "pki {\n  load = random nonce pem pkcs1 pkcs8 x509 sha1 sha2 gmp openssl curve25519 pubkey\n}\n",
        )
        .unwrap();
        let out = Command::new(PKI)
            .env("STRONGSWAN_CONF", &conf)
            .args(["--verify", "--in"])
            .arg(&gw_path)
            .arg("--cacert")
            .arg(&inter_path)
            .arg("--cacert")
            .arg(&root_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{alg:?}: strongSwan rejected the chain:\n{text}"
        );
        assert!(
            text.contains("C=CH, O=ikegw test, CN=Chain Intermediate")
                && text.contains("reached self-signed root ca"),
            "{alg:?}: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
