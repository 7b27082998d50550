//! Property: whatever sequence of acquires, releases, saves and restarts
//! happens, no address is ever held online by two identities at once, an
//! identity never holds two addresses, and every address lies in its pool.
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

use std::collections::HashMap;
use std::net::IpAddr;

use pool::{PoolError, PoolSpec, PoolStore};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Acquire { who: u8, request: Option<u8> },
    Release { who: u8 },
    SaveAndRestart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..12, proptest::option::of(0u8..8)).prop_map(|(who, request)| Op::Acquire { who, request }),
        4 => (0u8..12).prop_map(|who| Op::Release { who }),
        1 => Just(Op::SaveAndRestart),
    ]
}

fn specs() -> Vec<PoolSpec> {
    // Small pools so exhaustion and reuse happen often.
    vec![
        PoolSpec {
            name: "a".into(),
            first: "10.3.0.1".parse().unwrap(),
            last: "10.3.0.4".parse().unwrap(),
        },
        PoolSpec {
            name: "b".into(),
            first: "fd00::1".parse().unwrap(),
            last: "fd00::3".parse().unwrap(),
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_address_is_ever_leased_to_two_identities(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let (mut store, _) = PoolStore::open(&path, &specs()).unwrap();
        // Our model: who holds which address online, and how many SAs.
        let mut online: HashMap<String, (IpAddr, u32)> = HashMap::new();
        for op in ops {
            match op {
                Op::Acquire { who, request } => {
                    let id = format!("id{who}");
                    let req = request.map(|r| IpAddr::from([10, 3, 0, r]));
                    match store.acquire(&["a", "b"], &id, req) {
                        Ok(addr) => {
                            prop_assert!(specs().iter().any(|s| {
                                let (f, l, a) = (s.first, s.last, addr);
                                f.is_ipv4() == a.is_ipv4() && f <= a && a <= l
                            }), "address {addr} outside every pool");
                            if let Some((held, n)) = online.get_mut(&id) {
                                prop_assert_eq!(*held, addr, "an identity got a second address");
                                *n += 1;
                            } else {
                                online.insert(id, (addr, 1));
                            }
                        }
                        Err(PoolError::Exhausted { .. }) => {
                            // Only when every address is online for someone else.
                            prop_assert!(!online.contains_key(&id));
                            prop_assert_eq!(online.len(), 4 + 3);
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Op::Release { who } => {
                    let id = format!("id{who}");
                    match online.get_mut(&id) {
                        Some((addr, n)) => {
                            store.release(&id, *addr).unwrap();
                            *n -= 1;
                            if *n == 0 {
                                online.remove(&id);
                            }
                        }
                        None => {
                            let any = IpAddr::from([10, 3, 0, 1]);
                            prop_assert!(store.release(&id, any).is_err());
                        }
                    }
                }
                Op::SaveAndRestart => {
                    store.save().unwrap();
                    store = PoolStore::open(&path, &specs()).unwrap().0;
                    online.clear();
                }
            }
            // The invariant, read back through the listing API.
            let mut seen: HashMap<IpAddr, String> = HashMap::new();
            for name in ["a", "b"] {
                for l in store.pool(name).unwrap().leases() {
                    prop_assert!(seen.insert(l.addr, l.identity.clone()).is_none(), "{} listed twice", l.addr);
                    if l.online {
                        prop_assert_eq!(online.get(&l.identity).map(|x| x.0), Some(l.addr));
                    }
                }
            }
            let mut ids: Vec<&String> = seen.values().collect();
            let before = ids.len();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), before, "an identity holds two leases");
            // And the converse: everyone the model has online is listed online.
            for (id, (addr, _)) in &online {
                prop_assert_eq!(seen.get(addr), Some(id));
            }
        }
    }
}
