//! The illumos realisation of a `[site]`: an etherstub and vNICs (dladm),
//! exclusive-IP zones (zonecfg command files, zoneadm), addresses and
//! routes inside the zones (zlogin + ipadm/route), forwarding (routeadm),
//! IPFilter NAT and firewall in the router zone (ipnat.conf, ipf.conf), and
//! an SMF manifest for ikegw in the router zone.
//!
//! State is read with the parseable outputs (`dladm ... -p -o`, `zoneadm
//! list -cp`, `ipadm ... -p -o`, `route -p show`, `routeadm -p`, `svcs -H`,
//! `svcprop -p`) and every step is skipped when its state is there. The
//! readers live in [`parse`]; each follows the printing code of its tool in
//! illumos-gate (escaped `:` in multi-field `-p` output, IPv6 addresses,
//! routeadm's name-less single-option form). `docs/provision-illumos.md`
//! lists what was checked against which illumos source, and what was not.
//! Files are handed to zones through `zlogin ZONE 'cat > PATH'` on stdin,
//! never by writing below the zone's root from the global zone (a zone's
//! root may hold symlinks its administrator planted).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use super::{shell_quote, Cmd, Observe, Plan, Plans, Presence, ProvisionError, Runner};
use crate::site::{Site, Zone};

pub(crate) mod parse;

pub(crate) use parse::{ZoneInfo, ZoneState};

const IPF_FMRI: &str = "svc:/network/ipfilter:default";
const IPMGMT_FMRI: &str = "svc:/network/ip-interface-management:default";
const IKEGW_FMRI: &str = "svc:/network/ikegw:default";
const IPNAT_PATH: &str = "/etc/ipf/ipnat.conf";
const IPF_PATH: &str = "/etc/ipf/ipf.conf";
const MANIFEST_PATH: &str = "/var/svc/manifest/site/ikegw.xml";
/// Where `ikegw run` reads its IKE configuration inside the router zone.
const IKEGW_CONFIG: &str = "/etc/ikegw/ikegw.toml";

/// A piece of illumos state a step creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// `dladm show-etherstub` lists it.
    Etherstub(String),
    /// `dladm show-vnic` lists it over this link (any link when `None`).
    Vnic(String, Option<String>),
    /// The zone is at least in this state (and has an exclusive IP stack).
    Zone(String, ZoneState),
    /// Global-zone IP interface.
    GzIf(String),
    /// Global-zone address object holding this `addr/prefixlen`.
    GzAddr(String, String),
    /// IP interface inside a zone.
    ZoneIf(String, String),
    /// Address object inside a zone holding this `addr/prefixlen`.
    ZoneAddr(String, String, String),
    /// Persistent default route inside a zone via this gateway.
    ZoneDefault(String, String),
    /// IPv4 forwarding persistently and currently on inside a zone.
    Forwarding(String),
    /// A file inside a zone with exactly this content.
    File(String, String, String),
    /// A service instance inside a zone is online.
    SvcOnline(String, String),
    /// A service exists inside a zone.
    SvcExists(String, String),
    /// A service property (running snapshot) inside a zone has this value.
    SvcProp {
        zone: String,
        fmri: String,
        prop: String,
        value: String,
    },
    /// The opposite of the inner check (for teardown).
    Not(Box<Self>),
}

/// `zlogin ZONE argv...`. zlogin joins its arguments with spaces and hands
/// the line to `su root -c` inside the zone (`usr/src/cmd/zlogin/zlogin.c`,
/// `prep_args`), so the zone's shell splits it again: each word is quoted
/// for that shell here. (Every word we pass is plain, so the quoting only
/// guards against that changing.)
fn zlogin(zone: &str, argv: &[&str]) -> Cmd {
    let mut v = vec!["zlogin".to_owned(), zone.to_owned()];
    v.extend(argv.iter().map(|a| shell_quote(a)));
    Cmd::new(&v)
}

/// `zlogin ZONE 'script'`: one line for the zone's shell, e.g. a redirection.
fn zlogin_sh(zone: &str, script: &str) -> Cmd {
    Cmd::new(&["zlogin", zone, script])
}

fn cpu_text(centi: u32) -> String {
    let (whole, frac) = (centi / 100, centi % 100);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:02}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// The zonecfg command file for `zone`, with `nets` as its vNICs and
