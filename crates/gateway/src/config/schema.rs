//! Every table and key of ikegw.toml, its type and its default.
//!
//! Keys carry swanctl.conf's names and defaults (strongSwan 5.9) so a
//! swanctl.conf translates line by line; keys swanctl has and ikegw does not
//! are listed with the reason, so the error says so instead of "unknown".
//! Each reader reports into the [`Cx`] and keeps going: one run finds every
//! problem in the file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ike::policy::proposal::{parse_list, ProposalSpec};
use ike::policy::ts::parse_ts;
use ike::wire::ProtocolId;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;
use zeroize::Zeroizing;

use super::source::{
    boolean, check_keys, count, duration, get, integer, keyword, string, string_list, table, At,
    Cx, Diagnostic, Severity, Source, Span, Val,
};
use super::{
    Action, AddrSpec, AuthMethod, AuthRound, Backend, Child, ChildLifetime, Config, Connection,
    Daemon, DpdAction, EapSecret, Fragmentation, IkeSecret, IpRange, LogFormat, Mode, PoolConfig,
    PrivateKeySecret, Psk, Revocation, Secrets, SendCert, SigConstraints, SigHash, SigKey, Subnet,
    Ts, Unique,
};

/// strongSwan's IKE_SA `rekey_time` default.
const IKE_REKEY_TIME: Duration = Duration::from_secs(4 * 3600);
/// strongSwan's CHILD_SA `rekey_time` default.
const CHILD_REKEY_TIME: Duration = Duration::from_secs(3600);

/// The keywords of `daemon.backend`.
const BACKENDS: &[(&str, Backend)] = &[
    ("illumos", Backend::Illumos),
    ("userland", Backend::Userland),
];
/// The keywords of `daemon.log_format`.
const LOG_FORMATS: &[(&str, LogFormat)] = &[("text", LogFormat::Text), ("json", LogFormat::Json)];
/// The keywords of `fragmentation` (swanctl's values).
const FRAGMENTATION: &[(&str, Fragmentation)] = &[
    ("yes", Fragmentation::Yes),
    ("accept", Fragmentation::Accept),
    ("force", Fragmentation::Force),
    ("no", Fragmentation::No),
];
/// The keywords of `send_cert`.
const SEND_CERT: &[(&str, SendCert)] = &[
    ("always", SendCert::Always),
    ("ifasked", SendCert::IfAsked),
    ("never", SendCert::Never),
];
/// The keywords of `unique`.
const UNIQUE: &[(&str, Unique)] = &[
    ("no", Unique::No),
    ("never", Unique::Never),
    ("keep", Unique::Keep),
    ("replace", Unique::Replace),
];
/// The keywords of `revocation`.
const REVOCATION: &[(&str, Revocation)] = &[
    ("relaxed", Revocation::Relaxed),
    ("ifuri", Revocation::IfUri),
    ("strict", Revocation::Strict),
];
/// The keywords of a child's `mode` (`beet` is refused before these are tried).
const MODES: &[(&str, Mode)] = &[
    ("tunnel", Mode::Tunnel),
    ("transport", Mode::Transport),
    ("pass", Mode::Pass),
    ("drop", Mode::Drop),
];
/// The keywords of `start_action` and `close_action`.
const ACTIONS: &[(&str, Action)] = &[
    ("none", Action::None),
    ("trap", Action::Trap),
    ("start", Action::Start),
];
/// The keywords of `dpd_action`; `hold` is strongSwan 5.x's older name for `trap`.
const DPD_ACTIONS: &[(&str, DpdAction)] = &[
    ("clear", DpdAction::Clear),
    ("trap", DpdAction::Trap),
    ("hold", DpdAction::Trap),
    ("restart", DpdAction::Restart),
];

const TOP_KEYS: &[&str] = &["daemon", "connections", "secrets", "pools", "site"];
const DAEMON_KEYS: &[&str] = &[
    "backend",
    "control_socket",
    "engine_socket",
    "state_dir",
    "log_format",
    "log_level",
    "listen",
    "port",
    "port_nat_t",
    "retransmit_timeout",
    "keep_alive",
    "cookie_threshold",
    "init_limit_half_open",
    "rsa_pss",
    "retransmit_base",
    "retransmit_tries",
];
const CONN_KEYS: &[&str] = &[
    "version",
    "local_addrs",
    "remote_addrs",
    "local_port",
    "remote_port",
    "proposals",
    "vips",
    "pools",
    "dpd_delay",
    "rekey_time",
    "reauth_time",
    "over_time",
    "rand_time",
    "mobike",
    "fragmentation",
    "send_certreq",
    "send_cert",
    "encap",
    "unique",
    "keyingtries",
    "local",
    "remote",
    "children",
];
const CONN_UNSUPPORTED: &[(&str, &str)] = &[
    ("aggressive", "IKEv1 only"),
    (
        "dpd_timeout",
        "IKEv1 only; IKEv2 liveness gives up after the retransmission timeout",
    ),
    ("pull", "IKEv1 Mode Config only"),
    ("dscp", "not implemented"),
    ("childless", "not implemented (RFC 6023)"),
    ("ppk_id", "not implemented (RFC 8784)"),
    ("ppk_required", "not implemented (RFC 8784)"),
    ("if_id_in", "Linux XFRM interfaces only"),
    ("if_id_out", "Linux XFRM interfaces only"),
    ("mediation", "not implemented"),
    ("mediated_by", "not implemented"),
    ("mediation_peer", "not implemented"),
];
const ROUND_KEYS: &[&str] = &[
    "round",
    "auth",
    "id",
    "certs",
    "cacerts",
    "revocation",
    "eap_id",
];
const ROUND_UNSUPPORTED: &[(&str, &str)] = &[
    ("aaa_id", "RADIUS (eap-radius) is not implemented"),
    ("xauth_id", "XAuth is IKEv1 only"),
    ("pubkeys", "raw public keys are not implemented; use certs"),
    ("groups", "not implemented"),
    ("cert_policy", "not implemented"),
    ("ca_id", "not implemented"),
];
const CHILD_KEYS: &[&str] = &[
    "local_ts",
    "remote_ts",
    "esp_proposals",
    "mode",
    "start_action",
    "close_action",
    "dpd_action",
    "rekey_time",
    "life_time",
    "rand_time",
    "rekey_bytes",
    "life_bytes",
    "rand_bytes",
    "rekey_packets",
    "life_packets",
    "rand_packets",
    "inactivity",
    "updown",
    "hostaccess",
    "policies",
    "priority",
    "reqid",
];
const CHILD_UNSUPPORTED: &[(&str, &str)] = &[
    ("ah_proposals", "AH is not implemented; use esp_proposals"),
    ("ipcomp", "IPComp is not implemented"),
    (
        "sha256_96",
        "only the RFC 4868 truncation (128 bits) is implemented",
    ),
    ("policies_fwd_out", "Linux only"),
    ("interface", "Linux only"),
    ("mark_in", "Linux only"),
    ("mark_out", "Linux only"),
    ("set_mark_in", "Linux only"),
    ("set_mark_out", "Linux only"),
    ("if_id_in", "Linux XFRM interfaces only"),
    ("if_id_out", "Linux XFRM interfaces only"),
    ("label", "not implemented"),
    ("tfc_padding", "not implemented"),
    ("hw_offload", "not implemented"),
    ("copy_df", "not implemented"),
    ("copy_ecn", "not implemented"),
    ("copy_dscp", "not implemented"),
];
const SECRETS_KEYS: &[&str] = &["include", "ike", "private"];
const SECRETS_UNSUPPORTED: &[(&str, &str)] = &[
    ("xauth", "XAuth is IKEv1 only"),
    (
        "ntlm",
        "NT hashes are not read; put the password in a [secrets.eap-NAME]",
    ),
    ("ppk", "not implemented (RFC 8784)"),
    ("rsa", "use secrets.private (the key type is detected)"),
    ("ecdsa", "use secrets.private (the key type is detected)"),
    ("pkcs8", "use secrets.private (the key type is detected)"),
    ("pkcs12", "not implemented; use PEM files"),
    ("token", "smart cards are not implemented"),
];
const IKE_SECRET_KEYS: &[&str] = &["id", "secret"];
const PRIVATE_KEYS: &[&str] = &["file"];
const PRIVATE_UNSUPPORTED: &[(&str, &str)] =
    &[("secret", "encrypted private keys are not implemented")];
