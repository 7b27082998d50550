//! NetworkManager keyfile for the strongswan VPN plugin
//! (`service-type=org.freedesktop.NetworkManager.strongswan`), with the
//! certificate, key and CA written beside it; the keyfile names them by
//! absolute path, so generate it where the files will stay (or copy the
//! keyfile to /etc/NetworkManager/system-connections/ and keep the rest).

use std::fmt::Write as _;
use std::path::Path;

use super::creds::ClientCredentials;
use super::eap::EapUser;
use super::{file_stem, OutFile, Profile};

/// The keyfile and credentials; `dir` is the absolute output directory.
pub(crate) fn render(
    p: &Profile,
    creds: &ClientCredentials,
    dir: &Path,
    uuid: &str,
) -> Vec<OutFile> {
    let stem = file_stem(&creds.id);
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    let auth = format!(
        "method=key\nusercert={}\nuserkey={}\nlocal-identity={}\n",
        cert.display(),
        key.display(),
        creds.id
    );
    // The key file is unencrypted (mode 0600), so there is no secret to ask for.
    let s = keyfile(p, dir, uuid, &auth, "password-flags=4\n");
    vec![
        OutFile::private(
            format!("{stem}.nmconnection"),
            zeroize::Zeroizing::new(s.into_bytes()),
        ),
        OutFile::public(format!("{stem}.crt"), creds.cert.to_pem().into_bytes()),
        OutFile::public("ca.crt", p.ca.to_pem().into_bytes()),
        OutFile::private(
            format!("{stem}.key"),
            zeroize::Zeroizing::new(creds.key.to_pkcs8_pem().as_bytes().to_vec()),
        ),
    ]
}

/// For an EAP-MSCHAPv2 user (the plugin's `method=eap`): the password is
/// stored in the keyfile (`password-flags=0`, file mode 0600).
pub(crate) fn render_eap(p: &Profile, user: &EapUser, dir: &Path, uuid: &str) -> Vec<OutFile> {
    let stem = file_stem(&user.user);
    let auth = format!("method=eap\nuser={}\n", user.user);
    let secrets = format!(
        "password-flags=0\n\n[vpn-secrets]\npassword={}\n",
        user.password.as_str()
    );
    let s = zeroize::Zeroizing::new(keyfile(p, dir, uuid, &auth, &secrets));
    vec![
        OutFile::private(
            format!("{stem}.nmconnection"),
            zeroize::Zeroizing::new(s.as_bytes().to_vec()),
        ),
        OutFile::public("ca.crt", p.ca.to_pem().into_bytes()),
    ]
}

/// The keyfile; `auth` and `secrets` are the method-specific lines of the
/// `[vpn]` section (the latter last, as it may open `[vpn-secrets]`).
fn keyfile(p: &Profile, dir: &Path, uuid: &str, auth: &str, secrets: &str) -> String {
    let ca = dir.join("ca.crt");
    let mut s = String::new();
    let _ = writeln!(s, "[connection]");
    let _ = writeln!(s, "id={}", p.display_name);
    let _ = writeln!(s, "uuid={uuid}");
    let _ = writeln!(s, "type=vpn");
    let _ = writeln!(s, "autoconnect=false");
    let _ = writeln!(s);
    let _ = writeln!(s, "[vpn]");
    let _ = writeln!(s, "service-type=org.freedesktop.NetworkManager.strongswan");
    let _ = writeln!(s, "address={}", p.server);
    if p.server_port != 500 {
        let _ = writeln!(s, "server-port={}", p.server_port);
    }
    let _ = writeln!(s, "certificate={}", ca.display());
    s.push_str(auth);
    let _ = writeln!(s, "remote-identity={}", p.server_id);
    let _ = writeln!(s, "virtual={}", if p.virtual_ip { "yes" } else { "no" });
    let _ = writeln!(s, "encap=no");
    let _ = writeln!(s, "ipcomp=no");
    let _ = writeln!(s, "proposal=yes");
    if let Some(k) = p.ike.keyword() {
        let _ = writeln!(s, "ike={k}");
    }
    if let Some(k) = p.esp.keyword() {
        let _ = writeln!(s, "esp={k}");
    }
    s.push_str(secrets);
    let _ = writeln!(s);
    let _ = writeln!(s, "[ipv4]");
    let _ = writeln!(s, "method=auto");
    if !p.split_include.is_empty() {
        // Split tunnel: keep the default route off the VPN.
        let _ = writeln!(s, "never-default=true");
    }
    if !p.split_dns.is_empty() {
        let domains: Vec<String> = p.split_dns.iter().map(|d| format!("~{d}")).collect();
        let _ = writeln!(s, "dns-search={};", domains.join(";"));
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "[ipv6]");
    let _ = writeln!(s, "method=auto");
    if !p.split_include.is_empty() {
        let _ = writeln!(s, "never-default=true");
    }
    s
}
