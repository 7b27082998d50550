//! Issue #8 scenario 10: 20 % packet loss on ikegw's WAN, in both
//! directions, for IKE and ESP-in-UDP alike (nftables `numgen random mod
//! 100 < 20 drop` on the gateway's input and output), ikegw against
//! strongSwan 5.9 in both roles.
//!
//! The IKE SA must still come up (the initiator retransmits, RFC 7296
//! §2.1; the responder answers a retransmitted request again instead of
//! starting over), the two ends must agree on it, some pings must get
//! through and a 512 KiB TCP transfer must arrive byte for byte (TCP
//! retransmits over a lossy ESP tunnel). Then ikegw (CHILD rekey_time 8 s)
//! must rekey the CHILD SA through the loss: a second CHILD SA installed,
//! both ends agreeing on the new SPIs, pings through it. The drop counters
//! prove the loss was real.
//!
//! Time bound: 120 s, not 60: two unlucky exchanges alone can take tens of
//! seconds. ikegw retransmits after 1 s (×1.8 per try, 8 tries) instead of
//! strongSwan's default 4 s, and its CHILD SA lives 60 s: a rekey started
//! at the soft lifetime must finish before the hard one, or the CHILD SA
//! it replaces is gone; with the default schedule and a 22 s margin, three
//! lost exchanges in a row (about 5 % of runs at 20 % loss each way) were
//! enough to miss it.

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::proc;
use interop_tests::strongswan::CharonOptions;
use interop_tests::{Error, Result};

const LOSS: &str = "table inet lossy {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname \"wan0\" udp dport { 500, 4500 } numgen random mod 100 < 20 counter drop
    }
    chain output {
        type filter hook output priority filter; policy accept;
        oifname \"wan0\" udp sport { 500, 4500 } numgen random mod 100 < 20 counter drop
    }
}
";

/// `counter packets N` of every rule, in order.
fn drop_counts(ruleset: &str) -> Vec<u64> {
    ruleset
        .split("counter packets ")
        .skip(1)
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect()
}

fn lossy(m: &mut Mixed) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    m.ikegw_ns().nft("loss", LOSS, &scratch)?;
    m.establish()?;
    let up_after = m.elapsed();
    let sa = m.matched_sas()?;
    // 20 echoes each way: with 20 % loss per packet and direction on
    // ESP, about 64 % of them come back; ping fails only on no reply at all
    m.ping(Side::Left, 20)?;
    m.ping(Side::Right, 20)?;
    let took = m.bulk_transfer(512 * 1024, 5004)?;
    let rules = m.ikegw_ns().nft_list(&scratch)?;
    let drops = drop_counts(&rules);
    let &[dropped_in, dropped_out] = drops.as_slice() else {
        return Err(Error::Check(format!("want two drop counters:\n{rules}")));
    };
    if dropped_in == 0 || dropped_out == 0 {
        return Err(Error::Check(format!(
            "the loss rules dropped nothing in some direction: {drops:?}\n{rules}"
        )));
    }
    // and a CHILD rekey (ikegw's rekey_time is 8 s) gets through the loss
    let installed = proc::wait_for("a CHILD rekey under loss", Duration::from_secs(40), || {
        m.ikegw.check_alive()?;
        let n = m.ikegw.log_text().matches("CHILD SA installed:").count();
        Ok((n >= 2).then_some(n))
    })?;
    let rekeyed = proc::wait_for(
        "both ends agree after the rekey",
        Duration::from_secs(30),
        || Ok(m.matched_sas().ok()),
    )?;
    if rekeyed.children.first().map(|(g, _)| &g.spi_in)
        == sa.children.first().map(|(g, _)| &g.spi_in)
    {
        return Err(Error::Check("the CHILD SA was not replaced".into()));
    }
    m.ping(Side::Left, 20)?;
    let stats = m.ikegw.stats()?;
    eprintln!("under 20 % loss: {installed} CHILD SAs installed (rekeyed)");
    eprintln!(
        "under 20 % loss: IKE SA {} up after {:.1} s, 512 KiB in {:.1} s; dropped {} in / {} out; \
         ikegw IKE datagrams {} in / {} out",
        sa.ikegw.id,
        up_after.as_secs_f64(),
        took.as_secs_f64(),
        dropped_in,
        dropped_out,
        stats.ike_in,
        stats.ike_out
    );
    Ok(())
}

fn setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        charon: CharonOptions {
            // more and quicker tries than the scenarios' default 3 (2 s,
            // ×1.8): 1 s, ×1.4 gives 11 attempts within the 90 s limit,
            // so a lost IKE_AUTH round trip (request in or response out,
            // 36 % at 20 % loss each way) fails the setup once in ~10^5
            // runs, where 7 attempts failed once in ~10^3 (seen in CI).
            // The later definition of a key in strongswan.conf wins.
            extra: "    retransmit_tries = 12\n    retransmit_timeout = 1.0\n    retransmit_base = 1.4\n"
                .into(),
            ..CharonOptions::default()
        },
        // ikegw drives CHILD rekeys every 6-8 s; life 60 s and quick
        // retransmissions leave room for CREATE_CHILD_SA under loss
        edit_ikegw: |c| {
            c.child_rekey_time = Some("8s".into());
            c.child_life_time = Some("60s".into());
            c.child_extra = "rand_time = \"2s\"\n".into();
            c.daemon_extra
                .push_str("retransmit_timeout = 1.0\nretransmit_tries = 8\n");
        },
        deadline: Duration::from_secs(120),
        establish_limit: Duration::from_secs(90),
        ..MixedSetup::initiated_by(initiator)
    }
}

#[test]
fn twenty_percent_loss_ikegw_initiates() -> Result<()> {
    run_scenario(
        "twenty_percent_loss_ikegw_initiates",
        &setup(Initiator::Ikegw),
        lossy,
    )
}

#[test]
fn twenty_percent_loss_strongswan_initiates() -> Result<()> {
    run_scenario(
        "twenty_percent_loss_strongswan_initiates",
        &setup(Initiator::StrongSwan),
        lossy,
    )
}

#[test]
fn drop_counts_reads_every_counter() {
    let r = "iifname \"wan0\" udp dport { 500, 4500 } numgen random mod 100 < 20 counter \
             packets 7 bytes 900 drop\n oifname ... counter packets 0 bytes 0 drop";
    assert_eq!(drop_counts(r), [7, 0]);
}