/// `privs` added to the zone's default privilege limit.
pub(crate) fn zonecfg(
    site: &Site,
    zone: &Zone,
    nets: &[&str],
    extra_fs: &[(&str, &str)],
    privs: &[&str],
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "create -b");
    let _ = writeln!(o, "set zonepath={}/{}", site.zonepath, zone.name);
    let _ = writeln!(o, "set brand={}", site.brand);
    let _ = writeln!(o, "set autoboot=true");
    let _ = writeln!(o, "set ip-type=exclusive");
    if !privs.is_empty() {
        let _ = writeln!(o, "set limitpriv=default,{}", privs.join(","));
    }
    for n in nets {
        let _ = writeln!(o, "add net\nset physical={n}\nend");
    }
    let fs = extra_fs.iter().map(|(s, d)| (*s, *d)).chain(
        zone.mounts
            .iter()
            .map(|m| (m.source.as_str(), m.dir.as_str())),
    );
    for (special, dir) in fs {
        let _ = writeln!(
            o,
            "add fs\nset dir={dir}\nset special={special}\nset type=lofs\nadd options [ro,nodevices]\nend"
        );
    }
    if let Some(c) = zone.cpu_centi {
        let _ = writeln!(o, "add capped-cpu\nset ncpus={}\nend", cpu_text(c));
    }
    if let Some(m) = &zone.memory {
        let _ = writeln!(o, "add capped-memory\nset physical={m}\nend");
    }
    let _ = writeln!(o, "verify\ncommit");
    o
}

/// ipnat.conf for the router zone (ipnat(5)).
pub(crate) fn ipnat_conf(site: &Site) -> String {
    let wan = &site.wan.vnic;
    let lan = site.lan.subnet;
    let mut o = format!(
        "# ipnat.conf for the router zone of site \"{}\", generated by ikegw provision.\n",
        site.name
    );
    o.push_str("#\n# Outbound NAT for the LAN: TCP/UDP get their ports mapped, other protocols\n");
    o.push_str("# (ICMP) only their address. An explicit port range rather than `auto`,\n");
    o.push_str("# which ipnat(5) advises against when mapping to a single address (0/32).\n");
    if let Some(vpn) = &site.vpn {
        let nets: Vec<String> = vpn.remote_nets().iter().map(ToString::to_string).collect();
        let _ = writeln!(
            o,
            "#\n# VPN subnets ({}) are not translated, and need no rule for it:",
            nets.join(", ")
        );
        o.push_str("# LAN->VPN packets are routed into the peer's IP tunnel link, not out of\n");
        o.push_str(&format!(
            "# {wan}, so these rules never see them; what does leave {wan} is the ESP\n"
        ));
        o.push_str("# (or UDP 4500) packet the tunnel built, whose source is the WAN address,\n");
        o.push_str("# not the LAN, so it does not match either.\n");
    }
    let _ = writeln!(o, "map {wan} {lan} -> 0/32 portmap tcp/udp 1025:65000");
    let _ = writeln!(o, "map {wan} {lan} -> 0/32");
    if !site.redirects.is_empty() {
        o.push_str("#\n# Port redirects from the WAN address to inner zones.\n");
    }
    let wan_addr = site.wan.address.addr;
    for r in &site.redirects {
        let _ = writeln!(
            o,
            "rdr {wan} {wan_addr}/32 port {} -> {} port {} {}",
            r.port, r.to_addr, r.to_port, r.proto
        );
    }
    o
}

