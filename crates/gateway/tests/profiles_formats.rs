//! `ikegw profile` end to end: every format generated from
//! examples/road-warrior-server.toml with a PKI made by `ikegw pki`, and
//! each output read back the way its client would (plist, JSON, swanctl
//! loaded by a real charon, PKCS#12 opened by openssl).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ikegw(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ikegw(dir, args);
    assert!(
        out.status.success(),
        "ikegw {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The example config and its PKI, as the example's comments make them.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/road-warrior-server.toml");
    std::fs::copy(example, d.join("rw.toml")).unwrap();
    ok(
        d,
        &["pki", "ca", "--cn", "Example VPN CA", "--out", "pki/ca"],
    );
    ok(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "pki/ca",
            "--cn",
            "vpn.example.com",
            "--san",
            "DNS:vpn.example.com",
            "--out",
            "pki",
        ],
    );
    dir
}

fn profile(d: &Path, format: &str, extra: &[&str]) -> (String, PathBuf) {
    let out = d.join(format!("out-{format}"));
    let mut args = vec![
        "profile",
        "rw",
        "--config",
        "rw.toml",
        "--user",
        "alice@example.com",
        "--format",
        format,
        "--ca",
        "pki/ca",
        "--server",
        "vpn.example.com",
        "--out",
    ];
    let o = out.to_string_lossy().into_owned();
    args.push(&o);
    args.extend_from_slice(extra);
    (ok(d, &args), out)
}

fn password(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split_once("PKCS#12 password").map(|(_, r)| r))
        .and_then(|r| r.rsplit(": ").next())
        .unwrap()
        .trim()
        .to_owned()
}

/// openssl opens the PKCS#12 with the printed password and finds the key,
/// the client certificate and the CA.
fn check_p12(p12: &[u8], password: &str, legacy: bool) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.p12");
    std::fs::write(&f, p12).unwrap();
    let Ok(out) = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            &f.to_string_lossy(),
            "-passin",
            &format!("pass:{password}"),
            "-nodes",
            "-info",
        ])
        .output()
    else {
        eprintln!("SKIP PKCS#12 check: openssl not found");
        assert!(std::env::var_os("CI").is_none(), "openssl missing under CI");
        return;
    };
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("BEGIN PRIVATE KEY"), "{all}");
    assert_eq!(all.matches("BEGIN CERTIFICATE").count(), 2, "{all}");
    assert!(all.contains("alice@example.com"), "{all}");
    assert_eq!(all.contains("TripleDES"), legacy, "{all}");
    assert_eq!(all.contains("PBES2"), !legacy, "{all}");
    let wrong = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            &f.to_string_lossy(),
            "-passin",
            "pass:wrong",
            "-nodes",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}

