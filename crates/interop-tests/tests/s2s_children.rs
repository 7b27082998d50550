//! Issue #8 scenario 11: several CHILD SAs of one connection on one IKE
//! SA, in both roles, and traps (`start_action = trap`) at either end.
//!
//! Two children split ikegw's LAN by host: `net` is 10.1.0.10/32 (the LAN
//! host's address) and `net2` is 10.1.0.11/32 (a second address the
//! scenarios add to it), both to strongSwan's LAN 10.2.0.0/24. strongSwan
//! has the mirror images. Whoever initiates, both ends must show ONE IKE
//! SA carrying two CHILD SAs with those selectors (`swanctl --list-sas`
//! and `ikegw list-sas --json`, CHILD SAs paired by crossed SPIs), and
//! pings from each of the two addresses must go through their own CHILD
//! SA (ikegw's per-SA packet counters grow).
//!
//! Traps: ikegw with `start_action = trap` (the first ping from its LAN
//! raises an ACQUIRE, ikegw negotiates, the held echo request is released
//! into the new SA); a trapped second child whose connection already has
//! an IKE SA comes up on it by CREATE_CHILD_SA; a trap with a protocol
//! selector. Reload adds and removes children on the running IKE SA and
//! removes the trap policies of removed children.
//!
//! Not here: strongSwan trapping toward ikegw. kernel-libipsec never raises
//! an ACQUIRE (charon logs "could not find an outbound IPsec SA for reqid
//! {1}, dropping packet" for the trapped ping), and this kernel has no XFRM
//! ESP for kernel-netlink.

use std::process::Command;
use std::time::Duration;

use interop_tests::ikegw::{run_scenario, IkegwConf, Initiator, Mixed, MixedSetup, Side, TUN};
use interop_tests::netns::{self, LEFT, RIGHT};
use interop_tests::proc;
use interop_tests::strongswan::Conn;
use interop_tests::{Error, Result};

/// The second address on ikegw's LAN host, `net2`'s selector.
const NET2_HOST: &str = "10.1.0.11";

/// ikegw's `net2` table.
fn net2_toml(start: &str) -> String {
    format!(
        "\n[connections.s2s.children.net2]\nlocal_ts = [\"{NET2_HOST}/32\"]\n\
         remote_ts = [\"{}\"]\nesp_proposals = [\"aes128gcm16-x25519\"]\n\
         start_action = \"{start}\"\n",
        RIGHT.lan_net
    )
}

/// ikegw: `net` narrowed to the LAN host, `net2` for the second address.
fn ikegw_two_children(c: &mut IkegwConf, start: &str) {
    c.local_ts = vec![format!("{}/32", LEFT.lan_host)];
    c.start_action = start.to_owned();
    c.extra.push_str(&net2_toml(start));
}

/// strongSwan: the mirror image of [`ikegw_two_children`].
fn strongswan_two_children(c: &mut Conn) {
    c.remote.lan_net = "10.1.0.10/32";
    c.extra_conn.push_str(&format!(
        "children {{\n    net2 {{\n        mode = tunnel\n        local_ts = {}\n        \
         remote_ts = {NET2_HOST}/32\n        esp_proposals = aes128gcm16-x25519\n        \
         start_action = none\n    }}\n}}\n",
        RIGHT.lan_net
    ));
}

/// Adds [`NET2_HOST`] to ikegw's LAN host.
fn add_net2_host(m: &Mixed) -> Result<()> {
    m.topo
        .left_lan
        .add_addr("eth0", &format!("{NET2_HOST}/24"), m.dir.path())
}

/// One echo request from ikegw's LAN host (source `from`) to strongSwan's
/// LAN host, with a long wait: its reply must come.
fn ping_once(m: &Mixed, from: &str) -> Result<()> {
    let to = RIGHT.lan_host.to_string();
    m.topo
        .left_lan
        .exec(
            &["ping", "-n", "-c", "1", "-W", "5", "-I", from, &to],
            Duration::from_secs(10),
            m.dir.path(),
        )
        .map(drop)
}

/// Three echo requests from `from` on ikegw's LAN host, and three from
/// strongSwan's LAN host to `from`.
fn ping_both_ways(m: &Mixed, from: &str) -> Result<()> {
    let to = RIGHT.lan_host.to_string();
    m.topo.left_lan.ping(&to, 3, Some(from), m.dir.path())?;
    m.topo.right_lan.ping(from, 3, None, m.dir.path()).map(drop)
}