/// ipf.conf for the router zone (ipf(5)). Inbound NAT (rdr) runs before
/// the filter, so redirect rules match the zone's address and port.
pub(crate) fn ipf_conf(site: &Site) -> String {
    let wan = &site.wan.vnic;
    let me = site.wan.address.addr;
    let mut o = format!(
        "# ipf.conf for the router zone of site \"{}\", generated by ikegw provision.\n",
        site.name
    );
    o.push_str("# The last matching rule wins unless a rule says `quick`.\n#\n");
    let _ = writeln!(
        o,
        "# WAN {wan}: deny inbound by default; keep state for what goes out."
    );
    let _ = writeln!(o, "block in log on {wan} all");
    if let Some(vpn) = &site.vpn {
        // Before the `pass out quick` below: LAN traffic for a VPN subnet
        // whose tunnel is down (no IP tunnel link, so no route into it)
        // would otherwise follow the default route out in the clear.
        let _ = writeln!(
            o,
            "# Traffic for VPN subnets leaves through the peers' IP tunnel links, never in the clear on {wan}."
        );
        for n in vpn.remote_nets() {
            let _ = writeln!(o, "block out log quick on {wan} from any to {n}");
        }
    }
    let _ = writeln!(o, "pass out quick on {wan} all keep state");
    if site.firewall.allow_ping {
        let _ = writeln!(
            o,
            "pass in quick on {wan} proto icmp from any to {me}/32 icmp-type echo keep state"
        );
    }
    if let Some(vpn) = &site.vpn {
        o.push_str("#\n# ikegw in this zone: IKE (RFC 7296 §2.23: UDP 500, and 4500 for NAT-T) and ESP (IP protocol 50).\n");
        for port in [500, 4500] {
            let _ = writeln!(
                o,
                "pass in quick on {wan} proto udp from any to {me}/32 port = {port} keep state"
            );
        }
        let _ = writeln!(o, "pass in quick on {wan} proto esp from any to {me}/32");
        // Tunnel-mode IPsec on illumos goes through IP tunnel links: the
        // decapsulated packets come in on the tunnel link, never on the WAN
        // link, so cleartext claiming a VPN source on the WAN is forged.
        o.push_str("#\n# Cleartext from VPN subnets arriving on the WAN is forged: decapsulated\n");
        o.push_str(&format!(
            "# traffic comes in on the peer's IP tunnel link, not on {wan}.\n"
        ));
        for n in vpn.remote_nets() {
            let _ = writeln!(o, "block in log quick on {wan} from {n} to any");
        }
        o.push_str(
            "# Decapsulated VPN traffic (remote-access pools, branch subnets) to the LAN.\n",
        );
        for n in vpn.remote_nets() {
            let _ = writeln!(
                o,
                "pass in quick from {n} to {} keep state",
                site.lan.subnet
            );
        }
    }
    if !site.redirects.is_empty() {
        o.push_str("#\n# Port redirects (after rdr: the destination is the zone's address).\n");
    }
    for r in &site.redirects {
        for p in r.proto.each() {
            // SYN set and ACK clear, whatever the other bits (ECN): a bare
            // `flags S` would compare every flag bit.
            let flags = if *p == "tcp" { " flags S/SA" } else { "" };
            let _ = writeln!(
                o,
                "pass in quick on {wan} proto {p} from any to {}/32 port = {}{flags} keep state",
                r.to_addr, r.to_port
            );
        }
    }
    o
}

/// The SMF manifest for ikegw in the router zone (service_bundle(5)).
pub(crate) fn manifest(site: &Site) -> String {
    let bin = format!("{}/bin/ikegw", site.ikegw_dir);
    format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<!--
  ikegw in the router zone of site "{site}", generated by ikegw provision.
  Imported disabled: enable it with `svcadm enable network/ikegw` once
  {config} holds the IKE configuration.
  Privileges: sys_ip_config opens PF_KEY and PF_POLICY sockets (the kernel
  checks it for both) and lets the ipadm and route that ikegw runs number
  and route its IP tunnel links; sys_iptun_config lets its dladm create and
  delete them (one per VPN peer, named ikegwN); net_privaddr binds UDP 500.
  Nothing else beyond basic.
-->
<service_bundle type="manifest" name="ikegw">
  <service name="network/ikegw" type="service" version="1">
    <create_default_instance enabled="false"/>
    <single_instance/>
    <dependency name="network" grouping="require_all" restart_on="error" type="service">
      <service_fmri value="svc:/milestone/network:default"/>
    </dependency>
    <dependency name="filesystem" grouping="require_all" restart_on="error" type="service">
      <service_fmri value="svc:/system/filesystem/local:default"/>
    </dependency>
    <dependency name="ipfilter" grouping="optional_all" restart_on="error" type="service">
      <service_fmri value="{ipf}"/>
    </dependency>
    <method_context>
      <method_credential user="root" group="root" privileges="basic,!file_link_any,!proc_info,!proc_session,net_privaddr,sys_ip_config,sys_iptun_config"/>
    </method_context>
    <exec_method type="method" name="start" exec="{bin} run --config {config}" timeout_seconds="60"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="60"/>
    <property_group name="startd" type="framework">
      <propval name="duration" type="astring" value="child"/>
    </property_group>
    <stability value="Unstable"/>
    <template>
      <common_name>
        <loctext xml:lang="C">ikegw IKEv2/IPsec gateway</loctext>
      </common_name>
    </template>
  </service>
</service_bundle>
"#,
        site = site.name,
        config = IKEGW_CONFIG,
        ipf = IPF_FMRI,
    )
}

/// Put `file` at `path` inside `zone`: non-interactive zlogin passes its
/// stdin to the command, and the zone's own shell does the redirection.
fn install(zone: &str, path: &str, file: &super::PlanFile) -> Cmd {
    zlogin_sh(zone, &format!("cat > {}", shell_quote(path))).with_stdin(file)
}

