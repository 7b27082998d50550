//! Golden files for `ikegw provision plan` on the example site: every
//! generated file and the command lists of both targets are pinned in
//! `tests/golden/<target>/`. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p gateway --test provision_golden` and
//! review the diff.

// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre.toml"
);
const EXAMPLE_IKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre-ike.toml"
);

fn golden(target: &str) {
    let want_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(target);
    let out_dir =
        std::env::temp_dir().join(format!("ikegw-golden-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    // The linux lab starts ikegw when the config has [connections]: plan
    // it on the example with its IKE side appended.
    let with_ike =
        std::env::temp_dir().join(format!("ikegw-golden-{target}-{}.toml", std::process::id()));
    let config = if target == "linux" {
        let text = std::fs::read_to_string(EXAMPLE).unwrap()
            + &std::fs::read_to_string(EXAMPLE_IKE).unwrap();
        std::fs::write(&with_ike, text).unwrap();
        with_ike.to_str().unwrap().to_owned()
    } else {
        EXAMPLE.to_owned()
    };
    let mut args = vec![
        "provision",
        "plan",
        "--target",
        target,
        "--config",
        &config,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    if target == "linux" {
        args.extend(["--lab-prefix", "home"]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    got.sort();
    // The linux plan names this binary and the config by absolute path
    // (the daemon it starts runs in another directory): pin them as words.
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_ikegw")).unwrap();
    let conf = std::fs::canonicalize(&config).unwrap();
    for f in &got {
        let t = std::fs::read_to_string(f).unwrap();
        let t = t
            .replace(bin.to_str().unwrap(), "@IKEGW@")
            .replace(env!("CARGO_BIN_EXE_ikegw"), "@IKEGW@")
            .replace(conf.to_str().unwrap(), "@EXAMPLE@");
        std::fs::write(f, t).unwrap();
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&want_dir);
        std::fs::create_dir_all(&want_dir).unwrap();
        for f in &got {
            std::fs::copy(f, want_dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let mut want: Vec<String> = std::fs::read_dir(&want_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want.sort();
    let got_names: Vec<String> = got
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(got_names, want, "the set of generated files changed");
    for f in &got {
        let name = f.file_name().unwrap();
        let g = std::fs::read_to_string(f).unwrap();
        let w = std::fs::read_to_string(want_dir.join(name)).unwrap();
        assert!(
            g == w,
            "{} differs from tests/golden/{target}/{}:\n--- got ---\n{g}",
            name.to_string_lossy(),
            name.to_string_lossy()
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_file(&with_ike);
}

#[test]
fn illumos_plan_matches_the_golden_files() {
    golden("illumos");
}

#[test]
fn linux_plan_matches_the_golden_files() {
    golden("linux");
}
