//! `ikegw check --show`: the validated configuration with every default
//! filled in, in the file's own TOML layout, secrets redacted.
//!
//! The output is for people (what did ikegw understand?), and it reads back
//! as an equivalent config except that secrets print as `<redacted ...>`.

use std::fmt::Write as _;
use std::path::Path;

use ike::policy::proposal::ProposalSpec;

use super::schema::fmt_dur;
use super::{
    Action, AddrSpec, AuthMethod, Backend, Config, DpdAction, Fragmentation, LogFormat, Mode,
    Revocation, SendCert, Subnet, Ts, Unique,
};

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let inner: Vec<String> = items.iter().map(|i| q(&f(i))).collect();
    format!("[{}]", inner.join(", "))
}

fn path(p: &Path) -> String {
    q(&p.display().to_string())
}

fn addr(a: &AddrSpec) -> String {
    match a {
        AddrSpec::Any => "%any".to_owned(),
        AddrSpec::Any4 => "%any4".to_owned(),
        AddrSpec::Any6 => "%any6".to_owned(),
        AddrSpec::Addr(a) => a.to_string(),
        AddrSpec::Range(r) => format!("{}-{}", r.first, r.last),
        AddrSpec::Host(h) => h.clone(),
    }
}

fn ts(t: &Ts) -> String {
    match t {
        Ts::Dynamic => "dynamic".to_owned(),
        Ts::Fixed(t) => t.to_string(),
    }
}

fn subnet(n: &Subnet) -> String {
    format!("{}/{}", n.addr, n.prefix)
}

fn proposals(p: &[ProposalSpec]) -> String {
    list(p, ToString::to_string)
}

fn action(a: Action) -> &'static str {
    match a {
        Action::None => "none",
        Action::Trap => "trap",
        Action::Start => "start",
    }
}

