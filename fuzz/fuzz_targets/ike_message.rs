//! Fuzz target: IKE message parse → emit → re-parse must agree
//! (invariants in `ike::fuzzing::ike_message`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ike::fuzzing::ike_message(data);
});