/// Two children at both ends, strongSwan initiating; ikegw starts neither.
fn strongswan_starts_children() -> MixedSetup {
    MixedSetup {
        initiator: Initiator::StrongSwan,
        edit_ikegw: |c| ikegw_two_children(c, "none"),
        edit_strongswan: strongswan_two_children,
        ..MixedSetup::default()
    }
}

/// Waits until both ends show one ESTABLISHED IKE SA with `n` CHILD SAs
/// paired by crossed SPIs.
fn wait_children(m: &mut Mixed, n: usize, what: &str) -> Result<()> {
    m.check_deadline()?;
    proc::wait_for(what, Duration::from_secs(20), || {
        m.ikegw.check_alive()?;
        m.charon.check_alive()?;
        Ok(m.matched_sas()
            .ok()
            .filter(|sa| sa.children.len() == n)
            .map(drop))
    })
}

/// Waits for two CHILD SAs on one IKE SA (`what`), checks them
/// ([`check_two_children`]), on the IKE SA `same_ike.0` when given (else
/// fails with `same_ike.1`), and sends traffic through each.
fn two_children_carry_traffic(
    m: &mut Mixed,
    what: &str,
    same_ike: Option<(&str, &str)>,
) -> Result<()> {
    wait_children(m, 2, what)?;
    let ike = check_two_children(m)?;
    if let Some((want, changed)) = same_ike {
        if ike != want {
            return Err(Error::Check(changed.into()));
        }
    }
    traffic_through_each(m)
}

/// The two CHILD SAs, as both ends list them: names and selectors agree
/// with the configuration, and there is exactly one IKE SA (checked by
/// [`Mixed::matched_sas`]). Returns ikegw's IKE SA id.
fn check_two_children(m: &Mixed) -> Result<String> {
    let sa = m.matched_sas()?;
    if sa.children.len() != 2 {
        return Err(Error::Check(format!(
            "want 2 CHILD SAs on the IKE SA, have {}: {:?}",
            sa.children.len(),
            sa.ikegw.children
        )));
    }
    let lan = RIGHT.lan_net.to_string();
    let mut names: Vec<&str> = Vec::new();
    for (g, s) in &sa.children {
        let host = match g.name.as_str() {
            "net" => LEFT.lan_host.to_string(),
            "net2" => NET2_HOST.to_owned(),
            other => return Err(Error::Check(format!("unexpected CHILD SA {other}"))),
        };
        let host = format!("{host}/32");
        if g.local_ts != [host.clone()] || g.remote_ts != [lan.clone()] {
            return Err(Error::Check(format!(
                "ikegw's {}: {:?} === {:?}, want {host} === {lan}",
                g.name, g.local_ts, g.remote_ts
            )));
        }
        let (ss_local, ss_remote) = (format!("[{lan}]"), format!("[{host}]"));
        if s.get("name") != Some(g.name.as_str())
            || s.get("local-ts") != Some(ss_local.as_str())
            || s.get("remote-ts") != Some(ss_remote.as_str())
        {
            return Err(Error::Check(format!(
                "strongSwan's twin of ikegw's {} is {:?} {:?} === {:?}",
                g.name,
                s.get("name"),
                s.get("local-ts"),
                s.get("remote-ts")
            )));
        }
        names.push(&g.name);
    }
    names.sort_unstable();
    if names != ["net", "net2"] {
        return Err(Error::Check(format!("CHILD SAs {names:?}")));
    }
    eprintln!(
        "one IKE SA {} with CHILD SAs net and net2 at both ends",
        sa.ikegw.id
    );
    Ok(sa.ikegw.id)
}

/// Pings through each CHILD SA and checks ikegw counted packets on both.
fn traffic_through_each(m: &Mixed) -> Result<()> {
    ping_both_ways(m, &LEFT.lan_host.to_string())?;
    ping_both_ways(m, NET2_HOST)?;
    let sa = m.matched_sas()?;
    for (g, _) in &sa.children {
        if g.packets_in < 3 || g.packets_out < 3 {
            return Err(Error::Check(format!(
                "CHILD SA {} carried {} packets in, {} out; want 3 or more each way",
                g.name, g.packets_in, g.packets_out
            )));
        }
    }
    eprintln!("pings went through each CHILD SA");
    Ok(())
}

