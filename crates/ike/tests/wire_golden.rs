//! Golden vectors both ways (STYLE.md §8): each hand-built vector in
//! `tests/vectors/hand-*.hex` parses to the Repr written out here, that Repr
//! emits exactly the vector (also into a poisoned buffer), and targeted
//! corruptions of the vectors fail with the precise error.
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ike::wire::*;

/// Read a `hand-*.hex` vector: hex digits, whitespace ignored, `#` comments.
fn vector(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).unwrap()
}

fn check_both_ways(name: &str, expected: &Message) {
    let bytes = vector(name);
    let parsed = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&parsed, expected, "{name}: parse");
    assert_eq!(expected.to_vec(), bytes, "{name}: emit");
    for junk in [0xa5u8, 0x17, 0xff] {
        let mut buf = vec![junk; expected.buffer_len()];
        expected.emit(&mut buf).unwrap();
        assert_eq!(buf, bytes, "{name}: poisoned emit with {junk:#x}");
    }
}

fn header(x: ExchangeType, spi_r: u64, mid: u32, response: bool) -> Header {
    Header {
        spi_i: 0x0123_4567_89ab_cdef,
        spi_r,
        minor_version: 0,
        exchange: x,
        initiator: !response,
        version_flag: false,
        response,
        message_id: mid,
    }
}

const SPI_R: u64 = 0xfedc_ba98_7654_3210;

fn ike_sa_init_req() -> Message {
    let t = |tt, id| Transform::new(tt, id);
    Message {
        header: header(ExchangeType::IKE_SA_INIT, 0, 0, false),
        payloads: vec![
            Payload::Sa(Sa {
                proposals: vec![
                    Proposal {
                        number: 1,
                        protocol: ProtocolId::IKE,
                        spi: vec![],
                        transforms: vec![
                            Transform::encr(EncrId::AES_GCM_16, Some(256)),
                            t(TransformType::PRF, PrfId::PRF_HMAC_SHA2_256.0),
                            t(TransformType::KE, KeMethod::CURVE_25519.0),
                        ],
                    },
                    Proposal {
                        number: 2,
                        protocol: ProtocolId::IKE,
                        spi: vec![],
                        transforms: vec![
                            Transform::encr(EncrId::AES_CBC, Some(128)),
                            t(TransformType::INTEG, IntegId::AUTH_HMAC_SHA2_256_128.0),
                            t(TransformType::PRF, PrfId::PRF_HMAC_SHA2_256.0),
                            t(TransformType::KE, KeMethod::MODP_2048.0),
                        ],
                    },
                ],
            }),
            Payload::Ke(Ke {
                method: KeMethod::CURVE_25519,
                data: vec![0x11; 32],
            }),
            Payload::Nonce(Nonce {
                data: vec![0x22; 32],
            }),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                vec![0x33; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                vec![0x44; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
            Payload::Notify(Notify::new(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                vec![0, 2, 0, 3, 0, 4],
            )),
            Payload::VendorId(VendorId {
                data: b"ikegw-test".to_vec(),
            }),
        ],
    }
}

fn all_payloads() -> Message {
    let cp_attr = |t| CpAttribute {
        attr_type: t,
        value: vec![],
    };
    Message {
        header: header(ExchangeType::IKE_AUTH, SPI_R, 1, false),
        payloads: vec![
            Payload::Idi(Id {
                id_type: IdType::ID_FQDN,
                data: b"client.example".to_vec(),
            }),
            Payload::Cert(Cert {
                encoding: CertEncoding::X509_CERT_SIG,
                data: vec![0x30, 3, 2, 1, 1],
            }),
            Payload::CertReq(CertReq {
                encoding: CertEncoding::X509_CERT_SIG,
                data: vec![0x55; 20],
            }),
            Payload::Idr(Id {
                id_type: IdType::ID_IPV4_ADDR,
                data: vec![192, 0, 2, 2],
            }),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: vec![0x66; 32],
            }),
            Payload::Cp(Cp {
                cfg_type: CfgType::CFG_REQUEST,
                attributes: vec![
                    cp_attr(CpAttributeType::INTERNAL_IP4_ADDRESS),
                    cp_attr(CpAttributeType::INTERNAL_IP4_DNS),
                    cp_attr(CpAttributeType::INTERNAL_DNS_DOMAIN),
                    cp_attr(CpAttributeType::INTERNAL_DNSSEC_TA),
                ],
            }),
            Payload::Sa(Sa {
                proposals: vec![Proposal {
                    number: 1,
                    protocol: ProtocolId::ESP,
                    spi: vec![0xc0, 0xff, 0xee, 0x01],
                    transforms: vec![
                        Transform::encr(EncrId::AES_GCM_16, Some(128)),
                        Transform::new(TransformType::ESN, EsnId::NO_EXT_SEQ.0),
                    ],
                }],
            }),
            Payload::Tsi(Ts {
                selectors: vec![
                    TrafficSelector::Ipv4 {
                        ip_protocol: 0,
                        start_port: 0,
                        end_port: 65535,
                        start: Ipv4Addr::new(10, 1, 0, 0),
                        end: Ipv4Addr::new(10, 1, 0, 255),
                    },
                    TrafficSelector::Ipv6 {
                        ip_protocol: 17,
                        start_port: 500,
                        end_port: 4500,
                        start: "2001:db8::".parse::<Ipv6Addr>().unwrap(),
                        end: "2001:db8::ffff:ffff".parse::<Ipv6Addr>().unwrap(),
                    },
                ],
            }),
            Payload::Tsr(Ts {
                selectors: vec![TrafficSelector::Ipv4 {
                    ip_protocol: 6,
                    start_port: 443,
                    end_port: 443,
                    start: Ipv4Addr::new(10, 2, 0, 5),
                    end: Ipv4Addr::new(10, 2, 0, 9),
                }],
            }),
            Payload::Notify(Notify {
                protocol: ProtocolId::ESP,
                spi: vec![0xc0, 0xff, 0xee, 0x00],
                notify_type: NotifyType::REKEY_SA,
                data: vec![],
            }),
            Payload::Delete(Delete {
                protocol: ProtocolId::ESP,
                spis: vec![vec![0xaa, 0xbb, 0xcc, 0xdd], vec![0x11, 0x22, 0x33, 0x44]],
            }),
            Payload::Eap(Eap {
                data: b"\x02\x01\x00\x0a\x01user".to_vec(),
            }),
            Payload::Unknown(UnknownPayload {
                payload_type: PayloadType(60),
                critical: false,
                data: b"opaque".to_vec(),
            }),
        ],
    }
}

