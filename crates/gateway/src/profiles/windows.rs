//! PowerShell script for the Windows native IKEv2 client.
//!
//! It imports the CA into the machine's Trusted Root store and the
//! PKCS#12 into the machine's Personal store (the native client's
//! "MachineCertificate" method looks there), asking for the PKCS#12
//! password with `Read-Host -AsSecureString` so it never sits in the
//! script; then `Add-VpnConnection` and `Set-VpnConnectionIPsecConfiguration`
//! pin the suites chosen for Windows (see `suite::ClientKind::Windows`), so
//! Windows' default of MODP-1024 and 3DES is never offered; split routes go
//! in with `Add-VpnConnectionRoute`, split DNS with
//! `Add-VpnConnectionTriggerDnsConfiguration`.

use std::fmt::Write as _;

use ike::wire::{IntegId, KeMethod, PrfId};

use super::suite::windows as w;
use super::{cidr, Profile};

/// A PowerShell single-quoted string: only `'` needs doubling.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How the Windows client authenticates.
enum Auth<'a> {
    /// A machine certificate from this PKCS#12 file.
    Machine { p12_file: &'a str },
    /// EAP-MSCHAPv2 (Windows' default EAP method, "secured password").
    Eap { user: &'a str },
}

/// The script; `p12_file` and `ca_file` are names next to it.
pub(crate) fn render(p: &Profile, p12_file: &str, ca_file: &str) -> String {
    script(p, ca_file, &Auth::Machine { p12_file })
}

/// For an EAP-MSCHAPv2 user: only the CA is imported; Windows asks for
/// the user name and password on first connect and remembers them.
pub(crate) fn render_eap(p: &Profile, user: &str, ca_file: &str) -> String {
    script(p, ca_file, &Auth::Eap { user })
}

fn script(p: &Profile, ca_file: &str, how: &Auth<'_>) -> String {
    let ike = &p.ike;
    let esp = &p.esp;
    let enc = w::ike_encryption(ike.encr).unwrap_or("AES256");
    let integ = match (ike.integ, ike.prf) {
        (Some(i), _) => w::ike_integrity(IntegId(i.id)),
        (None, Some(prf)) => w::ike_integrity_for_prf(PrfId(prf.id)),
        (None, None) => None,
    }
    .unwrap_or("SHA256");
    let dh = ike
        .ke
        .and_then(|k| w::dh_group(KeMethod(k.id)))
        .unwrap_or("ECP384");
    let cipher = w::esp_cipher(esp.encr).unwrap_or("GCMAES256");
    // For GCM the "authentication transform" is GCM itself.
    let auth = match esp.integ {
        Some(i) => w::esp_auth(IntegId(i.id)).unwrap_or("SHA256128"),
        None => cipher,
    };
    let pfs = esp
        .ke
        .and_then(|k| w::pfs_group(KeMethod(k.id)))
        .unwrap_or("None");
    let name = q(&p.display_name);
    let mut s = String::new();
    let _ = writeln!(s, "# ikegw client profile for connection {}", q(&p.conn));
    let _ = writeln!(s, "# IKE {}, ESP {}", p.ike, p.esp);
    let _ = writeln!(
        s,
        "# Run as Administrator from the folder holding this script."
    );
    s.push_str("#Requires -RunAsAdministrator\n$ErrorActionPreference = 'Stop'\n");
    let _ = writeln!(s, "$Name = {name}");
    s.push_str("$Here = Split-Path -Parent $MyInvocation.MyCommand.Path\n");
    let _ = writeln!(
        s,
        "Import-Certificate -FilePath (Join-Path $Here {}) -CertStoreLocation Cert:\\LocalMachine\\Root | Out-Null",
        q(ca_file)
    );
    let method = match how {
        Auth::Machine { p12_file } => {
            s.push_str("$Password = Read-Host -AsSecureString -Prompt 'PKCS#12 password'\n");
            let _ = writeln!(
                s,
                "Import-PfxCertificate -FilePath (Join-Path $Here {}) -CertStoreLocation Cert:\\LocalMachine\\My -Password $Password | Out-Null",
                q(p12_file)
            );
            "MachineCertificate"
        }
        Auth::Eap { .. } => "Eap -RememberCredential",
    };
    let split = if p.split_include.is_empty() {
        ""
    } else {
        " -SplitTunneling"
    };
    let _ = writeln!(
        s,
        "Add-VpnConnection -Name $Name -ServerAddress {} -TunnelType Ikev2 -AuthenticationMethod {method} -EncryptionLevel Required{split} -AllUserConnection -Force",
        q(&p.server)
    );
    let _ = writeln!(
        s,
        "Set-VpnConnectionIPsecConfiguration -ConnectionName $Name -AuthenticationTransformConstants {auth} -CipherTransformConstants {cipher} -EncryptionMethod {enc} -IntegrityCheckMethod {integ} -DHGroup {dh} -PfsGroup {pfs} -Force"
    );
    for net in &p.split_include {
        let _ = writeln!(
            s,
            "Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix {} -AllUserConnection",
            q(&cidr(net))
        );
    }
    if !p.split_dns.is_empty() && !p.dns.is_empty() {
        let servers: Vec<String> = p.dns.iter().map(|a| q(&a.to_string())).collect();
        for domain in &p.split_dns {
            let _ = writeln!(
                s,
                "Add-VpnConnectionTriggerDnsConfiguration -ConnectionName $Name -DnsSuffix {} -DnsIPAddress {} -Force",
                q(domain),
                servers.join(",")
            );
        }
    }
    let _ = writeln!(s, "Write-Host \"VPN connection '$Name' added.\"");
    if let Auth::Eap { user } = how {
        let _ = writeln!(
            s,
            "Write-Host \"Connect with user name {}; Windows asks for the password once.\"",
            user.replace(['"', '`', '$'], "")
        );
    }
    s
}
