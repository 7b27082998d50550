//! Fuzz target: arbitrary PF_KEY bytes sent to the userland key engine must
//! get a kernel-like reply or be dropped, never a panic or a broken SADB
//! (invariants in `pfkey::fuzzing::pfkey_engine`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pfkey::fuzzing::pfkey_engine(data);
});
