//! Issue #8 scenario 5: CHILD SA and IKE SA rekeying with short lifetimes
//! while a TCP transfer runs, ikegw against strongSwan 5.9, once with ikegw
//! driving every rekey and once with strongSwan driving them (ikegw
//! answering CREATE_CHILD_SA).
//!
//! The transfer (12 MiB paced over 16 s) must arrive byte for byte across
//! at least two CHILD rekeys and one IKE rekey; ikegw's log shows them and
//! strongSwan's SA numbering (`s2s[N]`, `net-N`) confirms them from the
//! other side; at the end both ends agree on one IKE SA with crossed CHILD
//! SPIs, and the CHILD SAs installed by rekeys carry the PFS group
//! (X25519 in `esp_proposals`).
//!
//! Simultaneous CHILD SA rekeys (RFC 7296 §2.8.1) are staged, not left to
//! timing. During a paced transfer an nftables table in ikegw's namespace
//! matches CREATE_CHILD_SA messages to and from ikegw's NAT-T port (UDP
//! 4500, non-ESP marker, exchange type 36):
//! 1. it drops the *requests* in both directions while `ikegw rekey` and
//!    `swanctl --rekey` are started together, until both ends' requests
//!    have been dropped: each end now has its own rekey outstanding;
//! 2. it lets requests through and drops the *responses* instead, until
//!    both ends have answered the other's (retransmitted) request: each end
//!    has received the peer's rekey while its own was outstanding, so both
//!    ends know of the collision;
//! 3. it lets one end's responses through while still dropping the other's,
//!    until the first end has finished its exchange (strongSwan has parsed
//!    the response, or ikegw has installed its own new CHILD SA); each test
//!    runs in both orders, since the end that finishes first acts on the
//!    outcome (deletes the old or the redundant CHILD SA) while the other
//!    still waits;
//! 4. it is removed, and the other end's next retransmission completes.
//!
//! Which end wins is up to the nonces (the lowest of the four loses); both
//! outcomes have been seen. Afterwards exactly one CHILD SA pair (SPIs
//! crossed, replaced) and exactly one IKE SA must remain at each end, in
//! any state; strongSwan must have logged the collision and nothing about a
//! peer that did not notice it; the transfer must be intact.
//!
//! IKE SA rekey collisions (§2.8.2) are staged the same way, with `ikegw
//! rekey --ike` and `swanctl --rekey --ike s2s`. Depending on the nonces and
//! on who finishes first, one end may delete the old IKE SA while the
//! other's own rekey is still unanswered: that end must move the CHILD SAs
//! to the new IKE SA it answered (strongSwan 5.9 logs "peer did not notice
//! IKE_SA rekey collision" when it is the one; it is not an error). The new
//! IKE SA that the unanswered rekey created at the answering end is then
//! redundant and never deleted by its creator, so the winner deletes it
//! after a grace period (30 s at both ends; strongSwan then retransmits its
//! Delete to an ikegw that never had the SA, until it gives up; ikegw logs
//! the deletion, the one it deletes is not in its SA list). Afterwards
//! each end must list exactly one IKE SA, a new one, carrying the CHILD SA
//! pair with unchanged SPIs; strongSwan must have logged the collision; the
//! transfer must be intact.

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, ChildSa, Initiator, Mixed, MixedSetup, SaPair, Side};
use interop_tests::proc;
use interop_tests::{Error, Result};

const LEN: usize = 12 * 1024 * 1024;
const SPREAD: Duration = Duration::from_secs(16);

