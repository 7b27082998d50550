//! Checks that need the whole configuration: a secret for every PSK round,
//! a private key and a certificate that agree for every certificate round,
//! pools that exist and do not overlap, and traffic selectors of different
//! connections that do not overlap.
//!
//! Runs only on a file that read without errors, and only reports: it never
//! changes the [`Config`].

use std::net::IpAddr;

use certs::IkeId;
use ike::policy::ts::intersect;
use ike::wire::TrafficSelector;
use toml::de::DeTable;

use super::schema::value_span;
use super::source::{did_you_mean, Cx, Diagnostic, Severity, Source};
use super::{AddrSpec, AuthMethod, AuthRound, Config, Connection, Mode, Ts};

/// `failed` lists the tables that could not be read (their errors are
/// already reported); checks that would only report their absence skip them.
pub(super) fn validate(
    c: &Config,
    src: &Source,
    doc: &DeTable<'_>,
    failed: &[String],
) -> Vec<Diagnostic> {
    let mut cx = Cx::new(src);
    let lost = |prefix: &str| failed.iter().any(|f| f.starts_with(prefix));
    let skip = Skip {
        ike_secrets: lost("secrets.ike.") || lost("secrets.include"),
        private_keys: lost("secrets.private."),
        eap_secrets: lost("secrets.eap") || lost("secrets.include"),
    };
    for conn in &c.connections {
        check_rounds(&mut cx, c, conn, doc, skip);
        check_pool_refs(&mut cx, c, conn, doc, failed);
    }
    check_eap_users(&mut cx, c, doc);
    check_pool_overlaps(&mut cx, c, doc);
    check_selector_overlaps(&mut cx, c, doc);
    check_engine_socket(&mut cx, c, doc);
    let mut diags = cx.diags;
    if let Some(d) = inline_secrets_readable(c, src) {
        diags.push(d);
    }
    diags
}

/// An error and its causes on one line (`cannot read F: No such file ...`).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Checks to leave out because the tables they look at did not read.
#[derive(Clone, Copy)]
struct Skip {
    ike_secrets: bool,
    private_keys: bool,
    eap_secrets: bool,
}

fn round_span(doc: &DeTable<'_>, conn: &str, round: &str, key: &str) -> std::ops::Range<usize> {
    value_span(doc, &["connections", conn, round, key])
}

/// Same identity, with FQDNs and email addresses compared without case
/// (RFC 4945 §3.1.2 / §3.1.3, as certificate matching does).
fn id_eq(a: &IkeId, b: &IkeId) -> bool {
    match (a, b) {
        (IkeId::Fqdn(x), IkeId::Fqdn(y)) | (IkeId::Rfc822(x), IkeId::Rfc822(y)) => {
            x.eq_ignore_ascii_case(y)
        }
        _ => a == b,
    }
}

/// Our identity in a round: the configured one, or else (as strongSwan
/// does) our address when `local_addrs` names exactly one.
fn local_ids(conn: &Connection, r: &AuthRound) -> Vec<IkeId> {
    round_ids(r, &conn.local_addrs)
}

/// The peer's identity in a round, as [`local_ids`] with `remote_addrs`.
fn remote_ids(conn: &Connection, r: &AuthRound) -> Vec<IkeId> {
    round_ids(r, &conn.remote_addrs)
}

/// The round's configured identity, or else the IP addresses in `addrs`.
fn round_ids(r: &AuthRound, addrs: &[AddrSpec]) -> Vec<IkeId> {
    if let Some(id) = &r.id {
        return vec![id.clone()];
    }
    addrs
        .iter()
        .filter_map(|a| match a {
            AddrSpec::Addr(IpAddr::V4(v)) => Some(IkeId::Ipv4(*v)),
            AddrSpec::Addr(IpAddr::V6(v)) => Some(IkeId::Ipv6(*v)),
            _ => None,
        })
        .collect()
}