#[test]
fn ikegw_starts_two_children_on_one_ike_sa() -> Result<()> {
    run_scenario(
        "ikegw_starts_two_children_on_one_ike_sa",
        &MixedSetup {
            // both children start_action = start: the first in IKE_AUTH,
            // the second by CREATE_CHILD_SA on the same IKE SA
            edit_ikegw: |c| ikegw_two_children(c, "start"),
            edit_strongswan: strongswan_two_children,
            ..MixedSetup::default()
        },
        |m| {
            add_net2_host(m)?;
            two_children_carry_traffic(m, "two CHILD SAs on one IKE SA", None)
        },
    )
}

#[test]
fn strongswan_starts_two_children_on_one_ike_sa() -> Result<()> {
    run_scenario(
        "strongswan_starts_two_children_on_one_ike_sa",
        &strongswan_starts_children(),
        |m| {
            add_net2_host(m)?;
            // net2 first: ikegw, responding in IKE_AUTH, must pick its
            // second child by the proposed selectors; net then comes by
            // CREATE_CHILD_SA and must get the first
            for child in ["net2", "net"] {
                m.charon.swanctl_within(
                    &["--initiate", "--child", child, "--timeout", "15"],
                    Duration::from_secs(20),
                )?;
            }
            two_children_carry_traffic(m, "two CHILD SAs on one IKE SA", None)
        },
    )
}

#[test]
fn ikegw_adds_a_child_to_the_ike_sa_strongswan_started() -> Result<()> {
    run_scenario(
        "ikegw_adds_a_child_to_the_ike_sa_strongswan_started",
        &strongswan_starts_children(),
        |m| {
            add_net2_host(m)?;
            m.establish()?;
            let first = m.matched_sas()?.ikegw.id;
            // `initiate --child` on a connection whose IKE SA is up: a
            // CREATE_CHILD_SA from ikegw on strongSwan's IKE SA
            let ike = m.ikegw.initiate("net2")?;
            if ike != first {
                return Err(Error::Check(format!(
                    "initiate --child net2 answered IKE SA {ike}, the one up is {first}"
                )));
            }
            two_children_carry_traffic(
                m,
                "net2 added to the IKE SA",
                Some((&first, "the IKE SA changed")),
            )
        },
    )
}

/// Waits until ikegw's trap policy routes strongSwan's LAN into its TUN.
fn wait_trap_route(m: &Mixed) -> Result<()> {
    let ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    let to = RIGHT.lan_host.to_string();
    proc::wait_for("ikegw's trap route", Duration::from_secs(10), || {
        let r = proc::run(
            Command::new(netns::IP).args(["-n", &ns, "route", "get", &to]),
            Duration::from_secs(5),
            &scratch,
        )?;
        Ok(r.stdout.contains(TUN).then_some(()))
    })
}

fn check_logged(m: &Mixed, pinned: &[&str]) -> Result<()> {
    let log = m.ikegw.log_text();
    for p in pinned {
        if !log.contains(p) {
            return Err(Error::Check(format!("ikegw did not log {p:?}")));
        }
    }
    Ok(())
}

fn trap_first_packet(m: &mut Mixed) -> Result<()> {
    // the trap policy routes strongSwan's LAN into ikegw's TUN before any SA
    wait_trap_route(m)?;
    if !m.ikegw.list_sas()?.is_empty() || !m.charon.list_sas()?.is_empty() {
        return Err(Error::Check("an SA exists before any traffic".into()));
    }
    // exactly one echo request: it must be held and released, not lost
    ping_once(m, &LEFT.lan_host.to_string())?;
    check_logged(
        m,
        &[
            "ikegw::daemon::kernel: ACQUIRE ",
            "ikegw::daemon::driver: ACQUIRE for 198.51.100.2: initiating s2s/net on demand",
        ],
    )?;
    m.wait_up()?;
    let sa = m.matched_sas()?;
    if sa.children.len() != 1 {
        return Err(Error::Check(format!("{} CHILD SAs", sa.children.len())));
    }
    m.ping(Side::Right, 2)?;
    m.ping(Side::Left, 2)?;
    eprintln!("trap: the first packet brought the tunnel up and got through");
    Ok(())
}

