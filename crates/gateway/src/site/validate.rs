//! Checking a raw `[site]` and building the [`Site`] model. Every problem
//! is collected with the span of the value at fault, so one run names all
//! of them; nothing is built if any was found.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::Range;

use toml::Spanned;

use super::{
    line_col, raw, Branch, Firewall, GlobalIf, Ipv4Net, Lab, Lan, Mount, Problem, Proto, Redirect,
    Site, Vpn, Wan, Zone,
};

/// zonecfg's default when `brand` is not given: the small illumos brand
/// that shares nothing but is cheap to install (OmniOS `sparse`).
const DEFAULT_BRAND: &str = "sparse";
const DEFAULT_ZONEPATH: &str = "/zones";
const DEFAULT_IKEGW_DIR: &str = "/opt/ikegw";
/// IKE's ports (RFC 7296 §2.23, RFC 3948 §2): a redirect may not take them
/// when the router runs ikegw.
const IKE_PORTS: [u16; 2] = [500, 4500];
/// Linux's IFNAMSIZ is 16 with the NUL: names are kept to 15 so the same
/// model works on both targets (dladm allows up to 31).
const MAX_LINK_NAME: usize = 15;
/// zonecfg's limit on zone names (ZONENAME_MAX - 1).
const MAX_ZONE_NAME: usize = 63;

struct Cx<'t> {
    text: &'t str,
    problems: Vec<(usize, Problem)>,
}

impl Cx<'_> {
    fn err(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, col) = line_col(self.text, span.start);
        self.problems.push((
            span.start,
            Problem {
                line,
                col,
                message: message.into(),
            },
        ));
    }
}

/// Check `site` (read from `text`) and build the model, or return every problem in file order.
pub(super) fn validate(text: &str, site: Spanned<raw::Site>) -> Result<Site, Vec<Problem>> {
    let mut cx = Cx {
        text,
        problems: Vec::new(),
    };
    let built = build(&mut cx, site.into_inner());
    let mut problems = cx.problems;
    if problems.is_empty() {
        if let Some(s) = built {
            return Ok(s);
        }
    }
    problems.sort_by_key(|(off, _)| *off);
    Err(problems.into_iter().map(|(_, p)| p).collect())
}

