use std::path::Path;

use super::super::fake::FakeRunner;
use super::super::{execute, status};
use super::*;

fn site() -> Site {
    crate::site::parse(
        Path::new("home.toml"),
        include_str!("../../../../../examples/home-datacentre.toml"),
    )
    .unwrap()
}

/// A box where the etherstub, the router's vNICs and a running router zone
/// with its interfaces exist; web and game do not.
fn half_built() -> FakeRunner {
    let mut f = FakeRunner::default();
    f.ok("dladm show-etherstub -p -o link", "stub0\n")
        .ok("dladm show-vnic -p -o link,over", "wan0:igb0\nrouter0:stub0\n")
        .ok(
            "zoneadm list -cp",
            "0:global:running:/::ipkg:shared\n3:router:running:/zones/router:2b8c:sparse:excl\n",
        )
        .ok("ipadm show-if -p -o ifname", "lo0\nigb0\n")
        .ok("ipadm show-addr -p -o addrobj", "lo0/v4\nigb0/v4\n")
        .ok("zlogin router ipadm show-if -p -o ifname", "lo0\nwan0\nrouter0\n")
        .ok("zlogin router ipadm show-addr -p -o addrobj", "lo0/v4\nwan0/v4\nrouter0/v4\n")
        .ok("zlogin router route -p show", "persistent: route add default 203.0.113.1\n")
        .ok("zlogin router routeadm -p ipv4-forwarding", "ipv4-forwarding persistent=enabled default=disabled current=enabled\n")
        .ok("zlogin router svcs -H -o state svc:/network/ip-interface-management:default", "online\n")
        .ok("zlogin router svcs -H -o state svc:/network/ipfilter:default", "online\n")
        .ok("zlogin router svcprop -p firewall_config_default/policy svc:/network/ipfilter:default", "custom\n")
        .ok(
            "zlogin router svcprop -p firewall_config_default/custom_policy_file svc:/network/ipfilter:default",
            "/etc/ipf/ipf.conf\n",
        )
        .ok("zlogin router cat /etc/ipf/ipnat.conf", &ipnat_conf(&site()))
        .err("zlogin router cat /etc/ipf/ipf.conf", "cat: cannot open /etc/ipf/ipf.conf")
        .ok("zlogin router cat /var/svc/manifest/site/ikegw.xml", &manifest(&site()))
        .ok("zlogin router svcs -H -o state svc:/network/ikegw:default", "disabled\n");
    f
}

#[test]
fn apply_runs_only_what_is_missing() {
    let plans = plans(&site());
    let mut f = half_built();
    let mut log = Vec::new();
    let s = execute(&plans.apply, &mut f, &mut Observer::default(), &mut log).unwrap();
    let changes = f.changes();
    // ipf.conf was missing: it is written and IPFilter reloaded; the rest of
    // the router is in place. web, game and the global zone's vNIC are new.
    assert_eq!(
        changes,
        [
            "dladm create-vnic -l stub0 web0",
            "dladm create-vnic -l stub0 game0",
            "dladm create-vnic -l stub0 global0",
            "ipadm create-if global0",
            "ipadm create-addr -T static -a 10.0.0.2/24 global0/v4",
            "zlogin router /bin/sh -c 'cat > /etc/ipf/ipf.conf' < ipf.conf",
            "zlogin router svcadm refresh svc:/network/ipfilter:default",
            "zonecfg -z web -f - < web.zonecfg",
            "zoneadm -z web install",
            "zoneadm -z web boot",
            // web is still "not running" in the canned zoneadm output, so
            // everything inside it counts as missing.
            "zlogin web svcadm enable -s svc:/network/ip-interface-management:default",
            "zlogin web ipadm create-if web0",
            "zlogin web ipadm create-addr -T static -a 10.0.0.10/24 web0/v4",
            "zlogin web route -p add default 10.0.0.1",
            "zonecfg -z game -f - < game.zonecfg",
            "zoneadm -z game install",
            "zoneadm -z game boot",
            "zlogin game svcadm enable -s svc:/network/ip-interface-management:default",
            "zlogin game ipadm create-if game0",
            "zlogin game ipadm create-addr -T static -a 10.0.0.20/24 game0/v4",
            "zlogin game route -p add default 10.0.0.1",
        ]
    );
    assert_eq!(s.ran, changes.len());
    assert_eq!(s.ran + s.skipped, plans.apply.steps.len());
}

