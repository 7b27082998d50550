//! `ikegw profile` for password users: examples/road-warrior-server.toml
//! turned into an EAP-MSCHAPv2 server (`remote.auth = "eap-mschapv2"`,
//! `eap_id = "%any"`, one `[secrets.eap-alice]`), every format generated
//! for `--user alice` and pinned or read back as its client would. That
//! the swanctl output really connects is `interop-tests/tests/rw_eap.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A password with characters every format must escape its own way.
const PASSWORD: &str = r#"correct "horse" \ battery"#;

fn ikegw(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
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

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/road-warrior-server.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let cert_clients = "[connections.rw.remote]\nauth = \"pubkey\"\ncacerts = [\"pki/ca/ca.crt\"]     # any certificate from our CA may connect";
    assert!(text.contains(cert_clients));
    let secret = PASSWORD.replace('\\', "\\\\").replace('"', "\\\"");
    let text = text.replace(
        cert_clients,
        "[connections.rw.remote]\nauth = \"eap-mschapv2\"\neap_id = \"%any\"",
    ) + &format!("\n[secrets.eap-alice]\nid = \"alice\"\nsecret = \"{secret}\"\n");
    std::fs::write(d.join("rw.toml"), text).unwrap();
    std::fs::set_permissions(d.join("rw.toml"), std::fs::Permissions::from_mode(0o600)).unwrap();
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

/// `ikegw profile rw --user alice --format F` with the CA named by
/// `--ca` (the configuration has no cacerts: EAP clients hold no
/// certificates).
fn profile(d: &Path, format: &str) -> PathBuf {
    let out = d.join(format!("out-{format}"));
    let o = out.to_string_lossy().into_owned();
    let stdout = ok(
        d,
        &[
            "profile",
            "rw",
            "--config",
            "rw.toml",
            "--user",
            "alice",
            "--format",
            format,
            "--ca",
            "pki/ca",
            "--server",
            "vpn.example.com",
            "--out",
            &o,
        ],
    );
    assert!(
        stdout.contains("profile for EAP user 'alice' on connection 'rw'"),
        "{stdout}"
    );
    assert!(!stdout.contains("PKCS#12"), "{stdout}");
    assert!(
        !stdout.contains("horse"),
        "the password is never printed: {stdout}"
    );
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn swanctl_profile_text_is_pinned() {
    let dir = setup();
    let out = profile(dir.path(), "swanctl");
    let conf = out.join("swanctl/swanctl.conf");
    let expected = r#"# ikegw client profile for connection 'rw'
connections {
    ikegw-rw {
        version = 2
        remote_addrs = vpn.example.com
        vips = 0.0.0.0,::
        proposals = aes256gcm16-prfsha384-ecp384
        mobike = yes
        dpd_delay = 60s
        local {
            auth = eap-mschapv2
            id = alice
            eap_id = alice
        }
        remote {
            auth = pubkey
            id = vpn.example.com
            cacerts = ca.crt
        }
        children {
            office {
                remote_ts = 10.1.0.0/16
                esp_proposals = aes256gcm16
                rekey_time = 3600s
                dpd_action = restart
            }
        }
    }
}
secrets {
    eap-alice {
        id = alice
        secret = "correct \"horse\" \\ battery"
    }
}
"#;
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), expected);
    // It holds the password: private. The CA is the one that issued the
    // server certificate.
    assert_eq!(mode(&conf), 0o600);
    assert_eq!(
        std::fs::read(out.join("swanctl/x509ca/ca.crt")).unwrap(),
        std::fs::read(dir.path().join("pki/ca/ca.crt")).unwrap()
    );
    assert!(!out.join("swanctl/private").exists());
}

#[test]
fn powershell_profile_text_is_pinned() {
    let dir = setup();
    let out = profile(dir.path(), "powershell");
    let script = std::fs::read_to_string(out.join("alice.ps1")).unwrap();
    let expected = "\
# ikegw client profile for connection 'rw'
# IKE AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384, ESP AES_GCM_16_256
# Run as Administrator from the folder holding this script.
#Requires -RunAsAdministrator
$ErrorActionPreference = 'Stop'
$Name = 'ikegw rw (vpn.example.com)'
$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
Import-Certificate -FilePath (Join-Path $Here 'ca.crt') -CertStoreLocation Cert:\\LocalMachine\\Root | Out-Null
Add-VpnConnection -Name $Name -ServerAddress 'vpn.example.com' -TunnelType Ikev2 -AuthenticationMethod Eap -RememberCredential -EncryptionLevel Required -SplitTunneling -AllUserConnection -Force
Set-VpnConnectionIPsecConfiguration -ConnectionName $Name -AuthenticationTransformConstants GCMAES256 -CipherTransformConstants GCMAES256 -EncryptionMethod GCMAES256 -IntegrityCheckMethod SHA384 -DHGroup ECP384 -PfsGroup None -Force
Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix '10.1.0.0/16' -AllUserConnection
Add-VpnConnectionTriggerDnsConfiguration -ConnectionName $Name -DnsSuffix 'corp.example.com' -DnsIPAddress '10.1.0.53','fd00:1::53' -Force
Write-Host \"VPN connection '$Name' added.\"
Write-Host \"Connect with user name alice; Windows asks for the password once.\"
";
    assert_eq!(script, expected);
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "script and CA only: {files:?}");
}