fn check_rounds(cx: &mut Cx<'_>, c: &Config, conn: &Connection, doc: &DeTable<'_>, skip: Skip) {
    let name = &conn.name;
    // PSK: strongSwan looks a shared key up by both identities of the IKE_SA;
    // a secret without `id` matches any. Round N of one side pairs with
    // round N of the other.
    for (local, rounds) in [(true, &conn.local), (false, &conn.remote)] {
        for r in rounds.iter() {
            let rk = r.table.clone();
            let peer_rounds = if local { &conn.remote } else { &conn.local };
            let peer = peer_rounds.iter().find(|p| p.round == r.round);
            // Both sides of a PSK round use the same key: report a missing
            // one once, on our round, unless only the peer's round is PSK.
            let reported_on_local = !local && peer.is_some_and(|p| p.auth == AuthMethod::Psk);
            if r.auth == AuthMethod::Psk && !skip.ike_secrets && !reported_on_local {
                let (mine, theirs) = if local {
                    (
                        local_ids(conn, r),
                        peer.map(|p| remote_ids(conn, p)).unwrap_or_default(),
                    )
                } else {
                    (
                        peer.map(|p| local_ids(conn, p)).unwrap_or_default(),
                        remote_ids(conn, r),
                    )
                };
                let found = c.secrets.ike.iter().any(|s| {
                    s.ids.is_empty()
                        || s.ids
                            .iter()
                            .any(|sid| mine.iter().chain(&theirs).any(|i| id_eq(i, sid)))
                });
                // Equally good entries: the daemon takes the first, as
                // strongSwan does; almost always a copy-paste mistake.
                let tie = crate::daemon::setup::choose_psk(&c.secrets.ike, &mine, &theirs)
                    .filter(|p| !p.tied.is_empty());
                if let Some(p) = tie {
                    let others: Vec<String> = p
                        .tied
                        .iter()
                        .map(|s| format!("secrets.ike.{}", s.name))
                        .collect();
                    cx.warn(
                        &round_span(doc, name, &rk, "auth"),
                        format!(
                            "secrets.ike.{} and {} match connections.{name}.{rk} equally well; the first is used; give each the ids of both ends",
                            p.best.name,
                            others.join(", ")
                        ),
                    );
                }
                if !found {
                    let span = round_span(doc, name, &rk, "auth");
                    let ids: Vec<String> = mine
                        .iter()
                        .chain(&theirs)
                        .map(|i| format!("'{i}'"))
                        .collect();
                    let hint = if ids.is_empty() {
                        "add a [secrets.ike.NAME] with a 'secret'".to_owned()
                    } else {
                        format!(
                            "add a [secrets.ike.NAME] whose 'id' lists {}",
                            ids.join(" or ")
                        )
                    };
                    cx.error(
                        &span,
                        format!("no secret for auth = psk in connections.{name}.{rk}; {hint}"),
                    );
                }
            }
            if r.auth == AuthMethod::Pubkey {
                check_cert_round(cx, c, conn, &RoundAt { r, local, key: &rk }, doc, skip);
            }
            if r.auth == AuthMethod::EapMschapv2 {
                check_eap_round(cx, c, conn, r, peer, doc, skip);
            }
        }
    }
}

/// A remote `auth = eap-mschapv2` round: the gateway must prove itself
/// with a certificate (RFC 7296 §2.16 leaves EAP to the initiator and
/// expects the responder's public-key AUTH), and there must be users.
fn check_eap_round(
    cx: &mut Cx<'_>,
    c: &Config,
    conn: &Connection,
    r: &AuthRound,
    ours: Option<&AuthRound>,
    doc: &DeTable<'_>,
    skip: Skip,
) {
    let name = &conn.name;
    let span = round_span(doc, name, &r.table, "auth");
    if !ours.is_some_and(|o| o.auth == AuthMethod::Pubkey) {
        cx.error(
            &span,
            format!(
                "auth = eap-mschapv2 in connections.{name}.{} needs our round to be auth = pubkey: the gateway proves itself with its certificate (RFC 7296 §2.16)",
                r.table
            ),
        );
    }
    if !skip.eap_secrets && c.secrets.eap.is_empty() {
        cx.error(
            &span,
            format!(
                "no EAP users for auth = eap-mschapv2 in connections.{name}.{}; add a [secrets.eap-NAME] with 'id' (the user) and 'secret' (the password)",
                r.table
            ),
        );
    }
}