#[test]
fn ike_sa_init_request_golden_both_ways() {
    let m = ike_sa_init_req();
    check_both_ways("hand-ike_sa_init-req.hex", &m);
    let Payload::Sa(sa) = &m.payloads[0] else {
        unreachable!()
    };
    assert_eq!(
        sa.proposals[0].to_string(),
        "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    assert_eq!(
        sa.proposals[1].to_string(),
        "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
}

#[test]
fn all_payloads_golden_both_ways() {
    let m = all_payloads();
    check_both_ways("hand-all-payloads.hex", &m);
    let Payload::Sa(sa) = &m.payloads[6] else {
        unreachable!()
    };
    assert_eq!(sa.proposals[0].to_string(), "ESP:AES_GCM_16_128/NO_EXT_SEQ");
    let Payload::Tsr(ts) = &m.payloads[8] else {
        unreachable!()
    };
    assert_eq!(ts.selectors[0].to_string(), "10.2.0.5-10.2.0.9[tcp/443]");
    assert_eq!(m.unsupported_critical(), None);
}

#[test]
fn sk_keeps_first_inner_payload_type() {
    let m = Message {
        header: header(ExchangeType::IKE_AUTH, SPI_R, 1, false),
        payloads: vec![Payload::Sk(Sk {
            next_inner: PayloadType::IDI,
            body: [
                (0u8..16).collect::<Vec<_>>(),
                vec![0x77; 24],
                vec![0x88; 16],
            ]
            .concat(),
        })],
    };
    check_both_ways("hand-ike_auth-sk.hex", &m);
}

#[test]
fn skf_fragment_golden_both_ways() {
    let m = Message {
        header: header(ExchangeType::IKE_AUTH, SPI_R, 1, false),
        payloads: vec![Payload::Skf(Skf {
            next_inner: PayloadType::IDI,
            fragment_number: 1,
            total_fragments: 2,
            body: vec![0x99; 30],
        })],
    };
    check_both_ways("hand-ike_auth-skf.hex", &m);
}

#[test]
fn unknown_critical_payload_is_kept_and_reported() {
    let m = Message {
        header: header(ExchangeType::INFORMATIONAL, SPI_R, 2, true),
        payloads: vec![
            Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])),
            Payload::Unknown(UnknownPayload {
                payload_type: PayloadType(200),
                critical: true,
                data: vec![1, 2, 3],
            }),
        ],
    };
    check_both_ways("hand-informational-critical.hex", &m);
    let e = m.unsupported_critical().unwrap();
    assert_eq!(e.payload, Some(PayloadType(200)));
    assert_eq!(e.offset, 28 + 8);
    assert_eq!(e.reason, Reason::UnsupportedCriticalPayload);
    assert_eq!(e.notify(), Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD));
}