fn build(cx: &mut Cx<'_>, s: raw::Site) -> Option<Site> {
    let name = word(cx, &s.name, "site name");
    let brand = s
        .brand
        .as_ref()
        .map_or_else(|| DEFAULT_BRAND.to_owned(), |b| word(cx, b, "brand"));
    let zonepath = s.zonepath.as_ref().map_or_else(
        || DEFAULT_ZONEPATH.to_owned(),
        |p| abs_path(cx, p, "zonepath"),
    );

    // Link names: each must be valid and unique across the whole site.
    let mut links: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut link = |cx: &mut Cx<'_>, v: &Spanned<String>, what: &str| -> String {
        let n = v.get_ref().clone();
        if let Err(why) = check_link_name(&n) {
            cx.err(&v.span(), format!("{what} '{n}': {why}"));
        } else if let Some(first) = links.get(&n) {
            let (l, c) = line_col(cx.text, first.start);
            cx.err(
                &v.span(),
                format!("link name '{n}' is already used at {l}:{c}"),
            );
        } else {
            links.insert(n.clone(), v.span());
        }
        n
    };

    // WAN.
    let w = s.wan.get_ref();
    let over = w.over.as_ref().map(|o| link(cx, o, "wan.over"));
    let wan_vnic = link(cx, &w.vnic, "wan.vnic");
    let wan_addr = prefix(cx, &w.address, "wan.address");
    let gateway = addr(cx, &w.gateway, "wan.gateway");
    if let Some(a) = wan_addr {
        if a.len > 30 {
            cx.err(
                &w.address.span(),
                format!("wan.address {a}: a /{} leaves no room for a gateway", a.len),
            );
        } else if a.addr == a.network() || a.addr == a.broadcast() {
            cx.err(
                &w.address.span(),
                format!("wan.address {a} is the subnet's network or broadcast address"),
            );
        }
        if let Some(g) = gateway {
            if !a.contains(g) {
                cx.err(
                    &w.gateway.span(),
                    format!("wan.gateway {g} is not on the WAN subnet {}", a.trunc()),
                );
            } else if g == a.addr {
                cx.err(
                    &w.gateway.span(),
                    format!("wan.gateway {g} is the router's own WAN address"),
                );
            }
        }
    }

    // LAN.
    let l = s.lan.get_ref();
    let etherstub = link(cx, &l.etherstub, "lan.etherstub");
    let subnet = network(cx, &l.subnet, "lan.subnet");
    if let Some(n) = subnet {
        if !(8..=30).contains(&n.len) {
            cx.err(
                &l.subnet.span(),
                format!("lan.subnet {n}: the prefix length must be 8..=30"),
            );
        }
        if let Some(w) = wan_addr {
            if n.overlaps(w.trunc()) {
                cx.err(
                    &l.subnet.span(),
                    format!("lan.subnet {n} overlaps the WAN subnet {}", w.trunc()),
                );
            }
        }
    }

    // Zones: the router first, then the inner zones.
    let mut zone_names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut lan_addrs: BTreeMap<Ipv4Addr, Range<usize>> = BTreeMap::new();
    let mut lan_addr = |cx: &mut Cx<'_>, v: &Spanned<String>, what: &str| -> Option<Ipv4Addr> {
        if v.get_ref().contains('/') {
            cx.err(
                &v.span(),
                format!("{what}: write the address without a prefix length; the LAN's is used"),
            );
            return None;
        }
        let a = addr(cx, v, what)?;
        if let Some(n) = subnet {
            if !n.contains(a) {
                cx.err(&v.span(), format!("{what} {a} is not on the LAN {n}"));
            } else if a == n.network() || a == n.broadcast() {
                cx.err(
                    &v.span(),
                    format!("{what} {a} is the LAN's network or broadcast address"),
                );
            }
        }
        if let Some(first) = lan_addrs.get(&a) {
            let (l, c) = line_col(cx.text, first.start);
            cx.err(&v.span(), format!("{what} {a} is already used at {l}:{c}"));
        } else {
            lan_addrs.insert(a, v.span());
        }
        Some(a)
    };
    let mut zone = |cx: &mut Cx<'_>, z: &Spanned<raw::Zone>, is_router: bool| -> Option<Zone> {
        let r = z.get_ref();
        let zname = r.name.get_ref().clone();
        if let Err(why) = check_zone_name(&zname) {
            cx.err(&r.name.span(), format!("zone name '{zname}': {why}"));
        } else if let Some(first) = zone_names.get(&zname) {
            let (l, c) = line_col(cx.text, first.start);
            cx.err(
                &r.name.span(),
                format!("zone '{zname}' is already defined at {l}:{c}"),
            );
        } else {
            zone_names.insert(zname.clone(), r.name.span());
        }
        let vnic = link(cx, &r.vnic, &format!("zone '{zname}' vnic"));
        let address = lan_addr(cx, &r.address, &format!("zone '{zname}' address"));
        let cpu_centi = r.cpu.as_ref().and_then(|c| cpu(cx, c));
        let memory = r.memory.as_ref().and_then(|m| memory(cx, m));
        if !is_router {
            if let Some(d) = &r.ikegw_dir {
                cx.err(
                    &d.span(),
                    "ikegw_dir is only for [site.router]: ikegw runs in the router zone",
                );
            }
        }
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        let mut mounts = Vec::new();
        for m in &r.mounts {
            let mm = m.get_ref();
            let source = abs_path(cx, &mm.source, "mount source");
            let dir = abs_path(cx, &mm.dir, "mount dir");
            if dir == "/" {
                cx.err(&mm.dir.span(), "a mount cannot cover the zone's root");
            } else if !dirs.insert(dir.clone()) {
                cx.err(
                    &mm.dir.span(),
                    format!("zone '{zname}' mounts '{dir}' twice"),
                );
            }
            mounts.push(Mount { source, dir });
        }
        Some(Zone {
            name: zname,
            vnic,
            address: address?,
            cpu_centi,
            memory,
            mounts,
        })
    };
    let router = zone(cx, &s.router, true);
    let ikegw_dir = s.router.get_ref().ikegw_dir.as_ref().map_or_else(
        || DEFAULT_IKEGW_DIR.to_owned(),
        |d| abs_path(cx, d, "ikegw_dir"),
    );
    let zones: Vec<Option<Zone>> = s.zones.iter().map(|z| zone(cx, z, false)).collect();

    // The global zone's inside interface.
    let global = s.global.as_ref().map(|g| {
        let g = g.get_ref();
        let vnic = link(cx, &g.vnic, "global.vnic");
        let address = lan_addr(cx, &g.address, "global.address");
        (vnic, address)
    });

    let router_name = s.router.get_ref().name.get_ref().clone();
    let inner: Vec<&Zone> = zones.iter().flatten().collect();

    // VPN first: redirects must not take IKE's ports when it runs.
    let vpn = s
        .vpn
        .as_ref()
        .map(|v| vpn(cx, v.get_ref(), subnet, wan_addr));

    // Redirects.
    let mut redirects = Vec::new();
    let mut seen: Vec<(Proto, u16, Range<usize>)> = Vec::new();
    for r in &s.redirects {
        let rr = r.get_ref();
        let proto = match rr.proto.get_ref().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "tcp/udp" => Some(Proto::TcpUdp),
            other => {
                cx.err(
                    &rr.proto.span(),
                    format!("redirect proto '{other}': expected tcp, udp or tcp/udp"),
                );
                None
            }
        };
        let port = port_of(cx, &rr.port, "redirect port");
        let to_port = match &rr.to_port {
            Some(p) => port_of(cx, p, "redirect to_port"),
            None => port,
        };
        let zname = rr.zone.get_ref();
        let target = inner.iter().find(|z| &z.name == zname);
        if target.is_none() {
            if *zname == router_name {
                cx.err(
                    &rr.zone.span(),
                    format!("redirect to the router zone '{zname}': the router is the WAN address itself; redirect to an inner zone"),
                );
            } else {
                let known: Vec<&str> = s
                    .zones
                    .iter()
                    .map(|z| z.get_ref().name.get_ref().as_str())
                    .collect();
                cx.err(
                    &rr.zone.span(),
                    format!(
                        "redirect to unknown zone '{zname}' (inner zones: {})",
                        known.join(", ")
                    ),
                );
            }
        }
        if let (Some(proto), Some(port)) = (proto, port) {
            if let Some((_, _, first)) = seen
                .iter()
                .find(|(p, n, _)| p.overlaps(proto) && *n == port)
            {
                let (l, c) = line_col(cx.text, first.start);
                cx.err(
                    &rr.port.span(),
                    format!("{proto}/{port} is already redirected at {l}:{c}"),
                );
            }
            if vpn.is_some() && proto != Proto::Tcp && IKE_PORTS.contains(&port) {
                cx.err(
                    &rr.port.span(),
                    format!("udp/{port} is IKE's port and the router runs ikegw"),
                );
            }
            seen.push((proto, port, r.span()));
            if let (Some(t), Some(to_port)) = (target, to_port) {
                redirects.push(Redirect {
                    proto,
                    port,
                    zone: t.name.clone(),
                    to_addr: t.address,
                    to_port,
                });
            }
        }
    }

    let lab_prefix = match &s.lab {
        Some(lab) => {
            let p = lab.get_ref().prefix.get_ref();
            let ok = !p.is_empty()
                && p.len() <= 20
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                cx.err(
                    &lab.get_ref().prefix.span(),
                    format!("lab.prefix '{p}': use 1..=20 of a-z, 0-9 and '-'"),
                );
            }
            p.clone()
        }
        None => name.clone(),
    };

    let firewall = Firewall {
        allow_ping: s.firewall.as_ref().is_some_and(|f| f.get_ref().allow_ping),
    };
    let global = match global {
        Some((vnic, Some(address))) => Some(GlobalIf { vnic, address }),
        Some((_, None)) => return None,
        None => None,
    };
    let zones: Option<Vec<Zone>> = zones.into_iter().collect();
    Some(Site {
        name,
        brand,
        zonepath,
        wan: Wan {
            over,
            vnic: wan_vnic,
            address: wan_addr?,
            gateway: gateway?,
        },
        lan: Lan {
            etherstub,
            subnet: subnet?,
        },
        router: router?,
        ikegw_dir,
        global,
        zones: zones?,
        redirects,
        firewall,
        vpn: vpn.flatten(),
        lab: Lab { prefix: lab_prefix },
    })
}

