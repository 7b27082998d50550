//! Issue #6: the userland key engine as a process of its own
//! (`ikegw pfkey engine PATH --tun ikegw0`, config `daemon.engine_socket`),
//! against strongSwan, and what a daemon restart meets in it.
//!
//! ```text
//! lan-a — gw-a [ikegw daemon ⇄ engine process (SADB, SPD, ESP over TUN)] ══ WAN ══ gw-b strongSwan — lan-b
//! ```
//!
//! 1. The daemon talks PF_KEY/PF_POLICY to the engine over its Unix sockets
//!    and relays ESP-in-UDP to it; a tunnel with strongSwan comes up and
//!    carries pings both ways, and `list-sas` shows the engine's counters.
//! 2. The daemon is SIGKILLed (a crash: nothing cleaned up). The engine
//!    keeps the SAs and policies, as a kernel would.
//! 3. A new daemon finds exactly those two SAs (by SPI) and deletes them,
//!    adopts the policies it would install again instead of duplicating
//!    them, and brings the tunnel back; pings pass again through the
//!    relay it reconnected.
//! 4. SIGTERM: exit 0 with everything removed from the engine.
//!
//! Needs root, strongSwan with kernel-libipsec, /dev/net/tun and the
//! `ikegw` binary: otherwise `SKIPPED:` (or a failure when `CI` is set).

use std::time::Duration;

use interop_tests::ikegw::{binary, run_scenario, EngineProcess, Ikegw, Mixed, MixedSetup, Side};
use interop_tests::proc;
use interop_tests::{Error, Result};

/// ikegw's config with `engine_socket` added to its `[daemon]` table.
fn with_engine(config: &str, socket: &std::path::Path) -> Result<String> {
    let at = config
        .find("[daemon]\n")
        .ok_or_else(|| Error::Check("ikegw config has no [daemon] table".into()))?;
    let (head, tail) = config.split_at(at + "[daemon]\n".len());
    Ok(format!(
        "{head}engine_socket = \"{}\"\n{tail}",
        socket.display()
    ))
}

/// (inbound, outbound) SPIs of ikegw's one CHILD SA.
fn child_spis(m: &Mixed) -> Result<(String, String)> {
    let sas = m.ikegw.list_sas()?;
    let c = sas
        .iter()
        .flat_map(|s| s.children.iter())
        .next()
        .ok_or_else(|| Error::Check("ikegw lists no CHILD SA".into()))?;
    Ok((c.spi_in.clone(), c.spi_out.clone()))
}

fn scenario(m: &mut Mixed) -> Result<()> {
    let bin = binary().map_err(Error::Check)?;
    let gw_dir = m.ikegw.dir().to_path_buf();
    let config = std::fs::read_to_string(gw_dir.join("ikegw.toml"))
        .map_err(|e| Error::Check(format!("ikegw.toml: {e}")))?;
    // The harness started ikegw with its in-process engine: replace it.
    m.ikegw.stop()?;
    let engine_dir = m.dir.path().join("engine");
    std::fs::create_dir_all(&engine_dir).map_err(|e| Error::Check(e.to_string()))?;
    let mut engine = EngineProcess::start(m.ikegw_ns(), &engine_dir, &bin, "198.51.100.1")?;
    let config = with_engine(&config, engine.socket())?;
    // Same directory each run (control socket, log appended).
    let start = |m: &Mixed| Ikegw::start_tun("ikegw", m.ikegw_ns(), &gw_dir, &bin, &config, None);
    m.ikegw = start(m)?;

    // 1. A tunnel through the engine process.
    m.establish()?;
    m.matched_sas()?;
    m.ping(Side::Left, 3)?;
    m.ping(Side::Right, 3)?;
    let (spi_in, spi_out) = child_spis(m)?;
    proc::wait_for(
        "the engine's counters reach list-sas over the relay",
        Duration::from_secs(5),
        || {
            let sas = m.ikegw.list_sas()?;
            Ok(sas
                .iter()
                .flat_map(|s| s.children.iter())
                .any(|c| c.packets_in >= 6 && c.packets_out >= 6)
                .then_some(()))
        },
    )?;

    // 2. A crash: the engine keeps everything.
    let _ = m.ikegw.kill();
    engine.check_alive()?;
    // strongSwan still holds its side of the old IKE SA; drop it without
    // a word to the dead peer.
    // (`--force` still waits out `--timeout` for the Delete's answer and
    // then reports failure: what counts is that the SA is gone.)
    let _ = m
        .charon
        .swanctl(&["--terminate", "--ike", "s2s", "--force", "--timeout", "1"]);
    proc::wait_for(
        "strongSwan drops its IKE SA",
        Duration::from_secs(10),
        || Ok(m.charon.list_sas()?.is_empty().then_some(())),
    )?;

    // 3. A new daemon deletes exactly what the crashed one left.
    m.ikegw = start(m)?;
    let log = m.ikegw.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("SAs a previous ikegw run left"))
        .ok_or_else(|| {
            Error::Check("the restarted daemon reported no SAs left by the previous run".into())
        })?;
    for spi in [&spi_in, &spi_out] {
        if !line.contains(spi.trim_start_matches("0x")) {
            return Err(Error::Check(format!(
                "restart deleted other SAs than the crashed run's {spi_in}/{spi_out}: {line}"
            )));
        }
    }
    if !line.contains("deleted 2 SAs") {
        return Err(Error::Check(format!(
            "expected exactly 2 stale SAs: {line}"
        )));
    }
    m.establish()?;
    m.matched_sas()?;
    m.ping(Side::Left, 3)?;
    m.ping(Side::Right, 3)?;
    let log = m.ikegw.log_text();
    if !log.contains("already in the SPD (left by a previous run); adopted") {
        return Err(Error::Check(
            "the restarted daemon did not adopt the policies the crashed run left".into(),
        ));
    }
    if log.contains("EEXIST") {
        return Err(Error::Check(
            "a policy add was refused as a duplicate instead of adopted".into(),
        ));
    }

    // 4. SIGTERM with the engine still there: clean exit.
    m.ikegw.stop()?;
    engine.check_alive()?;
    Ok(())
}

#[test]
fn engine_process_survives_a_daemon_crash_and_restart() -> Result<()> {
    run_scenario(
        "engine_process",
        &MixedSetup {
            deadline: Duration::from_secs(90),
            ..MixedSetup::default()
        },
        scenario,
    )
}

#[test]
fn engine_socket_is_added_to_the_daemon_table() {
    let c = "[daemon]\nbackend = \"userland\"\n\n[connections.s2s]\n";
    let got = with_engine(c, std::path::Path::new("/x/engine.sock")).unwrap();
    assert_eq!(
        got,
        "[daemon]\nengine_socket = \"/x/engine.sock\"\nbackend = \"userland\"\n\n[connections.s2s]\n"
    );
    assert!(with_engine("[connections.s2s]\n", std::path::Path::new("/x")).is_err());
}
