//! Property tests for `ike::wire` (STYLE.md §8):
//! - `parse(emit(m)) == m` for generated messages covering every payload;
//! - emit writes every byte (emit into a poisoned buffer equals `to_vec`);
//! - arbitrary bytes never panic the parser;
//! - mutations (flips, truncations, insertions) of valid messages never
//!   panic, and whatever still parses re-emits to something that re-parses
//!   equal.
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ike::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (
        0u16..0x8000,
        prop_oneof![
            any::<u16>().prop_map(AttributeValue::Tv),
            bytes(8).prop_map(AttributeValue::Tlv)
        ],
    )
        .prop_map(|(t, value)| Attribute {
            attr_type: TransformAttributeType(t),
            value,
        })
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        transform_type: TransformType(t),
        id,
        attributes,
    })
}

fn proposal_body() -> impl Strategy<Value = (ProtocolId, Vec<u8>, Vec<Transform>)> {
    let proto_spi = prop_oneof![
        Just((ProtocolId::IKE, vec![])),
        vec(any::<u8>(), 8).prop_map(|s| (ProtocolId::IKE, s)),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::ESP, s)),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::AH, s)),
        (4u8..=255, bytes(8)).prop_map(|(p, s)| (ProtocolId(p), s)),
    ];
    (proto_spi, vec(transform(), 1..6)).prop_map(|((p, s), t)| (p, s, t))
}

fn sa() -> impl Strategy<Value = Sa> {
    (1u8..=250, vec(proposal_body(), 1..4)).prop_map(|(first, bodies)| Sa {
        proposals: bodies
            .into_iter()
            .enumerate()
            .map(|(n, (protocol, spi, transforms))| Proposal {
                number: first + u8::try_from(n).unwrap(),
                protocol,
                spi,
                transforms,
            })
            .collect(),
    })
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| Id {
            id_type: IdType::ID_IPV4_ADDR,
            data: a.to_vec()
        }),
        any::<[u8; 16]>().prop_map(|a| Id {
            id_type: IdType::ID_IPV6_ADDR,
            data: a.to_vec()
        }),
        Just(Id {
            id_type: IdType::ID_NULL,
            data: vec![]
        }),
        (
            "[a-z]{1,12}\\.example",
            prop_oneof![Just(IdType::ID_FQDN), Just(IdType::ID_RFC822_ADDR)]
        )
            .prop_map(|(s, t)| Id {
                id_type: t,
                data: s.into_bytes()
            }),
        (
            prop_oneof![Just(9u8), Just(10), Just(11), Just(12), 14u8..=255],
            bytes(40)
        )
            .prop_map(|(t, data)| Id {
                id_type: IdType(t),
                data
            }),
    ]
}

fn notify() -> impl Strategy<Value = Notify> {
    (any::<u8>(), bytes(8), any::<u16>(), bytes(40)).prop_map(|(p, spi, t, data)| Notify {
        protocol: ProtocolId(p),
        spi,
        notify_type: NotifyType(t),
        data,
    })
}

fn delete() -> impl Strategy<Value = Delete> {
    prop_oneof![
        Just(Delete {
            protocol: ProtocolId::IKE,
            spis: vec![]
        }),
        (
            prop_oneof![Just(ProtocolId::ESP), Just(ProtocolId::AH)],
            vec(vec(any::<u8>(), 4), 1..5)
        )
            .prop_map(|(protocol, spis)| Delete { protocol, spis }),
        (4u8..=255, 1usize..9, 0usize..4).prop_flat_map(|(p, size, n)| {
            vec(vec(any::<u8>(), size), n).prop_map(move |spis| Delete {
                protocol: ProtocolId(p),
                spis,
            })
        }),
    ]
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(p, sp, ep, s, e)| {
                TrafficSelector::Ipv4 {
                    ip_protocol: p,
                    start_port: sp,
                    end_port: ep,
                    start: Ipv4Addr::from(s),
                    end: Ipv4Addr::from(e),
                }
            }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u128>(),
            any::<u128>()
        )
            .prop_map(|(p, sp, ep, s, e)| {
                TrafficSelector::Ipv6 {
                    ip_protocol: p,
                    start_port: sp,
                    end_port: ep,
                    start: Ipv6Addr::from(s),
                    end: Ipv6Addr::from(e),
                }
            }),
        (prop_oneof![0u8..7, 9u8..=255], any::<u8>(), bytes(20)).prop_map(|(t, byte1, data)| {
            TrafficSelector::Other {
                ts_type: TsType(t),
                byte1,
                data,
            }
        }),
    ]
}