/// An EAP user name in two `[secrets.eap-NAME]` sections would have two
/// passwords; only the first would ever be used.
fn check_eap_users(cx: &mut Cx<'_>, c: &Config, doc: &DeTable<'_>) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for s in &c.secrets.eap {
        for id in &s.ids {
            if let Some((_, first)) = seen.iter().find(|(u, _)| *u == id.as_str()) {
                let span = value_span(doc, &["secrets", &s.name, "id"]);
                cx.error(
                    &span,
                    format!(
                        "EAP user '{id}' in secrets.{} is already in secrets.{first}",
                        s.name
                    ),
                );
            } else {
                seen.push((id, &s.name));
            }
        }
    }
}

/// One authentication round and where it sits (`local`, `remote-2`).
struct RoundAt<'a> {
    r: &'a AuthRound,
    local: bool,
    key: &'a str,
}

fn check_cert_round(
    cx: &mut Cx<'_>,
    c: &Config,
    conn: &Connection,
    at: &RoundAt<'_>,
    doc: &DeTable<'_>,
    skip: Skip,
) {
    let (r, local, rk) = (at.r, at.local, at.key);
    let name = &conn.name;
    let tn = format!("connections.{name}.{rk}");
    let mut loaded = Vec::new();
    for (key, files) in [("certs", &r.certs), ("cacerts", &r.cacerts)] {
        for f in files {
            match certs::load::certificates_from_file(f) {
                Ok(list) if list.is_empty() => {
                    let span = round_span(doc, name, rk, key);
                    cx.error(
                        &span,
                        format!("no certificate in {} ('{key}' in {tn})", f.display()),
                    );
                }
                Ok(list) => {
                    if key == "certs" {
                        loaded.extend(list);
                    }
                }
                Err(e) => {
                    let span = round_span(doc, name, rk, key);
                    cx.error(
                        &span,
                        format!("cannot load certificate for '{key}' in {tn}: {}", chain(&e)),
                    );
                }
            }
        }
    }
    if !local {
        return;
    }
    // Our end certificate is the first one; it needs its private key in
    // [secrets.private] and must carry the configured identity.
    let Some(cert) = loaded.first() else { return };
    let span = round_span(doc, name, rk, "certs");
    match cert.public_key() {
        Ok(pk) => {
            // `auth` constraints the key cannot meet (`rsa/pss` on an ECDSA
            // key): the daemon would refuse the connection at start.
            if let Err(why) =
                crate::daemon::creds::our_schemes(pk.key_type(), &r.signature, c.daemon.rsa_pss)
            {
                cx.error(&round_span(doc, name, rk, "auth"), format!("{why} in {tn}"));
            }
            if !skip.private_keys && !c.secrets.private.iter().any(|k| *k.key.public_key() == pk) {
                cx.error(
                    &span,
                    format!(
                        "no private key in [secrets.private] matches the certificate '{}' of {tn}; add [secrets.private.NAME] file = \"...\"",
                        cert.subject()
                    ),
                );
            }
        }
        Err(e) => cx.error(
            &span,
            format!(
                "cannot read the public key of '{}' in {tn}: {e}",
                cert.subject()
            ),
        ),
    }
    if let Some(id) = &r.id {
        if let Err(e) = id.matches(cert) {
            let span = round_span(doc, name, rk, "id");
            cx.error(
                &span,
                format!("'id' in {tn} is not in its certificate: {e}"),
            );
        }
    }
}