#[test]
fn mobileconfig_is_a_property_list_with_the_ikev2_payload() {
    let dir = setup();
    let (stdout, out) = profile(dir.path(), "mobileconfig", &[]);
    let v = plist::Value::from_file(out.join("alice@example.com.mobileconfig")).unwrap();
    let top = v.as_dictionary().unwrap();
    assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
    let payloads = top["PayloadContent"].as_array().unwrap();
    let by_type = |t: &str| {
        payloads
            .iter()
            .map(|p| p.as_dictionary().unwrap())
            .find(|p| p["PayloadType"].as_string() == Some(t))
            .unwrap()
    };
    let vpn = by_type("com.apple.vpn.managed");
    let p12 = by_type("com.apple.security.pkcs12");
    let root = by_type("com.apple.security.root");
    assert!(
        !p12.contains_key("Password"),
        "the password must not be in the file"
    );
    assert_eq!(vpn["VPNType"].as_string(), Some("IKEv2"));
    let ike = vpn["IKEv2"].as_dictionary().unwrap();
    assert_eq!(ike["RemoteAddress"].as_string(), Some("vpn.example.com"));
    assert_eq!(ike["RemoteIdentifier"].as_string(), Some("vpn.example.com"));
    assert_eq!(
        ike["LocalIdentifier"].as_string(),
        Some("alice@example.com")
    );
    assert_eq!(ike["AuthenticationMethod"].as_string(), Some("Certificate"));
    assert_eq!(ike["CertificateType"].as_string(), Some("ECDSA256"));
    assert_eq!(
        ike["ServerCertificateIssuerCommonName"].as_string(),
        Some("Example VPN CA")
    );
    assert_eq!(
        ike["PayloadCertificateUUID"].as_string(),
        p12["PayloadUUID"].as_string()
    );
    assert_eq!(ike["DeadPeerDetectionRate"].as_string(), Some("High"));
    assert_eq!(ike["EnablePFS"].as_signed_integer(), Some(0));
    let sa = ike["IKESecurityAssociationParameters"]
        .as_dictionary()
        .unwrap();
    assert_eq!(sa["EncryptionAlgorithm"].as_string(), Some("AES-256-GCM"));
    assert_eq!(sa["IntegrityAlgorithm"].as_string(), Some("SHA2-384"));
    assert_eq!(sa["DiffieHellmanGroup"].as_signed_integer(), Some(20));
    let child = ike["ChildSecurityAssociationParameters"]
        .as_dictionary()
        .unwrap();
    assert_eq!(
        child["EncryptionAlgorithm"].as_string(),
        Some("AES-256-GCM")
    );
    assert_eq!(child["LifeTimeInMinutes"].as_signed_integer(), Some(60));
    let dns = vpn["DNS"].as_dictionary().unwrap();
    let servers: Vec<_> = dns["ServerAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    assert_eq!(servers, ["10.1.0.53", "fd00:1::53"]);
    assert_eq!(
        dns["SupplementalMatchDomains"].as_array().unwrap()[0].as_string(),
        Some("corp.example.com")
    );
    assert_eq!(
        vpn["IPv4"].as_dictionary().unwrap()["OverridePrimary"].as_signed_integer(),
        Some(0)
    );
    let ca = std::fs::read_to_string(dir.path().join("pki/ca/ca.crt")).unwrap();
    let ca_der = certs::load::certificates_from_bytes(ca.as_bytes(), "ca").unwrap();
    assert_eq!(root["PayloadContent"].as_data(), Some(ca_der[0].der()));
    check_p12(
        p12["PayloadContent"].as_data().unwrap(),
        &password(&stdout),
        true,
    );
}

#[test]
fn sswan_has_the_documented_json_fields() {
    use base64::Engine as _;
    let dir = setup();
    let (stdout, out) = profile(dir.path(), "sswan", &[]);
    let text = std::fs::read_to_string(out.join("alice@example.com.sswan")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["type"], "ikev2-cert");
    assert_eq!(j["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(j["remote"]["addr"], "vpn.example.com");
    assert_eq!(j["remote"]["id"], "vpn.example.com");
    assert_eq!(j["local"]["id"], "alice@example.com");
    assert_eq!(j["ike-proposal"], "aes256gcm16-prfsha384-ecp384");
    assert_eq!(j["esp-proposal"], "aes256gcm16");
    assert_eq!(j["dns-servers"], "10.1.0.53 fd00:1::53");
    assert_eq!(j["split-tunneling"]["subnets"], "10.1.0.0/16");
    let b64 = base64::engine::general_purpose::STANDARD;
    let ca = b64.decode(j["remote"]["cert"].as_str().unwrap()).unwrap();
    certs::Certificate::from_der(ca, "remote.cert").unwrap();
    let p12 = b64.decode(j["local"]["p12"].as_str().unwrap()).unwrap();
    check_p12(&p12, &password(&stdout), true);
}

#[test]
fn nm_keyfile_names_the_plugin_and_files() {
    let dir = setup();
    let (stdout, out) = profile(dir.path(), "nm", &[]);
    assert!(!stdout.contains("PKCS#12 password"));
    let out = std::fs::canonicalize(out).unwrap();
    let text = std::fs::read_to_string(out.join("alice@example.com.nmconnection")).unwrap();
    let get = |section: &str, key: &str| -> Option<String> {
        let mut cur = "";
        for line in text.lines() {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                cur = s;
            } else if cur == section {
                if let Some((k, v)) = line.split_once('=') {
                    if k == key {
                        return Some(v.to_owned());
                    }
                }
            }
        }
        None
    };
    assert_eq!(get("connection", "type").as_deref(), Some("vpn"));
    assert_eq!(
        get("vpn", "service-type").as_deref(),
        Some("org.freedesktop.NetworkManager.strongswan")
    );
    assert_eq!(get("vpn", "address").as_deref(), Some("vpn.example.com"));
    assert_eq!(get("vpn", "method").as_deref(), Some("key"));
    assert_eq!(
        get("vpn", "ike").as_deref(),
        Some("aes256gcm16-prfsha384-ecp384")
    );
    assert_eq!(get("vpn", "esp").as_deref(), Some("aes256gcm16"));
    assert_eq!(
        get("vpn", "remote-identity").as_deref(),
        Some("vpn.example.com")
    );
    assert_eq!(
        get("vpn", "local-identity").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(get("ipv4", "never-default").as_deref(), Some("true"));
    for key in ["certificate", "usercert", "userkey"] {
        let p = PathBuf::from(get("vpn", key).unwrap());
        assert!(p.is_absolute() && p.exists(), "{key}: {}", p.display());
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(get("vpn", "userkey").unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn powershell_script_text_is_pinned() {
    let dir = setup();
    let (stdout, out) = profile(dir.path(), "powershell", &[]);
    let script = std::fs::read_to_string(out.join("alice@example.com.ps1")).unwrap();
    let expected = "\
# ikegw client profile for connection 'rw'
# IKE AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384, ESP AES_GCM_16_256
# Run as Administrator from the folder holding this script.
#Requires -RunAsAdministrator
$ErrorActionPreference = 'Stop'
$Name = 'ikegw rw (vpn.example.com)'
$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
Import-Certificate -FilePath (Join-Path $Here 'ca.crt') -CertStoreLocation Cert:\\LocalMachine\\Root | Out-Null
$Password = Read-Host -AsSecureString -Prompt 'PKCS#12 password'
Import-PfxCertificate -FilePath (Join-Path $Here 'alice@example.com.p12') -CertStoreLocation Cert:\\LocalMachine\\My -Password $Password | Out-Null
Add-VpnConnection -Name $Name -ServerAddress 'vpn.example.com' -TunnelType Ikev2 -AuthenticationMethod MachineCertificate -EncryptionLevel Required -SplitTunneling -AllUserConnection -Force
Set-VpnConnectionIPsecConfiguration -ConnectionName $Name -AuthenticationTransformConstants GCMAES256 -CipherTransformConstants GCMAES256 -EncryptionMethod GCMAES256 -IntegrityCheckMethod SHA384 -DHGroup ECP384 -PfsGroup None -Force
Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix '10.1.0.0/16' -AllUserConnection
Add-VpnConnectionTriggerDnsConfiguration -ConnectionName $Name -DnsSuffix 'corp.example.com' -DnsIPAddress '10.1.0.53','fd00:1::53' -Force
Write-Host \"VPN connection '$Name' added.\"
";
    assert_eq!(script, expected);
    let p12 = std::fs::read(out.join("alice@example.com.p12")).unwrap();
    check_p12(&p12, &password(&stdout), false);
}

#[test]
fn windows_profile_is_refused_when_only_curve25519_is_offered() {
    let dir = setup();
    let d = dir.path();
    let text = std::fs::read_to_string(d.join("rw.toml")).unwrap().replace(
        r#"proposals = ["aes256gcm16-prfsha384-ecp384", "aes256-sha256-modp2048"]"#,
        r#"proposals = ["aes256gcm16-prfsha384-x25519"]"#,
    );
    std::fs::write(d.join("rw.toml"), text).unwrap();
    let out = ikegw(
        d,
        &[
            "profile",
            "rw",
            "--config",
            "rw.toml",
            "--user",
            "bob@example.com",
            "--format",
            "powershell",
            "--ca",
            "pki/ca",
            "--server",
            "vpn.example.com",
            "--out",
            "o",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connection 'rw' offers only AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519 for IKE; the Windows native IKEv2 client needs one of: "),
        "{err}"
    );
    assert!(
        err.contains("add 'aes256gcm16-prfsha384-ecp384' to proposals"),
        "{err}"
    );
    assert!(!d.join("o").exists(), "nothing is written on error");
    // The same server is fine for strongSwan clients.
    profile(d, "sswan", &[]);
}

#[test]
fn untrusted_ca_is_refused() {
    let dir = setup();
    let d = dir.path();
    ok(d, &["pki", "ca", "--cn", "Other CA", "--out", "other"]);
    let out = ikegw(
        d,
        &[
            "profile",
            "rw",
            "--config",
            "rw.toml",
            "--user",
            "eve@example.com",
            "--format",
            "sswan",
            "--ca",
            "other",
            "--server",
            "x",
            "--out",
            "o",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("is not among connection 'rw' remote cacerts"));
}

/// The swanctl output loads into a real charon: started in private network
/// and mount namespaces (its PID file path is compiled in, so /run is
/// private), with its own vici socket in the temp dir.
#[test]
fn swanctl_output_loads_into_charon() {
    const CHARON: &str = "/usr/lib/ipsec/charon";
    let dir = setup();
    let (_, out) = profile(dir.path(), "swanctl", &[]);
    let conf = std::fs::read_to_string(out.join("swanctl/swanctl.conf")).unwrap();
    assert!(
        conf.contains("proposals = aes256gcm16-prfsha384-ecp384"),
        "{conf}"
    );
    assert!(conf.contains("remote_ts = 10.1.0.0/16"), "{conf}");
    if !Path::new(CHARON).exists() || Command::new("swanctl").arg("--version").output().is_err() {
        eprintln!("SKIP swanctl_output_loads_into_charon: strongSwan charon/swanctl not installed");
        assert!(std::env::var_os("CI").is_none(), "charon missing under CI");
        return;
    }
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let vici = dir.path().join("charon.vici");
    let ss_conf = dir.path().join("strongswan.conf");
    std::fs::write(
        &ss_conf,
        format!(
            "charon {{\n  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 aes gcm sha1 sha2 hmac kdf kernel-netlink socket-default vici\n  filelog {{\n    log {{\n      path = {}/charon.log\n      default = 1\n    }}\n  }}\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\nswanctl {{\n  socket = unix://{}\n  load = pem pkcs1 pkcs8 x509 openssl curve25519 pubkey random nonce sha1 sha2\n}}\n",
            dir.path().display(),
            vici.display(),
            vici.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("unshare")
        .args([
            "-n",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /run && shift && exec \"$@\"",
            "sh",
        ])
        .arg(&run)
        .arg("env")
        .arg(format!("STRONGSWAN_CONF={}", ss_conf.display()))
        .arg(CHARON)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !vici.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The socket file appears just before charon listens on it: retry.
    let mut result = None;
    for _ in 0..50 {
        let r = Command::new("swanctl")
            .env("STRONGSWAN_CONF", &ss_conf)
            .args([
                "--load-all",
                "--noprompt",
                "--file",
                &out.join("swanctl/swanctl.conf").to_string_lossy(),
            ])
            .output();
        let refused = r
            .as_ref()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("Connection refused"));
        result = Some(r);
        if !refused {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = result.unwrap();
    // Stop our charon by its PID before asserting anything.
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
    assert!(vici.exists() || result.is_ok(), "charon did not start");
    let r = result.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(r.status.success(), "{text}");
    assert!(text.contains("loaded certificate from"), "{text}");
    assert!(text.contains("loaded private key from"), "{text}");
    assert!(text.contains("loaded connection 'ikegw-rw'"), "{text}");
    assert!(
        text.contains("successfully loaded 1 connections, 0 unloaded"),
        "{text}"
    );
}