fn cp() -> impl Strategy<Value = Cp> {
    (any::<u8>(), vec((0u16..0x8000, bytes(20)), 0..6)).prop_map(|(t, attrs)| Cp {
        cfg_type: CfgType(t),
        attributes: attrs
            .into_iter()
            .map(|(a, value)| CpAttribute {
                attr_type: CpAttributeType(a),
                value,
            })
            .collect(),
    })
}

/// A payload type no Repr decodes: 1..=32 and 49..=255 except 53.
fn unknown_type() -> impl Strategy<Value = PayloadType> {
    prop_oneof![1u8..=32, 49u8..=52, 54u8..=255].prop_map(PayloadType)
}

/// Any payload except SK/SKF, which must end the chain.
fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(64)).prop_map(|(m, data)| Payload::Ke(Ke {
            method: KeMethod(m),
            data
        })),
        id().prop_map(Payload::Idi),
        id().prop_map(Payload::Idr),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| Payload::Cert(Cert {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(60)).prop_map(|(e, data)| Payload::CertReq(CertReq {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(Auth {
            method: AuthMethod(m),
            data
        })),
        vec(any::<u8>(), NONCE_MIN_LEN..=NONCE_MAX_LEN)
            .prop_map(|data| Payload::Nonce(Nonce { data })),
        notify().prop_map(Payload::Notify),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(|data| Payload::VendorId(VendorId { data })),
        vec(selector(), 0..4).prop_map(|selectors| Payload::Tsi(Ts { selectors })),
        vec(selector(), 0..4).prop_map(|selectors| Payload::Tsr(Ts { selectors })),
        cp().prop_map(Payload::Cp),
        bytes(40).prop_map(|data| Payload::Eap(Eap { data })),
        (unknown_type(), any::<bool>(), bytes(40)).prop_map(|(payload_type, critical, data)| {
            Payload::Unknown(UnknownPayload {
                payload_type,
                critical,
                data,
            })
        }),
    ]
}

fn encrypted_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(80)).prop_map(|(n, body)| Payload::Sk(Sk {
            next_inner: PayloadType(n),
            body
        })),
        (any::<u8>(), 1u16..=u16::MAX, bytes(80)).prop_flat_map(|(n, total, body)| {
            (1u16..=total).prop_map(move |num| {
                Payload::Skf(Skf {
                    next_inner: PayloadType(n),
                    fragment_number: num,
                    total_fragments: total,
                    body: body.clone(),
                })
            })
        }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<[bool; 3]>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, minor_version, x, [initiator, version_flag, response], message_id)| {
                Header {
                    spi_i,
                    spi_r,
                    minor_version,
                    exchange: ExchangeType(x),
                    initiator,
                    version_flag,
                    response,
                    message_id,
                }
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        vec(plain_payload(), 0..8),
        proptest::option::of(encrypted_payload()),
    )
        .prop_map(|(header, mut payloads, enc)| {
            payloads.extend(enc);
            Message { header, payloads }
        })
}