/// The apply and teardown plans.
pub(crate) fn plans(site: &Site) -> Plans<Check> {
    Plans {
        apply: apply_plan(site),
        teardown: teardown_plan(site),
    }
}

fn apply_plan(site: &Site) -> Plan<Check> {
    use Check as C;
    let mut p = Plan::new();
    p.notes.push(
        "no ipsecinit.conf: ikegw installs its IPsec policy itself through PF_POLICY, and IKE's own packets \
         (UDP 500/4500 to and from the WAN address) match no tunnel selector, so they need no bypass entry"
            .to_owned(),
    );
    if site.vpn.is_some() {
        p.notes.push(
            "tunnel-mode IPsec on illumos runs through one IP tunnel link per peer, with the tunnel policy \
             on that link: ikegw (backend = \"illumos\") creates them at run time in the router zone, as \
             temporary links named ikegwN with the peer's subnets routed into them, and deletes them when \
             the peer goes; the ikegwN names are ikegw's"
                .to_owned(),
        );
    }
    p.notes.push(format!(
        "ikegw's SMF service is imported disabled and not started: `ikegw run` needs {IKEGW_CONFIG} (the IKE configuration) in the router zone, which provisioning does not write"
    ));
    if site.global.is_some() {
        p.notes.push("the global zone gets its LAN address and no default route; an existing default route is left alone".to_owned());
    }
    let stub = &site.lan.etherstub;
    let r = &site.router;

    p.step(
        format!("etherstub {stub}"),
        Cmd::new(&["dladm", "create-etherstub", stub]),
        Some(C::Etherstub(stub.clone())),
    );
    match &site.wan.over {
        Some(over) => {
            p.step(
                format!("vnic {} over {over}", site.wan.vnic),
                Cmd::new(&["dladm", "create-vnic", "-l", over, &site.wan.vnic]),
                Some(C::Vnic(site.wan.vnic.clone(), Some(over.clone()))),
            );
        }
        None => p.requires.push((
            C::Vnic(site.wan.vnic.clone(), None),
            format!("the WAN vNIC {} does not exist and [site.wan] names no `over` link to create it on", site.wan.vnic),
        )),
    }
    let mut lan_vnics: Vec<&str> = site.lan_zones().map(|z| z.vnic.as_str()).collect();
    if let Some(g) = &site.global {
        lan_vnics.push(&g.vnic);
    }
    for v in &lan_vnics {
        p.step(
            format!("vnic {v} over {stub}"),
            Cmd::new(&["dladm", "create-vnic", "-l", stub, v]),
            Some(C::Vnic((*v).to_owned(), Some(stub.clone()))),
        );
    }
    if let Some(g) = &site.global {
        let obj = format!("{}/v4", g.vnic);
        p.step(
            format!("global zone interface {}", g.vnic),
            Cmd::new(&["ipadm", "create-if", &g.vnic]),
            Some(C::GzIf(g.vnic.clone())),
        );
        p.step(
            format!("global zone address {obj} {}", site.lan_cidr(g.address)),
            Cmd::new(&[
                "ipadm",
                "create-addr",
                "-T",
                "static",
                "-a",
                &site.lan_cidr(g.address).to_string(),
                &obj,
            ]),
            Some(C::GzAddr(obj.clone(), site.lan_cidr(g.address).to_string())),
        );
    }

    for z in site.lan_zones() {
        let is_router = z.name == r.name;
        let nets: Vec<&str> = if is_router {
            vec![&site.wan.vnic, &z.vnic]
        } else {
            vec![&z.vnic]
        };
        let extra: Vec<(&str, &str)> = if is_router {
            vec![(&site.ikegw_dir, &site.ikegw_dir)]
        } else {
            vec![]
        };
        // ikegw creates an IP tunnel link per VPN peer in the router zone
        // (dladm create-iptun needs sys_iptun_config, dlmgmtd's
        // `dlmgmt_checkprivs`). The ipkg brand's exclusive-IP default set
        // has it already; naming it keeps it there on brands whose lists
        // were not checked.
        let privs: Vec<&str> = if is_router && site.vpn.is_some() {
            vec!["sys_iptun_config"]
        } else {
            vec![]
        };
        let f = p.file(
            &format!("{}.zonecfg", z.name),
            format!("zonecfg -z {}", z.name),
            zonecfg(site, z, &nets, &extra, &privs),
        );
        let n = &z.name;
        p.step(
            format!("zone {n} configured"),
            Cmd::new(&["zonecfg", "-z", n, "-f", "-"]).with_stdin(&f),
            Some(C::Zone(n.clone(), ZoneState::Configured)),
        );
        p.step(
            format!("zone {n} installed"),
            Cmd::new(&["zoneadm", "-z", n, "install"]),
            Some(C::Zone(n.clone(), ZoneState::Installed)),
        );
        p.step(
            format!("zone {n} running"),
            Cmd::new(&["zoneadm", "-z", n, "boot"]),
            Some(C::Zone(n.clone(), ZoneState::Running)),
        );
        // A freshly booted zone runs manifest-import first; `enable -s`
        // waits until ipmgmtd is online so ipadm can talk to it.
        p.step(
            format!("zone {n}: {IPMGMT_FMRI} online"),
            zlogin(n, &["svcadm", "enable", "-s", IPMGMT_FMRI]),
            Some(C::SvcOnline(n.clone(), IPMGMT_FMRI.to_owned())),
        );
        let mut ifs: Vec<(&str, String)> = Vec::new();
        if is_router {
            ifs.push((&site.wan.vnic, site.wan.address.to_string()));
        }
        ifs.push((&z.vnic, site.lan_cidr(z.address).to_string()));
        for (ifname, cidr) in &ifs {
            let obj = format!("{ifname}/v4");
            p.step(
                format!("zone {n}: interface {ifname}"),
                zlogin(n, &["ipadm", "create-if", ifname]),
                Some(C::ZoneIf(n.clone(), (*ifname).to_owned())),
            );
            p.step(
                format!("zone {n}: address {obj} {cidr}"),
                zlogin(
                    n,
                    &["ipadm", "create-addr", "-T", "static", "-a", cidr, &obj],
                ),
                Some(C::ZoneAddr(n.clone(), obj.clone(), cidr.clone())),
            );
        }
        let gw = if is_router {
            site.wan.gateway.to_string()
        } else {
            r.address.to_string()
        };
        p.step(
            format!("zone {n}: default route via {gw}"),
            zlogin(n, &["route", "-p", "add", "default", &gw]),
            Some(C::ZoneDefault(n.clone(), gw.clone())),
        );
        if is_router {
            router_steps(site, &mut p);
        }
    }
    p
}

