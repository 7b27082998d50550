//! Fuzz target: PF_KEY / PF_POLICY message parse → emit → re-parse must agree
//! (invariants in `pfkey::fuzzing::pfkey_msg`). Seeds live in
//! `crates/pfkey/fuzz-corpus/pfkey_msg/`, which `cargo test -p pfkey` replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pfkey::fuzzing::pfkey_msg(data);
});