fn rekeys_under_load(m: &mut Mixed) -> Result<()> {
    m.establish()?;
    let first = m.matched_sas()?;
    let took = m.paced_transfer(LEN, 5002, SPREAD)?;
    eprintln!(
        "12 MiB paced over {:.1} s arrived intact",
        took.as_secs_f64()
    );

    let log = m.ikegw.log_text();
    let installed = log.matches("CHILD SA installed:").count();
    let ike_rekeys = log.matches("IKE SA rekeyed, successor").count();
    if installed < 3 || ike_rekeys < 1 {
        return Err(Error::Check(format!(
            "during the transfer ikegw installed {installed} CHILD SAs (want >= 3: the first \
             and two rekeys) and rekeyed the IKE SA {ike_rekeys} times (want >= 1)"
        )));
    }
    // the ends agree once the rekeyed-away SAs are gone
    let last = proc::wait_for(
        "both ends agree after the rekeys",
        Duration::from_secs(10),
        || Ok(m.matched_sas().ok()),
    )?;
    if last.ikegw.id == first.ikegw.id {
        return Err(Error::Check("ikegw still shows the first IKE SA".into()));
    }
    let uid = |v: Option<&str>| v.and_then(|u| u.parse::<u32>().ok()).unwrap_or(0);
    let ike_uid = uid(last.strongswan.get("uniqueid"));
    let child_uid = last
        .children
        .iter()
        .map(|(_, c)| uid(c.get("uniqueid")))
        .max()
        .unwrap_or(0);
    if ike_uid < 2 || child_uid < 3 {
        return Err(Error::Check(format!(
            "strongSwan numbers its current SAs s2s[{ike_uid}] / net-{child_uid}: \
             fewer rekeys than ikegw logged"
        )));
    }
    // rekeyed CHILD SAs ran a fresh X25519 exchange (PFS)
    let pfs = last
        .children
        .iter()
        .all(|(g, s)| s.get("dh-group") == Some("CURVE_25519") && g.suite.contains("CURVE_25519"));
    if !pfs {
        return Err(Error::Check(format!(
            "rekeyed CHILD SAs without the X25519 PFS group: {:?}",
            last.children
        )));
    }
    // and the tunnel still carries traffic
    m.ping(Side::Left, 2)?;
    eprintln!(
        "ikegw: {installed} CHILD SAs installed, {ike_rekeys} IKE rekeys; strongSwan now at \
         s2s[{ike_uid}] net-{child_uid}"
    );
    Ok(())
}

#[test]
fn rekeys_driven_by_ikegw_during_transfer() -> Result<()> {
    run_scenario(
        "rekeys_driven_by_ikegw_during_transfer",
        &MixedSetup {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            edit_ikegw: |c| {
                c.ike_rekey_time = Some("9s".into());
                c.child_rekey_time = Some("5s".into());
                c.child_life_time = Some("8s".into());
            },
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        rekeys_under_load,
    )
}

#[test]
fn rekeys_driven_by_strongswan_during_transfer() -> Result<()> {
    run_scenario(
        "rekeys_driven_by_strongswan_during_transfer",
        &MixedSetup {
            ikegw_side: Side::Right,
            initiator: Initiator::StrongSwan,
            edit_strongswan: |c| {
                // explicit margins: strongSwan's defaults (over_time = 10 %
                // of rekey_time, rand_time = life_time - rekey_time) would
                // let the IKE SA's hard lifetime (0.9 s after rekey_time)
                // expire during the rekey, and charon then migrates that
                // IKE_DELETE onto the new IKE SA and deletes it too (seen
                // with 5.9.8); and child rekeys would come at random
                // moments from 0 s on
                c.extra_conn
                    .push_str("rekey_time = 9s\nover_time = 10s\nrand_time = 1s\n");
                c.extra_child
                    .push_str("rekey_time = 5s\nlife_time = 10s\nrand_time = 1s\n");
            },
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        rekeys_under_load,
    )
}

/// Which end finishes its rekey exchange first (step 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    /// ikegw's responses pass first: strongSwan completes first.
    StrongSwan,
    /// strongSwan's responses pass first: ikegw completes first.
    Ikegw,
}

/// The `collide` table of one phase: CREATE_CHILD_SA messages to and from
/// ikegw's NAT-T port are matched by UDP 4500, the four-byte non-ESP
/// marker (zero, transport-header bits 64-95), exchange type 36 (IKE
/// header byte 18: bits 240-247) and the response flag (0x20 of byte 19):
/// `flag` is `0` for requests, `0x20` for responses. `out` and `inb` are
/// the verdicts (counted) for ikegw's messages out and strongSwan's in.
/// From phase 2 on, the table replaces the previous phase's in one
/// transaction (`replace`).
fn collide_table(replace: bool, flag: &str, out: &str, inb: &str) -> String {
    let delete = if replace {
        "delete table ip collide\n"
    } else {
        ""
    };
    format!(
        "{delete}table ip collide {{
    chain out {{
        type filter hook output priority filter; policy accept;
        udp dport 4500 @th,64,32 0 @th,240,8 36 @th,248,8 & 0x20 == {flag} counter {out}
    }}
    chain in {{
        type filter hook input priority filter; policy accept;
        udp sport 4500 @th,64,32 0 @th,240,8 36 @th,248,8 & 0x20 == {flag} counter {inb}
    }}
}}
"
    )
}

