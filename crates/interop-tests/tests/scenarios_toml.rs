//! `scenarios.toml` stays true: every scenario has a status; every
//! implemented one names test functions that exist in `tests/`; every
//! other one says why it is not there (as rustls' BoGo config gives a
//! reason for each disabled test). Needs no root.

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
        match s["status"].as_str().unwrap() {
            "implemented" => {
                let tests = s["tests"].as_array().unwrap();
                assert!(!tests.is_empty(), "scenario {id} names no test");
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
    assert!(n >= 10, "issue #8 has at least scenarios 1-10");
}