fn vpn(cx: &mut Cx<'_>, v: &raw::Vpn, lan: Option<Ipv4Net>, wan: Option<Ipv4Net>) -> Option<Vpn> {
    // Every remote subnet, with where it was written and what it is, to
    // report overlaps between any two of them.
    let mut nets: Vec<(Ipv4Net, Range<usize>, String)> = Vec::new();
    let mut check = |cx: &mut Cx<'_>, s: &Spanned<String>, what: String| -> Option<Ipv4Net> {
        let n = network(cx, s, &what)?;
        if let Some(l) = lan {
            if n.overlaps(l) {
                cx.err(&s.span(), format!("{what} {n} overlaps the LAN {l}"));
            }
        }
        if let Some(w) = wan {
            if n.overlaps(w.trunc()) {
                cx.err(
                    &s.span(),
                    format!("{what} {n} overlaps the WAN subnet {}", w.trunc()),
                );
            }
        }
        if let Some((o, first, owhat)) = nets.iter().find(|(o, _, _)| o.overlaps(n)) {
            let (l, c) = line_col(cx.text, first.start);
            cx.err(
                &s.span(),
                format!("{what} {n} overlaps {owhat} {o} at {l}:{c}"),
            );
        }
        nets.push((n, s.span(), what));
        Some(n)
    };
    let pools: Vec<Option<Ipv4Net>> = v
        .pools
        .iter()
        .map(|p| check(cx, p, "vpn pool".to_owned()))
        .collect();
    let mut names = BTreeSet::new();
    let mut branches = Vec::new();
    let mut ok = true;
    for b in &v.branches {
        let b = b.get_ref();
        let name = word(cx, &b.name, "branch name");
        if !names.insert(name.clone()) {
            cx.err(&b.name.span(), format!("branch '{name}' is defined twice"));
        }
        let peer = addr(cx, &b.peer, "branch peer");
        if let (Some(p), Some(l)) = (peer, lan) {
            if l.contains(p) {
                cx.err(
                    &b.peer.span(),
                    format!("branch peer {p} is on the LAN {l}; a peer is reached over the WAN"),
                );
            }
        }
        if b.subnets.is_empty() {
            cx.err(&b.name.span(), format!("branch '{name}' has no subnets"));
        }
        let subnets: Vec<Option<Ipv4Net>> = b
            .subnets
            .iter()
            .map(|s| check(cx, s, format!("branch '{name}' subnet")))
            .collect();
        match (peer, subnets.into_iter().collect::<Option<Vec<_>>>()) {
            (Some(peer), Some(subnets)) => branches.push(Branch {
                name,
                peer,
                subnets,
            }),
            _ => ok = false,
        }
    }
    let pools: Option<Vec<Ipv4Net>> = pools.into_iter().collect();
    if !ok {
        return None;
    }
    Some(Vpn {
        pools: pools?,
        branches,
    })
}