#[test]
fn sswan_profile_is_ikev2_eap_without_the_password() {
    use base64::Engine as _;
    let dir = setup();
    let out = profile(dir.path(), "sswan");
    let text = std::fs::read_to_string(out.join("alice.sswan")).unwrap();
    assert!(
        !text.contains("horse"),
        "a .sswan file cannot protect a password"
    );
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["type"], "ikev2-eap");
    assert_eq!(j["local"], serde_json::json!({ "eap_id": "alice" }));
    assert_eq!(j["remote"]["addr"], "vpn.example.com");
    assert_eq!(j["remote"]["id"], "vpn.example.com");
    assert_eq!(j["ike-proposal"], "aes256gcm16-prfsha384-ecp384");
    assert_eq!(j["esp-proposal"], "aes256gcm16");
    assert_eq!(j["dns-servers"], "10.1.0.53 fd00:1::53");
    let b64 = base64::engine::general_purpose::STANDARD;
    let ca = b64.decode(j["remote"]["cert"].as_str().unwrap()).unwrap();
    let pem = std::fs::read_to_string(dir.path().join("pki/ca/ca.crt")).unwrap();
    let want = certs::load::certificates_from_bytes(pem.as_bytes(), "ca").unwrap();
    assert_eq!(ca, want[0].der());
}

#[test]
fn mobileconfig_uses_extended_auth_with_name_and_password() {
    let dir = setup();
    let out = profile(dir.path(), "mobileconfig");
    let file = out.join("alice.mobileconfig");
    assert_eq!(mode(&file), 0o600, "it holds the password");
    let v = plist::Value::from_file(&file).unwrap();
    let payloads = v.as_dictionary().unwrap()["PayloadContent"]
        .as_array()
        .unwrap();
    let types: Vec<_> = payloads
        .iter()
        .map(|p| {
            p.as_dictionary().unwrap()["PayloadType"]
                .as_string()
                .unwrap()
        })
        .collect();
    assert_eq!(types, ["com.apple.security.root", "com.apple.vpn.managed"]);
    let vpn = payloads[1].as_dictionary().unwrap();
    let ike = vpn["IKEv2"].as_dictionary().unwrap();
    assert_eq!(ike["AuthenticationMethod"].as_string(), Some("None"));
    assert_eq!(ike["ExtendedAuthEnabled"].as_signed_integer(), Some(1));
    assert_eq!(ike["AuthName"].as_string(), Some("alice"));
    assert_eq!(ike["AuthPassword"].as_string(), Some(PASSWORD));
    assert_eq!(ike["LocalIdentifier"].as_string(), Some("alice"));
    assert_eq!(ike["RemoteIdentifier"].as_string(), Some("vpn.example.com"));
    assert_eq!(
        ike["ServerCertificateIssuerCommonName"].as_string(),
        Some("Example VPN CA")
    );
    for k in ["CertificateType", "PayloadCertificateUUID"] {
        assert!(!ike.contains_key(k), "{k} belongs to certificate profiles");
    }
}

#[test]
fn nm_keyfile_uses_the_eap_method_and_keeps_the_password_private() {
    let dir = setup();
    let out = std::fs::canonicalize(profile(dir.path(), "nm")).unwrap();
    let file = out.join("alice.nmconnection");
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let uuid = text
        .lines()
        .find_map(|l| l.strip_prefix("uuid="))
        .unwrap()
        .to_owned();
    let expected = format!(
        "[connection]
id=ikegw rw (vpn.example.com)
uuid={uuid}
type=vpn
autoconnect=false

[vpn]
service-type=org.freedesktop.NetworkManager.strongswan
address=vpn.example.com
certificate={}
method=eap
user=alice
remote-identity=vpn.example.com
virtual=yes
encap=no
ipcomp=no
proposal=yes
ike=aes256gcm16-prfsha384-ecp384
esp=aes256gcm16
password-flags=0

[vpn-secrets]
password={PASSWORD}

[ipv4]
method=auto
never-default=true
dns-search=~corp.example.com;

[ipv6]
method=auto
never-default=true
",
        out.join("ca.crt").display()
    );
    assert_eq!(text, expected);
}

#[test]
fn unknown_users_and_a_missing_ca_are_refused_before_writing() {
    let dir = setup();
    let d = dir.path();
    let fail = |args: &[&str]| {
        let o = ikegw(d, args);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let base = [
        "profile", "rw", "--config", "rw.toml", "--format", "swanctl", "--out", "o",
    ];
    let err = fail(&[&base[..], &["--user", "bob", "--ca", "pki/ca"]].concat());
    assert_eq!(
        err,
        "ikegw: no [secrets.eap-NAME] lists the EAP user 'bob' (with a UTF-8 password)\n"
    );
    let err = fail(&[&base[..], &["--user", "alice"]].concat());
    assert_eq!(
        err,
        "ikegw: connection 'rw': the server certificate's issuer 'CN=Example VPN CA' is in none of the configured certificate files; pass --ca DIR, the directory of the CA that issued it\n"
    );
    assert!(!d.join("o").exists(), "nothing is written on error");
}