const POOL_KEYS: &[&str] = &[
    "addrs",
    "dns",
    "nbns",
    "subnet",
    "split_include",
    "split_exclude",
    "split_dns",
];
const POOL_UNSUPPORTED: &[(&str, &str)] = &[
    ("dhcp", "not implemented"),
    ("netmask", "not implemented"),
    ("server", "not implemented"),
];

/// Read the whole (already parsed) document. `None` when a part is so
/// broken that no [`Config`] can be built; the diagnostics say why.
pub(super) fn read(src: &Source, doc: &DeTable<'_>) -> (Config, Vec<Diagnostic>, Vec<String>) {
    let mut cx = Cx::new(src);
    check_keys(&mut cx, doc, "the top level", TOP_KEYS, &[], |_| false);

    let daemon = read_daemon(&mut cx, doc);
    let pools = read_named(&mut cx, doc, "pools", "pools", read_pool);
    let mut secrets = read_secrets(&mut cx, doc, true);
    secrets.inline = !secrets.ike.is_empty() || !secrets.eap.is_empty();
    if let Some(inc) = secrets.include.clone() {
        let span = value_span(doc, &["secrets", "include"]);
        let errors_before = cx.diags.len();
        read_included_secrets(&mut cx, &inc, &span, &mut secrets);
        if cx
            .diags
            .iter()
            .skip(errors_before)
            .any(|d| d.severity == Severity::Error)
        {
            cx.failed.push("secrets.include".to_owned());
        }
    }
    let connections = read_named(&mut cx, doc, "connections", "connections", read_connection);
    let site = get(doc, "site").and_then(|v| {
        table(
            &mut cx,
            v,
            At {
                key: "site",
                table: "",
            },
        )?;
        // Re-read through serde so the provisioning code gets a plain
        // `toml::Value`; the document already parsed, so this cannot fail
        // in practice, but a failure is still reported, not unwrapped.
        // The provisioning code owns [site]'s schema; its problems are
        // reported here too, so `ikegw check` covers the whole file.
        match crate::site::parse(src.path(), src.text()) {
            Ok(_) => {}
            Err(crate::site::SiteError::Invalid { problems, .. }) => {
                for p in problems {
                    let span = src.offset_of(p.line, p.col).map_or(v.span(), |o| o..o);
                    cx.error(&span, p.message);
                }
            }
            Err(crate::site::SiteError::Syntax {
                line, col, message, ..
            }) => {
                let span = src.offset_of(line, col).map_or(v.span(), |o| o..o);
                cx.error(&span, format!("in [site]: {}", message.trim()));
            }
            Err(e) => cx.error(&v.span(), e.to_string()),
        }
        match toml::from_str::<toml::Table>(src.text()) {
            Ok(mut t) => t.remove("site"),
            Err(e) => {
                cx.error(&v.span(), format!("cannot read [site]: {}", e.message()));
                None
            }
        }
    });
    let config = Config {
        path: src.path().to_owned(),
        daemon,
        connections,
        secrets,
        pools,
        site,
        warnings: Vec::new(),
    };
    (config, cx.diags, cx.failed)
}

/// The span of the value at `path`, or of the deepest part of it present.
pub(super) fn value_span(doc: &DeTable<'_>, path: &[&str]) -> Span {
    let mut t = doc;
    let mut span = 0..0;
    for (i, key) in path.iter().enumerate() {
        let Some((k, v)) = t.get_key_value(*key) else {
            return span;
        };
        span = if i.saturating_add(1) == path.len() {
            v.span()
        } else {
            k.span()
        };
        match v.get_ref() {
            DeValue::Table(next) => t = next,
            _ => return v.span(),
        }
    }
    span
}

/// `secrets.include`: a separate file holding only `[secrets]`, which must
/// not be readable by group or others (like swanctl's private keys: a PSK
/// others can read is as good as published).
fn read_included_secrets(cx: &mut Cx<'_>, path: &std::path::Path, span: &Span, into: &mut Secrets) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    cx.error(
                        span,
                        format!(
                            "secrets file {} is readable by group or others (mode {mode:04o}); run: chmod 600 {}",
                            path.display(),
                            path.display()
                        ),
                    );
                    return;
                }
            }
            Err(e) => {
                cx.error(
                    span,
                    format!("cannot read secrets file {}: {e}", path.display()),
                );
                return;
            }
        }
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            cx.error(
                span,
                format!("cannot read secrets file {}: {e}", path.display()),
            );
            return;
        }
    };
    let isrc = Source::new(path, text);
    let mut icx = Cx::new(&isrc);
    let (doc, errors) = DeTable::parse_recoverable(isrc.text());
    for e in &errors {
        icx.error(
            &e.span().unwrap_or(0..0),
            format!("TOML syntax: {}", e.message().trim()),
        );
    }
    if errors.is_empty() {
        let doc = doc.get_ref();
        check_keys(&mut icx, doc, "a secrets file", &["secrets"], &[], |_| {
            false
        });
        let mut s = read_secrets(&mut icx, doc, false);
        into.ike.append(&mut s.ike);
        into.private.append(&mut s.private);
        into.eap.append(&mut s.eap);
    }
    cx.diags.append(&mut icx.diags);
    cx.failed.append(&mut icx.failed);
}

/// The entries of a table of named tables (`[connections.NAME]`), in file
/// order. `path` names the table in messages (`secrets.ike`); `f` gets the
/// entry's full path, its name, its table and its span.
fn read_named<T>(
    cx: &mut Cx<'_>,
    doc: &DeTable<'_>,
    key: &str,
    path: &str,
    f: impl Fn(&mut Cx<'_>, &str, &str, &DeTable<'_>, &Span) -> Option<T>,
) -> Vec<T> {
    let Some(v) = get(doc, key) else {
        return Vec::new();
    };
    let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
    let Some(t) = table(cx, v, At { key, table: parent }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, body) in entries_in_file_order(t, |_| true) {
        let name = name.get_ref().as_ref();
        let full = format!("{path}.{name}");
        let at = At {
            key: name,
            table: path,
        };
        match table(cx, body, at).and_then(|b| f(cx, &full, name, b, &body.span())) {
            Some(item) => out.push(item),
            None => cx.failed.push(full),
        }
    }
    out
}

fn at<'a>(key: &'a str, table: &'a str) -> At<'a> {
    At { key, table }
}