/// A few hand-built valid messages to mutate, beside the generated ones.
fn seed_messages() -> Vec<Vec<u8>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ike_message");
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|b| Message::parse(b).is_ok());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_emit_is_identity(m in message()) {
        let bytes = m.try_to_vec().unwrap();
        prop_assert_eq!(bytes.len(), m.buffer_len());
        let parsed = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_vec(), bytes);
    }

    #[test]
    fn emit_writes_every_byte(m in message()) {
        let mut a = vec![0xa5u8; m.buffer_len()];
        let mut b = vec![0x17u8; m.buffer_len()];
        m.emit(&mut a).unwrap();
        m.emit(&mut b).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn payload_chains_round_trip_alone(payloads in vec(plain_payload(), 1..6)) {
        // The plaintext of an SK payload is such a chain (RFC 7296 §3.14).
        let mut buf = vec![0u8; payloads_buffer_len(&payloads)];
        emit_payloads(&payloads, &mut buf).unwrap();
        let parsed = parse_payloads(payloads[0].payload_type(), &buf).unwrap();
        prop_assert_eq!(parsed, payloads);
    }

    #[test]
    fn emit_into_short_buffer_fails_cleanly(m in message(), cut in 1usize..64) {
        let len = m.buffer_len().saturating_sub(cut);
        let mut buf = vec![0u8; len];
        prop_assert!(m.emit(&mut buf).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8192, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600)) {
        ike::fuzzing::ike_message(&data);
        let _ = parse_payloads(PayloadType::SA, &data);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(h in header(), first in any::<u8>(), body in bytes(400)) {
        // Random bodies rarely get past the length check; give them a header
        // whose length is right so the payload parsers see them.
        let mut msg = Message { header: h, payloads: vec![] }.to_vec();
        msg[16] = first;
        msg.extend_from_slice(&body);
        let len = u32::try_from(msg.len()).unwrap();
        msg[24..28].copy_from_slice(&len.to_be_bytes());
        ike::fuzzing::ike_message(&msg);
    }
}

/// Apply one mutation chosen by `(kind, pos, val)` to `b`.
fn mutate(b: &mut Vec<u8>, kind: u8, pos: usize, val: u8) {
    if b.is_empty() {
        return;
    }
    let at = pos % b.len();
    match kind % 5 {
        0 => b[at] ^= 1 << (val % 8),
        1 => b[at] = val,
        2 => b.truncate(at),
        3 => b.insert(at, val),
        _ => {
            b.remove(at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_panic_and_reparse_equal(
        m in message(),
        muts in vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
        fix_len in any::<bool>(),
    ) {
        let mut b = m.to_vec();
        for (k, p, v) in muts {
            mutate(&mut b, k, p, v);
        }
        if fix_len && b.len() >= 28 {
            // Keep the header length right so the mutation reaches the payloads.
            let len = u32::try_from(b.len()).unwrap();
            b[24..28].copy_from_slice(&len.to_be_bytes());
        }
        // ike_message asserts parse → emit → parse equality.
        ike::fuzzing::ike_message(&b);
    }
}

#[test]
fn mutations_of_seed_messages_never_panic() {
    let seeds = seed_messages();
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/ike_message holds no valid message"
    );
    let mut count = 0usize;
    for seed in &seeds {
        for pos in 0..seed.len() {
            for bit in 0..8u8 {
                let mut b = seed.clone();
                b[pos] ^= 1 << bit;
                ike::fuzzing::ike_message(&b);
                count += 1;
            }
            let mut t = seed.clone();
            t.truncate(pos);
            ike::fuzzing::ike_message(&t);
            count += 1;
        }
    }
    eprintln!(
        "{} seeds, {count} single-bit flips and truncations",
        seeds.len()
    );
}

/// Payloads with no validity constraints at all, to check that emit refuses
/// exactly what parse would reject.
fn loose_payload() -> impl Strategy<Value = Payload> {
    let loose_proposal = (any::<u8>(), any::<u8>(), bytes(9), vec(transform(), 0..3)).prop_map(
        |(number, p, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId(p % 5),
            spi,
            transforms,
        },
    );
    prop_oneof![
        vec(loose_proposal, 0..3).prop_map(|proposals| Payload::Sa(Sa { proposals })),
        (any::<u8>(), bytes(20)).prop_map(|(t, data)| Payload::Idi(Id {
            id_type: IdType(t % 16),
            data
        })),
        bytes(300).prop_map(|data| Payload::Nonce(Nonce { data })),
        (any::<u8>(), vec(bytes(5), 0..3)).prop_map(|(p, spis)| Payload::Delete(Delete {
            protocol: ProtocolId(p % 5),
            spis
        })),
        (any::<u8>(), any::<u16>(), any::<u16>(), bytes(8)).prop_map(
            |(n, fragment_number, total_fragments, body)| {
                Payload::Skf(Skf {
                    next_inner: PayloadType(n),
                    fragment_number,
                    total_fragments,
                    body,
                })
            }
        ),
        (any::<u8>(), any::<bool>(), bytes(8)).prop_map(|(t, critical, data)| {
            Payload::Unknown(UnknownPayload {
                payload_type: PayloadType(t),
                critical,
                data,
            })
        }),
        (any::<u8>(), any::<u8>(), bytes(8)).prop_map(|(t, byte1, data)| {
            Payload::Tsr(Ts {
                selectors: vec![TrafficSelector::Other {
                    ts_type: TsType(t),
                    byte1,
                    data,
                }],
            })
        }),
        plain_payload(),
        encrypted_payload(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn whatever_emits_parses_back_equal(h in header(), minor in any::<u8>(), payloads in vec(loose_payload(), 0..5)) {
        let m = Message { header: Header { minor_version: minor, ..h }, payloads };
        if let Ok(bytes) = m.try_to_vec() {
            let parsed = Message::parse(&bytes);
            prop_assert_eq!(parsed.as_ref(), Ok(&m), "emit accepted what parse rejects");
        }
    }
}