#[test]
fn delete_of_ike_sa_golden_both_ways() {
    let m = Message {
        header: header(ExchangeType::INFORMATIONAL, SPI_R, 2, false),
        payloads: vec![Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spis: vec![],
        })],
    };
    check_both_ways("hand-informational-delete.hex", &m);
}

/// Parse `b` and return the error, which must exist.
fn err(b: &[u8]) -> WireError {
    Message::parse(b).expect_err("corrupted vector must be rejected")
}

fn set_len(b: &mut [u8]) {
    let n = u32::try_from(b.len()).unwrap();
    b[24..28].copy_from_slice(&n.to_be_bytes());
}

#[test]
fn rejects_header_length_that_differs_from_datagram() {
    let mut b = vector("hand-ike_sa_init-req.hex");
    b.push(0);
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.offset, e.reason),
        (None, "header.length", 24, Reason::HeaderLengthMismatch)
    );
    assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
    assert_eq!(err(&b[..27]).reason, Reason::Truncated);
}

#[test]
fn rejects_trailing_bytes_after_last_payload() {
    let mut b = vector("hand-informational-delete.hex");
    b.extend_from_slice(&[0, 0, 0]);
    set_len(&mut b);
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("payloads", 36, Reason::TrailingBytes)
    );
}

#[test]
fn rejects_generic_length_below_four_and_past_the_end() {
    let mut b = vector("hand-informational-delete.hex");
    b[30..32].copy_from_slice(&3u16.to_be_bytes());
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.offset, e.reason),
        (
            Some(PayloadType::DELETE),
            "length",
            28,
            Reason::LengthTooShort
        )
    );
    b[30..32].copy_from_slice(&9u16.to_be_bytes());
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("length", 28, Reason::LengthOverrun)
    );
}

#[test]
fn rejects_major_version_other_than_two() {
    let mut b = vector("hand-informational-delete.hex");
    b[17] = 0x30;
    let e = err(&b);
    assert_eq!(e.reason, Reason::UnsupportedMajorVersion);
    assert_eq!(e.notify(), Some(NotifyType::INVALID_MAJOR_VERSION));
}

#[test]
fn rejects_ike_delete_with_an_spi_size() {
    let mut b = vector("hand-informational-delete.hex");
    b[33] = 8;
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.offset, e.reason),
        (
            Some(PayloadType::DELETE),
            "delete.spi_size",
            32,
            Reason::BadSpiSize
        )
    );
}

#[test]
fn rejects_transform_count_that_disagrees_and_names_the_offset() {
    let mut b = vector("hand-ike_sa_init-req.hex");
    // Proposal 1 starts at 32; its transform count is byte 7 of it.
    b[32 + 7] = 2;
    let e = err(&b);
    assert_eq!(e.payload, Some(PayloadType::SA));
    assert!(
        e.reason == Reason::BadLastFlag || e.reason == Reason::CountMismatch,
        "{e}"
    );
    assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
}

#[test]
fn rejects_nonce_shorter_than_sixteen_bytes() {
    let short = Message {
        header: header(ExchangeType::IKE_SA_INIT, 0, 0, false),
        payloads: vec![Payload::Nonce(Nonce { data: vec![1; 15] })],
    };
    // Emit refuses it too, so build the bytes from a 16-byte nonce.
    assert_eq!(
        short.try_to_vec().unwrap_err().reason,
        Reason::BadValueLength
    );
    let mut ok = short;
    ok.payloads = vec![Payload::Nonce(Nonce { data: vec![1; 16] })];
    let mut b = ok.to_vec();
    b.pop();
    b[30..32].copy_from_slice(&19u16.to_be_bytes());
    set_len(&mut b);
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.offset, e.reason),
        (
            Some(PayloadType::NONCE),
            "nonce.data",
            32,
            Reason::BadValueLength
        )
    );
}

#[test]
fn rejects_payload_after_sk() {
    let mut m = Message {
        header: header(ExchangeType::IKE_AUTH, SPI_R, 1, false),
        payloads: vec![Payload::Sk(Sk {
            next_inner: PayloadType::IDI,
            body: vec![0; 32],
        })],
    };
    let mut b = m.to_vec();
    b.extend_from_slice(&[0, 0, 0, 4]);
    set_len(&mut b);
    assert_eq!(err(&b).reason, Reason::EncryptedNotLast);
    // And emit refuses to build such a message.
    m.payloads.push(Payload::Nonce(Nonce { data: vec![0; 16] }));
    assert_eq!(m.try_to_vec().unwrap_err().reason, Reason::EncryptedNotLast);
    assert!(m.to_vec().is_empty());
}

