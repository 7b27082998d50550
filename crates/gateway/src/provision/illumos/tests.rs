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
    // Outputs in the exact form the illumos tools print them (see parse.rs
    // for the source file each follows): several `-o` fields are joined by
    // ':' with ':' escaped inside values; zoneadm escapes only the zonepath.
    f.ok("dladm show-etherstub -p -o link", "stub0\n")
        .ok("dladm show-vnic -p -o link,over", "wan0:igb0\nrouter0:stub0\n")
        .ok(
            "zoneadm list -cp",
            "0:global:running:/::ipkg:shared\n\
             3:router:running:/zones/router:2b8c1e52-8f0d-6b43-a1c4-d8f0b1e2c3a4:sparse:excl\n",
        )
        .ok("ipadm show-if -p -o ifname", "lo0\nigb0\n")
        .ok(
            "ipadm show-addr -p -o addrobj,addr",
            "lo0/v4:127.0.0.1/8\nigb0/v4:192.0.2.5/24\nlo0/v6:\\:\\:1/128\n",
        )
        .ok("zlogin router ipadm show-if -p -o ifname", "lo0\nwan0\nrouter0\n")
        .ok(
            "zlogin router ipadm show-addr -p -o addrobj,addr",
            "lo0/v4:127.0.0.1/8\nwan0/v4:203.0.113.10/24\nrouter0/v4:10.0.0.1/24\n\
             lo0/v6:\\:\\:1/128\nrouter0/v6:fe80\\:\\:8\\:20ff\\:fe3a\\:1b2c/10\n",
        )
        .ok("zlogin router route -p show", "persistent: route add default 203.0.113.1\n")
        // With the option named, routeadm does not repeat its name.
        .ok("zlogin router routeadm -p ipv4-forwarding", "persistent=enabled default=disabled current=enabled\n")
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
            "zlogin router 'cat > /etc/ipf/ipf.conf' < ipf.conf",
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
fn a_shared_ip_zone_of_the_same_name_stops_apply() {
    let plans = plans(&site());
    let mut f = half_built();
    f.ok(
        "zoneadm list -cp",
        "0:global:running:/::ipkg:shared\n\
         3:router:running:/zones/router:2b8c1e52-8f0d-6b43-a1c4-d8f0b1e2c3a4:sparse:excl\n\
         -:web:installed:/zones/web:9d1f0a22-3c4b-4e5f-8a6b-7c8d9e0f1a2b:sparse:shared\n",
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
            .contains("zone web exists with a shared IP stack, the site needs ip-type=exclusive"),
        "{e}"
    );
    assert!(
        !f.changes().iter().any(|c| c.contains("-z web")),
        "{:?}",
        f.changes()
    );
    // Nor does teardown remove a zone that is not the site's.
    let mut f2 = half_built();
    f2.ok(
        "zoneadm list -cp",
        "-:web:installed:/zones/web:9d1f0a22-3c4b-4e5f-8a6b-7c8d9e0f1a2b:sparse:shared\n",
    );
    execute(
        &plans.teardown,
        &mut f2,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap();
    assert!(
        !f2.changes().iter().any(|c| c.contains("-z web")),
        "{:?}",
        f2.changes()
    );
}

#[test]
fn an_address_object_holding_another_address_stops_apply() {
    let plans = plans(&site());
    let mut f = half_built();
    f.ok(
        "zlogin router ipadm show-addr -p -o addrobj,addr",
        "lo0/v4:127.0.0.1/8\nwan0/v4:203.0.113.99/24\nrouter0/v4:10.0.0.1/24\n",
    );
    let e = execute(
        &plans.apply,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "address object wan0/v4 holds 203.0.113.99/24, the site wants 203.0.113.10/24"
        ),
        "{e}"
    );
}

#[test]
fn a_probe_output_in_the_wrong_form_is_a_precise_error() {
    let plans = plans(&site());
    let mut f = half_built();
    // Two fields asked for, one printed: not what dladm prints for -o link,over.
    f.ok("dladm show-vnic -p -o link,over", "wan0\n");
    let e = execute(
        &plans.apply,
        &mut f,
        &mut Observer::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cannot understand the output of `dladm show-vnic -p -o link,over`"),
        "{msg}"
    );
    assert!(
        msg.contains("line 'wan0' has 1 fields, 2 were asked for"),
        "{msg}"
    );
}

#[test]
fn zlogin_words_are_quoted_for_the_zone_shell() {
    // zlogin joins its arguments with spaces for `su -c` in the zone, so a
    // word with a space must reach it quoted.
    let c = zlogin("router", &["svcprop", "-p", "a b", "svc:/x"]);
    assert_eq!(
        c.argv,
        ["zlogin", "router", "svcprop", "-p", "'a b'", "svc:/x"]
    );
    let plans = plans(&site());
    assert!(plans
        .apply
        .steps
        .iter()
        .any(|s| s.cmd.argv == ["zlogin", "router", "cat > /etc/ipf/ipf.conf"]));
}

#[test]
fn zonecfg_has_exclusive_stack_nets_lofs_and_caps() {
    let s = site();
    let web = zonecfg(&s, &s.zones[0], &["web0"], &[], &[]);
    for needle in [
        "create -b\n",
        "set ip-type=exclusive\n",
        "add net\nset physical=web0\nend\n",
        "add fs\nset dir=/var/www\nset special=/export/www\nset type=lofs\nadd options [ro,nodevices]\nend\n",
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
    assert!(ipf.contains(
        "pass in quick on wan0 proto tcp from any to 10.0.0.10/32 port = 80 flags S/SA keep state\n"
    ));
    // Decapsulated traffic arrives on a tunnel link; the same sources in
    // cleartext on the WAN are refused before the pass rule can match.
    let block = ipf
        .find("block in log quick on wan0 from 172.16.1.0/24 to any\n")
        .unwrap();
    let pass = ipf
        .find("pass in quick from 172.16.1.0/24 to 10.0.0.0/24 keep state\n")
        .unwrap();
    assert!(block < pass, "{ipf}");
    assert!(ipf.contains("block in log quick on wan0 from 10.8.0.0/24 to any\n"));
    // NAT only rewrites what leaves the WAN link from the LAN.
    assert!(
        !nat.contains("172.16.1.0/24 ->") && !nat.contains("10.8.0.0/24 ->"),
        "{nat}"
    );
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
