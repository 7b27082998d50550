//! swanctl.conf and credentials for a strongSwan client: a directory laid
//! out as swanctl expects (`swanctl.conf`, `x509/`, `x509ca/`, `private/`),
//! loadable with `swanctl --load-all --file <dir>/swanctl.conf`.

use std::fmt::Write as _;

use super::creds::ClientCredentials;
use super::{cidr, file_stem, OutFile, Profile};

/// The files, relative to the output directory (under `swanctl/`).
pub(crate) fn render(p: &Profile, creds: &ClientCredentials) -> Vec<OutFile> {
    let stem = file_stem(&creds.id);
    let cert_file = format!("{stem}.crt");
    let key_file = format!("{stem}.key");
    let conf = conf(p, creds, &cert_file);
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

fn conf(p: &Profile, creds: &ClientCredentials, cert_file: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ikegw client profile for connection '{}'", p.conn);
    let _ = writeln!(s, "connections {{");
    let _ = writeln!(s, "    ikegw-{} {{", file_stem(&p.conn));
    let _ = writeln!(s, "        version = 2");
    let _ = writeln!(s, "        remote_addrs = {}", v(&p.server));
    if p.server_port != 500 {
        let _ = writeln!(s, "        remote_port = {}", p.server_port);
    }
    if p.virtual_ip {
        let _ = writeln!(s, "        vips = 0.0.0.0,::");
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
    let _ = writeln!(s, "            auth = pubkey");
    let _ = writeln!(s, "            certs = {cert_file}");
    let _ = writeln!(s, "            id = {}", v(&creds.id));
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