#[test]
fn apply_stops_at_the_first_failure_with_command_and_stderr() {
    let plans = plans(&site());
    let mut f = half_built();
    f.fail = Some((
        "zoneadm -z web install".into(),
        "zoneadm: zone 'web': ERROR: no such brand\n".into(),
    ));
    let e = execute(
        &plans.apply,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`zoneadm -z web install` exited with status 1: zoneadm: zone 'web': ERROR: no such brand"), "{msg}");
    assert!(
        !f.log.iter().any(|c| c.contains("zoneadm -z web boot")),
        "ran past the failure"
    );
}

#[test]
fn an_existing_wan_vnic_is_required_when_no_nic_is_named() {
    let mut s = site();
    s.wan.over = None;
    let plans = plans(&s);
    assert!(!plans
        .apply
        .steps
        .iter()
        .any(|st| st.cmd.display().contains("create-vnic -l igb0")));
    let mut f = half_built();
    f.ok("dladm show-vnic -p -o link,over", "router0:stub0\n");
    let e = execute(
        &plans.apply,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("the WAN vNIC wan0 does not exist"),
        "{e}"
    );
    assert!(
        f.changes().is_empty(),
        "nothing may run before the precondition holds: {:?}",
        f.changes()
    );
}

#[test]
fn status_reports_present_missing_and_unknown() {
    let plans = plans(&site());
    let mut f = half_built();
    let (text, complete) = status(&plans.apply, &mut f, &mut Observer::default()).unwrap();
    assert!(!complete);
    assert!(text.contains("present    etherstub stub0"), "{text}");
    assert!(text.contains("MISSING    vnic web0 over stub0"), "{text}");
    assert!(
        text.contains("MISSING    zone router: /etc/ipf/ipf.conf"),
        "{text}"
    );
    assert!(
        text.contains("present    zone router: /etc/ipf/ipnat.conf"),
        "{text}"
    );
    assert!(
        text.contains("UNKNOWN (zone web is not running) zone web: interface web0"),
        "{text}"
    );
}

#[test]
fn teardown_reverses_only_what_exists() {
    let plans = plans(&site());
    let mut f = half_built();
    execute(
        &plans.teardown,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(
        f.changes(),
        [
            "zoneadm -z router halt",
            "zoneadm -z router uninstall -F",
            "zonecfg -z router delete -F",
            "dladm delete-vnic router0",
            "dladm delete-vnic wan0",
            "dladm delete-etherstub stub0",
        ]
    );
}

#[test]
fn parses_zoneadm_list_and_rejects_garbage() {
    let z = parse_zones("0:global:running:/::ipkg:shared\n-:web:installed:/zones/web:u:sparse:excl\n-:x:incomplete:/z::sparse:excl\n").unwrap();
    assert_eq!(z.get("web"), Some(&ZoneState::Installed));
    assert_eq!(z.get("x"), Some(&ZoneState::Configured));
    assert!(parse_zones("nonsense\n").is_err());
    assert!(parse_zones("0:web:exploded:/:::\n").is_err());
}

#[test]
fn zonecfg_has_exclusive_stack_nets_lofs_and_caps() {
    let s = site();
    let web = zonecfg(&s, &s.zones[0], &["web0"], &[]);
    for needle in [
        "create -b\n",
        "set ip-type=exclusive\n",
        "add net\nset physical=web0\nend\n",
        "add fs\nset dir=/var/www\nset special=/export/www\nset type=lofs\nadd options ro\nend\n",
        "add capped-cpu\nset ncpus=1\nend\n",
        "add capped-memory\nset physical=2g\nend\n",
        "commit\n",
    ] {
        assert!(web.contains(needle), "{needle:?} not in\n{web}");
    }
    assert_eq!(cpu_text(150), "1.5");
    assert_eq!(cpu_text(25), "0.25");
    assert_eq!(cpu_text(200), "2");
}

#[test]
fn nat_and_filter_rules_follow_the_site() {
    let s = site();
    let nat = ipnat_conf(&s);
    assert!(nat.contains("map wan0 10.0.0.0/24 -> 0/32 portmap tcp/udp 1025:65000\n"));
    assert!(nat.contains("rdr wan0 203.0.113.10/32 port 80 -> 10.0.0.10 port 80 tcp\n"));
    assert!(nat.contains("rdr wan0 203.0.113.10/32 port 27015 -> 10.0.0.20 port 27015 tcp/udp\n"));
    let ipf = ipf_conf(&s);
    assert!(ipf.contains("block in log on wan0 all\n"));
    assert!(ipf.contains(
        "pass in quick on wan0 proto udp from any to 203.0.113.10/32 port = 500 keep state\n"
    ));
    assert!(ipf.contains("pass in quick on wan0 proto esp from any to 203.0.113.10/32\n"));
    assert!(ipf.contains(
        "pass in quick on wan0 proto udp from any to 10.0.0.20/32 port = 27015 keep state\n"
    ));
    // Without a VPN, IKE and ESP stay closed.
    let mut novpn = s;
    novpn.vpn = None;
    let ipf = ipf_conf(&novpn);
    assert!(
        !ipf.contains("port = 500") && !ipf.contains("proto esp"),
        "{ipf}"
    );
}

#[test]
fn a_vnic_over_the_wrong_link_stops_apply_and_survives_teardown() {
    let plans = plans(&site());
    let mut f = half_built();
    f.ok(
        "dladm show-vnic -p -o link,over",
        "wan0:igb0\nrouter0:stub0\nweb0:igb1\n",
    );
    let e = execute(
        &plans.apply,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("vnic web0 exists over igb1, the site wants it over stub0"),
        "{e}"
    );
    assert!(
        !f.changes().iter().any(|c| c.contains("web0")),
        "{:?}",
        f.changes()
    );
    let (text, _) = status(&plans.apply, &mut f, &mut Observer::default()).unwrap();
    assert!(
        text.contains("DIFFERS (vnic web0 exists over igb1"),
        "{text}"
    );
    let mut f2 = half_built();
    f2.ok("dladm show-vnic -p -o link,over", "web0:igb1\n");
    execute(
        &plans.teardown,
        &mut f2,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap();
    assert!(
        !f2.changes().iter().any(|c| c.contains("web0")),
        "{:?}",
        f2.changes()
    );
}

#[test]
fn status_names_vnics_over_the_etherstub_that_the_site_does_not() {
    let s = site();
    let plans = plans(&s);
    let mut f = half_built();
    f.ok(
        "dladm show-vnic -p -o link,over",
        "wan0:igb0\nrouter0:stub0\nold0:stub0\nother0:igb0\n",
    );
    let (text, _) = status(&plans.apply, &mut f, &mut Observer::for_site(&s)).unwrap();
    assert!(
        text.contains("EXTRA      vnic old0 over stub0 is not in [site]"),
        "{text}"
    );
    assert!(!text.contains("other0"), "{text}");
}