fn check_pool_refs(
    cx: &mut Cx<'_>,
    c: &Config,
    conn: &Connection,
    doc: &DeTable<'_>,
    failed: &[String],
) {
    for p in &conn.pools {
        if c.pool(p).is_some() || failed.iter().any(|f| *f == format!("pools.{p}")) {
            continue;
        }
        let span = value_span(doc, &["connections", &conn.name, "pools"]);
        let hint = match did_you_mean(p, c.pools.iter().map(|x| x.name.as_str())) {
            Some(m) => format!("did you mean '{m}'?"),
            None => format!("define [pools.{p}]"),
        };
        cx.error(
            &span,
            format!(
                "pool '{p}' used by connections.{} is not defined; {hint}",
                conn.name
            ),
        );
    }
}

/// `engine_socket` names a userland engine process; the illumos backend
/// talks to the kernel's own PF_KEY socket instead.
fn check_engine_socket(cx: &mut Cx<'_>, c: &Config, doc: &DeTable<'_>) {
    if c.daemon.engine_socket.is_some() && c.daemon.backend == super::Backend::Illumos {
        cx.error(
            &value_span(doc, &["daemon", "engine_socket"]),
            "engine_socket names a userland engine process, but backend = \"illumos\" uses the kernel's PF_KEY socket; remove engine_socket or set backend = \"userland\"",
        );
    }
}

fn check_pool_overlaps(cx: &mut Cx<'_>, c: &Config, doc: &DeTable<'_>) {
    for (j, b) in c.pools.iter().enumerate() {
        if let Some(a) = c.pools.iter().take(j).find(|a| a.addrs.overlaps(&b.addrs)) {
            let span = value_span(doc, &["pools", &b.name, "addrs"]);
            cx.error(
                &span,
                format!(
                    "pool '{}' ({}) overlaps pool '{}' ({}); an address could be leased twice",
                    b.name, b.addrs_text, a.name, a.addrs_text
                ),
            );
        }
    }
}

fn fixed(list: &[Ts]) -> impl Iterator<Item = &TrafficSelector> {
    list.iter().filter_map(|t| match t {
        Ts::Fixed(ts) => Some(ts),
        Ts::Dynamic => None,
    })
}

/// Two children of different connections whose selectors share traffic
/// would install policies that both match the same packets; which SA gets
/// them then depends on policy order (RFC 4301 §4.4.1: the SPD is ordered),
/// not on the configuration. `pass`/`drop` children are meant to overlap,
/// and `dynamic` selectors are only known at run time.
fn check_selector_overlaps(cx: &mut Cx<'_>, c: &Config, doc: &DeTable<'_>) {
    let children: Vec<_> = c
        .connections
        .iter()
        .flat_map(|conn| conn.children.iter().map(move |ch| (conn, ch)))
        .filter(|(_, ch)| matches!(ch.mode, Mode::Tunnel | Mode::Transport))
        .collect();
    for (j, (cb, b)) in children.iter().enumerate() {
        for (ca, a) in children.iter().take(j) {
            if ca.name == cb.name {
                continue;
            }
            let hit = fixed(&a.local_ts).find_map(|la| {
                fixed(&b.local_ts).find_map(|lb| {
                    let l = intersect(la, lb)?;
                    fixed(&a.remote_ts).find_map(|ra| {
                        fixed(&b.remote_ts).find_map(|rb| intersect(ra, rb).map(|r| (l.clone(), r)))
                    })
                })
            });
            if let Some((l, r)) = hit {
                let span = value_span(
                    doc,
                    &["connections", &cb.name, "children", &b.name, "local_ts"],
                );
                cx.error(
                    &span,
                    format!(
                        "traffic selectors of connections.{}.children.{} overlap those of connections.{}.children.{} ({l} === {r})",
                        cb.name, b.name, ca.name, a.name
                    ),
                );
            }
        }
    }
}

/// A main file holding PSKs should be as private as a secrets file.
fn inline_secrets_readable(c: &Config, src: &Source) -> Option<Diagnostic> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !c.secrets.inline {
            return None;
        }
        let mode = std::fs::metadata(src.path()).ok()?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Some(Source::file_diagnostic(
                src.path(),
                Severity::Warning,
                format!(
                    "holds secrets but is readable by group or others (mode {mode:04o}); run: chmod 600 {}, or move [secrets] into a file named by secrets.include",
                    src.path().display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (c, src);
    None
}