/// Phase 3, replacing phase 2: the responses of one end pass (counted),
/// the other end's are still dropped.
fn release_responses(first: First) -> String {
    let (out, inb) = match first {
        First::StrongSwan => ("accept", "drop"),
        First::Ikegw => ("drop", "accept"),
    };
    collide_table(true, "0x20", out, inb)
}

/// The two counters of the `collide` table in any phase: (ikegw's
/// messages out, strongSwan's messages in).
fn held(m: &Mixed) -> Result<(u64, u64)> {
    let rules = m.ikegw_ns().nft_list(m.dir.path())?;
    let counts: Vec<u64> = rules
        .lines()
        .filter(|l| l.contains("@th,240,8 0x24"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.find(|x| *x == "packets")?;
            w.next()?.parse().ok()
        })
        .collect();
    match counts.as_slice() {
        [out, inb] => Ok((*out, *inb)),
        _ => Err(Error::Check(format!(
            "collide table not as loaded:\n{rules}"
        ))),
    }
}

/// (IKE SA name and state, number of CHILD SAs) per IKE SA.
type SaCounts = Vec<(String, usize)>;

/// Every IKE SA each end lists, in any state (`matched_sas` looks at the
/// ESTABLISHED ones only): (ikegw's, strongSwan's), with their CHILD SA
/// counts (strongSwan's in any state).
fn all_sas(m: &Mixed) -> Result<(SaCounts, SaCounts)> {
    let gw = m
        .ikegw
        .list_sas()?
        .into_iter()
        .map(|s| (format!("{} {}", s.id, s.state), s.children.len()))
        .collect();
    let ss = m
        .charon
        .list_sas()?
        .into_iter()
        .map(|s| {
            let state = s.get("state").unwrap_or("?").to_owned();
            (
                format!("{}[{}] {state}", s.name, s.get("uniqueid").unwrap_or("?")),
                s.child_sas().count(),
            )
        })
        .collect();
    Ok((gw, ss))
}

/// Waits up to `limit` until the collision is resolved: one IKE SA at each
/// end (in any state), ESTABLISHED, with one CHILD SA each, SPIs crossed,
/// and the SA that collided replaced (`changed`).
fn settled(m: &Mixed, limit: Duration, changed: impl Fn(&SaPair) -> bool) -> Result<SaPair> {
    proc::wait_for(
        "one IKE SA and one CHILD SA pair left at both ends",
        limit,
        || {
            let Ok(pair) = m.matched_sas() else {
                return Ok(None);
            };
            let (gw, ss) = all_sas(m)?;
            let one = |v: &[(String, usize)]| matches!(v, [(_, 1)]);
            Ok(
                (one(&gw) && one(&ss) && pair.children.len() == 1 && changed(&pair))
                    .then_some(pair),
            )
        },
    )
}

