//! swanctl.conf and credentials for a strongSwan client: a directory laid
//! out as swanctl expects (`swanctl.conf`, `x509/`, `x509ca/`, `private/`),
//! loadable with `swanctl --load-all --file <dir>/swanctl.conf`.

use std::fmt::Write as _;

use super::creds::ClientCredentials;
use super::eap::EapUser;
use super::{cidr, file_stem, OutFile, Profile};

/// The files, relative to the output directory (under `swanctl/`).
pub(crate) fn render(p: &Profile, creds: &ClientCredentials) -> Vec<OutFile> {
    let stem = file_stem(&creds.id);
    let cert_file = format!("{stem}.crt");
    let key_file = format!("{stem}.key");
    let local = format!(
        "            auth = pubkey\n            certs = {cert_file}\n            id = {}\n",
        v(&creds.id)
    );
    let conf = conf(p, &local);
    vec![
        OutFile::public("swanctl/swanctl.conf", conf.into_bytes()),
        OutFile::public(
            format!("swanctl/x509/{cert_file}"),
            creds.cert.to_pem().into_bytes(),
        ),
        OutFile::public("swanctl/x509ca/ca.crt", p.ca.to_pem().into_bytes()),
        OutFile::private(
            format!("swanctl/private/{key_file}"),
            zeroize::Zeroizing::new(creds.key.to_pkcs8_pem().as_bytes().to_vec()),
        ),
    ]
}

/// A swanctl.conf value: quoted when it has characters swanctl's parser
/// treats specially.
fn v(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_@:/%".contains(c))
    {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// For an EAP-MSCHAPv2 user: the client sends the user name as its IKE
/// identity and as EAP identity, and the password sits in the `secrets`
/// section (so the whole file is private).
pub(crate) fn render_eap(p: &Profile, user: &EapUser) -> Vec<OutFile> {
    let name = v(&user.user);
    let local = format!(
        "            auth = eap-mschapv2\n            id = {name}\n            eap_id = {name}\n"
    );
    let mut conf = conf(p, &local);
    let _ = writeln!(conf, "secrets {{");
    let _ = writeln!(conf, "    eap-{} {{", file_stem(&user.user));
    let _ = writeln!(conf, "        id = {name}");
    let _ = writeln!(conf, "        secret = {}", quoted(user.password.as_str()));
    let _ = writeln!(conf, "    }}");
    let _ = writeln!(conf, "}}");
    vec![
        OutFile::private(
            "swanctl/swanctl.conf",
            zeroize::Zeroizing::new(conf.into_bytes()),
        ),
        OutFile::public("swanctl/x509ca/ca.crt", p.ca.to_pem().into_bytes()),
    ]
}

/// Always quoted (a password may hold anything swanctl treats specially).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `local`: the body of the `local` section (our authentication).
fn conf(p: &Profile, local: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ikegw client profile for connection '{}'", p.conn);
    let _ = writeln!(s, "connections {{");
    let _ = writeln!(s, "    ikegw-{} {{", file_stem(&p.conn));
    let _ = writeln!(s, "        version = 2");
    let _ = writeln!(s, "        remote_addrs = {}", v(&p.server));
    if p.server_port != 500 {
        let _ = writeln!(s, "        remote_port = {}", p.server_port);
    }
    if p.virtual_ip && !p.vip_requests.is_empty() {
        let _ = writeln!(s, "        vips = {}", p.vip_requests.join(","));
    }
    if let Some(k) = p.ike.keyword() {
        let _ = writeln!(s, "        proposals = {k}");
    }
    let _ = writeln!(
        s,
        "        mobike = {}",
        if p.mobike { "yes" } else { "no" }
    );
    let _ = writeln!(s, "        dpd_delay = {}s", p.dpd_delay.as_secs());
    let _ = writeln!(s, "        local {{");
    s.push_str(local);
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "        remote {{");
    let _ = writeln!(s, "            auth = pubkey");
    let _ = writeln!(s, "            id = {}", v(&p.server_id));
    let _ = writeln!(s, "            cacerts = ca.crt");
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "        children {{");
    let _ = writeln!(s, "            {} {{", file_stem(&p.child));
    let remote_ts = if p.split_include.is_empty() {
        "0.0.0.0/0,::/0".to_owned()
    } else {
        p.split_include
            .iter()
            .map(cidr)
            .collect::<Vec<_>>()
            .join(",")
    };
    let _ = writeln!(s, "                remote_ts = {remote_ts}");
    if let Some(k) = p.esp.keyword() {
        let _ = writeln!(s, "                esp_proposals = {k}");
    }
    if let Some(l) = p.child_lifetime {
        let _ = writeln!(s, "                rekey_time = {}s", l.as_secs());
    }
    let _ = writeln!(s, "                dpd_action = restart");
    let _ = writeln!(s, "            }}");
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    s
}
