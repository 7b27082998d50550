use std::net::Ipv4Addr;
use std::path::Path;

use super::*;

const EXAMPLE: &str = include_str!("../../../../examples/home-datacentre.toml");

fn problems(text: &str) -> Vec<String> {
    match parse(Path::new("t.toml"), text) {
        Err(SiteError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| format!("{}:{}: {}", p.line, p.col, p.message))
            .collect(),
        Err(e) => vec![format!("other: {e}")],
        Ok(_) => vec![],
    }
}

/// The example with `from` replaced by `to` (which must occur exactly once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        EXAMPLE.matches(from).count(),
        1,
        "{from:?} must occur once in the example"
    );
    EXAMPLE.replacen(from, to, 1)
}

fn has(probs: &[String], needle: &str) -> bool {
    probs.iter().any(|p| p.contains(needle))
}

#[test]
fn example_parses_into_the_seed_layout() {
    let s = parse(Path::new("home.toml"), EXAMPLE).unwrap();
    assert_eq!(s.name, "home");
    assert_eq!(s.wan.over.as_deref(), Some("igb0"));
    assert_eq!(s.wan.address.to_string(), "203.0.113.10/24");
    assert_eq!(s.router.name, "router");
    assert_eq!(s.router.address, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(
        s.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
        ["web", "game"]
    );
    assert_eq!(s.zones[0].cpu_centi, Some(100));
    assert_eq!(s.zones[0].memory.as_deref(), Some("2g"));
    assert_eq!(s.zones[0].mounts[0].source, "/export/www");
    assert_eq!(s.redirects.len(), 3);
    assert_eq!(s.redirects[2].proto, Proto::TcpUdp);
    assert_eq!(s.redirects[2].to_addr, Ipv4Addr::new(10, 0, 0, 20));
    assert_eq!(s.redirects[2].to_port, 27015);
    let vpn = s.vpn.as_ref().unwrap();
    assert_eq!(vpn.pools[0].to_string(), "10.8.0.0/24");
    assert_eq!(vpn.branches[0].subnets[0].to_string(), "172.16.1.0/24");
    assert_eq!(
        s.global.as_ref().unwrap().address,
        Ipv4Addr::new(10, 0, 0, 2)
    );
    assert_eq!(s.lab.prefix, "home");
    assert_eq!(s.ikegw_dir, "/opt/ikegw");
}

#[test]
fn other_top_level_tables_are_ignored() {
    let text = format!("[daemon]\nlog = \"x\"\n[connections.rw]\nversion = 2\n{EXAMPLE}");
    assert!(parse(Path::new("t"), &text).is_ok());
}

#[test]
fn a_file_without_site_is_a_precise_error() {
    let e = parse(Path::new("t.toml"), "[daemon]\n").unwrap_err();
    assert!(matches!(e, SiteError::NoSite { .. }));
    assert!(e.to_string().contains("no [site] table"));
}

#[test]
fn unknown_keys_are_errors_with_a_position() {
    let e = parse(
        Path::new("t.toml"),
        &edit("cpu = 1\nmemory = \"2g\"", "cpus = 1\nmemory = \"2g\""),
    )
    .unwrap_err();
    let SiteError::Syntax {
        line,
        col,
        ref message,
        ..
    } = e
    else {
        panic!("{e}")
    };
    assert!(message.contains("unknown field `cpus`"), "{message}");
    // The web zone's `cpu = 1` (the one followed by `memory = "2g"`) was renamed.
    let want = EXAMPLE
        .find("cpu = 1\nmemory = \"2g\"")
        .map(|o| EXAMPLE[..o].lines().count() + 1)
        .unwrap();
    assert_eq!((line, col), (want, 1));
    assert!(
        e.to_string()
            .starts_with(&format!("t.toml:{want}:1: unknown field")),
        "{e}"
    );
}

#[test]
fn rejects_a_redirect_to_an_unknown_zone() {
    let p = problems(&edit("zone = \"game\"", "zone = \"gmae\""));
    assert!(
        has(
            &p,
            "redirect to unknown zone 'gmae' (inner zones: web, game)"
        ),
        "{p:?}"
    );
    // The position is the value's: line of `zone = "gmae"`, column 8.
    let line = EXAMPLE
        .lines()
        .position(|l| l == "zone = \"game\"")
        .unwrap()
        + 1;
    assert!(p[0].starts_with(&format!("{line}:8:")), "{p:?}");
}

#[test]
fn rejects_a_redirect_to_the_router() {
    let p = problems(&edit(
        "port = 443\nzone = \"web\"",
        "port = 443\nzone = \"router\"",
    ));
    assert!(has(&p, "redirect to the router zone 'router'"), "{p:?}");
}

#[test]
fn rejects_a_pool_overlapping_the_lan() {
    let p = problems(&edit(
        "pools = [\"10.8.0.0/24\"]",
        "pools = [\"10.0.0.128/25\"]",
    ));
    assert!(
        has(&p, "vpn pool 10.0.0.128/25 overlaps the LAN 10.0.0.0/24"),
        "{p:?}"
    );
}

#[test]
fn rejects_a_branch_subnet_overlapping_a_pool() {
    let p = problems(&edit(
        "subnets = [\"172.16.1.0/24\"]",
        "subnets = [\"10.8.0.0/16\"]",
    ));
    assert!(
        has(
            &p,
            "branch 'branch' subnet 10.8.0.0/16 overlaps vpn pool 10.8.0.0/24 at"
        ),
        "{p:?}"
    );
}

#[test]
fn rejects_lan_overlapping_wan() {
    let p = problems(&edit(
        "address = \"203.0.113.10/24\"",
        "address = \"10.0.0.200/16\"",
    ));
    assert!(
        has(
            &p,
            "lan.subnet 10.0.0.0/24 overlaps the WAN subnet 10.0.0.0/16"
        ),
        "{p:?}"
    );
}

#[test]
fn rejects_subnets_with_host_bits() {
    let p = problems(&edit(
        "subnet = \"10.0.0.0/24\"",
        "subnet = \"10.0.0.1/24\"",
    ));
    assert!(
        has(
            &p,
            "lan.subnet 10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?"
        ),
        "{p:?}"
    );
}

#[test]
fn rejects_duplicate_addresses_links_and_zones() {
    let p = problems(&edit("address = \"10.0.0.20\"", "address = \"10.0.0.10\""));
    assert!(
        has(&p, "zone 'game' address 10.0.0.10 is already used at"),
        "{p:?}"
    );
    let p = problems(&edit("vnic = \"game0\"", "vnic = \"web0\""));
    assert!(has(&p, "link name 'web0' is already used at"), "{p:?}");
    let p = problems(&edit("name = \"game\"", "name = \"web\""));
    assert!(has(&p, "zone 'web' is already defined at"), "{p:?}");
}

#[test]
fn rejects_addresses_off_the_lan() {
    let p = problems(&edit("address = \"10.0.0.20\"", "address = \"10.0.1.20\""));
    assert!(
        has(
            &p,
            "zone 'game' address 10.0.1.20 is not on the LAN 10.0.0.0/24"
        ),
        "{p:?}"
    );
    let p = problems(&edit("address = \"10.0.0.20\"", "address = \"10.0.0.255\""));
    assert!(has(&p, "network or broadcast"), "{p:?}");
    let p = problems(&edit(
        "address = \"10.0.0.20\"",
        "address = \"10.0.0.20/24\"",
    ));
    assert!(has(&p, "without a prefix length"), "{p:?}");
}

#[test]
fn rejects_a_gateway_off_the_wan_subnet() {
    let p = problems(&edit(
        "gateway = \"203.0.113.1\"",
        "gateway = \"198.51.100.1\"",
    ));
    assert!(
        has(
            &p,
            "wan.gateway 198.51.100.1 is not on the WAN subnet 203.0.113.0/24"
        ),
        "{p:?}"
    );
}

#[test]
fn rejects_duplicate_redirects_and_ike_ports() {
    let p = problems(&edit("port = 443", "port = 80"));
    assert!(has(&p, "tcp/80 is already redirected at"), "{p:?}");
    let p = problems(&edit("port = 27015 ", "port = 4500 "));
    assert!(has(&p, "udp/4500 is IKE's port"), "{p:?}");
    let p = problems(&edit("port = 27015 ", "port = 70000 "));
    assert!(has(&p, "70000 is not a port"), "{p:?}");
    let p = problems(&edit("proto = \"tcp/udp\"", "proto = \"sctp\""));
    assert!(has(&p, "redirect proto 'sctp'"), "{p:?}");
}

#[test]
fn rejects_bad_names_caps_and_paths() {
    let p = problems(&edit("vnic = \"web0\"", "vnic = \"web\""));
    assert!(has(&p, "ends with a digit"), "{p:?}");
    let p = problems(&edit("name = \"game\"", "name = \"global\""));
    assert!(has(&p, "reserved"), "{p:?}");
    let p = problems(&edit("cpu = 2", "cpu = 0.001"));
    assert!(has(&p, "cpu 0.001"), "{p:?}");
    let p = problems(&edit("memory = \"4g\"", "memory = \"4 GB\""));
    assert!(has(&p, "memory '4 GB'"), "{p:?}");
    let p = problems(&edit("source = \"/export/www\"", "source = \"export/www\""));
    assert!(has(&p, "must be an absolute path"), "{p:?}");
    let p = problems(&edit("dir = \"/var/www\"", "dir = \"/var/www; rm\""));
    assert!(has(&p, "only letters, digits"), "{p:?}");
}

#[test]
fn reports_every_problem_in_file_order() {
    let text = edit("zone = \"game\"", "zone = \"nope\"").replacen(
        "pools = [\"10.8.0.0/24\"]",
        "pools = [\"10.0.0.0/8\"]",
        1,
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].contains("unknown zone 'nope'")
            && p[1].contains("vpn pool 10.0.0.0/8 overlaps the LAN"),
        "{p:?}"
    );
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncdé f", 0), (1, 1));
    assert_eq!(line_col("ab\ncdé f", 3), (2, 1));
    assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
}
