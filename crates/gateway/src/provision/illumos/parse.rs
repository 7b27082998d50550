//! Readers for the machine-readable outputs the illumos observer probes.
//!
//! Each reader follows the printing code of the tool it reads (the file
//! named on it, in illumos-gate), takes the whole stdout and returns a
//! typed result or a `String` saying which line was not understood. None
//! of them panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A zone's life cycle as `zoneadm list -cp` shows it, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ZoneState {
    /// `configured` or `incomplete`.
    Configured,
    /// `installed`, `ready`, `mounted`, `shutting_down`, `down`.
    Installed,
    /// `running`.
    Running,
}

/// One line of `zoneadm list -cp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZoneInfo {
    /// Its state.
    pub(crate) state: ZoneState,
    /// `excl` or `shared`; `None` when the line stops before that field.
    pub(crate) ip_type: Option<String>,
    /// The zone's brand; `None` when the line stops before that field.
    pub(crate) brand: Option<String>,
}

/// Splits one line of libofmt parseable output (`-p -o f1,f2,...`), as
/// `usr/src/lib/libofmt/common/ofmt.c` (`ofmt_print_field`) prints it:
/// with one field the value is printed as it is, with several the fields
/// are joined by `:` and every `:` or `\` inside a value gets a `\` in
/// front. `want` is the number of fields asked for with `-o`.
pub(crate) fn ofmt_fields(line: &str, want: usize) -> Result<Vec<String>, String> {
    if want <= 1 {
        return Ok(vec![line.to_owned()]);
    }
    let mut fields = Vec::with_capacity(want);
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ (':' | '\\')) => cur.push(e),
                Some(other) => {
                    return Err(format!(
                        "line '{line}': '\\' before '{other}' (only ':' and '\\' are escaped)"
                    ))
                }
                None => return Err(format!("line '{line}' ends in a lone '\\'")),
            },
            ':' => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    if fields.len() == want {
        Ok(fields)
    } else {
        Err(format!(
            "line '{line}' has {} fields, {want} were asked for",
            fields.len()
        ))
    }
}

fn non_empty_lines(out: &str) -> impl Iterator<Item = &str> {
    out.lines().filter(|l| !l.trim().is_empty())
}

/// `dladm show-etherstub -p -o link` (or any one-field `-p -o` output):
/// one name a line.
pub(crate) fn names(out: &str) -> BTreeSet<String> {
    non_empty_lines(out).map(|l| l.trim().to_owned()).collect()
}

/// `dladm show-vnic -p -o link,over`: vNIC name to the link it is over.
/// (`usr/src/cmd/dladm/dladm.c`, `print_vnic`: etherstubs are left out of
/// `show-vnic`; OVER is `?` when the lower link cannot be named.)
pub(crate) fn vnics(out: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for l in non_empty_lines(out) {
        let f = ofmt_fields(l, 2)?;
        let mut it = f.into_iter();
        if let (Some(link), Some(over)) = (it.next(), it.next()) {
            m.insert(link, over);
        }
    }
    Ok(m)
}

/// `ipadm show-addr -p -o addrobj,addr`: address object to address
/// (`addr/prefixlen`, `usr/src/cmd/cmd-inet/usr.sbin/ipadm/ipadm.c`,
/// `print_sa_cb`). IPv6 addresses come with every `:` escaped.
pub(crate) fn addrs(out: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for l in non_empty_lines(out) {
        let f = ofmt_fields(l, 2)?;
        let mut it = f.into_iter();
        if let (Some(obj), Some(addr)) = (it.next(), it.next()) {
            m.insert(obj, addr);
        }
    }
    Ok(m)
}

/// `addr/prefixlen` as ipadm prints it, for comparing with what the site
/// wants regardless of how an address is spelled.
pub(crate) fn cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = s.split_once('/')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

