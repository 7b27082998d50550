//! Fuzz entry points, shared by the `fuzz/` cargo-fuzz targets and the
//! corpus-replay test (`tests/fuzz_corpus.rs`), so the harness cannot rot.
//! They assert invariants, not only "no crash".

use crate::wire::{
    emit_payloads, parse_payloads, payloads_buffer_len, strip_non_esp_marker, HeaderPacket,
    Message, PayloadType,
};

/// `ike_message` target: parse; if that succeeds, re-emit, re-parse, and
/// require the same message and the same bytes (RFC 7296 §3 codec
/// round trip). Also exercises the header view, the 4500 marker, and, with
/// the first byte as the first payload type, a bare payload chain as found
/// inside a decrypted SK payload (RFC 7296 §3.14).
///
/// # Panics
/// On any broken invariant, which is the point.
#[allow(clippy::panic, clippy::expect_used)]
pub fn ike_message(data: &[u8]) {
    if let Ok(h) = HeaderPacket::new_checked(data) {
        let _ = (
            h.spi_i(),
            h.spi_r(),
            h.message_id(),
            h.exchange_type(),
            h.next_payload(),
        );
    }
    let _ = strip_non_esp_marker(data);
    if let Some((&first, chain)) = data.split_first() {
        if let Ok(payloads) = parse_payloads(PayloadType(first), chain) {
            let mut buf = vec![0u8; payloads_buffer_len(&payloads)];
            emit_payloads(&payloads, &mut buf).expect("a parsed chain must be emittable");
            let first = payloads
                .first()
                .map_or(PayloadType::NO_NEXT_PAYLOAD, |p| p.payload_type());
            let again = parse_payloads(first, &buf).expect("re-emitted chain must parse");
            assert_eq!(again, payloads, "chain: parse(emit(parse(b))) != parse(b)");
        }
    }
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let bytes = msg
        .try_to_vec()
        .expect("a parsed message must be emittable");
    assert_eq!(
        bytes.len(),
        msg.buffer_len(),
        "buffer_len disagrees with emit"
    );
    let again = Message::parse(&bytes).expect("re-emitted message must parse");
    assert_eq!(again, msg, "parse(emit(parse(b))) != parse(b)");
    assert_eq!(again.to_vec(), bytes, "emit is not canonical");
    let _ = msg.unsupported_critical();
}
