//! Address pools: allocation, exhaustion, identity stickiness with
//! least-recently-released reuse, and the lease file's crash safety.
// The pool module is compiled into this test on its own; the daemon API it
// offers is wider than what these tests call.
#![allow(dead_code)]
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../src/pool.rs"]
mod pool;

use std::net::IpAddr;
use std::path::Path;

use pool::{LoadOutcome, Pool, PoolError, PoolSpec, PoolStore};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(name: &str, first: &str, last: &str) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        first: ip(first),
        last: ip(last),
    }
}

#[test]
fn allocates_addresses_in_order_and_reports_exhaustion() {
    let mut p = Pool::new(spec("rw", "10.3.0.1", "10.3.0.3")).unwrap();
    assert_eq!(p.acquire("alice", None).unwrap(), ip("10.3.0.1"));
    assert_eq!(p.acquire("bob", None).unwrap(), ip("10.3.0.2"));
    assert_eq!(p.acquire("carol", None).unwrap(), ip("10.3.0.3"));
    let e = p.acquire("dave", None).unwrap_err();
    assert!(matches!(e, PoolError::Exhausted { size: 3, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "pool 'rw' is exhausted: all 3 addresses are in use"
    );
}

#[test]
fn ipv6_pools_work_and_huge_ranges_do_not_allocate_memory_up_front() {
    let mut p = Pool::new(spec("v6", "fd00::1", "fd00::ffff:ffff:ffff:ffff")).unwrap();
    assert_eq!(p.acquire("alice", None).unwrap(), ip("fd00::1"));
    assert_eq!(p.acquire("bob", None).unwrap(), ip("fd00::2"));
    assert_eq!(p.status().size, 0xffff_ffff_ffff_ffff);
}

#[test]
fn refuses_inverted_and_mixed_ranges() {
    assert!(matches!(
        Pool::new(spec("x", "10.0.0.9", "10.0.0.1")),
        Err(PoolError::BadRange { .. })
    ));
    assert!(matches!(
        Pool::new(spec("x", "10.0.0.1", "fd00::1")),
        Err(PoolError::BadRange { .. })
    ));
    assert!(matches!(
        Pool::new(spec("x", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        Err(PoolError::BadRange { .. })
    ));
}

#[test]
fn same_identity_gets_the_same_address_even_after_release() {
    let mut p = Pool::new(spec("rw", "10.3.0.1", "10.3.0.10")).unwrap();
    let a = p.acquire("alice", None).unwrap();
    p.acquire("bob", None).unwrap();
    p.release("alice", a).unwrap();
    p.acquire("carol", None).unwrap();
    assert_eq!(p.acquire("alice", None).unwrap(), a);
    // A second SA of the same identity shares the lease; it stays online
    // until both are gone.
    assert_eq!(p.acquire("alice", None).unwrap(), a);
    p.release("alice", a).unwrap();
    assert!(p.leases().iter().any(|l| l.addr == a && l.online));
    p.release("alice", a).unwrap();
    assert!(p
        .leases()
        .iter()
        .any(|l| l.addr == a && !l.online && l.identity == "alice"));
}

#[test]
fn reuse_takes_the_least_recently_released_address() {
    let mut p = Pool::new(spec("rw", "10.3.0.1", "10.3.0.3")).unwrap();
    let a = p.acquire("alice", None).unwrap();
    let b = p.acquire("bob", None).unwrap();
    let c = p.acquire("carol", None).unwrap();
    p.release("bob", b).unwrap();
    p.release("alice", a).unwrap();
    p.release("carol", c).unwrap();
    // Bob released first: his address goes first, Alice keeps hers.
    assert_eq!(p.acquire("dave", None).unwrap(), b);
    assert_eq!(p.acquire("erin", None).unwrap(), a);
    // Bob lost his binding and gets what is left.
    assert_eq!(p.acquire("bob", None).unwrap(), c);
    assert!(matches!(
        p.acquire("alice", None),
        Err(PoolError::Exhausted { .. })
    ));
}

#[test]
fn honours_a_requested_free_address_only() {
    let mut p = Pool::new(spec("rw", "10.3.0.1", "10.3.0.10")).unwrap();
    assert_eq!(
        p.acquire("alice", Some(ip("10.3.0.7"))).unwrap(),
        ip("10.3.0.7")
    );
    // Taken, or outside the pool: ignored.
    assert_eq!(
        p.acquire("bob", Some(ip("10.3.0.7"))).unwrap(),
        ip("10.3.0.1")
    );
    assert_eq!(
        p.acquire("carol", Some(ip("192.0.2.1"))).unwrap(),
        ip("10.3.0.2")
    );
    // The fresh-address cursor skips the requested one later on.
    for n in ["d", "e", "f", "g"] {
        p.acquire(n, None).unwrap();
    }
    assert_eq!(p.acquire("h", None).unwrap(), ip("10.3.0.8"));
}

#[test]
fn release_checks_the_holder() {
    let mut p = Pool::new(spec("rw", "10.3.0.1", "10.3.0.10")).unwrap();
    let a = p.acquire("alice", None).unwrap();
    assert!(matches!(
        p.release("bob", a),
        Err(PoolError::NotLeased { .. })
    ));
    assert!(matches!(
        p.release("alice", ip("10.3.0.5")),
        Err(PoolError::NotLeased { .. })
    ));
    p.release("alice", a).unwrap();
    assert!(matches!(
        p.release("alice", a),
        Err(PoolError::NotLeased { .. })
    ));
}

#[test]
fn store_tries_pools_in_order_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, outcome) = PoolStore::open(
        &dir.path().join("leases"),
        &[
            spec("a", "10.3.0.1", "10.3.0.1"),
            spec("b", "10.4.0.1", "10.4.0.9"),
        ],
    )
    .unwrap();
    assert_eq!(outcome, LoadOutcome::Fresh);
    assert_eq!(
        s.acquire(&["a", "b"], "alice", None).unwrap(),
        ip("10.3.0.1")
    );
    assert_eq!(s.acquire(&["a", "b"], "bob", None).unwrap(), ip("10.4.0.1"));
    s.release("bob", ip("10.4.0.1")).unwrap();
    // Bob's lease lives in b; he gets it back from there.
    assert_eq!(s.acquire(&["a", "b"], "bob", None).unwrap(), ip("10.4.0.1"));
    assert!(matches!(
        s.acquire(&["zz"], "bob", None),
        Err(PoolError::UnknownPool(_))
    ));
    let list = s.list();
    assert_eq!(
        (list[0].name.as_str(), list[0].online, list[0].offline),
        ("a", 1, 0)
    );
    assert_eq!(
        (list[1].name.as_str(), list[1].online, list[1].size),
        ("b", 1, 9)
    );
    assert_eq!(s.pool("b").unwrap().leases()[0].identity, "bob");
}

fn specs() -> Vec<PoolSpec> {
    vec![
        spec("rw4", "10.3.0.1", "10.3.0.4"),
        spec("rw6", "fd00::1", "fd00::ff"),
    ]
}

#[test]
fn leases_survive_a_restart_as_offline_and_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.json");
    {
        let (mut s, _) = PoolStore::open(&path, &specs()).unwrap();
        let a = s.acquire(&["rw4"], "alice", None).unwrap();
        s.acquire(&["rw4"], "bob", None).unwrap();
        s.acquire(&["rw4"], "carol", None).unwrap();
        s.acquire(&["rw6"], "alice6", None).unwrap();
        s.release("alice", a).unwrap();
        s.save().unwrap();
    }
    let (mut s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(outcome, LoadOutcome::Loaded);
    let leases = s.pool("rw4").unwrap().leases();
    assert_eq!(leases.len(), 3);
    assert!(
        leases.iter().all(|l| !l.online),
        "after a restart nothing is online"
    );
    assert_eq!(s.acquire(&["rw4"], "bob", None).unwrap(), ip("10.3.0.2"));
    assert_eq!(s.acquire(&["rw6"], "alice6", None).unwrap(), ip("fd00::1"));
    assert_eq!(s.acquire(&["rw4"], "dave", None).unwrap(), ip("10.3.0.4"));
    // Alice was offline before the restart, Carol only because of it: Alice's
    // address is reused first.
    assert_eq!(s.acquire(&["rw4"], "erin", None).unwrap(), ip("10.3.0.1"));
    assert_eq!(s.acquire(&["rw4"], "frank", None).unwrap(), ip("10.3.0.3"));
}

#[test]
fn a_shrunk_pool_drops_leases_outside_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    let (mut s, _) = PoolStore::open(&path, &specs()).unwrap();
    for n in ["a", "b", "c"] {
        s.acquire(&["rw4"], n, None).unwrap();
    }
    s.save().unwrap();
    let (s, _) = PoolStore::open(&path, &[spec("rw4", "10.3.0.2", "10.3.0.9")]).unwrap();
    let ids: Vec<String> = s
        .pool("rw4")
        .unwrap()
        .leases()
        .into_iter()
        .map(|l| l.identity)
        .collect();
    assert_eq!(ids, ["b", "c"]);
    assert!(s.pool("rw6").is_none());
}

fn save_two_generations(path: &Path) {
    let (mut s, _) = PoolStore::open(path, &specs()).unwrap();
    s.acquire(&["rw4"], "old", None).unwrap();
    s.save().unwrap();
    s.acquire(&["rw4"], "new", None).unwrap();
    s.save().unwrap();
}

fn identities(s: &PoolStore) -> Vec<String> {
    s.pool("rw4")
        .unwrap()
        .leases()
        .into_iter()
        .map(|l| l.identity)
        .collect()
}

#[test]
fn a_torn_file_is_detected_and_the_previous_copy_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    save_two_generations(&path);
    // Simulate a torn write: the newest file lost its tail.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::RecoveredFromPrevious {
            reason: "checksum mismatch (torn or corrupted write)".into()
        }
    );
    assert_eq!(identities(&s), ["old"]);
    // The bad file is kept aside, and the next save does not clobber `.prev`.
    assert!(dir.path().join("leases.corrupt").exists());
    s.save().unwrap();
    let (s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(outcome, LoadOutcome::Loaded);
    assert_eq!(identities(&s), ["old"]);
}