/// `zoneadm list -cp` (`usr/src/cmd/zoneadm/zoneadm.c`, `zone_print`):
/// `zoneid:zonename:state:zonepath:uuid:brand:ip-type`, where only the
/// zonepath has its `:` escaped as `\:` (a `\` is not escaped), the zoneid
/// is `-` for a zone that is not running and the uuid may be empty. Some
/// distributions print more fields after ip-type; they are ignored.
pub(crate) fn zones(out: &str) -> Result<BTreeMap<String, ZoneInfo>, String> {
    let mut m = BTreeMap::new();
    for l in non_empty_lines(out) {
        let mut f: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut chars = l.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&':') {
                cur.push(':');
                chars.next();
            } else if c == ':' {
                f.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        f.push(cur);
        let (Some(name), Some(state)) = (f.get(1), f.get(2)) else {
            return Err(format!("line '{l}' has fewer than 3 fields"));
        };
        // Strings from usr/src/lib/libzonecfg/common/zonecfg_impl.h.
        let state = match state.as_str() {
            "configured" | "incomplete" => ZoneState::Configured,
            "installed" | "ready" | "mounted" | "shutting_down" | "down" => ZoneState::Installed,
            "running" => ZoneState::Running,
            other => return Err(format!("zone {name}: unknown state '{other}'")),
        };
        m.insert(
            name.clone(),
            ZoneInfo {
                state,
                brand: f.get(5).cloned(),
                ip_type: f.get(6).cloned(),
            },
        );
    }
    Ok(m)
}

