//! Entry points for fuzz targets (`fuzz/fuzz_targets/pfkey_msg.rs`) and for
//! the corpus-replay test that runs the same code under `cargo test`.
//!
//! They assert invariants, not just "no crash": whatever parses re-encodes
//! canonically and parses back to the same Repr.
#![allow(clippy::panic)]

use crate::wire::{SadbMsg, SpdMsg};

/// Feed arbitrary bytes through the PF_KEY and PF_POLICY codecs, the
/// monitor printer and the engine's keysock framing check.
pub fn pfkey_msg(data: &[u8]) {
    // Whatever keysock would say about these bytes, it must not panic.
    let _ = crate::engine::validate::frame_check(data);
    if let Ok(m) = SadbMsg::parse(data) {
        let _ = crate::monitor::format_msg(&m);
        if let Ok(bytes) = m.to_bytes() {
            let again = SadbMsg::parse(&bytes);
            assert!(again.as_ref().ok() == Some(&m), "PF_KEY re-parse differs");
            if let Ok(again) = again {
                if let Ok(b2) = again.to_bytes() {
                    assert!(b2 == bytes, "PF_KEY emit is not canonical");
                }
            }
        }
    }
    if let Ok(m) = SpdMsg::parse(data) {
        let _ = crate::monitor::format_spd(&m);
        if let Ok(bytes) = m.to_bytes() {
            let again = SpdMsg::parse(&bytes);
            assert!(
                again.as_ref().ok() == Some(&m),
                "PF_POLICY re-parse differs"
            );
        }
    }
}

/// Feed arbitrary bytes to a userland engine as one PF_KEY message (and as
/// a PF_POLICY message), then fire its timers. Invariants: no panic, every
/// message it emits parses and re-encodes to the same bytes, and an error
/// reply is exactly the 16-byte header.
pub fn pfkey_engine(data: &[u8]) {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let cfg = crate::engine::EngineConfig {
        local_addrs: vec![std::net::Ipv4Addr::new(192, 0, 2, 1).into()],
        ..crate::engine::EngineConfig::default()
    };
    let mut e = crate::engine::Engine::new(cfg, t0, 1_700_000_000);
    e.add_client(1);
    e.add_client(2);
    // Register client 1 so ACQUIRE paths are live.
    e.handle_message(t0, 1, &[2, 7, 0, 3, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    e.handle_message(t0, 2, data);
    let _ = e.handle_policy(data);
    e.handle_timeout(t0 + Duration::from_secs(100_000));
    while let Some(o) = e.poll_output() {
        let m = SadbMsg::parse(&o.bytes);
        assert!(m.is_ok(), "engine emitted an undecodable message");
        if let Ok(m) = m {
            if m.header.errno.0 != 0 {
                assert!(o.bytes.len() == 16, "error reply with a body");
            }
            let again = m.to_bytes();
            assert!(
                again.as_ref().is_ok_and(|b| b[..] == o.bytes[..]),
                "engine output is not canonical"
            );
        }
    }
}
