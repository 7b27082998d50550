//! `scenarios.toml` stays true: every scenario has a status; every
//! implemented one names test functions that exist in `tests/`; every
//! other one says why it is not there (as rustls' BoGo config gives a
//! reason for each disabled test), and may name the tests that cover
//! part of it (`partial_tests`, checked like `tests`). Needs no root.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn scenarios_toml_lists_existing_tests_and_reasons() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("scenarios.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let scenarios = doc["scenario"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for s in scenarios {
        let id = s["id"].as_integer().unwrap();
        assert!(ids.insert(id), "scenario {id} listed twice");
        assert!(!s["title"].as_str().unwrap().is_empty(), "scenario {id}");
        // a partly covered scenario names its existing tests too
        if let Some(partial) = s.get("partial_tests") {
            assert_eq!(
                s["status"].as_str(),
                Some("not-yet"),
                "scenario {id}: partial_tests only on not-yet"
            );
            check_tests(dir, id, partial.as_array().unwrap());
        }
        match s["status"].as_str().unwrap() {
            "implemented" => {
                let tests = s["tests"].as_array().unwrap();
                assert!(!tests.is_empty(), "scenario {id} names no test");
                check_tests(dir, id, tests);
            }
            "not-yet" => {
                let reason = s.get("reason").and_then(|r| r.as_str()).unwrap_or("");
                assert!(
                    !reason.is_empty(),
                    "scenario {id} is not implemented and says not why"
                );
                assert!(
                    s.get("tests").is_none(),
                    "scenario {id}: not-yet but lists tests"
                );
            }
            other => panic!("scenario {id}: unknown status {other:?}"),
        }
    }
    // numbered from 1 without gaps, so a scenario cannot silently vanish
    let n = i64::try_from(ids.len()).unwrap();
    assert_eq!(ids, (1..=n).collect::<BTreeSet<i64>>());
    assert_eq!(n, 11, "issue #8 has scenarios 1-11");
}

/// Each `file::function` names an active `#[test]` in `tests/file.rs`.
// a helper of the test above: its panics are the test's failures
#[allow(clippy::unwrap_used, clippy::panic)]
fn check_tests(dir: &Path, id: i64, tests: &[toml::Value]) {
    for t in tests {
        let t = t.as_str().unwrap();
        let (file, func) = t.split_once("::").unwrap();
        let src = std::fs::read_to_string(dir.join("tests").join(format!("{file}.rs")))
            .unwrap_or_else(|e| panic!("scenario {id}: tests/{file}.rs: {e}"));
        let decl = format!("fn {func}(");
        let at = src
            .find(&decl)
            .unwrap_or_else(|| panic!("scenario {id}: no {decl} in tests/{file}.rs"));
        // the function is a test, not a helper of that name
        let before = &src[..at];
        let attr = before
            .rfind("#[test]")
            .unwrap_or_else(|| panic!("scenario {id}: {t} is not a #[test]"));
        assert!(
            !before[attr..].contains("\nfn ") && !before[attr..].contains("#[ignore"),
            "scenario {id}: {t} is not an active #[test]"
        );
    }
}