/// What differs between a staged CHILD SA and IKE SA rekey collision.
struct Rekey {
    /// The name in messages ("CHILD rekeys crossed").
    label: &'static str,
    /// Whether the CHILD SA is rekeyed (`ikegw rekey IKE CHILD`), not the
    /// IKE SA (`ikegw rekey IKE`).
    child: bool,
    /// The held messages, as the waits name them.
    messages: &'static str,
    /// The paced transfer's TCP port (its files are named after it).
    port: u16,
    /// strongSwan's side of the collision.
    swanctl: [&'static str; 3],
    /// When ikegw has finished its own exchange (step 3, ikegw first): what
    /// the wait says, the line ikegw logs, and how many more of them than
    /// before the collision.
    ikegw_done: (&'static str, &'static str, usize),
    /// What strongSwan 5.9 logs (at level 1) when a peer's rekey of the
    /// same SA meets its own.
    pinned: &'static str,
    /// How long the ends may take to settle after the release.
    settle_limit: Duration,
}

/// RFC 7296 §2.8.1.
const CHILD_REKEY: Rekey = Rekey {
    label: "CHILD",
    child: true,
    messages: "CREATE_CHILD_SA",
    port: 5005,
    swanctl: ["--rekey", "--child", "net"],
    // the CHILD SA it answered for, and its own
    ikegw_done: (
        "ikegw installs the CHILD SA of its own rekey",
        "CHILD SA installed:",
        2,
    ),
    pinned: "detected CHILD_REKEY collision with CHILD_REKEY",
    settle_limit: Duration::from_secs(25),
};

/// RFC 7296 §2.8.2.
const IKE_REKEY: Rekey = Rekey {
    label: "IKE",
    child: false,
    messages: "IKE rekey",
    port: 5006,
    swanctl: ["--rekey", "--ike", "s2s"],
    // reported once the collision is decided
    ikegw_done: (
        "ikegw completes its own IKE rekey",
        "IKE SA rekeyed, successor",
        1,
    ),
    pinned: "detected IKE_REKEY collision with IKE_REKEY",
    // a redundant IKE SA may live for the 30 s grace period, and
    // strongSwan retransmits its Delete of one ikegw never had
    settle_limit: Duration::from_secs(100),
};

/// A staged collision, once resolved.
struct Collided {
    /// Both ends before it.
    before: SaPair,
    /// ikegw's CHILD SA before it.
    gw_child: ChildSa,
    /// Both ends after it: one IKE SA, one CHILD SA pair, the rekeyed SA
    /// replaced.
    after: SaPair,
    /// strongSwan's log lines that mention a collision, the pinned one
    /// among them.
    collision: Vec<String>,
}

/// Stages a simultaneous rekey of `kind` in the four phases of the module
/// documentation, during a paced 6 MiB transfer that must arrive intact,
/// with `first` finishing its exchange first; waits until the ends settle
/// and checks that strongSwan logged the collision.
fn stage_collision(m: &mut Mixed, kind: &Rekey, first: First) -> Result<Collided> {
    m.establish()?;
    let before = m.matched_sas()?;
    let (gw_child, _) = before
        .children
        .first()
        .cloned()
        .ok_or_else(|| Error::Check("no CHILD SA".into()))?;
    let (done_what, done_line, done_more) = kind.ikegw_done;
    let done = |m: &Mixed| m.ikegw.log_text().matches(done_line).count();
    let done_before = done(m);
    let m: &Mixed = m;
    let after = std::thread::scope(|scope| -> Result<SaPair> {
        let transfer =
            scope.spawn(|| m.paced_transfer(6 * 1024 * 1024, kind.port, Duration::from_secs(12)));
        // let the transfer get going
        std::thread::sleep(Duration::from_secs(2));
        // phase 1: the requests in both directions are dropped
        let hold_requests = collide_table(false, "0", "drop", "drop");
        m.ikegw_ns().nft("collide", &hold_requests, m.dir.path())?;
        let ike_id = before.ikegw.id.clone();
        let spi_in = kind.child.then(|| gw_child.spi_in.clone());
        let ours = scope.spawn(move || m.ikegw.rekey(&ike_id, spi_in.as_deref()));
        let theirs = scope.spawn(move || m.charon.swanctl(&kind.swanctl));
        let ours = ours
            .join()
            .map_err(|_| Error::Check("ikegw rekey thread panicked".into()))??;
        theirs
            .join()
            .map_err(|_| Error::Check("swanctl --rekey thread panicked".into()))??;
        if ours != before.ikegw.id {
            return Err(Error::Check(format!(
                "ikegw rekeys IKE SA {ours}, expected {}",
                before.ikegw.id
            )));
        }
        let both = |what: &str| {
            let what = format!("both ends' {} {what} dropped", kind.messages);
            proc::wait_for(&what, Duration::from_secs(15), || {
                let (out, inb) = held(m)?;
                Ok((out >= 1 && inb >= 1).then_some((out, inb)))
            })
        };
        // both requests are out, and both are held back
        let requests = both("requests")?;
        // phase 2: requests pass, the responses are dropped
        let hold_responses = collide_table(true, "0x20", "drop", "drop");
        m.ikegw_ns()
            .nft("collide-2", &hold_responses, m.dir.path())?;
        // each end answers the other's retransmitted request with its own
        // still outstanding: both have seen the collision (in a CHILD
        // rekey, ikegw installs the CHILD SA it answered for)
        let responses = both("responses")?;
        m.ikegw_ns()
            .nft("collide-3", &release_responses(first), m.dir.path())?;
        match first {
            First::StrongSwan => proc::wait_for(
                "strongSwan parses ikegw's CREATE_CHILD_SA response",
                Duration::from_secs(15),
                || {
                    let delivered = held(m)?.0 >= 1;
                    let parsed = m
                        .charon
                        .log_text()
                        .contains("parsed CREATE_CHILD_SA response");
                    Ok((delivered && parsed).then_some(()))
                },
            )?,
            First::Ikegw => proc::wait_for(done_what, Duration::from_secs(15), || {
                let delivered = held(m)?.1 >= 1;
                let finished = done(m) >= done_before.saturating_add(done_more);
                Ok((delivered && finished).then_some(()))
            })?,
        }
        // phase 4: all pass
        m.ikegw_ns()
            .nft("collide-4", "delete table ip collide\n", m.dir.path())?;
        eprintln!(
            "{} rekeys crossed: requests held {requests:?}, then responses held \
             {responses:?} (ikegw, strongSwan); released, {first:?} finished first",
            kind.label
        );
        let after = settled(m, kind.settle_limit, |p| {
            if kind.child {
                p.children
                    .first()
                    .is_some_and(|(g, _)| g.spi_in != gw_child.spi_in)
            } else {
                p.ikegw.id != before.ikegw.id
            }
        })?;
        let took = transfer
            .join()
            .map_err(|_| Error::Check("transfer thread panicked".into()))??;
        eprintln!(
            "6 MiB across the collision, intact, in {:.1} s",
            took.as_secs_f64()
        );
        Ok(after)
    })?;
    // strongSwan saw the collision from its side
    let collision: Vec<String> = m
        .charon
        .log_text()
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("collision"))
        .map(str::to_owned)
        .collect();
    let pinned = kind.pinned;
    if !collision.iter().any(|l| l.contains(pinned)) {
        return Err(Error::Check(format!(
            "strongSwan did not log {pinned:?}: the requests did not cross; its collision \
             lines: {collision:?}"
        )));
    }
    Ok(Collided {
        before,
        gw_child,
        after,
        collision,
    })
}