fn word(cx: &mut Cx<'_>, v: &Spanned<String>, what: &str) -> String {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        cx.err(
            &v.span(),
            format!("{what} '{s}': use 1..=32 of letters, digits, '-' and '_'"),
        );
    }
    s.clone()
}

/// An absolute path safe to put in zonecfg and shell command files: no
/// `..`, no whitespace, quotes, `;` or other characters those parsers treat
/// specially.
fn abs_path(cx: &mut Cx<'_>, v: &Spanned<String>, what: &str) -> String {
    let s = v.get_ref();
    if !s.starts_with('/') {
        cx.err(&v.span(), format!("{what} '{s}' must be an absolute path"));
    } else if s.split('/').any(|c| c == ".." || c == ".") {
        cx.err(
            &v.span(),
            format!("{what} '{s}' must not contain '.' or '..' components"),
        );
    } else if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.+@".contains(&b))
    {
        cx.err(
            &v.span(),
            format!("{what} '{s}': only letters, digits and / - _ . + @ are allowed"),
        );
    } else if s.len() > 1 && s.ends_with('/') {
        cx.err(&v.span(), format!("{what} '{s}' must not end in '/'"));
    }
    s.clone()
}

/// dladm's rule (a letter first, a digit last, letters, digits and `_`
/// between) plus Linux's length limit.
fn check_link_name(n: &str) -> Result<(), &'static str> {
    let b = n.as_bytes();
    if b.is_empty() || b.len() > MAX_LINK_NAME {
        return Err("a link name has 1..=15 characters");
    }
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return Err("a link name starts with a letter");
    }
    if !b.last().is_some_and(u8::is_ascii_digit) {
        return Err("a link name ends with a digit (dladm's rule)");
    }
    if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return Err("a link name has only letters, digits and '_'");
    }
    Ok(())
}