fn router_steps(site: &Site, p: &mut Plan<Check>) {
    use Check as C;
    let n = &site.router.name;
    p.step(
        format!("zone {n}: IPv4 forwarding"),
        zlogin(n, &["routeadm", "-u", "-e", "ipv4-forwarding"]),
        Some(C::Forwarding(n.clone())),
    );
    let nat = p.file("ipnat.conf", format!("{n}:{IPNAT_PATH}"), ipnat_conf(site));
    let ipf = p.file("ipf.conf", format!("{n}:{IPF_PATH}"), ipf_conf(site));
    let mut changed = Vec::new();
    for (f, path) in [(&nat, IPNAT_PATH), (&ipf, IPF_PATH)] {
        changed.push(p.step(
            format!("zone {n}: {path}"),
            install(n, path, f),
            Some(C::File(n.clone(), path.to_owned(), f.content.clone())),
        ));
    }
    for (prop, value) in [
        ("firewall_config_default/policy", "custom"),
        ("firewall_config_default/custom_policy_file", IPF_PATH),
    ] {
        changed.push(p.step(
            format!("zone {n}: {IPF_FMRI} {prop} = {value}"),
            zlogin(
                n,
                &[
                    "svccfg", "-s", IPF_FMRI, "setprop", prop, "=", "astring:", value,
                ],
            ),
            Some(C::SvcProp {
                zone: n.clone(),
                fmri: IPF_FMRI.to_owned(),
                prop: prop.to_owned(),
                value: value.to_owned(),
            }),
        ));
    }
    // The refresh makes new properties visible and (ipfilter's refresh
    // method) reloads ipf.conf and ipnat.conf into a running filter.
    p.on_change(
        format!("zone {n}: reload IPFilter"),
        zlogin(n, &["svcadm", "refresh", IPF_FMRI]),
        changed,
    );
    p.step(
        format!("zone {n}: {IPF_FMRI} online"),
        zlogin(n, &["svcadm", "enable", "-s", IPF_FMRI]),
        Some(C::SvcOnline(n.clone(), IPF_FMRI.to_owned())),
    );
    let m = p.file("ikegw.xml", format!("{n}:{MANIFEST_PATH}"), manifest(site));
    let wrote = p.step(
        format!("zone {n}: {MANIFEST_PATH}"),
        install(n, MANIFEST_PATH, &m),
        Some(C::File(
            n.clone(),
            MANIFEST_PATH.to_owned(),
            m.content.clone(),
        )),
    );
    let import = zlogin(n, &["svccfg", "import", MANIFEST_PATH]);
    let i = p.step(
        format!("zone {n}: service {IKEGW_FMRI} imported"),
        import,
        Some(C::SvcExists(n.clone(), IKEGW_FMRI.to_owned())),
    );
    if let Some(s) = p.steps.get_mut(i) {
        s.or_if_ran.push(wrote);
    }
}