fn simultaneous_child_rekey(m: &mut Mixed, first: First) -> Result<()> {
    let Collided {
        before,
        after: outcome,
        collision,
        ..
    } = stage_collision(m, &CHILD_REKEY, first)?;
    if let Some(l) = collision.iter().find(|l| l.contains("did not notice")) {
        return Err(Error::Check(format!("strongSwan: {l}")));
    }
    // the IKE SA is untouched
    if outcome.ikegw.id != before.ikegw.id {
        return Err(Error::Check("the IKE SA changed in a CHILD rekey".into()));
    }
    m.ping(Side::Left, 2)?;
    m.ping(Side::Right, 2)?;
    eprintln!(
        "CHILD rekey collision resolved: strongSwan logged {collision:?}; one IKE SA {} and \
         one CHILD SA pair left",
        outcome.ikegw.id
    );
    Ok(())
}

fn collision_setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        // ikegw retransmits after 1 s (strongSwan after 2 s, from its lab
        // strongswan.conf): the held requests go out again soon
        edit_ikegw: |c| c.daemon_extra = "retransmit_timeout = \"1s\"\n".into(),
        deadline: Duration::from_secs(60),
        ..MixedSetup::initiated_by(initiator)
    }
}

/// Runs one staged collision scenario: `kind` rekeyed by both ends of an
/// IKE SA `initiator` started, `first` finishing first.
fn collision_test(name: &str, kind: &Rekey, initiator: Initiator, first: First) -> Result<()> {
    if kind.child {
        run_scenario(name, &collision_setup(initiator), |m| {
            simultaneous_child_rekey(m, first)
        })
    } else {
        run_scenario(name, &ike_collision_setup(initiator), |m| {
            simultaneous_ike_rekey(m, first)
        })
    }
}

#[test]
fn simultaneous_child_rekey_ikegw_initiated_strongswan_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_child_rekey_ikegw_initiated_strongswan_finishes_first",
        &CHILD_REKEY,
        Initiator::Ikegw,
        First::StrongSwan,
    )
}