/// zonecfg's rule: alphanumeric first, then alphanumerics, `-`, `_`, `.`;
/// `global` and names starting with `SUNW` are reserved.
fn check_zone_name(n: &str) -> Result<(), &'static str> {
    let b = n.as_bytes();
    if b.is_empty() || b.len() > MAX_ZONE_NAME {
        return Err("a zone name has 1..=63 characters");
    }
    if !b.first().is_some_and(u8::is_ascii_alphanumeric) {
        return Err("a zone name starts with a letter or digit");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
    {
        return Err("a zone name has only letters, digits, '-', '_' and '.'");
    }
    if n == "global" || n.starts_with("SUNW") {
        return Err("'global' and names starting with SUNW are reserved");
    }
    Ok(())
}

fn addr(cx: &mut Cx<'_>, v: &Spanned<String>, what: &str) -> Option<Ipv4Addr> {
    match v.get_ref().parse::<Ipv4Addr>() {
        Ok(a) => Some(a),
        Err(_) => {
            cx.err(
                &v.span(),
                format!("{what} '{}' is not an IPv4 address", v.get_ref()),
            );
            None
        }
    }
}

fn prefix(cx: &mut Cx<'_>, v: &Spanned<String>, what: &str) -> Option<Ipv4Net> {
    match v.get_ref().parse::<Ipv4Net>() {
        Ok(n) => Some(n),
        Err(e) => {
            cx.err(&v.span(), format!("{what}: {}", e.0));
            None
        }
    }
}

/// A prefix that must be written as a network (host bits zero).
fn network(cx: &mut Cx<'_>, v: &Spanned<String>, what: &str) -> Option<Ipv4Net> {
    let n = prefix(cx, v, what)?;
    if !n.is_network() {
        cx.err(
            &v.span(),
            format!("{what} {n} has host bits set; did you mean {}?", n.trunc()),
        );
        return None;
    }
    Some(n)
}

fn port_of(cx: &mut Cx<'_>, v: &Spanned<i64>, what: &str) -> Option<u16> {
    match u16::try_from(*v.get_ref()) {
        Ok(p) if p != 0 => Some(p),
        _ => {
            cx.err(
                &v.span(),
                format!("{what} {} is not a port (1..=65535)", v.get_ref()),
            );
            None
        }
    }
}

fn cpu(cx: &mut Cx<'_>, v: &Spanned<f64>) -> Option<u32> {
    let c = *v.get_ref();
    let centi = (c * 100.0).round();
    // zonecfg's ncpus takes hundredths; reject what it would round.
    if !c.is_finite() || !(1.0..=102_400.0).contains(&centi) || (centi - c * 100.0).abs() > 1e-6 {
        cx.err(
            &v.span(),
            format!("cpu {c}: a CPU cap is 0.01..=1024 in steps of 0.01"),
        );
        return None;
    }
    // In range 1..=102400 and integral, so the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(centi as u32)
}

fn memory(cx: &mut Cx<'_>, v: &Spanned<String>) -> Option<String> {
    let s = v.get_ref().to_ascii_lowercase();
    let digits = s.trim_end_matches(['k', 'm', 'g', 't']);
    let suffix_len = s.len().saturating_sub(digits.len());
    let ok = suffix_len <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && digits.len() <= 12;
    if !ok {
        cx.err(
            &v.span(),
            format!("memory '{}': expected a size like 512m or 2g", v.get_ref()),
        );
        return None;
    }
    Some(s)
}