fn teardown_plan(site: &Site) -> Plan<Check> {
    use Check as C;
    let not = |c: Check| Some(C::Not(Box::new(c)));
    let mut p = Plan::new();
    p.notes
        .push("the lofs sources in the global zone are left alone".to_owned());
    let zones: Vec<&Zone> = site.lan_zones().collect();
    for z in zones.iter().rev() {
        let n = &z.name;
        p.step(
            format!("zone {n} not running"),
            Cmd::new(&["zoneadm", "-z", n, "halt"]),
            not(C::Zone(n.clone(), ZoneState::Running)),
        );
        p.step(
            format!("zone {n} not installed"),
            Cmd::new(&["zoneadm", "-z", n, "uninstall", "-F"]),
            not(C::Zone(n.clone(), ZoneState::Installed)),
        );
        p.step(
            format!("zone {n} not configured"),
            Cmd::new(&["zonecfg", "-z", n, "delete", "-F"]),
            not(C::Zone(n.clone(), ZoneState::Configured)),
        );
    }
    let mut vnics: Vec<(&str, &str)> = Vec::new();
    if let Some(g) = &site.global {
        p.step(
            format!("no global zone interface {}", g.vnic),
            Cmd::new(&["ipadm", "delete-if", &g.vnic]),
            not(C::GzIf(g.vnic.clone())),
        );
        vnics.push((&g.vnic, &site.lan.etherstub));
    }
    let stub = &site.lan.etherstub;
    vnics.extend(zones.iter().rev().map(|z| (z.vnic.as_str(), stub.as_str())));
    if let Some(over) = &site.wan.over {
        vnics.push((&site.wan.vnic, over));
    }
    // A vNIC of the site's name over another link is not ours: left alone.
    for (v, over) in vnics {
        p.step(
            format!("no vnic {v} over {over}"),
            Cmd::new(&["dladm", "delete-vnic", v]),
            not(C::Vnic(v.to_owned(), Some(over.to_owned()))),
        );
    }
    let stub = &site.lan.etherstub;
    p.step(
        format!("no etherstub {stub}"),
        Cmd::new(&["dladm", "delete-etherstub", stub]),
        not(C::Etherstub(stub.clone())),
    );
    p
}

/// What one zone looks like from inside (read only while it runs).
#[derive(Default, Clone)]
struct Inside {
    ifs: BTreeSet<String>,
    /// Address object to `addr/prefixlen`.
    addrs: BTreeMap<String, String>,
    /// Gateways of persistent default routes.
    default_gws: BTreeSet<String>,
    forwarding: bool,
}

/// Reads illumos state on demand and caches it until a command runs.
#[derive(Default)]
pub(crate) struct Observer {
    /// The etherstub and the vNICs the site wants over it, for `extras`.
    expect: Option<(String, BTreeSet<String>)>,
    etherstubs: Option<BTreeSet<String>>,
    vnics: Option<BTreeMap<String, String>>,
    zones: Option<BTreeMap<String, ZoneInfo>>,
    gz: Option<(BTreeSet<String>, BTreeMap<String, String>)>,
    inside: HashMap<String, Inside>,
}