/// Render `c`; writing to a `String` cannot fail, so `write!` results are dropped.
pub(super) fn render(c: &Config) -> String {
    let mut o = String::new();
    let d = &c.daemon;
    let _ = writeln!(o, "[daemon]");
    let backend = match d.backend {
        Backend::Illumos => "illumos",
        Backend::Userland => "userland",
    };
    let _ = writeln!(o, "backend = {}", q(backend));
    let _ = writeln!(o, "control_socket = {}", path(&d.control_socket));
    if let Some(e) = &d.engine_socket {
        let _ = writeln!(o, "engine_socket = {}", path(e));
    }
    let _ = writeln!(o, "state_dir = {}", path(&d.state_dir));
    let fmt = match d.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    let _ = writeln!(o, "log_format = {}", q(fmt));
    let _ = writeln!(o, "log_level = {}", q(&d.log_level));
    let _ = writeln!(o, "listen = {}", list(&d.listen, ToString::to_string));
    let _ = writeln!(o, "port = {}", d.port);
    let _ = writeln!(o, "port_nat_t = {}", d.port_nat_t);
    let _ = writeln!(
        o,
        "retransmit_timeout = {:?}",
        d.retransmit_timeout.as_secs_f64()
    );
    let _ = writeln!(o, "keep_alive = {:?}", d.keep_alive.as_secs_f64());
    let _ = writeln!(o, "cookie_threshold = {}", d.cookie_threshold);
    let _ = writeln!(o, "init_limit_half_open = {}", d.init_limit_half_open);
    let _ = writeln!(o, "retransmit_base = {:?}", d.retransmit_base);
    let _ = writeln!(o, "retransmit_tries = {}", d.retransmit_tries);
    let _ = writeln!(o, "rsa_pss = {}", d.rsa_pss);

    for conn in &c.connections {
        let n = &conn.name;
        let _ = writeln!(o, "\n[connections.{n}]");
        let _ = writeln!(o, "version = {}", conn.version);
        let _ = writeln!(o, "local_addrs = {}", list(&conn.local_addrs, addr));
        let _ = writeln!(o, "remote_addrs = {}", list(&conn.remote_addrs, addr));
        let _ = writeln!(o, "local_port = {}", conn.local_port);
        let _ = writeln!(o, "remote_port = {}", conn.remote_port);
        let _ = writeln!(o, "proposals = {}", proposals(&conn.proposals));
        let _ = writeln!(o, "vips = {}", list(&conn.vips, ToString::to_string));
        let _ = writeln!(o, "pools = {}", list(&conn.pools, Clone::clone));
        for (k, v) in [
            ("dpd_delay", conn.dpd_delay),
            ("rekey_time", conn.rekey_time),
            ("reauth_time", conn.reauth_time),
            ("over_time", conn.over_time),
            ("rand_time", conn.rand_time),
        ] {
            let _ = writeln!(o, "{k} = {}", q(&fmt_dur(v)));
        }
        let _ = writeln!(o, "mobike = {}", conn.mobike);
        let frag = match conn.fragmentation {
            Fragmentation::Yes => "yes",
            Fragmentation::Accept => "accept",
            Fragmentation::Force => "force",
            Fragmentation::No => "no",
        };
        let _ = writeln!(o, "fragmentation = {}", q(frag));
        let _ = writeln!(o, "send_certreq = {}", conn.send_certreq);
        let send_cert = match conn.send_cert {
            SendCert::Always => "always",
            SendCert::IfAsked => "ifasked",
            SendCert::Never => "never",
        };
        let _ = writeln!(o, "send_cert = {}", q(send_cert));
        let _ = writeln!(o, "encap = {}", conn.encap);
        let unique = match conn.unique {
            Unique::No => "no",
            Unique::Never => "never",
            Unique::Keep => "keep",
            Unique::Replace => "replace",
        };
        let _ = writeln!(o, "unique = {}", q(unique));
        let _ = writeln!(o, "keyingtries = {}", conn.keyingtries);
        for (side, rounds) in [("local", &conn.local), ("remote", &conn.remote)] {
            for r in rounds.iter() {
                let _ = writeln!(o, "\n[connections.{n}.{side}-{}]", r.round);
                let sig = r.signature.to_auth();
                let auth = match r.auth {
                    AuthMethod::Psk => "psk",
                    AuthMethod::Pubkey => sig.as_str(),
                    AuthMethod::EapMschapv2 => "eap-mschapv2",
                };
                let _ = writeln!(o, "auth = {}", q(auth));
                if let Some(e) = &r.eap_id {
                    let _ = writeln!(o, "eap_id = {}", q(e));
                }
                match (&r.id, side) {
                    (Some(id), _) => {
                        let _ = writeln!(o, "id = {}", q(&id.to_string()));
                    }
                    (None, "local") => {
                        let _ = writeln!(o, "# id: our address, or the certificate's subject");
                    }
                    (None, _) => {
                        let _ = writeln!(o, "id = \"%any\"");
                    }
                }
                let _ = writeln!(o, "certs = {}", list(&r.certs, |p| p.display().to_string()));
                let _ = writeln!(
                    o,
                    "cacerts = {}",
                    list(&r.cacerts, |p| p.display().to_string())
                );
                let rev = match r.revocation {
                    Revocation::Relaxed => "relaxed",
                    Revocation::IfUri => "ifuri",
                    Revocation::Strict => "strict",
                };
                let _ = writeln!(o, "revocation = {}", q(rev));
            }
        }
        for ch in &conn.children {
            let _ = writeln!(o, "\n[connections.{n}.children.{}]", ch.name);
            let _ = writeln!(o, "local_ts = {}", list(&ch.local_ts, ts));
            let _ = writeln!(o, "remote_ts = {}", list(&ch.remote_ts, ts));
            let _ = writeln!(o, "esp_proposals = {}", proposals(&ch.esp_proposals));
            let mode = match ch.mode {
                Mode::Tunnel => "tunnel",
                Mode::Transport => "transport",
                Mode::Pass => "pass",
                Mode::Drop => "drop",
            };
            let _ = writeln!(o, "mode = {}", q(mode));
            let _ = writeln!(o, "start_action = {}", q(action(ch.start_action)));
            let _ = writeln!(o, "close_action = {}", q(action(ch.close_action)));
            let dpd = match ch.dpd_action {
                DpdAction::Clear => "clear",
                DpdAction::Trap => "trap",
                DpdAction::Restart => "restart",
            };
            let _ = writeln!(o, "dpd_action = {}", q(dpd));
            let l = &ch.lifetime;
            for (k, v) in [
                ("rekey_time", l.rekey_time),
                ("life_time", l.life_time),
                ("rand_time", l.rand_time),
            ] {
                let _ = writeln!(o, "{k} = {}", q(&fmt_dur(v)));
            }
            for (k, v) in [
                ("rekey_bytes", l.rekey_bytes),
                ("life_bytes", l.life_bytes),
                ("rand_bytes", l.rand_bytes),
                ("rekey_packets", l.rekey_packets),
                ("life_packets", l.life_packets),
                ("rand_packets", l.rand_packets),
            ] {
                let _ = writeln!(o, "{k} = {v}");
            }
            let _ = writeln!(o, "inactivity = {}", q(&fmt_dur(ch.inactivity)));
            if let Some(u) = &ch.updown {
                let _ = writeln!(o, "updown = {}", path(u));
            }
            let _ = writeln!(o, "hostaccess = {}", ch.hostaccess);
            let _ = writeln!(o, "policies = {}", ch.policies);
            let _ = writeln!(o, "priority = {}", ch.priority);
            let _ = writeln!(o, "reqid = {}", ch.reqid);
        }
    }

    if let Some(inc) = &c.secrets.include {
        let _ = writeln!(o, "\n[secrets]\ninclude = {}", path(inc));
    }
    for s in &c.secrets.ike {
        let _ = writeln!(o, "\n[secrets.ike.{}]", s.name);
        let _ = writeln!(o, "id = {}", list(&s.ids, ToString::to_string));
        let _ = writeln!(o, "secret = \"<redacted, {} bytes>\"", s.secret.len());
    }
    for s in &c.secrets.eap {
        let _ = writeln!(o, "\n[secrets.{}]", s.name);
        let _ = writeln!(o, "id = {}", list(&s.ids, Clone::clone));
        let _ = writeln!(o, "secret = \"<redacted, {} bytes>\"", s.secret.len());
    }
    for k in &c.secrets.private {
        let _ = writeln!(o, "\n[secrets.private.{}]", k.name);
        let _ = writeln!(o, "file = {}  # {} key", path(&k.path), k.key.key_type());
    }
    for p in &c.pools {
        let _ = writeln!(o, "\n[pools.{}]", p.name);
        let _ = writeln!(
            o,
            "addrs = {}  # leases {} - {}",
            q(&p.addrs_text),
            p.addrs.first,
            p.addrs.last
        );
        let _ = writeln!(o, "dns = {}", list(&p.dns, ToString::to_string));
        let _ = writeln!(o, "nbns = {}", list(&p.nbns, ToString::to_string));
        let _ = writeln!(o, "subnet = {}", list(&p.subnet, subnet));
        let _ = writeln!(o, "split_include = {}", list(&p.split_include, subnet));
        let _ = writeln!(o, "split_exclude = {}", list(&p.split_exclude, subnet));
        let _ = writeln!(o, "split_dns = {}", list(&p.split_dns, Clone::clone));
    }
    if let Some(site) = &c.site {
        let _ = writeln!(
            o,
            "\n# [site] ({} keys) is read by `ikegw provision`",
            site.as_table().map_or(0, toml::Table::len)
        );
    }
    o
}
