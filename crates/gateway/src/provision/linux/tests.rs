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

fn daemon() -> Daemon {
    Daemon {
        bin: "/opt/ikegw/bin/ikegw".into(),
        config: "/etc/ikegw/home.toml".into(),
    }
}

#[test]
fn every_command_stays_inside_the_labs_own_namespaces() {
    let s = site();
    let ours = namespaces(&s);
    let p = plans(&s, Some(&daemon()));
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
    let p = plans(&s, Some(&daemon()));
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
fn ruleset_nats_the_lan_keeps_the_vpn_off_the_wan_and_drops_by_default() {
    let r = ruleset(&site());
    assert!(r.starts_with("# nftables"));
    assert!(r.contains("table ip ikegw\ndelete table ip ikegw\ntable ip ikegw {\n"));
    assert!(
        r.contains("iifname \"wan0\" ip daddr 203.0.113.10 tcp dport 80 dnat to 10.0.0.10:80\n")
    );
    assert!(r.contains(
        "iifname \"wan0\" ip daddr 203.0.113.10 udp dport 27015 dnat to 10.0.0.20:27015\n"
    ));
    assert!(r.contains("oifname \"wan0\" ip saddr 10.0.0.0/24 masquerade\n"));
    assert!(r.contains("elements = { 10.8.0.0/24, 172.16.1.0/24 }"));
    assert!(r.contains("udp dport { 500, 4500 } accept"));
    assert_eq!(r.matches("counter drop").count(), 3);
    // VPN subnets come in only through ikegw's TUN: nothing accepts them
    // from the WAN in clear (a spoofed pool address must be dropped), and
    // nothing for them leaves the WAN in clear, even from the LAN, which
    // the rule after it admits.
    let forward = &r[r.find("chain forward").unwrap()..];
    let leak = forward
        .find("oifname \"wan0\" ip daddr @vpn_nets counter drop")
        .unwrap();
    let lan = forward.find("iifname != \"wan0\" accept").unwrap();
    assert!(leak < lan, "{forward}");
    assert_eq!(forward.matches("@vpn_nets").count(), 1, "{forward}");
    // The fingerprint changes with the content.
    let mut s2 = site();
    s2.redirects.pop();
    assert_ne!(tag_of(&r), tag_of(&ruleset(&s2)));
}

#[test]
fn the_global_namespace_gets_no_default_route() {
    let p = plans(&site(), None);
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
    let p = plans(&s, Some(&daemon()));
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

#[test]
fn the_daemon_starts_last_in_the_router_namespace_and_stops_first() {
    let s = site();
    let p = plans(&s, Some(&daemon()));
    let last = p.apply.steps.last().unwrap();
    let a: Vec<&str> = last.cmd.argv.iter().map(String::as_str).collect();
    assert_eq!(&a[..5], ["ip", "netns", "exec", "home-router", "unshare"]);
    assert_eq!(
        &a[a.len() - 6..],
        [
            "/opt/ikegw/bin/ikegw",
            "run",
            "-c",
            "/etc/ikegw/home.toml",
            "--tun",
            "ikegw0"
        ]
    );
    assert!(a.contains(&"/run/ikegw-lab/home"), "{a:?}");
    let first = &p.teardown.steps[0];
    assert_eq!(
        first.cmd.argv.last().map(String::as_str),
        Some("/run/ikegw-lab/home/ikegw.pid")
    );
    assert!(matches!(first.unless, Some(Check::Not(_))));
    // The nft step comes before the daemon, the namespaces are deleted after it.
    assert!(p.teardown.steps[1].cmd.argv.contains(&"delete".to_owned()));
    // Without connections there is no daemon step, and a note says why.
    let q = plans(&s, None);
    assert_eq!(q.apply.steps.len() + 1, p.apply.steps.len());
    assert_eq!(q.teardown.steps.len() + 1, p.teardown.steps.len());
    assert!(q.apply.notes.iter().any(|n| n.contains("no [connections]")));
}

#[test]
fn running_means_a_live_pid_whose_cmdline_names_the_config() {
    let pf = "/run/ikegw-lab/home/ikegw.pid";
    let c = Check::Running {
        pidfile: pf.into(),
        config: "/etc/ikegw/home.toml".into(),
    };
    let s = site();
    let presence = |f: &mut FakeRunner| Observer::new(&s).presence(&c, f).unwrap();
    // No PID file.
    let mut f = FakeRunner::default();
    f.err(&format!("cat {pf}"), "No such file");
    assert_eq!(presence(&mut f), Presence::No);
    // A PID whose process is gone.
    let mut f = FakeRunner::default();
    f.ok(&format!("cat {pf}"), "4242\n")
        .err("cat /proc/4242/cmdline", "No such file");
    assert_eq!(presence(&mut f), Presence::No);
    // A reused PID: some other program.
    let mut f = FakeRunner::default();
    f.ok(&format!("cat {pf}"), "4242\n")
        .ok("cat /proc/4242/cmdline", "sleep\x00100\x00");
    assert_eq!(presence(&mut f), Presence::No);
    // Garbage in the PID file.
    let mut f = FakeRunner::default();
    f.ok(&format!("cat {pf}"), "x\n");
    assert_eq!(presence(&mut f), Presence::No);
    // Our daemon.
    let mut f = FakeRunner::default();
    f.ok(&format!("cat {pf}"), "4242\n").ok(
        "cat /proc/4242/cmdline",
        "/opt/ikegw/bin/ikegw\x00run\x00-c\x00/etc/ikegw/home.toml\x00--tun\x00ikegw0\x00",
    );
    assert_eq!(presence(&mut f), Presence::Yes);
    assert_eq!(
        Observer::new(&s)
            .presence(&Check::Not(Box::new(c.clone())), &mut f)
            .unwrap(),
        Presence::No
    );
}

#[test]
fn connections_in_the_config_decide_whether_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.toml");
    std::fs::write(&with, "[connections.b]\nlocal_addrs = []\n").unwrap();
    let without = dir.path().join("without.toml");
    std::fs::write(&without, "[site]\nname = \"x\"\n[connections]\n").unwrap();
    let d = Daemon::for_config(&with).unwrap().unwrap();
    assert!(Path::new(&d.config).is_absolute() && d.config.ends_with("with.toml"));
    assert!(Path::new(&d.bin).is_absolute());
    assert_eq!(Daemon::for_config(&without).unwrap(), None);
    assert!(Daemon::for_config(&dir.path().join("missing.toml")).is_err());
}

#[test]
fn daemon_pools_must_lie_inside_the_sites_vpn_pools() {
    let doc = |pools: &str| -> toml::Table {
        format!("[site.vpn]\npools = [\"10.8.0.0/24\"]\n{pools}")
            .parse()
            .unwrap()
    };
    for ok in [
        "[pools.rw]\naddrs = \"10.8.0.0/24\"\n",
        "[pools.rw]\naddrs = \"10.8.0.10-10.8.0.20\"\n",
        "[pools.rw]\naddrs = \"10.8.0.7\"\n",
        // IPv6 pools are the daemon's alone (the lab router is IPv4-only).
        "[pools.rw6]\naddrs = \"fd00:3::/112\"\n",
        "",
    ] {
        assert_eq!(pools_inside_site(&doc(ok)), Ok(()), "{ok}");
    }
    for bad in [
        "[pools.rw]\naddrs = \"10.9.0.0/24\"\n",
        "[pools.rw]\naddrs = \"10.8.0.0/23\"\n",
        "[pools.rw]\naddrs = \"10.8.0.250-10.8.1.5\"\n",
    ] {
        let e = pools_inside_site(&doc(bad)).unwrap_err();
        assert!(
            e.starts_with("[pools.rw] addrs = ") && e.contains("is not inside [site.vpn] pools"),
            "{e}"
        );
    }
    assert_eq!(v4_range("0.0.0.0/0"), Some((0, u32::MAX)));
    assert_eq!(v4_range("10.0.0.9/32"), Some((0x0a00_0009, 0x0a00_0009)));
    assert_eq!(v4_range("10.0.0.9-10.0.0.1"), None);
    assert_eq!(v4_range("10.0.0.0/33"), None);
}

#[test]
fn the_examples_ike_side_passes_the_pool_check() {
    let text = concat!(
        include_str!("../../../../../examples/home-datacentre.toml"),
        include_str!("../../../../../examples/home-datacentre-ike.toml")
    );
    let doc: toml::Table = text.parse().unwrap();
    assert_eq!(pools_inside_site(&doc), Ok(()));
    assert!(doc["pools"].as_table().is_some_and(|p| !p.is_empty()));
}