fn probe(runner: &mut dyn Runner, argv: &[&str]) -> Result<String, ProvisionError> {
    let cmd = Cmd::new(argv);
    let out = runner.run(&cmd)?;
    if !out.ok() {
        return Err(ProvisionError::Probe {
            cmd: cmd.display(),
            why: out.stderr.trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

/// Runs a probe and reads its output with `read`; a reader's complaint
/// becomes a [`ProvisionError::Probe`] naming the command.
fn probe_parsed<T>(
    runner: &mut dyn Runner,
    argv: &[&str],
    read: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ProvisionError> {
    let out = probe(runner, argv)?;
    read(&out).map_err(|why| ProvisionError::Probe {
        cmd: Cmd::new(argv).display(),
        why,
    })
}

/// Is the address object there, and does it hold `want`?
fn addr_presence(addrs: &BTreeMap<String, String>, obj: &str, want: &str) -> Presence {
    match addrs.get(obj) {
        None => Presence::No,
        Some(have) if have == want => Presence::Yes,
        Some(have) => match (parse::cidr(have), parse::cidr(want)) {
            (Some(h), Some(w)) if h == w => Presence::Yes,
            _ => Presence::Differs(format!(
                "address object {obj} holds {have}, the site wants {want}"
            )),
        },
    }
}

const SHOW_ADDR: [&str; 5] = ["ipadm", "show-addr", "-p", "-o", "addrobj,addr"];
const SHOW_IF: [&str; 5] = ["ipadm", "show-if", "-p", "-o", "ifname"];

impl Observer {
    /// An observer that also reports vNICs over the site's etherstub that
    /// the site does not name.
    pub(crate) fn for_site(site: &Site) -> Self {
        let mut want: BTreeSet<String> = site.lan_zones().map(|z| z.vnic.clone()).collect();
        want.extend(site.global.iter().map(|g| g.vnic.clone()));
        Self {
            expect: Some((site.lan.etherstub.clone(), want)),
            ..Self::default()
        }
    }

    fn zones(
        &mut self,
        runner: &mut dyn Runner,
    ) -> Result<&BTreeMap<String, ZoneInfo>, ProvisionError> {
        if self.zones.is_none() {
            let z = probe_parsed(runner, &["zoneadm", "list", "-cp"], parse::zones)?;
            self.zones = Some(z);
        }
        Ok(self.zones.get_or_insert_with(BTreeMap::new))
    }

    fn running(&mut self, zone: &str, runner: &mut dyn Runner) -> Result<bool, ProvisionError> {
        Ok(self
            .zones(runner)?
            .get(zone)
            .is_some_and(|z| z.state == ZoneState::Running))
    }

    /// The zone's inside, or why it cannot be seen.
    fn inside(
        &mut self,
        zone: &str,
        runner: &mut dyn Runner,
    ) -> Result<Result<Inside, String>, ProvisionError> {
        if !self.running(zone, runner)? {
            return Ok(Err(format!("zone {zone} is not running")));
        }
        if let Some(i) = self.inside.get(zone) {
            return Ok(Ok(i.clone()));
        }
        let within = |argv: &[&'static str]| {
            let mut v = vec!["zlogin", zone];
            v.extend_from_slice(argv);
            v
        };
        let ifs = parse::names(&probe(runner, &within(&SHOW_IF))?);
        let addrs = probe_parsed(runner, &within(&SHOW_ADDR), parse::addrs)?;
        let default_gws =
            parse::default_gateways(&probe(runner, &within(&["route", "-p", "show"]))?);
        let (persistent, current) = probe_parsed(
            runner,
            &within(&["routeadm", "-p", "ipv4-forwarding"]),
            parse::routeadm_option,
        )?;
        let i = Inside {
            ifs,
            addrs,
            default_gws,
            forwarding: persistent && current,
        };
        self.inside.insert(zone.to_owned(), i.clone());
        Ok(Ok(i))
    }

    fn zone_run(
        &mut self,
        zone: &str,
        argv: &[&str],
        runner: &mut dyn Runner,
    ) -> Result<Option<super::Output>, ProvisionError> {
        if !self.running(zone, runner)? {
            return Ok(None);
        }
        runner.run(&zlogin(zone, argv)).map(Some)
    }

    fn global(
        &mut self,
        runner: &mut dyn Runner,
    ) -> Result<&(BTreeSet<String>, BTreeMap<String, String>), ProvisionError> {
        if self.gz.is_none() {
            let ifs = parse::names(&probe(runner, &SHOW_IF)?);
            let addrs = probe_parsed(runner, &SHOW_ADDR, parse::addrs)?;
            self.gz = Some((ifs, addrs));
        }
        Ok(self.gz.get_or_insert_with(Default::default))
    }
}

impl Observe<Check> for Observer {
    fn presence(
        &mut self,
        check: &Check,
        runner: &mut dyn Runner,
    ) -> Result<Presence, ProvisionError> {
        let inside =
            |o: &mut Self, zone: &str, runner: &mut dyn Runner, f: &dyn Fn(&Inside) -> Presence| {
                Ok::<_, ProvisionError>(match o.inside(zone, runner)? {
                    Ok(i) => f(&i),
                    Err(why) => Presence::Unknown(why),
                })
            };
        let not_running = |zone: &str| Presence::Unknown(format!("zone {zone} is not running"));
        Ok(match check {
            Check::Etherstub(n) => {
                if self.etherstubs.is_none() {
                    // One field: printed without escaping.
                    self.etherstubs = Some(parse::names(&probe(
                        runner,
                        &["dladm", "show-etherstub", "-p", "-o", "link"],
                    )?));
                }
                Presence::from(self.etherstubs.as_ref().is_some_and(|s| s.contains(n)))
            }
            Check::Vnic(n, want) => {
                if self.vnics.is_none() {
                    self.vnics = Some(probe_parsed(
                        runner,
                        &["dladm", "show-vnic", "-p", "-o", "link,over"],
                        parse::vnics,
                    )?);
                }
                match (self.vnics.as_ref().and_then(|m| m.get(n)), want) {
                    (None, _) => Presence::No,
                    (Some(o), Some(w)) if o != w => Presence::Differs(format!(
                        "vnic {n} exists over {o}, the site wants it over {w}"
                    )),
                    (Some(_), _) => Presence::Yes,
                }
            }
            Check::Zone(n, want) => match self.zones(runner)?.get(n) {
                None => Presence::No,
                // Every zone of the site is exclusive-IP: a shared-IP zone of
                // the same name is someone else's.
                Some(z) if z.ip_type.as_deref() == Some("shared") => Presence::Differs(format!(
                    "zone {n} exists with a shared IP stack, the site needs ip-type=exclusive"
                )),
                Some(z) => Presence::from(z.state >= *want),
            },
            Check::GzIf(n) => Presence::from(self.global(runner)?.0.contains(n)),
            Check::GzAddr(obj, cidr) => addr_presence(&self.global(runner)?.1, obj, cidr),
            Check::ZoneIf(z, n) => inside(self, z, runner, &|i| Presence::from(i.ifs.contains(n)))?,
            Check::ZoneAddr(z, obj, cidr) => {
                inside(self, z, runner, &|i| addr_presence(&i.addrs, obj, cidr))?
            }
            Check::ZoneDefault(z, gw) => inside(self, z, runner, &|i| {
                Presence::from(i.default_gws.contains(gw))
            })?,
            Check::Forwarding(z) => inside(self, z, runner, &|i| Presence::from(i.forwarding))?,
            Check::File(z, path, content) => match self.zone_run(z, &["cat", path], runner)? {
                Some(out) => Presence::from(out.ok() && out.stdout == *content),
                None => not_running(z),
            },
            Check::SvcOnline(z, fmri) => {
                match self.zone_run(z, &["svcs", "-H", "-o", "state", fmri], runner)? {
                    Some(out) => Presence::from(out.ok() && out.stdout.trim() == "online"),
                    None => not_running(z),
                }
            }
            Check::SvcExists(z, fmri) => {
                match self.zone_run(z, &["svcs", "-H", "-o", "state", fmri], runner)? {
                    Some(out) => Presence::from(out.ok()),
                    None => not_running(z),
                }
            }
            Check::SvcProp {
                zone,
                fmri,
                prop,
                value,
            } => match self.zone_run(zone, &["svcprop", "-p", prop, fmri], runner)? {
                Some(out) => Presence::from(out.ok() && out.stdout.trim() == value),
                None => not_running(zone),
            },
            Check::Not(inner) => match self.presence(inner, runner)? {
                Presence::Yes => Presence::No,
                // Absent, or there but not what the site made: nothing to remove.
                Presence::No | Presence::Differs(_) => Presence::Yes,
                // Teardown only looks inside zones through zoneadm, so an
                // unknown here means "gone with its zone".
                Presence::Unknown(_) => Presence::Yes,
            },
        })
    }

    fn invalidate(&mut self) {
        let expect = self.expect.take();
        *self = Self {
            expect,
            ..Self::default()
        };
    }

    fn extras(&mut self, runner: &mut dyn Runner) -> Result<Vec<String>, ProvisionError> {
        let Some((stub, want)) = self.expect.clone() else {
            return Ok(Vec::new());
        };
        // Reuse the cache through a check on a name that cannot exist.
        self.presence(&Check::Vnic(String::new(), None), runner)?;
        Ok(self
            .vnics
            .iter()
            .flatten()
            .filter(|(l, o)| **o == stub && !want.contains(*l))
            .map(|(l, _)| format!("vnic {l} over {stub} is not in [site]"))
            .collect())
    }
}

#[cfg(test)]
mod tests;
