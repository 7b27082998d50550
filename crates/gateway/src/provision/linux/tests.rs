use std::path::Path;

use super::super::execute;
use super::super::fake::FakeRunner;
use super::*;

fn site() -> Site {
    crate::site::parse(
        Path::new("home.toml"),
        include_str!("../../../../../examples/home-datacentre.toml"),
    )
    .unwrap()
}

#[test]
fn every_command_stays_inside_the_labs_own_namespaces() {
    let s = site();
    let ours = namespaces(&s);
    let p = plans(&s);
    for step in p.apply.steps.iter().chain(p.teardown.steps.iter()) {
        let a = &step.cmd.argv;
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let ns = match a.as_slice() {
            ["ip", "netns", "add" | "delete", n] => *n,
            ["ip", "-n", n, ..] => *n,
            ["ip", "netns", "exec", n, ..] => *n,
            other => panic!("command outside a namespace: {other:?}"),
        };
        assert!(
            ours.iter().any(|o| o == ns),
            "{ns} is not one of the lab's namespaces"
        );
        // A veth's peer goes only into one of ours too.
        if let Some(i) = a.iter().position(|w| *w == "netns").filter(|i| *i > 2) {
            assert!(
                ours.iter().any(|o| Some(&o.as_str()) == a.get(i + 1)),
                "{a:?}"
            );
        }
    }
}

#[test]
fn a_foreign_namespace_stops_apply_before_anything_runs() {
    let s = site();
    let p = plans(&s);
    let mut f = FakeRunner::default();
    f.ok("ip netns list", "home-web (id: 4)\n")
        .ok(
            "ip -n home-web -j link show",
            r#"[{"ifname":"lo","flags":["LOOPBACK"]}]"#,
        )
        .ok("ip -n home-web -j addr show", "[]")
        .ok("ip -n home-web -j route show default", "[]");
    let e = execute(&p.apply, &mut f, &mut Observer::new(&s), &mut Vec::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("home-web exists but was not created by ikegw provision"),
        "{e}"
    );
    assert!(f.changes().is_empty(), "{:?}", f.changes());
}

#[test]
fn ruleset_nats_the_lan_but_not_the_vpn_and_drops_by_default() {
    let r = ruleset(&site());
    assert!(r.starts_with("# nftables"));
    assert!(r.contains("table ip ikegw\ndelete table ip ikegw\ntable ip ikegw {\n"));
    assert!(
        r.contains("iifname \"wan0\" ip daddr 203.0.113.10 tcp dport 80 dnat to 10.0.0.10:80\n")
    );
    assert!(r.contains(
        "iifname \"wan0\" ip daddr 203.0.113.10 udp dport 27015 dnat to 10.0.0.20:27015\n"
    ));
    let nat_exempt = r.find("ip daddr @vpn_nets accept").unwrap();
    let masq = r.find("ip saddr 10.0.0.0/24 masquerade").unwrap();
    assert!(
        nat_exempt < masq,
        "the VPN exemption must come before masquerade"
    );
    assert!(r.contains("elements = { 10.8.0.0/24, 172.16.1.0/24 }"));
    assert!(r.contains("udp dport { 500, 4500 } accept"));
    assert_eq!(r.matches("counter drop").count(), 2);
    // The fingerprint changes with the content.
    let mut s2 = site();
    s2.redirects.pop();
    assert_ne!(tag_of(&r), tag_of(&ruleset(&s2)));
}

#[test]
fn the_global_namespace_gets_no_default_route() {
    let p = plans(&site());
    assert!(p
        .apply
        .steps
        .iter()
        .any(|s| s.cmd.display() == "ip -n home-global addr add 10.0.0.2/24 dev global0"));
    assert!(!p
        .apply
        .steps
        .iter()
        .any(|s| s.cmd.display().starts_with("ip -n home-global route")));
    assert!(p
        .apply
        .steps
        .iter()
        .any(|s| s.cmd.display() == "ip -n home-web route add default via 10.0.0.1"));
}

#[test]
fn rejects_odd_lab_prefixes() {
    assert!(check_prefix("lab-1").is_ok());
    assert!(check_prefix("").is_err());
    assert!(check_prefix("Lab").is_err());
    assert!(check_prefix("a/b").is_err());
}

#[test]
fn status_names_marked_namespaces_the_site_no_longer_has() {
    let s = site();
    let p = plans(&s);
    let mut f = FakeRunner::default();
    f.ok("ip netns list", "home-old (id: 9)\nhome-alien\nother-x\n")
        .ok(
            "ip -n home-old -j link show",
            r#"[{"ifname":"lo","flags":["LOOPBACK","UP"],"ifalias":"ikegw-lab:home"}]"#,
        )
        .ok("ip -n home-old -j addr show", "[]")
        .ok("ip -n home-old -j route show default", "[]")
        .ok(
            "ip -n home-alien -j link show",
            r#"[{"ifname":"lo","flags":["LOOPBACK"]}]"#,
        )
        .ok("ip -n home-alien -j addr show", "[]")
        .ok("ip -n home-alien -j route show default", "[]");
    let (text, complete) = super::super::status(&p.apply, &mut f, &mut Observer::new(&s)).unwrap();
    assert!(!complete);
    assert!(text.contains("MISSING    namespace home-router"), "{text}");
    assert!(
        text.contains("EXTRA      namespace home-old is marked"),
        "{text}"
    );
    assert!(
        !text.contains("home-alien is") && !text.contains("other-x"),
        "{text}"
    );
}