#[test]
fn a_flipped_byte_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    save_two_generations(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let (s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert!(
        matches!(outcome, LoadOutcome::RecoveredFromPrevious { .. }),
        "{outcome:?}"
    );
    assert_eq!(identities(&s), ["old"]);
}

#[test]
fn a_crash_between_the_renames_leaves_the_previous_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    save_two_generations(&path);
    // The moment after `leases` became `leases.prev` and before `leases.tmp`
    // became `leases`.
    std::fs::remove_file(&path).unwrap();
    let (s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(outcome, LoadOutcome::Loaded);
    assert_eq!(identities(&s), ["old"]);
}

#[test]
fn both_copies_bad_starts_empty_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    std::fs::write(&path, "garbage").unwrap();
    std::fs::write(
        dir.path().join("leases.prev"),
        "ikegw-leases v1 sha256=00\n{}",
    )
    .unwrap();
    let (s, outcome) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Unusable {
            reason: "no header line (torn write?); previous copy: checksum mismatch (torn or corrupted write)".into()
        }
    );
    assert!(identities(&s).is_empty());
}

#[test]
fn save_leaves_no_temp_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    save_two_generations(&path);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["leases", "leases.prev"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "leases name users: not for group or others");
}

#[test]
fn a_reload_adds_resizes_and_removes_pools_but_never_strands_online_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    let (mut s, _) = PoolStore::open(&path, &specs()).unwrap();
    assert_eq!(s.acquire(&["rw4"], "a", None).unwrap(), ip("10.3.0.1"));
    assert_eq!(s.acquire(&["rw4"], "b", None).unwrap(), ip("10.3.0.2"));
    assert_eq!(s.acquire(&["rw4"], "c", None).unwrap(), ip("10.3.0.3"));
    s.release("b", ip("10.3.0.2")).unwrap();
    s.release("c", ip("10.3.0.3")).unwrap();
    assert_eq!(s.acquire(&["rw6"], "v6", None).unwrap(), ip("fd00::1"));

    // rw4 shrinks past the online lease of "a": refused, kept as it was;
    // rw6 (online lease) is gone from the file: kept; a new pool appears.
    let out = s.reconfigure(&[
        spec("rw4", "10.3.0.2", "10.3.0.9"),
        spec("more", "10.4.0.1", "10.4.0.9"),
    ]);
    assert_eq!(
        out,
        [
            Err(
                "pool 'rw4' keeps 10.3.0.1 - 10.3.0.4: 10.3.0.1 online outside 10.3.0.2 - 10.3.0.9"
                    .to_string()
            ),
            Ok("pool 'more' added: 10.4.0.1 - 10.4.0.9".to_string()),
            Err("pool 'rw6' is no longer configured but kept: 1 leases online".to_string()),
        ]
    );
    assert_eq!(s.acquire(&["more"], "d", None).unwrap(), ip("10.4.0.1"));

    // Once "a" is offline, rw4 may grow away from it: the leases inside
    // the new range keep their addresses and reuse order, "a" is dropped.
    s.release("a", ip("10.3.0.1")).unwrap();
    s.release("v6", ip("fd00::1")).unwrap();
    let out = s.reconfigure(&[
        spec("rw4", "10.3.0.2", "10.3.0.9"),
        spec("more", "10.4.0.1", "10.4.0.9"),
    ]);
    assert_eq!(
        out,
        [
            Ok(
                "pool 'rw4' now 10.3.0.2 - 10.3.0.9 (1 offline leases outside it dropped)"
                    .to_string()
            ),
            Ok("pool 'rw6' removed".to_string()),
        ]
    );
    let rw4 = s.pool("rw4").unwrap();
    let leases: Vec<(IpAddr, String, bool)> = rw4
        .leases()
        .into_iter()
        .map(|l| (l.addr, l.identity, l.online))
        .collect();
    assert_eq!(
        leases,
        [
            (ip("10.3.0.2"), "b".to_string(), false),
            (ip("10.3.0.3"), "c".to_string(), false),
        ]
    );
    // Sticky addresses survive the resize; new identities take fresh ones.
    assert_eq!(s.acquire(&["rw4"], "c", None).unwrap(), ip("10.3.0.3"));
    assert_eq!(s.acquire(&["rw4"], "e", None).unwrap(), ip("10.3.0.4"));
    // The file was saved: a restart sees the new pools.
    let (back, _) = PoolStore::open(
        &path,
        &[
            spec("rw4", "10.3.0.2", "10.3.0.9"),
            spec("more", "10.4.0.1", "10.4.0.9"),
        ],
    )
    .unwrap();
    assert_eq!(back.pool("more").unwrap().leases().len(), 1);
    assert!(back.pool("rw6").is_none());
}
