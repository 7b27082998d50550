//! Replays `fuzz-corpus/pfkey_msg/*` through `pfkey::fuzzing::pfkey_msg`, so
//! the fuzz harness cannot rot and every crash found becomes a regression.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[test]
fn replay_pfkey_msg_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz-corpus/pfkey_msg");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        pfkey::fuzzing::pfkey_msg(&data);
        pfkey::fuzzing::pfkey_engine(&data);
        // Every prefix and a few corruptions of each file, too.
        for cut in (0..data.len()).step_by(8) {
            pfkey::fuzzing::pfkey_msg(&data[..cut]);
        }
        for i in (0..data.len()).step_by(3) {
            let mut d = data.clone();
            d[i] ^= 0xff;
            pfkey::fuzzing::pfkey_msg(&d);
            pfkey::fuzzing::pfkey_engine(&d);
        }
        n += 1;
    }
    assert!(n >= 16, "corpus has {n} files");
    println!("replayed {n} corpus files");
}