#[test]
fn rejects_skf_fragment_number_above_total() {
    let mut b = vector("hand-ike_auth-skf.hex");
    b[32..34].copy_from_slice(&3u16.to_be_bytes());
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.reason),
        (
            Some(PayloadType::SKF),
            "skf.fragment_number",
            Reason::BadValue
        )
    );
}

#[test]
fn unknown_registry_values_round_trip() {
    let mut b = vector("hand-ike_sa_init-req.hex");
    b[18] = 99; // exchange type
    b[32 + 8 + 12 + 7] = 0x77; // PRF id of proposal 1
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.header.exchange, ExchangeType(99));
    assert_eq!(m.header.exchange.to_string(), "99");
    assert_eq!(m.to_vec(), b);
}

#[test]
fn header_view_routes_without_parsing_payloads() {
    let b = vector("hand-ike_auth-sk.hex");
    let h = HeaderPacket::new_checked(&b[..]).unwrap();
    assert_eq!(
        (h.spi_i(), h.spi_r(), h.message_id()),
        (0x0123_4567_89ab_cdef, SPI_R, 1)
    );
    assert_eq!(h.exchange_type(), ExchangeType::IKE_AUTH);
    assert!(h.is_initiator() && !h.is_response());
}

#[test]
fn non_esp_marker_is_stripped_only_for_ike() {
    let ike = vector("hand-ike_auth-sk.hex");
    let mut udp = vec![0, 0, 0, 0];
    udp.extend_from_slice(&ike);
    assert_eq!(strip_non_esp_marker(&udp), Some(&ike[..]));
    assert_eq!(strip_non_esp_marker(&[0xff]), None, "NAT keepalive");
    assert_eq!(
        strip_non_esp_marker(&[0, 0, 0, 1, 0, 0, 0, 1]),
        None,
        "ESP SPI 1"
    );
    assert_eq!(strip_non_esp_marker(&[0, 0, 0]), None);
}

#[test]
fn every_decoded_payload_type_is_covered_by_a_vector() {
    let mut seen = std::collections::BTreeSet::new();
    for name in [
        "hand-ike_sa_init-req.hex",
        "hand-all-payloads.hex",
        "hand-ike_auth-sk.hex",
        "hand-ike_auth-skf.hex",
        "hand-informational-critical.hex",
        "hand-informational-delete.hex",
    ] {
        for p in Message::parse(&vector(name)).unwrap().payloads {
            seen.insert(p.payload_type());
        }
    }
    for t in DECODED_PAYLOAD_TYPES {
        assert!(seen.contains(&t), "no vector carries {t}");
    }
    eprintln!(
        "{} payload types decoded, {} named registry values",
        DECODED_PAYLOAD_TYPES.len(),
        registry_entry_count()
    );
}

#[test]
fn errors_point_at_the_offending_byte() {
    let base = vector("hand-ike_sa_init-req.hex");
    // Proposal 1 starts at 32: number at +4, protocol at +5, SPI size at +6,
    // transform count at +7.
    let mut b = base.clone();
    b[32 + 5] = ProtocolId::ESP.0;
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("proposal.spi_size", 38, Reason::BadSpiSize)
    );
    let mut b = base.clone();
    b[32 + 4] = 0;
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("proposal.number", 36, Reason::BadProposalNumber)
    );
    // A reply may start at any number (the chosen one), but the next
    // proposal (at 32 + 36) must follow it.
    let mut b = base.clone();
    b[32 + 4] = 5;
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("proposal.number", 72, Reason::BadProposalNumber)
    );
    let mut b = base.clone();
    b[32 + 7] = 0;
    let e = err(&b);
    assert_eq!(
        (e.field, e.offset, e.reason),
        ("proposal.num_transforms", 39, Reason::Empty)
    );
    // The KE payload's generic header sits right after the SA (28 + 84).
    let mut b = base;
    b[112 + 2..112 + 4].copy_from_slice(&2u16.to_be_bytes());
    let e = err(&b);
    assert_eq!(
        (e.payload, e.field, e.offset, e.reason),
        (Some(PayloadType::KE), "length", 112, Reason::LengthTooShort)
    );
}

#[test]
fn id_body_is_what_auth_signs() {
    // RFC 7296 §2.15: AUTH covers the ID payload without its generic header.
    let b = vector("hand-all-payloads.hex");
    let m = Message::parse(&b).unwrap();
    let body = m.payloads[0].body_to_vec().unwrap();
    assert_eq!(body, &b[32..32 + 4 + 14]);
    assert_eq!(&body[..4], &[2, 0, 0, 0]);
}