/// The gateways of the persistent default routes in `route -p show`.
///
/// `usr/src/cmd/cmd-inet/usr.sbin/route.c` (`search_rtfile`) prints each
/// saved route as `persistent: route add ` followed by the words given
/// after `add` when it was saved, so `route -p add default 10.0.0.1`
/// shows as `persistent: route add default 10.0.0.1`; other lines
/// (`No persistent routes are defined`) carry no route. Options such as
/// `-ifp wan0` or `-inet` may sit among the words: the destination is the
/// first word that is not an option, the gateway the next one.
pub(crate) fn default_gateways(out: &str) -> BTreeSet<String> {
    let mut gws = BTreeSet::new();
    for l in out.lines() {
        let Some(rest) = l.trim().strip_prefix("persistent: route add ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let mut operands = Vec::new();
        while let Some(w) = words.next() {
            if w == "-ifp" || w == "-ifa" || w == "-netmask" {
                // Options that take a value.
                words.next();
            } else if !w.starts_with('-') {
                operands.push(w);
            }
        }
        if let (Some(&"default"), Some(gw)) = (operands.first(), operands.get(1)) {
            gws.insert((*gw).to_owned());
        }
    }
    gws
}

/// `routeadm -p <option>`: whether the option is enabled persistently and
/// currently. `usr/src/cmd/cmd-inet/usr.sbin/routeadm/routeadm.c`
/// (`ra_report`) prints `persistent=X default=Y current=Z`, preceded by the
/// option's name only when no option was named on the command line.
pub(crate) fn routeadm_option(out: &str) -> Result<(bool, bool), String> {
    let line = non_empty_lines(out)
        .next()
        .ok_or_else(|| "no output".to_owned())?;
    let mut persistent = None;
    let mut current = None;
    for w in line.split_whitespace() {
        let Some((k, v)) = w.split_once('=') else {
            continue;
        };
        let on = match v {
            "enabled" => true,
            "disabled" => false,
            other => return Err(format!("'{k}' is '{other}', not enabled or disabled")),
        };
        match k {
            "persistent" => persistent = Some(on),
            "current" => current = Some(on),
            _ => {}
        }
    }
    match (persistent, current) {
        (Some(p), Some(c)) => Ok((p, c)),
        _ => Err(format!("line '{line}' lacks persistent= or current=")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_field_is_taken_verbatim_and_several_are_unescaped() {
        // A single field is never escaped (ofmt_print_field).
        assert_eq!(ofmt_fields(r"a\:b", 1).unwrap(), [r"a\:b"]);
        assert_eq!(
            ofmt_fields(r"lo0/v6:\:\:1/128", 2).unwrap(),
            ["lo0/v6", "::1/128"]
        );
        assert_eq!(ofmt_fields(r"x:a\\b:", 3).unwrap(), ["x", r"a\b", ""]);
        assert!(ofmt_fields("a:b:c", 2).is_err());
        assert!(ofmt_fields(r"a:b\", 2).is_err());
        assert!(ofmt_fields(r"a:\b", 2).is_err());
    }

    #[test]
    fn reads_show_vnic_with_both_fields() {
        let v = vnics("wan0:igb0\nrouter0:stub0\nodd0:?\n\n").unwrap();
        assert_eq!(v.get("wan0").map(String::as_str), Some("igb0"));
        assert_eq!(v.get("router0").map(String::as_str), Some("stub0"));
        assert_eq!(v.get("odd0").map(String::as_str), Some("?"));
        // A line with one field means the output is not what was asked for.
        assert!(vnics("wan0\n").is_err());
    }

    #[test]
    fn reads_show_addr_with_escaped_ipv6_colons() {
        // As ipadm prints `show-addr -p -o addrobj,addr` in an exclusive
        // zone: loopback both families, a static v4, an addrconf v6 and an
        // address without an object name.
        let out = "lo0/v4:127.0.0.1/8\n\
                   lo0/v6:\\:\\:1/128\n\
                   router0/v4:10.0.0.1/24\n\
                   router0/v6:fe80\\:\\:8\\:20ff\\:fe3a\\:1b2c/10\n\
                   wan0/?:203.0.113.99/24\n";
        let a = addrs(out).unwrap();
        assert_eq!(a.get("lo0/v6").map(String::as_str), Some("::1/128"));
        assert_eq!(
            a.get("router0/v6").map(String::as_str),
            Some("fe80::8:20ff:fe3a:1b2c/10")
        );
        assert_eq!(a.get("wan0/?").map(String::as_str), Some("203.0.113.99/24"));
        assert_eq!(
            cidr(&a["router0/v6"]),
            Some(("fe80::8:20ff:fe3a:1b2c".parse().unwrap(), 10))
        );
        assert_eq!(cidr("10.0.0.1/24"), Some(("10.0.0.1".parse().unwrap(), 24)));
        assert_eq!(cidr("?"), None);
        // The unescaped form (one field per line) is refused for two fields.
        assert!(addrs("lo0/v6:::1/128\n").is_err());
    }

    #[test]
    fn reads_zoneadm_list_with_escaped_zonepath() {
        let out = "0:global:running:/::ipkg:shared\n\
                   3:router:running:/zones/router:0b5e9c1c-4f8b-e0a1-d4e3-9b9a1e7c5f00:sparse:excl\n\
                   -:web:installed:/zones/we\\:b:8a2c51a8-6a39-6e4e-9c1d-8b3c0f1e2a77:lipkg:excl\n\
                   -:old:configured:/zones/old::ipkg:shared\n\
                   -:x:incomplete:/z::sparse:excl:R:extra\n";
        let z = zones(out).unwrap();
        assert_eq!(z["router"].state, ZoneState::Running);
        assert_eq!(z["router"].ip_type.as_deref(), Some("excl"));
        assert_eq!(z["web"].state, ZoneState::Installed);
        assert_eq!(z["web"].brand.as_deref(), Some("lipkg"));
        assert_eq!(z["web"].ip_type.as_deref(), Some("excl"));
        assert_eq!(z["old"].ip_type.as_deref(), Some("shared"));
        assert_eq!(z["x"].state, ZoneState::Configured);
        // Older builds print only zoneid:name:state:path.
        let z = zones("-:a:ready:/zones/a\n").unwrap();
        assert_eq!(z["a"].state, ZoneState::Installed);
        assert_eq!(z["a"].ip_type, None);
        assert!(zones("nonsense\n").is_err());
        assert!(zones("0:web:exploded:/:::\n").is_err());
    }

    #[test]
    fn reads_persistent_default_routes() {
        let out = "persistent: route add default 203.0.113.1\n\
                   persistent: route add 10.9.0.0/16 10.0.0.5\n\
                   persistent: route add -inet default 198.51.100.1 -ifp wan0\n";
        let g = default_gateways(out);
        assert!(g.contains("203.0.113.1"));
        assert!(g.contains("198.51.100.1"));
        assert!(!g.contains("10.0.0.5"));
        assert!(default_gateways("No persistent routes are defined\n").is_empty());
    }

    #[test]
    fn reads_routeadm_parseable_with_and_without_the_option_name() {
        // `routeadm -p ipv4-forwarding` omits the name.
        assert_eq!(
            routeadm_option("persistent=enabled default=disabled current=disabled\n"),
            Ok((true, false))
        );
        assert_eq!(
            routeadm_option(
                "ipv4-forwarding persistent=enabled default=disabled current=enabled\n"
            ),
            Ok((true, true))
        );
        assert!(routeadm_option("").is_err());
        assert!(routeadm_option("persistent=enabled\n").is_err());
        assert!(routeadm_option("persistent=maybe current=enabled\n").is_err());
    }
}
