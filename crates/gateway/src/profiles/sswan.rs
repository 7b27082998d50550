//! strongSwan Android app profile (`.sswan`): the JSON format of the app's
//! "VPN Profile Import" documentation (uuid, name, type, remote.*, local.*,
//! ike-proposal, esp-proposal, dns-servers, split-tunneling.*).

use base64::Engine as _;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::creds::ClientCredentials;
use super::eap::EapUser;
use super::{cidr, Profile};

/// The profile JSON. `uuid` identifies it: re-importing a profile with the
/// same UUID replaces the old one in the app.
pub(crate) fn render(
    p: &Profile,
    creds: &ClientCredentials,
    p12: &[u8],
    uuid: &str,
) -> Zeroizing<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut local = Map::new();
    local.insert("id".into(), creds.id.clone().into());
    let p12_b64 = Zeroizing::new(b64.encode(p12));
    local.insert("p12".into(), p12_b64.as_str().into());
    document(p, "ikev2-cert", local, uuid)
}

/// For an EAP-MSCHAPv2 user (`ikev2-eap`): the app asks for the password
/// when the profile is imported, since a `.sswan` file cannot carry one.
pub(crate) fn render_eap(p: &Profile, user: &EapUser, uuid: &str) -> Zeroizing<Vec<u8>> {
    let mut local = Map::new();
    local.insert("eap_id".into(), user.user.clone().into());
    document(p, "ikev2-eap", local, uuid)
}

fn document(p: &Profile, kind: &str, local: Map<String, Value>, uuid: &str) -> Zeroizing<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut remote = Map::new();
    remote.insert("addr".into(), p.server.clone().into());
    if p.server_port != 500 {
        remote.insert("port".into(), p.server_port.into());
    }
    remote.insert("id".into(), p.server_id.clone().into());
    remote.insert("cert".into(), b64.encode(p.ca.der()).into());
    let mut doc = Map::new();
    doc.insert("uuid".into(), uuid.into());
    doc.insert("name".into(), p.display_name.clone().into());
    doc.insert("type".into(), kind.into());
    doc.insert("remote".into(), Value::Object(remote));
    doc.insert("local".into(), Value::Object(local));
    if let Some(k) = p.ike.keyword() {
        doc.insert("ike-proposal".into(), k.into());
    }
    if let Some(k) = p.esp.keyword() {
        doc.insert("esp-proposal".into(), k.into());
    }
    if !p.dns.is_empty() {
        let list: Vec<String> = p.dns.iter().map(ToString::to_string).collect();
        doc.insert("dns-servers".into(), list.join(" ").into());
    }
    let mut split = Map::new();
    if !p.split_include.is_empty() {
        let list: Vec<String> = p.split_include.iter().map(cidr).collect();
        split.insert("subnets".into(), list.join(" ").into());
    }
    if !p.split_exclude.is_empty() {
        let list: Vec<String> = p.split_exclude.iter().map(cidr).collect();
        split.insert("excluded".into(), list.join(" ").into());
    }
    if !split.is_empty() {
        doc.insert("split-tunneling".into(), Value::Object(split));
    }
    let text = Zeroizing::new(serde_json::to_string_pretty(&json!(doc)).unwrap_or_default());
    let mut out = Zeroizing::new(text.as_bytes().to_vec());
    out.push(b'\n');
    out
}
