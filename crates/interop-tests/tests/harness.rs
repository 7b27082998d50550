//! The harness's own promises: namespaces disappear and processes are
//! stopped by PID when their owners drop, also when a test panics, and
//! commands that hang are cut off. Same prerequisites as the scenarios.

use std::process::Command;
use std::time::Duration;

use interop_tests::netns::{Netns, IP};
use interop_tests::proc::{self, Daemon};
use interop_tests::{prerequisites, unique_tag, Error, Gate, Result, ScenarioDir};

fn netns_exists(name: &str) -> bool {
    Command::new(IP)
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false)
}

fn pid_alive(pid: u32) -> bool {
    // a reaped child has no /proc entry; a zombie would show state Z
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn dropping_owners_stops_daemon_and_deletes_namespace_even_on_panic() -> Result<()> {
    if prerequisites("harness_drop", false)? == Gate::Skip {
        return Ok(());
    }
    let dir = ScenarioDir::create(&unique_tag("ikhd"))?;
    let scratch = dir.path().to_path_buf();
    let name = unique_tag("ikhd");
    let (tx, rx) = std::sync::mpsc::channel();
    let ns_name = name.clone();
    let joined = std::thread::spawn(move || {
        let ns = Netns::create(&ns_name, &scratch).unwrap();
        let run = scratch.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let d = Daemon::spawn(
            "sleeper",
            ns.name(),
            Some(&run),
            &["sleep", "600"],
            &scratch.join("sleeper.log"),
            "TERM",
        )
        .unwrap();
        tx.send(d.pid()).unwrap();
        // the owner goes away by panicking: Drop must still clean up
        panic!("simulated test failure");
    })
    .join();
    assert!(joined.is_err(), "the thread was meant to panic");
    let pid = rx.recv().map_err(|e| Error::Check(e.to_string()))?;
    assert!(!pid_alive(pid), "daemon pid {pid} survived its owner");
    assert!(!netns_exists(&name), "namespace {name} survived its owner");
    Ok(())
}

#[test]
fn hung_command_is_killed_at_its_limit() -> Result<()> {
    if prerequisites("harness_timeout", false)? == Gate::Skip {
        return Ok(());
    }
    let dir = ScenarioDir::create(&unique_tag("ikht"))?;
    let started = std::time::Instant::now();
    let r = proc::run(
        Command::new("sleep").arg("30"),
        Duration::from_millis(300),
        dir.path(),
    );
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    // generous: the point is that it did not wait 30 s
    assert!(started.elapsed() < Duration::from_secs(10));
    let ok = proc::run(
        Command::new("sh").args(["-c", "echo out; echo err >&2"]),
        Duration::from_secs(10),
        dir.path(),
    )?;
    assert_eq!(ok.stdout, "out\n");
    assert_eq!(ok.stderr, "err\n");
    let failed = proc::run(
        &mut Command::new("false"),
        Duration::from_secs(10),
        dir.path(),
    );
    assert!(matches!(failed, Err(Error::Command { .. })), "{failed:?}");
    // no scratch files are left behind by run()
    let leftovers = std::fs::read_dir(dir.path())
        .map_err(|source| Error::Io {
            path: dir.path().to_path_buf(),
            source,
        })?
        .count();
    assert_eq!(leftovers, 0);
    Ok(())
}