#[test]
fn ikegw_trap_first_packet_gets_through() -> Result<()> {
    run_scenario(
        "ikegw_trap_first_packet_gets_through",
        &MixedSetup {
            edit_ikegw: |c| c.start_action = "trap".into(),
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        trap_first_packet,
    )
}

#[test]
fn ikegw_trapped_second_child_joins_the_ike_sa() -> Result<()> {
    run_scenario(
        "ikegw_trapped_second_child_joins_the_ike_sa",
        &MixedSetup {
            edit_ikegw: |c| {
                ikegw_two_children(c, "trap");
                // net comes up at start; net2 stays trapped
                c.start_action = "start".into();
            },
            edit_strongswan: strongswan_two_children,
            ..MixedSetup::default()
        },
        |m| {
            add_net2_host(m)?;
            wait_children(m, 1, "net up at start")?;
            let first = m.matched_sas()?.ikegw.id;
            // net2's traffic: its trap, not net's policy, raises the
            // ACQUIRE; the CHILD SA comes on the IKE SA that is up
            ping_once(m, NET2_HOST)?;
            check_logged(
                m,
                &["ikegw::daemon::driver: ACQUIRE for 198.51.100.2: initiating s2s/net2 on demand"],
            )?;
            two_children_carry_traffic(
                m,
                "net2 on the IKE SA after its ACQUIRE",
                Some((&first, "net2 came on another IKE SA")),
            )
        },
    )
}

#[test]
fn ikegw_trap_with_a_protocol_selector() -> Result<()> {
    run_scenario(
        "ikegw_trap_with_a_protocol_selector",
        &MixedSetup {
            edit_ikegw: |c| {
                c.start_action = "trap".into();
                c.local_ts = vec![format!("{}[icmp]", LEFT.lan_net)];
                c.remote_ts = vec![format!("{}[icmp]", RIGHT.lan_net)];
            },
            edit_strongswan: |c| {
                c.extra_child
                    .push_str("local_ts = 10.2.0.0/24[icmp]\nremote_ts = 10.1.0.0/24[icmp]\n");
            },
            ..MixedSetup::default()
        },
        |m| {
            wait_trap_route(m)?;
            check_logged(
                m,
                &["trap policy outbound 10.1.0.0/24 -> 10.2.0.0/24 proto 1"],
            )?;
            ping_once(m, &LEFT.lan_host.to_string())?;
            check_logged(
                m,
                &["ikegw::daemon::driver: ACQUIRE for 198.51.100.2: initiating s2s/net on demand"],
            )?;
            m.wait_up()?;
            let sa = m.matched_sas()?;
            let [(g, s)] = sa.children.as_slice() else {
                return Err(Error::Check(format!("{} CHILD SAs", sa.children.len())));
            };
            let icmp = s
                .get("local-ts")
                .is_some_and(|v| v.contains("10.2.0.0/24") && v.contains("icmp"));
            if g.local_ts != ["10.1.0.0/24[1]"] || !icmp {
                return Err(Error::Check(format!(
                    "selectors: ikegw {:?} === {:?}, strongSwan {:?} === {:?}",
                    g.local_ts,
                    g.remote_ts,
                    s.get("local-ts"),
                    s.get("remote-ts")
                )));
            }
            m.ping(Side::Left, 2)?;
            eprintln!("trap with [icmp] selectors: ACQUIRE, negotiation, traffic");
            Ok(())
        },
    )
}

/// Child names in `ikegw reload`'s answer.
#[derive(Debug)]
struct Reloaded {
    added: Vec<String>,
    removed: Vec<String>,
    unchanged: Vec<String>,
}

/// ikegw's config file with `f` applied, then `ikegw reload`; returns the
/// reply's (added, removed, changed, unchanged) child names.
fn reload_with(m: &Mixed, f: impl FnOnce(&mut String)) -> Result<Reloaded> {
    let path = m.ikegw.dir().join("ikegw.toml");
    let mut text = std::fs::read_to_string(&path).map_err(|e| Error::Check(format!("{e}")))?;
    f(&mut text);
    std::fs::write(&path, &text).map_err(|e| Error::Check(format!("{e}")))?;
    let out = m.ikegw.verb(&["reload"])?;
    let v: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| Error::Check(format!("reload answered {out}: {e}")))?;
    let field = |k: &str| v.get(k).cloned().unwrap_or_default();
    if field("response") != "reloaded" || field("applied") != true {
        return Err(Error::Check(format!("reload answered {v}")));
    }
    let names = |k: &str| -> Vec<String> {
        field(k)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Reloaded {
        added: names("added"),
        removed: names("removed"),
        unchanged: names("unchanged"),
    })
}