/// Reads the optional `key` of `t` (the table named `tn`) with `read`, into
/// `slot`. `false` when the key is there but its value does not read (the
/// reader has reported why, and `slot` keeps its default); `true` when it
/// read or is absent.
fn read_key<T>(
    cx: &mut Cx<'_>,
    t: &DeTable<'_>,
    tn: &str,
    key: &str,
    slot: &mut T,
    read: impl FnOnce(&mut Cx<'_>, &Val<'_>, At<'_>) -> Option<T>,
) -> bool {
    let Some(v) = get(t, key) else {
        return true;
    };
    match read(cx, v, at(key, tn)) {
        Some(x) => {
            *slot = x;
            true
        }
        None => false,
    }
}

/// [`read_key`] for a keyword out of `choices`.
fn read_keyword<T: Copy>(
    cx: &mut Cx<'_>,
    t: &DeTable<'_>,
    tn: &str,
    key: &str,
    slot: &mut T,
    choices: &[(&str, T)],
) -> bool {
    read_key(cx, t, tn, key, slot, |cx, v, at| {
        keyword(cx, v, at, choices)
    })
}

/// The entries of `t` whose key passes `keep`, in the order the file has
/// them (the map itself is sorted by key), so messages follow the file.
fn entries_in_file_order<'t, 'i>(
    t: &'t DeTable<'i>,
    keep: impl Fn(&str) -> bool,
) -> Vec<(&'t Spanned<DeString<'i>>, &'t Val<'i>)> {
    let mut entries: Vec<_> = t.iter().filter(|(k, _)| keep(k.get_ref())).collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// [`read_key`] for a `u32` (0 to `u32::MAX`).
fn read_u32(
    cx: &mut Cx<'_>,
    t: &DeTable<'_>,
    tn: &str,
    key: &str,
    slot: &mut u32,
    or: u32,
) -> bool {
    read_key(cx, t, tn, key, slot, |cx, v, at| {
        integer(cx, v, at, 0, i64::from(u32::MAX)).map(|n| u32::try_from(n).unwrap_or(or))
    })
}

fn read_daemon(cx: &mut Cx<'_>, doc: &DeTable<'_>) -> Daemon {
    let mut d = Daemon {
        backend: Backend::Illumos,
        control_socket: PathBuf::from("/var/run/ikegw.sock"),
        engine_socket: None,
        state_dir: PathBuf::from("/var/lib/ikegw"),
        log_format: LogFormat::Text,
        log_level: "info".to_owned(),
        listen: Vec::new(),
        port: 500,
        port_nat_t: 4500,
        retransmit_timeout: Duration::from_secs(4),
        keep_alive: Duration::from_secs(20),
        cookie_threshold: 10,
        init_limit_half_open: 1000,
        retransmit_base: 1.8,
        retransmit_tries: 5,
        rsa_pss: false,
    };
    let Some(v) = get(doc, "daemon") else {
        return d;
    };
    let Some(t) = table(cx, v, at("daemon", "")) else {
        return d;
    };
    let tn = "daemon";
    check_keys(cx, t, tn, DAEMON_KEYS, &[], |_| false);
    // A daemon key that does not read keeps its default; the error is
    // reported all the same.
    read_keyword(cx, t, tn, "backend", &mut d.backend, BACKENDS);
    for (key, slot) in [
        ("control_socket", &mut d.control_socket),
        ("state_dir", &mut d.state_dir),
    ] {
        if let Some(s) = get(t, key).and_then(|v| string(cx, v, at(key, tn))) {
            *slot = cx.resolve(s);
        }
    }
    if let Some(s) = get(t, "engine_socket").and_then(|v| string(cx, v, at("engine_socket", tn))) {
        d.engine_socket = Some(cx.resolve(s));
    }
    read_key(cx, t, tn, "rsa_pss", &mut d.rsa_pss, boolean);
    read_keyword(cx, t, tn, "log_format", &mut d.log_format, LOG_FORMATS);
    if let Some(s) = get(t, "log_level").and_then(|v| string(cx, v, at("log_level", tn))) {
        s.clone_into(&mut d.log_level);
    }
    if let Some(items) = get(t, "listen").and_then(|v| string_list(cx, v, at("listen", tn))) {
        d.listen = ip_list(cx, &items, at("listen", tn));
    }
    read_key(cx, t, tn, "port", &mut d.port, port);
    read_key(cx, t, tn, "port_nat_t", &mut d.port_nat_t, port);
    let rt = &mut d.retransmit_timeout;
    read_key(cx, t, tn, "retransmit_timeout", rt, |cx, v, at| {
        duration_in(cx, v, at, 0.01..=3600.0, "0.01 and 3600 seconds")
    });
    read_key(cx, t, tn, "keep_alive", &mut d.keep_alive, |cx, v, at| {
        let between = "1 and 3600 seconds (NAT-T keepalives cannot be turned off)";
        duration_in(cx, v, at, 1.0..=3600.0, between)
    });
    let base = &mut d.retransmit_base;
    read_key(cx, t, tn, "retransmit_base", base, |cx, v, at| {
        number_in(cx, v, at, 1.0..=10.0, "1.0 and 10.0", number)
    });
    let key = "cookie_threshold";
    if let Some(n) = get(t, key).and_then(|v| integer(cx, v, at(key, tn), 0, 1_000_000)) {
        d.cookie_threshold = usize::try_from(n).unwrap_or(10);
    }
    let key = "init_limit_half_open";
    if let Some(n) = get(t, key).and_then(|v| integer(cx, v, at(key, tn), 1, 1_000_000)) {
        d.init_limit_half_open = usize::try_from(n).unwrap_or(1000);
    }
    let key = "retransmit_tries";
    if let Some(n) = get(t, key).and_then(|v| integer(cx, v, at(key, tn), 0, 100)) {
        d.retransmit_tries = u32::try_from(n).unwrap_or(5);
    }
    d
}

/// A number read with `read` that must lie in `range`; outside it, the
/// error says `{at} must be between {between}`.
fn number_in(
    cx: &mut Cx<'_>,
    v: &Val<'_>,
    at: At<'_>,
    range: std::ops::RangeInclusive<f64>,
    between: &str,
    read: fn(&mut Cx<'_>, &Val<'_>, At<'_>) -> Option<f64>,
) -> Option<f64> {
    let n = read(cx, v, at)?;
    if range.contains(&n) {
        Some(n)
    } else {
        cx.error(&v.span(), format!("{at} must be between {between}"));
        None
    }
}

/// [`seconds`] that must lie in `range`, as a [`Duration`].
fn duration_in(
    cx: &mut Cx<'_>,
    v: &Val<'_>,
    at: At<'_>,
    range: std::ops::RangeInclusive<f64>,
    between: &str,
) -> Option<Duration> {
    number_in(cx, v, at, range, between, seconds).map(Duration::from_secs_f64)
}

/// Seconds as strongswan.conf writes them, (fractional) numbers, or a
/// duration string such as "4s".
fn seconds(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<f64> {
    match v.get_ref() {
        DeValue::String(_) => duration(cx, v, at).map(|d| d.as_secs_f64()),
        _ => number(cx, v, at),
    }
}

/// A TOML float or integer, as a finite `f64`.
fn number(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<f64> {
    let parsed = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .map(f64::from),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        other => {
            cx.error(
                &v.span(),
                format!(
                    "expected a number for {at}, found {}",
                    super::source::type_name(other)
                ),
            );
            return None;
        }
    };
    let n = parsed.filter(|n| n.is_finite());
    if n.is_none() {
        cx.error(&v.span(), format!("{at} must be a finite number"));
    }
    n
}

fn port(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<u16> {
    integer(cx, v, at, 1, 65535).and_then(|n| u16::try_from(n).ok())
}

fn ip_list(cx: &mut Cx<'_>, items: &[(String, Span)], at: At<'_>) -> Vec<IpAddr> {
    items
        .iter()
        .filter_map(|(s, span)| match s.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.error(span, format!("invalid IP address '{s}' in {at}"));
                None
            }
        })
        .collect()
}

fn read_connection(
    cx: &mut Cx<'_>,
    tn: &str,
    name: &str,
    t: &DeTable<'_>,
    conn_span: &Span,
) -> Option<Connection> {
    let name = name.to_owned();
    check_keys(cx, t, tn, CONN_KEYS, CONN_UNSUPPORTED, |k| {
        round_number(k).is_some()
    });
    let mut ok = true;
    let mut c = Connection {
        name,
        version: 0,
        local_addrs: vec![AddrSpec::Any],
        remote_addrs: vec![AddrSpec::Any],
        local_port: 500,
        remote_port: 500,
        proposals: Vec::new(),
        vips: Vec::new(),
        pools: Vec::new(),
        dpd_delay: Duration::ZERO,
        rekey_time: IKE_REKEY_TIME,
        reauth_time: Duration::ZERO,
        over_time: Duration::ZERO,
        rand_time: Duration::ZERO,
        mobike: true,
        fragmentation: Fragmentation::Yes,
        send_certreq: true,
        send_cert: SendCert::IfAsked,
        encap: false,
        unique: Unique::No,
        keyingtries: 1,
        local: Vec::new(),
        remote: Vec::new(),
        children: Vec::new(),
    };
    if let Some(v) = get(t, "version") {
        match integer(cx, v, at("version", tn), 0, 2) {
            Some(1) => {
                cx.error(
                    &v.span(),
                    format!("IKEv1 is not supported ('version' in {tn}); use 2 or 0"),
                );
                ok = false;
            }
            Some(n) => c.version = u8::try_from(n).unwrap_or(0),
            None => ok = false,
        }
    }
    for (key, slot) in [
        ("local_addrs", &mut c.local_addrs),
        ("remote_addrs", &mut c.remote_addrs),
    ] {
        if let Some(v) = get(t, key) {
            match string_list(cx, v, at(key, tn)).map(|items| addr_list(cx, &items, at(key, tn))) {
                Some(Some(list)) if !list.is_empty() => *slot = list,
                Some(Some(_)) => {
                    cx.error(
                        &v.span(),
                        format!("{} is empty; use %any to accept any address", at(key, tn)),
                    );
                    ok = false;
                }
                _ => ok = false,
            }
        }
    }
    for (key, slot) in [
        ("local_port", &mut c.local_port),
        ("remote_port", &mut c.remote_port),
    ] {
        ok &= read_key(cx, t, tn, key, slot, port);
    }
    match get(t, "proposals") {
        Some(v) => match proposals(cx, v, at("proposals", tn), ProtocolId::IKE) {
            Some(p) => c.proposals = p,
            None => ok = false,
        },
        None => c.proposals = default_proposals(ProtocolId::IKE),
    }
    if let Some(v) = get(t, "vips") {
        match string_list(cx, v, at("vips", tn)) {
            Some(items) => c.vips = ip_list(cx, &items, at("vips", tn)),
            None => ok = false,
        }
    }
    if let Some(v) = get(t, "pools") {
        match string_list(cx, v, at("pools", tn)) {
            Some(items) => c.pools = items.into_iter().map(|(s, _)| s).collect(),
            None => ok = false,
        }
    }
    let mut over_time = None;
    let mut rand_time = None;
    for (key, slot) in [
        ("dpd_delay", &mut c.dpd_delay),
        ("rekey_time", &mut c.rekey_time),
        ("reauth_time", &mut c.reauth_time),
    ] {
        ok &= read_key(cx, t, tn, key, slot, duration);
    }
    for (key, slot) in [("over_time", &mut over_time), ("rand_time", &mut rand_time)] {
        ok &= read_key(cx, t, tn, key, slot, |cx, v, at| {
            duration(cx, v, at).map(Some)
        });
    }
    // strongSwan: over_time defaults to 10% of the longer of rekey_time and
    // reauth_time, and rand_time to over_time.
    let base = c.rekey_time.max(c.reauth_time);
    c.over_time = over_time.unwrap_or(base / 10);
    c.rand_time = rand_time.unwrap_or(c.over_time);
    if !base.is_zero() && c.rand_time >= base {
        if let Some(v) = get(t, "rand_time") {
            cx.error(
                &v.span(),
                format!(
                    "'rand_time' in {tn} ({}) must be shorter than rekey_time ({})",
                    fmt_dur(c.rand_time),
                    fmt_dur(base)
                ),
            );
            ok = false;
        }
    }
    for (key, slot) in [
        ("mobike", &mut c.mobike),
        ("send_certreq", &mut c.send_certreq),
        ("encap", &mut c.encap),
    ] {
        ok &= read_key(cx, t, tn, key, slot, boolean);
    }
    ok &= read_keyword(
        cx,
        t,
        tn,
        "fragmentation",
        &mut c.fragmentation,
        FRAGMENTATION,
    );
    ok &= read_keyword(cx, t, tn, "send_cert", &mut c.send_cert, SEND_CERT);
    ok &= read_keyword(cx, t, tn, "unique", &mut c.unique, UNIQUE);
    ok &= read_u32(cx, t, tn, "keyingtries", &mut c.keyingtries, u32::MAX);
    // Authentication rounds: `local`, `local-1`, `local-2`, ... (swanctl
    // numbers rounds by suffix; `round = N` overrides the order).
    let mut rounds: Vec<(bool, u32, AuthRound, Span)> = Vec::new();
    let (mut any_local, mut any_remote) = (false, false);
    for (k, v) in entries_in_file_order(t, |_| true) {
        let key = k.get_ref().as_ref();
        let Some((local, n)) = round_number(key) else {
            continue;
        };
        if local {
            any_local = true;
        } else {
            any_remote = true;
        }
        let rn = format!("{tn}.{key}");
        let Some(rt) = table(cx, v, at(key, tn)) else {
            ok = false;
            continue;
        };
        match read_round(cx, &rn, rt, local, n) {
            Some(r) => rounds.push((local, r.round, r, k.span())),
            None => ok = false,
        }
    }
    rounds.sort_by_key(|(l, n, _, _)| (!*l, *n));
    for pair in rounds.windows(2) {
        if let [(l0, n0, _, _), (l1, n1, _, s1)] = pair {
            if l0 == l1 && n0 == n1 {
                let side = if *l1 { "local" } else { "remote" };
                cx.error(
                    s1,
                    format!("duplicate {side} authentication round {n1} in {tn}"),
                );
                ok = false;
            }
        }
    }
    for (local, _, r, _) in rounds {
        if local {
            c.local.push(r);
        } else {
            c.remote.push(r);
        }
    }
    if !any_local {
        cx.error(
            conn_span,
            format!("{tn} has no [{tn}.local] authentication round"),
        );
        ok = false;
    }
    if !any_remote {
        cx.error(
            conn_span,
            format!("{tn} has no [{tn}.remote] authentication round"),
        );
        ok = false;
    }
    if let Some(v) = get(t, "children") {
        if let Some(ct) = table(cx, v, at("children", tn)) {
            for (name, body) in entries_in_file_order(ct, |_| true) {
                let name = name.get_ref().as_ref();
                let cn = format!("{tn}.children.{name}");
                match table(cx, body, at(name, &format!("{tn}.children"))) {
                    Some(b) => match read_child(cx, &cn, name, b) {
                        Some(child) => c.children.push(child),
                        None => ok = false,
                    },
                    None => ok = false,
                }
            }
        } else {
            ok = false;
        }
    }
    ok.then_some(c)
}

/// Whether an `auth` value is a signature one with constraints (swanctl
/// spells them `pubkey-…`, `rsa…`, `ecdsa…`, `ed25519…`, maybe after `ike:`).
fn is_signature_auth(s: &str) -> bool {
    let s = s.strip_prefix("ike:").unwrap_or(s);
    ["pubkey", "rsa", "ecdsa", "ed25519"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Parse swanctl's signature constraints (swanctl.conf `auth`): an
/// optional `ike:` prefix (ikegw applies the constraints to IKE AUTH
/// signatures only, so it changes nothing), then dash-separated key types,
/// each with an optional minimum size, and hashes.
fn sig_constraints(s: &str) -> Result<SigConstraints, String> {
    let body = s.strip_prefix("ike:").unwrap_or(s);
    let mut c = SigConstraints::default();
    for tok in body.split('-') {
        let key = match tok {
            "pubkey" => None,
            "rsa" => Some(SigKey::Rsa),
            "rsa/pss" => Some(SigKey::RsaPss),
            "ecdsa" => Some(SigKey::Ecdsa),
            "ed25519" => Some(SigKey::Ed25519),
            "sha256" | "sha2_256" => {
                c.hashes.push(SigHash::Sha256);
                continue;
            }
            "sha384" | "sha2_384" => {
                c.hashes.push(SigHash::Sha384);
                continue;
            }
            "sha512" | "sha2_512" => {
                c.hashes.push(SigHash::Sha512);
                continue;
            }
            "sha1" | "md5" => {
                return Err(format!(
                    "{tok} signatures are not supported; use sha256, sha384 or sha512"
                ))
            }
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                let Some((_, bits)) = c.keys.last_mut() else {
                    return Err(format!("key size {t} must follow a key type (rsa-{t})"));
                };
                *bits = t
                    .parse()
                    .map_err(|_| format!("key size {t} is out of range"))?;
                continue;
            }
            other => {
                return Err(format!(
                    "unknown signature constraint '{other}'; use pubkey, rsa, rsa/pss, ecdsa or \
                     ed25519, optionally with a key size and sha256, sha384, sha512"
                ))
            }
        };
        if let Some(k) = key {
            c.keys.push((k, 0));
        }
    }
    Ok(c)
}

/// `local`/`remote`/`local-N`/`remote-N`: (is local, round number).
fn round_number(key: &str) -> Option<(bool, u32)> {
    let (local, rest) = if let Some(r) = key.strip_prefix("local") {
        (true, r)
    } else {
        (false, key.strip_prefix("remote")?)
    };
    if rest.is_empty() {
        return Some((local, 1));
    }
    let n = rest.strip_prefix('-')?;
    // Only digits: `local_addrs` and `local-foo` are not rounds.
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().map(|n| (local, n))
}

fn read_round(
    cx: &mut Cx<'_>,
    tn: &str,
    t: &DeTable<'_>,
    local: bool,
    n: u32,
) -> Option<AuthRound> {
    check_keys(cx, t, tn, ROUND_KEYS, ROUND_UNSUPPORTED, |_| false);
    let mut ok = true;
    let mut r = AuthRound {
        round: n,
        table: tn.rsplit('.').next().unwrap_or(tn).to_owned(),
        auth: AuthMethod::Pubkey,
        id: None,
        id_text: None,
        certs: Vec::new(),
        cacerts: Vec::new(),
        revocation: Revocation::Relaxed,
        eap_id: None,
        signature: SigConstraints::default(),
    };
    ok &= read_key(cx, t, tn, "round", &mut r.round, |cx, v, at| {
        integer(cx, v, at, 1, 64).map(|x| u32::try_from(x).unwrap_or(n))
    });
    // A bad `auth` already has its error; the pubkey requirements below
    // would only add noise about a method that was never chosen.
    let ok_before_auth = ok;
    ok = true;
    if let Some(v) = get(t, "auth") {
        match v.get_ref() {
            // EAP-MSCHAPv2 for road warriors (RFC 7296 §2.16); ikegw only
            // ever is the EAP server, so only a remote round may ask for it.
            DeValue::String(s) if s == "eap-mschapv2" && !local => {
                r.auth = AuthMethod::EapMschapv2;
            }
            DeValue::String(s) if s == "eap-mschapv2" => {
                cx.error(
                    &v.span(),
                    format!(
                        "auth = eap-mschapv2 in {tn}: ikegw is an EAP server only; use it in the remote round"
                    ),
                );
                ok = false;
            }
            DeValue::String(s) if s.starts_with("eap") || s.starts_with("xauth") => {
                cx.error(
                    &v.span(),
                    format!(
                        "auth '{s}' in {tn} is not supported by ikegw; use psk, pubkey or (remote) eap-mschapv2"
                    ),
                );
                ok = false;
            }
            // swanctl's signature scheme constraints: `rsa/pss`,
            // `ike:pubkey-sha384`, `ecdsa-256-sha256`, … (RFC 7427).
            DeValue::String(s) if s != "pubkey" && is_signature_auth(s) => {
                match sig_constraints(s) {
                    Ok(c) => {
                        r.auth = AuthMethod::Pubkey;
                        r.signature = c;
                    }
                    Err(why) => {
                        cx.error(&v.span(), format!("auth '{s}' in {tn}: {why}"));
                        ok = false;
                    }
                }
            }
            _ => match keyword(
                cx,
                v,
                at("auth", tn),
                &[
                    ("psk", AuthMethod::Psk),
                    ("pubkey", AuthMethod::Pubkey),
                    ("eap-mschapv2", AuthMethod::EapMschapv2),
                ],
            ) {
                Some(a) => r.auth = a,
                None => ok = false,
            },
        }
    }
    let auth_valid = ok;
    ok = ok && ok_before_auth;
    if let Some(v) = get(t, "id") {
        if let Some(s) = string(cx, v, at("id", tn)) {
            r.id_text = Some(s.to_owned());
            if s != "%any" {
                match certs::IkeId::parse(s) {
                    Ok(id) => r.id = Some(id),
                    Err(e) => {
                        cx.error(&v.span(), format!("invalid identity '{s}' in {tn}: {e}"));
                        ok = false;
                    }
                }
            } else if local {
                cx.error(
                    &v.span(),
                    format!("'id' in {tn} cannot be %any: we must present an identity"),
                );
                ok = false;
            }
        } else {
            ok = false;
        }
    }
    if let Some(v) = get(t, "eap_id") {
        match string(cx, v, at("eap_id", tn)) {
            Some(_) if r.auth != AuthMethod::EapMschapv2 => {
                cx.error(
                    &v.span(),
                    format!("'eap_id' in {tn} needs auth = eap-mschapv2"),
                );
                ok = false;
            }
            Some("%any") => r.eap_id = Some("%any".to_owned()),
            Some(s) => {
                cx.error(
                    &v.span(),
                    format!(
                        "eap_id '{s}' in {tn}: only %any (ask with EAP-Identity) is supported; leave it out to take the user from the IKE identity"
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    for (key, slot) in [("certs", &mut r.certs), ("cacerts", &mut r.cacerts)] {
        if let Some(v) = get(t, key) {
            match string_list(cx, v, at(key, tn)) {
                Some(items) => *slot = items.iter().map(|(s, _)| cx.resolve(s)).collect(),
                None => ok = false,
            }
        }
    }
    if local && !r.cacerts.is_empty() {
        if let Some(v) = get(t, "cacerts") {
            cx.error(
                &v.span(),
                format!(
                    "'cacerts' in {tn} has no effect on our own round; put it in the remote round"
                ),
            );
            ok = false;
        }
    }
    ok &= read_keyword(cx, t, tn, "revocation", &mut r.revocation, REVOCATION);
    let first_key = t
        .iter()
        .map(|(k, _)| k.span())
        .min_by_key(|s| s.start)
        .unwrap_or(0..0);
    if r.auth == AuthMethod::Pubkey && auth_valid {
        let span = get(t, "auth").map_or(first_key, Val::span);
        if local && r.certs.is_empty() {
            cx.error(
                &span,
                format!("auth = pubkey in {tn} needs 'certs' (our certificate)"),
            );
            ok = false;
        }
        if !local && r.certs.is_empty() && r.cacerts.is_empty() {
            cx.error(
                &span,
                format!(
                    "auth = pubkey in {tn} needs 'cacerts' (or pinned 'certs') to verify the peer"
                ),
            );
            ok = false;
        }
    }
    ok.then_some(r)
}

fn read_child(cx: &mut Cx<'_>, tn: &str, name: &str, t: &DeTable<'_>) -> Option<Child> {
    check_keys(cx, t, tn, CHILD_KEYS, CHILD_UNSUPPORTED, |_| false);
    let mut ok = true;
    let mut c = Child {
        name: name.to_owned(),
        local_ts: vec![Ts::Dynamic],
        remote_ts: vec![Ts::Dynamic],
        esp_proposals: Vec::new(),
        mode: Mode::Tunnel,
        start_action: Action::None,
        close_action: Action::None,
        dpd_action: DpdAction::Clear,
        lifetime: ChildLifetime {
            rekey_time: CHILD_REKEY_TIME,
            life_time: Duration::ZERO,
            rand_time: Duration::ZERO,
            rekey_bytes: 0,
            life_bytes: 0,
            rand_bytes: 0,
            rekey_packets: 0,
            life_packets: 0,
            rand_packets: 0,
        },
        inactivity: Duration::ZERO,
        updown: None,
        hostaccess: false,
        policies: true,
        priority: 0,
        reqid: 0,
    };
    for (key, slot) in [
        ("local_ts", &mut c.local_ts),
        ("remote_ts", &mut c.remote_ts),
    ] {
        if let Some(v) = get(t, key) {
            match string_list(cx, v, at(key, tn))
                .and_then(|items| selectors(cx, &items, at(key, tn)))
            {
                Some(list) => *slot = list,
                None => ok = false,
            }
        }
    }
    match get(t, "esp_proposals") {
        Some(v) => match proposals(cx, v, at("esp_proposals", tn), ProtocolId::ESP) {
            Some(p) => c.esp_proposals = p,
            None => ok = false,
        },
        None => c.esp_proposals = default_proposals(ProtocolId::ESP),
    }
    if let Some(v) = get(t, "mode") {
        if matches!(v.get_ref(), DeValue::String(s) if s == "beet") {
            cx.error(
                &v.span(),
                format!("mode 'beet' in {tn} is not supported by ikegw; use tunnel or transport"),
            );
            ok = false;
        } else {
            ok &= read_keyword(cx, t, tn, "mode", &mut c.mode, MODES);
        }
    }
    for (key, slot) in [
        ("start_action", &mut c.start_action),
        ("close_action", &mut c.close_action),
    ] {
        ok &= read_keyword(cx, t, tn, key, slot, ACTIONS);
    }
    ok &= read_keyword(cx, t, tn, "dpd_action", &mut c.dpd_action, DPD_ACTIONS);
    ok &= read_child_lifetime(cx, tn, t, &mut c.lifetime);
    ok &= read_key(cx, t, tn, "inactivity", &mut c.inactivity, duration);
    ok &= read_key(cx, t, tn, "updown", &mut c.updown, |cx, v, at| {
        string(cx, v, at).map(|s| Some(cx.resolve(s)))
    });
    for (key, slot) in [
        ("hostaccess", &mut c.hostaccess),
        ("policies", &mut c.policies),
    ] {
        ok &= read_key(cx, t, tn, key, slot, boolean);
    }
    for (key, slot) in [("priority", &mut c.priority), ("reqid", &mut c.reqid)] {
        ok &= read_u32(cx, t, tn, key, slot, 0);
    }
    ok.then_some(c)
}

/// CHILD_SA lifetimes with strongSwan's defaults: `life_*` is 110% of
/// `rekey_*`, `rand_*` is `life_* - rekey_*`.
fn read_child_lifetime(cx: &mut Cx<'_>, tn: &str, t: &DeTable<'_>, l: &mut ChildLifetime) -> bool {
    let mut ok = true;
    let mut dur = |cx: &mut Cx<'_>, key: &str| -> Option<Duration> {
        let v = get(t, key)?;
        let d = duration(cx, v, at(key, tn));
        ok &= d.is_some();
        d
    };
    let rekey = dur(cx, "rekey_time");
    let life = dur(cx, "life_time");
    let rand = dur(cx, "rand_time");
    if let Some(r) = rekey {
        l.rekey_time = r;
    }
    l.life_time = life.unwrap_or_else(|| l.rekey_time.saturating_add(l.rekey_time / 10));
    l.rand_time = rand.unwrap_or_else(|| l.life_time.saturating_sub(l.rekey_time));
    if !l.rekey_time.is_zero() && l.life_time <= l.rekey_time {
        if let Some(v) = get(t, "life_time").or_else(|| get(t, "rekey_time")) {
            cx.error(
                &v.span(),
                format!(
                    "'life_time' in {tn} ({}) must be longer than rekey_time ({})",
                    fmt_dur(l.life_time),
                    fmt_dur(l.rekey_time)
                ),
            );
            ok = false;
        }
    } else if !l.rekey_time.is_zero()
        && rand.is_some()
        && l.rand_time >= l.life_time.saturating_sub(l.rekey_time)
    {
        if let Some(v) = get(t, "rand_time") {
            cx.error(
                &v.span(),
                format!(
                    "'rand_time' in {tn} ({}) must be shorter than life_time - rekey_time ({})",
                    fmt_dur(l.rand_time),
                    fmt_dur(l.life_time.saturating_sub(l.rekey_time))
                ),
            );
            ok = false;
        }
    }
    let mut cnt = |cx: &mut Cx<'_>, key: &str| -> Option<u64> {
        let v = get(t, key)?;
        let n = count(cx, v, at(key, tn));
        ok &= n.is_some();
        n
    };
    let (rb, lb, nb) = (
        cnt(cx, "rekey_bytes"),
        cnt(cx, "life_bytes"),
        cnt(cx, "rand_bytes"),
    );
    let (rp, lp, np) = (
        cnt(cx, "rekey_packets"),
        cnt(cx, "life_packets"),
        cnt(cx, "rand_packets"),
    );
    for ((rekey, life, rand), (r, lv, n)) in [
        (
            (rb, lb, nb),
            (&mut l.rekey_bytes, &mut l.life_bytes, &mut l.rand_bytes),
        ),
        (
            (rp, lp, np),
            (
                &mut l.rekey_packets,
                &mut l.life_packets,
                &mut l.rand_packets,
            ),
        ),
    ] {
        *r = rekey.unwrap_or(0);
        *lv = life.unwrap_or_else(|| r.saturating_add(*r / 10));
        *n = rand.unwrap_or_else(|| lv.saturating_sub(*r));
    }
    ok
}

/// `1h30m`-free rendering of a duration the way swanctl prints them.
pub(super) fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        "0s".to_owned()
    } else if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn default_proposals(protocol: ProtocolId) -> Vec<ProposalSpec> {
    // "default" is one of the proposal parser's own keywords; it cannot fail.
    parse_list(protocol, "default").unwrap_or_default()
}

/// `proposals` / `esp_proposals`: strongSwan proposal strings, parsed by
/// `ike::policy::proposal`.
fn proposals(
    cx: &mut Cx<'_>,
    v: &Val<'_>,
    at: At<'_>,
    protocol: ProtocolId,
) -> Option<Vec<ProposalSpec>> {
    let items = string_list(cx, v, at)?;
    if items.is_empty() {
        cx.error(
            &v.span(),
            format!("{at} is empty; leave it out for the default"),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut ok = true;
    for (text, span) in &items {
        match parse_list(protocol, text) {
            Ok(p) => {
                spans.extend(p.iter().map(|_| span.clone()));
                out.extend(p);
            }
            Err(e) => {
                cx.error(span, format!("{} ({at})", e.message()));
                ok = false;
            }
        }
    }
    if ok {
        // A proposal whose every algorithm an earlier one also accepts can
        // never be chosen (RFC 7296 §2.7: the first acceptable proposal wins),
        // which usually means the order was meant the other way round.
        for (j, (later, span)) in out.iter().zip(&spans).enumerate() {
            if let Some(earlier) = out.iter().take(j).find(|e| covers(e, later)) {
                cx.warn(span, format!("unreachable proposal '{later}' in {at}: the earlier proposal '{earlier}' accepts everything it does"));
            }
        }
    }
    ok.then_some(out)
}

/// Whether `a` accepts every algorithm combination `b` does.
fn covers(a: &ProposalSpec, b: &ProposalSpec) -> bool {
    let sub = |x: &[ike::policy::proposal::Algorithm], y: &[ike::policy::proposal::Algorithm]| {
        y.iter().all(|t| x.contains(t))
    };
    sub(&a.encr, &b.encr)
        && sub(&a.integ, &b.integ)
        && sub(&a.prf, &b.prf)
        && sub(&a.ke, &b.ke)
        && sub(&a.esn, &b.esn)
}

fn selectors(cx: &mut Cx<'_>, items: &[(String, Span)], at: At<'_>) -> Option<Vec<Ts>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (s, span) in items {
        if s == "dynamic" {
            out.push(Ts::Dynamic);
            continue;
        }
        match parse_ts(s) {
            Ok(ts) => out.push(Ts::Fixed(ts)),
            Err(e) => {
                cx.error(
                    span,
                    format!("invalid traffic selector '{s}' in {at}: {}", e.reason),
                );
                ok = false;
            }
        }
    }
    if out.is_empty() && ok {
        let span = items.first().map_or(0..0, |(_, s)| s.clone());
        cx.error(&span, format!("{at} is empty; leave it out for 'dynamic'"));
        ok = false;
    }
    ok.then_some(out)
}

fn addr_list(cx: &mut Cx<'_>, items: &[(String, Span)], at: At<'_>) -> Option<Vec<AddrSpec>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (s, span) in items {
        match parse_addr_spec(s) {
            Ok(a) => out.push(a),
            Err(why) => {
                cx.error(span, format!("invalid address '{s}' in {at}: {why}"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `%any`, `%any4`, `%any6`, an address, a CIDR, an `a-b` range or a DNS name.
pub(super) fn parse_addr_spec(s: &str) -> Result<AddrSpec, &'static str> {
    match s {
        "%any" => return Ok(AddrSpec::Any),
        "%any4" => return Ok(AddrSpec::Any4),
        "%any6" => return Ok(AddrSpec::Any6),
        _ => {}
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(AddrSpec::Addr(a));
    }
    if s.contains('/') {
        return parse_subnet(s).map(|n| AddrSpec::Range(subnet_range(n)));
    }
    if let Some((a, b)) = s.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            return make_range(a, b).map(AddrSpec::Range);
        }
    }
    // Anything made only of digits and dots that did not parse as an address
    // is a mistyped address, not a host name.
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') || s.contains(':') {
        return Err("not an IP address");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(AddrSpec::Host(s.to_owned()))
    } else {
        Err("neither an IP address, a subnet, a range nor a DNS name")
    }
}

fn make_range(a: IpAddr, b: IpAddr) -> Result<IpRange, &'static str> {
    if a.is_ipv4() != b.is_ipv4() {
        return Err("range mixes IPv4 and IPv6");
    }
    let r = IpRange { first: a, last: b };
    let (x, y) = r.bounds();
    if x > y {
        return Err("range starts after it ends");
    }
    Ok(r)
}

/// `10.1.0.0/16`: the network address is normalised (host bits cleared)
/// only if they were zero; `10.1.2.3/16` is refused as a likely typo.
pub(super) fn parse_subnet(s: &str) -> Result<Subnet, &'static str> {
    let (a, len) = s.split_once('/').ok_or("missing /prefix")?;
    let addr: IpAddr = a.trim().parse().map_err(|_| "not an IP address")?;
    let prefix: u8 = len.trim().parse().map_err(|_| "bad prefix length")?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > bits {
        return Err("prefix length too long");
    }
    let n = Subnet { addr, prefix };
    if subnet_range(n).first != addr {
        return Err("host bits set after the prefix");
    }
    Ok(n)
}

/// The addresses a subnet spans.
pub(super) fn subnet_range(n: Subnet) -> IpRange {
    let bits: u32 = if n.addr.is_ipv4() { 32 } else { 128 };
    let host_bits = bits.saturating_sub(u32::from(n.prefix));
    let host: u128 = if host_bits == 0 {
        0
    } else {
        u128::MAX >> 128u32.saturating_sub(host_bits)
    };
    let x = super::ip_to_u128(n.addr);
    let (first, last) = (x & !host, x | host);
    IpRange {
        first: from_u128(n.addr.is_ipv4(), first),
        last: from_u128(n.addr.is_ipv4(), last),
    }
}

pub(super) fn from_u128(v4: bool, x: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(
            u32::try_from(x).unwrap_or(u32::MAX),
        ))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(x))
    }
}

fn read_pool(
    cx: &mut Cx<'_>,
    tn: &str,
    name: &str,
    t: &DeTable<'_>,
    span: &Span,
) -> Option<PoolConfig> {
    check_keys(cx, t, tn, POOL_KEYS, POOL_UNSUPPORTED, |_| false);
    let name = name.to_owned();
    let mut ok = true;
    let mut addrs = None;
    let mut addrs_text = String::new();
    match get(t, "addrs") {
        None => {
            cx.error(span, format!("{tn} has no 'addrs'"));
            ok = false;
        }
        Some(v) => match string(cx, v, at("addrs", tn)) {
            Some(text) => {
                text.clone_into(&mut addrs_text);
                match pool_range(text) {
                    Ok(r) => addrs = Some(r),
                    Err(why) => {
                        cx.error(
                            &v.span(),
                            format!("invalid pool 'addrs' = '{text}' in {tn}: {why}"),
                        );
                        ok = false;
                    }
                }
            }
            None => ok = false,
        },
    }
    let mut p = PoolConfig {
        name,
        addrs: addrs.unwrap_or(IpRange {
            first: IpAddr::from([0, 0, 0, 0]),
            last: IpAddr::from([0, 0, 0, 0]),
        }),
        addrs_text,
        dns: Vec::new(),
        nbns: Vec::new(),
        subnet: Vec::new(),
        split_include: Vec::new(),
        split_exclude: Vec::new(),
        split_dns: Vec::new(),
    };
    for (key, slot) in [("dns", &mut p.dns), ("nbns", &mut p.nbns)] {
        if let Some(v) = get(t, key) {
            match string_list(cx, v, at(key, tn)) {
                Some(items) => {
                    let n = items.len();
                    *slot = ip_list(cx, &items, at(key, tn));
                    ok &= slot.len() == n;
                }
                None => ok = false,
            }
        }
    }
    for (key, slot) in [
        ("subnet", &mut p.subnet),
        ("split_include", &mut p.split_include),
        ("split_exclude", &mut p.split_exclude),
    ] {
        if let Some(v) = get(t, key) {
            let Some(items) = string_list(cx, v, at(key, tn)) else {
                ok = false;
                continue;
            };
            for (s, span) in items {
                match parse_subnet(&s) {
                    Ok(n) => slot.push(n),
                    Err(why) => {
                        cx.error(
                            &span,
                            format!("invalid subnet '{s}' in {}: {why}", at(key, tn)),
                        );
                        ok = false;
                    }
                }
            }
        }
    }
    if let Some(v) = get(t, "split_dns") {
        match string_list(cx, v, at("split_dns", tn)) {
            Some(items) => {
                for (s, span) in items {
                    match parse_addr_spec(&s) {
                        Ok(AddrSpec::Host(h)) => p.split_dns.push(h),
                        _ => {
                            cx.error(
                                &span,
                                format!("invalid domain '{s}' in {}", at("split_dns", tn)),
                            );
                            ok = false;
                        }
                    }
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(p)
}

/// A pool's `addrs`: a CIDR (without the network address, and for IPv4
/// without the broadcast address, as strongSwan hands them out) or an
/// inclusive `a-b` range.
pub(super) fn pool_range(s: &str) -> Result<IpRange, &'static str> {
    if s.contains('/') {
        let n = parse_subnet(s)?;
        let r = subnet_range(n);
        let (first, last) = r.bounds();
        let v4 = n.addr.is_ipv4();
        let first = first.checked_add(1).ok_or("empty pool")?;
        let last = if v4 {
            last.checked_sub(1).ok_or("empty pool")?
        } else {
            last
        };
        if first > last {
            return Err("the subnet is too small for a pool");
        }
        return Ok(IpRange {
            first: from_u128(v4, first),
            last: from_u128(v4, last),
        });
    }
    if let Some((a, b)) = s.split_once('-') {
        let a = a
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| "not an IP address")?;
        let b = b
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| "not an IP address")?;
        return make_range(a, b);
    }
    let a = s
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| "expected a subnet (10.3.0.0/24) or a range (10.3.0.1-10.3.0.99)")?;
    Ok(IpRange { first: a, last: a })
}

/// `[secrets]`: `ike.NAME`, `private.NAME` and `include` (only allowed in
/// the main file: an included file cannot include again).
pub(super) fn read_secrets(cx: &mut Cx<'_>, doc: &DeTable<'_>, main: bool) -> Secrets {
    let mut s = Secrets::default();
    let Some(v) = get(doc, "secrets") else {
        return s;
    };
    let Some(t) = table(cx, v, at("secrets", "")) else {
        return s;
    };
    // swanctl names EAP secrets `eap<suffix>` (`eap-alice`).
    check_keys(cx, t, "secrets", SECRETS_KEYS, SECRETS_UNSUPPORTED, |k| {
        k.starts_with("eap")
    });
    if let Some(v) = get(t, "include") {
        if !main {
            cx.error(&v.span(), "a secrets file cannot include another");
        } else if let Some(p) = string(cx, v, at("include", "secrets")) {
            s.include = Some(cx.resolve(p));
        }
    }
    s.ike = read_named(cx, t, "ike", "secrets.ike", read_ike_secret);
    s.private = read_named(cx, t, "private", "secrets.private", read_private);
    for (k, v) in entries_in_file_order(t, |k| k.starts_with("eap")) {
        let name = k.get_ref().as_ref();
        let full = format!("secrets.{name}");
        let read = table(cx, v, at(name, "secrets"))
            .and_then(|b| read_eap_secret(cx, &full, name, b, &v.span()));
        match read {
            Some(e) => s.eap.push(e),
            None => cx.failed.push(full),
        }
    }
    s
}

/// `secrets.eap<suffix>`: `id` (and `id-N`) name the EAP users, `secret`
/// is their password in swanctl syntax.
fn read_eap_secret(
    cx: &mut Cx<'_>,
    tn: &str,
    name: &str,
    t: &DeTable<'_>,
    span: &Span,
) -> Option<EapSecret> {
    check_keys(cx, t, tn, IKE_SECRET_KEYS, &[], |k| k.starts_with("id-"));
    let mut ok = true;
    let mut ids = Vec::new();
    for (k, v) in entries_in_file_order(t, is_id_key) {
        match string_list(cx, v, at(k.get_ref(), tn)) {
            Some(items) => {
                for (s, span) in items {
                    if s.is_empty() || s == "%any" {
                        cx.error(&span, format!("'id' in {tn} must name an EAP user"));
                        ok = false;
                    } else {
                        ids.push(s);
                    }
                }
            }
            None => ok = false,
        }
    }
    if ids.is_empty() && ok {
        cx.error(span, format!("{tn} has no 'id' (the EAP user name)"));
        ok = false;
    }
    let (secret, v) = read_secret_value(cx, tn, t, span)?;
    // Profiles write the password into swanctl, NetworkManager and Apple
    // files, whose syntax has no room for line breaks or other controls.
    if secret.iter().any(u8::is_ascii_control) {
        cx.error(
            &v.span(),
            format!("'secret' in {tn} has control characters, which client profiles cannot carry"),
        );
        return None;
    }
    // The NT hash is MD4 over the UTF-16 password (RFC 2759 §8.3).
    if std::str::from_utf8(&secret).is_err() {
        cx.error(
            &v.span(),
            format!("'secret' in {tn} is not UTF-8 text, which an EAP-MSCHAPv2 password must be"),
        );
        return None;
    }
    ok.then(|| EapSecret {
        name: name.to_owned(),
        ids,
        secret: Psk(secret),
    })
}

fn read_ike_secret(
    cx: &mut Cx<'_>,
    tn: &str,
    name: &str,
    t: &DeTable<'_>,
    span: &Span,
) -> Option<IkeSecret> {
    check_keys(cx, t, tn, IKE_SECRET_KEYS, &[], |k| k.starts_with("id-"));
    let mut ok = true;
    let mut ids = Vec::new();
    for (k, v) in entries_in_file_order(t, is_id_key) {
        let Some(items) = string_list(cx, v, at(k.get_ref(), tn)) else {
            ok = false;
            continue;
        };
        for (s, span) in items {
            match certs::IkeId::parse(&s) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    cx.error(&span, format!("invalid identity '{s}' in {tn}: {e}"));
                    ok = false;
                }
            }
        }
    }
    let (secret, v) = read_secret_value(cx, tn, t, span)?;
    if secret.len() < 16 {
        cx.warn(
            &v.span(),
            format!(
                "'secret' in {tn} is only {} bytes; use at least 16 random bytes (RFC 7296 §2.15)",
                secret.len()
            ),
        );
    }
    ok.then_some(IkeSecret {
        name: name.to_owned(),
        ids,
        secret: Psk(secret),
    })
}

/// `id` and `id-N`: the keys naming who a `secrets.*` entry is for.
fn is_id_key(k: &str) -> bool {
    k == "id" || k.starts_with("id-")
}

/// The decoded, non-empty `secret` of a `secrets.*` entry, with its value
/// (for the span of later messages); `None` once the problem is reported.
fn read_secret_value<'t, 'i>(
    cx: &mut Cx<'_>,
    tn: &str,
    t: &'t DeTable<'i>,
    span: &Span,
) -> Option<(Zeroizing<Vec<u8>>, &'t Val<'i>)> {
    let Some(v) = get(t, "secret") else {
        cx.error(span, format!("{tn} has no 'secret'"));
        return None;
    };
    let text = string(cx, v, at("secret", tn))?;
    match decode_secret(text) {
        Ok(b) if b.is_empty() => {
            cx.error(&v.span(), format!("'secret' in {tn} is empty"));
            None
        }
        Ok(b) => Some((b, v)),
        Err(why) => {
            cx.error(&v.span(), format!("invalid 'secret' in {tn}: {why}"));
            None
        }
    }
}

/// swanctl secret syntax: `0x` hex, `0s` base64, or the string itself.
fn decode_secret(text: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    if let Some(h) = text.strip_prefix("0x") {
        return hex::decode(h)
            .map(Zeroizing::new)
            .map_err(|_| "bad hex after 0x");
    }
    if let Some(b) = text.strip_prefix("0s") {
        return base64_decode(b).ok_or("bad base64 after 0s");
    }
    Ok(Zeroizing::new(text.as_bytes().to_vec()))
}

/// Standard base64 (RFC 4648 §4) with optional `=` padding, into a
/// zeroizing buffer; `None` on any other character or a dangling bit group.
fn base64_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3 + 2));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    // 6 leftover bits can never come from whole bytes; the other
    // remainders (0, 2, 4) must be zero padding bits.
    (bits < 6 && acc & ((1 << bits) - 1) == 0).then_some(out)
}

fn read_private(
    cx: &mut Cx<'_>,
    tn: &str,
    name: &str,
    t: &DeTable<'_>,
    span: &Span,
) -> Option<PrivateKeySecret> {
    check_keys(cx, t, tn, PRIVATE_KEYS, PRIVATE_UNSUPPORTED, |_| false);
    let Some(v) = get(t, "file") else {
        cx.error(span, format!("{tn} has no 'file'"));
        return None;
    };
    let file = string(cx, v, at("file", tn))?;
    let path = cx.resolve(file);
    match certs::PrivateKey::load(&path) {
        Ok(key) => Some(PrivateKeySecret {
            name: name.to_owned(),
            path,
            key,
        }),
        Err(certs::LoadError::InsecurePermissions { path, mode }) => {
            cx.error(
                &v.span(),
                format!(
                    "private key {} is readable by group or others (mode {mode:04o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            );
            None
        }
        Err(certs::LoadError::Io { path, source }) => {
            cx.error(
                &v.span(),
                format!("cannot read private key {}: {source}", path.display()),
            );
            None
        }
        Err(e) => {
            cx.error(&v.span(), format!("cannot load private key: {e}"));
            None
        }
    }
}