#[test]
fn simultaneous_child_rekey_ikegw_initiated_ikegw_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_child_rekey_ikegw_initiated_ikegw_finishes_first",
        &CHILD_REKEY,
        Initiator::Ikegw,
        First::Ikegw,
    )
}

#[test]
fn simultaneous_child_rekey_strongswan_initiated_strongswan_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_child_rekey_strongswan_initiated_strongswan_finishes_first",
        &CHILD_REKEY,
        Initiator::StrongSwan,
        First::StrongSwan,
    )
}

#[test]
fn simultaneous_child_rekey_strongswan_initiated_ikegw_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_child_rekey_strongswan_initiated_ikegw_finishes_first",
        &CHILD_REKEY,
        Initiator::StrongSwan,
        First::Ikegw,
    )
}

/// A simultaneous IKE SA rekey (RFC 7296 §2.8.2), staged like the CHILD SA
/// one; see the module documentation.
fn simultaneous_ike_rekey(m: &mut Mixed, first: First) -> Result<()> {
    let Collided {
        before,
        gw_child,
        after: outcome,
        collision,
    } = stage_collision(m, &IKE_REKEY, first)?;
    // ikegw won and deleted the old IKE SA before strongSwan had its own
    // rekey answered: strongSwan dropped that rekey, and the IKE SA ikegw
    // created by answering it (which ikegw does not list) is redundant;
    // ikegw deletes it after its 30 s grace period
    if collision.iter().any(|l| l.contains("did not notice")) {
        proc::wait_for(
            "ikegw deletes strongSwan's redundant IKE SA",
            Duration::from_secs(40),
            || {
                Ok(m.ikegw
                    .log_text()
                    .contains("IKE SA deleted: redundant IKE SA from a rekey collision")
                    .then_some(()))
            },
        )?;
        eprintln!("ikegw deleted the redundant IKE SA strongSwan never completed");
    }
    // the CHILD SAs moved to the new IKE SA untouched
    let moved = outcome.children.first().is_some_and(|(g, _)| {
        same_spi(&g.spi_in, &gw_child.spi_in) && same_spi(&g.spi_out, &gw_child.spi_out)
    });
    if !moved {
        return Err(Error::Check(format!(
            "the CHILD SA changed in an IKE rekey: before {gw_child:?}, after {:?}",
            outcome.children
        )));
    }
    m.ping(Side::Left, 2)?;
    m.ping(Side::Right, 2)?;
    eprintln!(
        "IKE rekey collision resolved: strongSwan logged {collision:?}; IKE SA {} replaced \
         by {}, CHILD SA {} kept",
        before.ikegw.id, outcome.ikegw.id, gw_child.spi_in
    );
    Ok(())
}

/// Hex SPIs compared as numbers (one listing may pad with zeros).
fn same_spi(a: &str, b: &str) -> bool {
    match (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn ike_collision_setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        // the redundant-SA grace period and strongSwan's retransmissions
        // of its Delete take up to about a minute
        deadline: Duration::from_secs(180),
        ..collision_setup(initiator)
    }
}

#[test]
fn simultaneous_ike_rekey_ikegw_initiated_strongswan_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_ike_rekey_ikegw_initiated_strongswan_finishes_first",
        &IKE_REKEY,
        Initiator::Ikegw,
        First::StrongSwan,
    )
}

#[test]
fn simultaneous_ike_rekey_ikegw_initiated_ikegw_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_ike_rekey_ikegw_initiated_ikegw_finishes_first",
        &IKE_REKEY,
        Initiator::Ikegw,
        First::Ikegw,
    )
}

#[test]
fn simultaneous_ike_rekey_strongswan_initiated_strongswan_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_ike_rekey_strongswan_initiated_strongswan_finishes_first",
        &IKE_REKEY,
        Initiator::StrongSwan,
        First::StrongSwan,
    )
}

#[test]
fn simultaneous_ike_rekey_strongswan_initiated_ikegw_finishes_first() -> Result<()> {
    collision_test(
        "simultaneous_ike_rekey_strongswan_initiated_ikegw_finishes_first",
        &IKE_REKEY,
        Initiator::StrongSwan,
        First::Ikegw,
    )
}