/// Removes the table `[connections.s2s.children.NAME]` from the file.
fn drop_child(text: &mut String, name: &str) {
    let head = format!("[connections.s2s.children.{name}]\n");
    if let Some(start) = text.find(&head) {
        let rest = start.saturating_add(head.len());
        let end = text
            .get(rest..)
            .and_then(|t| t.find("\n["))
            .map_or(text.len(), |e| rest + e + 1);
        text.replace_range(start..end, "");
    }
}

fn reload_children(m: &mut Mixed) -> Result<()> {
    add_net2_host(m)?;
    wait_children(m, 1, "net up at start")?;
    let ike = m.matched_sas()?.ikegw.id;
    let spi_of = |sa: &interop_tests::ikegw::SaPair| {
        sa.ikegw
            .children
            .first()
            .map(|c| (c.name.clone(), c.spi_in.clone()))
    };
    let net_spi = spi_of(&m.matched_sas()?);
    let acquires = |m: &Mixed| m.ikegw.log_text().matches("ACQUIRE ").count();

    // 1. net2 (trapped) removed: its trap policy goes, net stays
    let r = reload_with(m, |t| drop_child(t, "net2"))?;
    if r.removed != ["s2s/net2"] || r.unchanged != ["s2s/net"] {
        return Err(Error::Check(format!("reload without net2: {r:?}")));
    }
    proc::wait_for("net2's trap policy removed", Duration::from_secs(5), || {
        Ok(m.ikegw
            .log_text()
            .contains("removing trap policy outbound 10.1.0.11/32 -> 10.2.0.0/24")
            .then_some(()))
    })?;
    let before = acquires(m);
    let _ = ping_once(m, NET2_HOST);
    if acquires(m) != before {
        return Err(Error::Check(
            "net2's traffic still raises an ACQUIRE".into(),
        ));
    }
    let sa = m.matched_sas()?;
    if sa.ikegw.id != ike || sa.children.len() != 1 || spi_of(&sa) != net_spi {
        return Err(Error::Check(format!("net's SAs changed: {:?}", sa.ikegw)));
    }

    // 2. net2 back with start_action = start: on the same IKE SA
    let r = reload_with(m, |t| t.push_str(&net2_toml("start")))?;
    if r.added != ["s2s/net2"] || r.unchanged != ["s2s/net"] {
        return Err(Error::Check(format!("reload with net2: {r:?}")));
    }
    two_children_carry_traffic(
        m,
        "net2 added by reload",
        Some((&ike, "reload changed the IKE SA")),
    )?;

    // 3. net removed: its CHILD SA is deleted at both ends, net2 and the
    // IKE SA stay
    let r = reload_with(m, |t| drop_child(t, "net"))?;
    if r.removed != ["s2s/net"] || r.unchanged != ["s2s/net2"] {
        return Err(Error::Check(format!("reload without net: {r:?}")));
    }
    wait_children(m, 1, "net deleted by reload")?;
    let sa = m.matched_sas()?;
    if sa.ikegw.id != ike || spi_of(&sa).is_none_or(|(n, _)| n != "net2") {
        return Err(Error::Check(format!("after removing net: {:?}", sa.ikegw)));
    }
    ping_both_ways(m, NET2_HOST)?;
    eprintln!("reload added and removed children on IKE SA {ike}, traps followed");
    Ok(())
}

#[test]
fn ikegw_reload_adds_and_removes_children_on_the_ike_sa() -> Result<()> {
    run_scenario(
        "ikegw_reload_adds_and_removes_children_on_the_ike_sa",
        &MixedSetup {
            edit_ikegw: |c| {
                ikegw_two_children(c, "trap");
                c.start_action = "start".into();
            },
            edit_strongswan: strongswan_two_children,
            ..MixedSetup::default()
        },
        reload_children,
    )
}
