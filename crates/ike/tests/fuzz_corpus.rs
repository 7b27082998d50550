//! Replays every file of `fuzz/corpus/ike_message/` through the fuzz entry
//! point, so the harness cannot rot and past finds stay regressions
//! (STYLE.md §8).
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[test]
fn ike_message_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ike_message");
    let mut n = 0usize;
    let mut parsed = 0usize;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/ike_message exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        ike::fuzzing::ike_message(&data);
        if ike::wire::Message::parse(&data).is_ok() {
            parsed += 1;
        }
        n += 1;
    }
    assert!(n > 0, "empty corpus at {}", dir.display());
    assert!(parsed > 0, "no corpus entry parses: the seeds are gone");
    eprintln!("replayed {n} corpus files ({parsed} valid messages)");
}
