//! Property tests: `parse(emit(r)) == r` for arbitrary Reprs of every
//! extension kind; arbitrary bytes never panic; whatever parses re-emits
//! canonically.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use pfkey::registry::*;
use pfkey::wire::*;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn sockaddr() -> impl Strategy<Value = SockAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, port)| SockAddr::V4 {
            addr: Ipv4Addr::from(a),
            port
        }),
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
            |(a, port, flowinfo, scope_id)| SockAddr::V6 {
                addr: Ipv6Addr::from(a),
                port,
                flowinfo,
                scope_id
            }
        ),
        // Other families: data length ≡ 6 (mod 8) so the padded length is exact.
        (
            any::<u16>().prop_filter("not inet", |f| *f != 2 && *f != 26),
            0usize..4
        )
            .prop_flat_map(|(family, n)| {
                proptest::collection::vec(any::<u8>(), n * 8 + 6)
                    .prop_map(move |data| SockAddr::Other { family, data })
            }),
    ]
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c, d)| Lifetime {
        allocations: a,
        bytes: b,
        addtime: c,
        usetime: d,
    })
}

fn kmc() -> impl Strategy<Value = KmCookie> {
    (any::<u32>(), any::<u64>()).prop_map(|(p, c)| KmCookie {
        proto: SadbKmp(p),
        cookie: c,
    })
}

fn comb() -> impl Strategy<Value = Comb> {
    (
        any::<(u8, u8, u16, u16, u16, u16, u16, u8)>(),
        any::<(u32, u32, u64, u64, u64, u64, u64, u64)>(),
    )
        .prop_map(|(a, b)| Comb {
            auth: SadbAalg(a.0),
            encrypt: SadbEalg(a.1),
            flags: a.2,
            auth_minbits: a.3,
            auth_maxbits: a.4,
            encrypt_minbits: a.5,
            encrypt_maxbits: a.6,
            encrypt_saltbits: a.7,
            soft_allocations: b.0,
            hard_allocations: b.1,
            soft_bytes: b.2,
            hard_bytes: b.3,
            soft_addtime: b.4,
            hard_addtime: b.5,
            soft_usetime: b.6,
            hard_usetime: b.7,
        })
}

fn algdesc() -> impl Strategy<Value = AlgDesc> {
    any::<(u8, u8, u8, u8, u16, u16)>().prop_map(|a| AlgDesc {
        satype: SadbSaType(a.0),
        algtype: SadbAlgType(a.1),
        alg: a.2,
        saltbits: a.3,
        minbits: a.4,
        maxbits: a.5,
    })
}

fn ecomb() -> impl Strategy<Value = Ecomb> {
    (
        any::<(u16, u32, u32, u64, u64, u64, u64)>(),
        any::<(u64, u64)>(),
        proptest::collection::vec(algdesc(), 0..4),
    )
        .prop_map(|(a, b, algs)| Ecomb {
            flags: a.0,
            soft_allocations: a.1,
            hard_allocations: a.2,
            soft_bytes: a.3,
            hard_bytes: a.4,
            soft_addtime: a.5,
            hard_addtime: a.6,
            soft_usetime: b.0,
            hard_usetime: b.1,
            algs,
        })
}

fn padded_bytes(max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..max_words).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 8))
}

fn extension() -> impl Strategy<Value = Extension> {
    let addr_kind = prop_oneof![
        Just(AddressKind::Src),
        Just(AddressKind::Dst),
        Just(AddressKind::InnerSrc),
        Just(AddressKind::InnerDst),
        Just(AddressKind::NattLoc),
        Just(AddressKind::NattRem)
    ];
    let lt_kind = prop_oneof![
        Just(LifetimeKind::Current),
        Just(LifetimeKind::Hard),
        Just(LifetimeKind::Soft),
        Just(LifetimeKind::Idle)
    ];
    let key_kind = prop_oneof![
        Just(KeyKind::Auth),
        Just(KeyKind::Encrypt),
        Just(KeyKind::StrAuth)
    ];
    prop_oneof![
        any::<(u32, u8, u8, u8, u8, u32)>().prop_map(|a| Extension::Sa(SaExt {
            spi: a.0,
            replay: a.1,
            state: SadbSaState(a.2),
            auth: SadbAalg(a.3),
            encrypt: SadbEalg(a.4),
            flags: SadbSaFlags(a.5),
        })),
        (lt_kind, lifetime()).prop_map(|(k, l)| Extension::Lifetime(k, l)),
        (addr_kind, any::<u8>(), any::<u8>(), sockaddr()).prop_map(
            |(k, proto, prefixlen, addr)| {
                Extension::Address(
                    k,
                    AddressExt {
                        proto,
                        prefixlen,
                        addr,
                    },
                )
            }
        ),
        (key_kind, any::<u16>(), any::<u16>(), padded_bytes(6)).prop_map(|(k, b, r, d)| {
            Extension::Key(k, KeyExt::from_raw(b, r, Zeroizing::new(d)))
        }),
        (prop::bool::ANY, any::<u16>(), any::<u64>(), padded_bytes(4)).prop_map(
            |(s, t, id, data)| {
                Extension::Identity(
                    if s { IdentKind::Src } else { IdentKind::Dst },
                    IdentityExt {
                        ident_type: SadbIdentType(t),
                        id,
                        data,
                    },
                )
            }
        ),
        (
            prop::bool::ANY,
            any::<(u32, u8, u8, u32)>(),
            proptest::collection::vec(any::<u64>(), 0..3),
            proptest::collection::vec(any::<u64>(), 0..3)
        )
            .prop_map(|(o, a, sb, ib)| Extension::Sensitivity(
                if o {
                    SensKind::OuterSens
                } else {
                    SensKind::Sensitivity
                },
                SensExt {
                    dpd: a.0,
                    sens_level: a.1,
                    integ_level: a.2,
                    flags: a.3,
                    sens_bitmap: sb,
                    integ_bitmap: ib,
                }
            )),
        (
            any::<u8>(),
            proptest::collection::vec(comb(), 0..3),
            proptest::option::of(kmc())
        )
            .prop_map(|(replay, combs, kmc)| Extension::Proposal(ProposalExt {
                replay,
                combs,
                kmc
            })),
        (
            prop::bool::ANY,
            proptest::collection::vec(any::<(u8, u8, u16, u16, u8, u8)>(), 0..5)
        )
            .prop_map(|(a, v)| Extension::Supported(
                if a {
                    SupportedKind::Auth
                } else {
                    SupportedKind::Encrypt
                },
                v.into_iter()
                    .map(|x| Alg {
                        id: x.0,
                        ivlen: x.1,
                        minbits: x.2,
                        maxbits: x.3,
                        increment: x.4,
                        saltbits: x.5
                    })
                    .collect()
            )),
        any::<(u32, u32)>().prop_map(|(min, max)| Extension::SpiRange(SpiRange { min, max })),
        proptest::collection::vec(1u8..=255, 0..12)
            .prop_map(|v| Extension::Ereg(v.into_iter().map(SadbSaType).collect())),
        (
            any::<u8>(),
            proptest::collection::vec(ecomb(), 0..3),
            proptest::option::of(kmc())
        )
            .prop_map(|(replay, ecombs, kmc)| Extension::Eprop(EpropExt {
                replay,
                ecombs,
                kmc
            })),
        kmc().prop_map(Extension::KmCookie),
        any::<u32>().prop_map(Extension::Pair),
        any::<(u32, u64)>().prop_map(|(a, b)| Extension::ReplayValue(ReplayValue {
            replay32: a,
            replay64: b
        })),
        any::<u64>().prop_map(Extension::Edump),
        (29u16.., 0usize..4).prop_flat_map(|(t, w)| {
            proptest::collection::vec(any::<u8>(), w * 8 + 4).prop_map(move |data| {
                Extension::Other {
                    ext_type: SadbExtType(t),
                    data,
                }
            })
        }),
    ]
}

fn message() -> impl Strategy<Value = SadbMsg> {
    (
        any::<(u8, u8, u8, u8, u16, u32, u32)>(),
        proptest::collection::vec(extension(), 0..8),
    )
        .prop_map(|(h, exts)| {
            // Keep the first of each type: duplicates are rejected by design.
            let mut seen = Vec::new();
            let exts = exts
                .into_iter()
                .filter(|e| {
                    let t = e.ext_type();
                    let new = !seen.contains(&t);
                    seen.push(t);
                    new
                })
                .collect();
            SadbMsg {
                header: SadbHeader {
                    version: h.0,
                    msg_type: SadbMsgType(h.1),
                    errno: Errno(h.2),
                    satype: SadbSaType(h.3),
                    diagnostic: SadbDiagnostic(h.4),
                    seq: h.5,
                    pid: h.6,
                },
                exts,
            }
        })
}

fn spd_ext() -> impl Strategy<Value = SpdExt> {
    let side = prop_oneof![Just(Side::Local), Just(Side::Remote)];
    prop_oneof![
        (side.clone(), any::<u16>(), any::<u16>()).prop_map(|(side, min, max)| SpdExt::Port {
            side,
            min,
            max
        }),
        any::<u8>().prop_map(SpdExt::Proto),
        (
            side,
            any::<u8>(),
            prop_oneof![
                any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
                any::<[u8; 16]>().prop_map(std::net::IpAddr::from)
            ]
        )
            .prop_map(|(side, prefixlen, addr)| SpdExt::Addr {
                side,
                prefixlen,
                addr
            }),
        (
            any::<u16>(),
            proptest::collection::vec(any::<(u32, u32)>(), 0..10)
        )
            .prop_map(|(count, a)| {
                SpdExt::Action {
                    count,
                    attrs: a
                        .into_iter()
                        .map(|(t, v)| SpdAttr {
                            tag: SpdAttrTag(t),
                            value: v,
                        })
                        .collect(),
                }
            }),
        any::<(u32, u32, u64)>().prop_map(|(p, f, i)| SpdExt::Rule(SpdRule {
            priority: p,
            flags: f,
            index: i
        })),
        any::<(u32, u64)>().prop_map(|(c, v)| SpdExt::Ruleset {
            count: c,
            version: v
        }),
        any::<(u8, u8, u8, u8)>().prop_map(|t| SpdExt::IcmpTypeCode(SpdTypeCode {
            icmp_type: t.0,
            type_end: t.1,
            code: t.2,
            code_end: t.3
        })),
        "[a-z0-9.]{0,20}".prop_map(|n| SpdExt::tun_name(&n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn pfkey_roundtrip(m in message()) {
        let bytes = m.to_bytes().unwrap();
        prop_assert_eq!(bytes.len() % 8, 0);
        let back = SadbMsg::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        // Poisoned emit: junk-filled buffer gives the same bytes.
        let mut junk = vec![0xa5u8; m.buffer_len()];
        m.emit(&mut junk).unwrap();
        prop_assert_eq!(&junk[..], &bytes[..]);
    }

    #[test]
    fn spd_roundtrip(h in any::<(u8, u8, u8, u8, u16, u32, u32)>(), exts in proptest::collection::vec(spd_ext(), 0..6)) {
        let mut seen = Vec::new();
        let exts: Vec<SpdExt> = exts.into_iter().filter(|e| {
            let t = e.ext_type();
            let new = !seen.contains(&t);
            seen.push(t);
            new
        }).collect();
        let m = SpdMsg {
            header: SpdHeader {
                version: h.0,
                msg_type: SpdMsgType(h.1),
                errno: Errno(h.2),
                spdid: SpdId(h.3),
                diagnostic: SpdDiagnostic(h.4),
                seq: h.5,
                pid: h.6,
            },
            exts,
        };
        let bytes = m.to_bytes().unwrap();
        prop_assert_eq!(SpdMsg::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn actions_encode_decode(alts in proptest::collection::vec(
        (1u32..=3, any::<u32>(), proptest::option::of(1u32..), proptest::option::of(1u32..), proptest::option::of(any::<u32>())),
        1..5)) {
        let alts: Vec<ActionAlt> = alts.into_iter().map(|(t, f, e, a, m)| ActionAlt {
            act_type: SpdActType(t),
            flags: f,
            esp_encr: e,
            esp_auth: a,
            encr_minbits: m,
            ..ActionAlt::default()
        }).collect();
        let SpdExt::Action { count, attrs } = encode_actions(&alts).unwrap() else { panic!() };
        let back = decode_actions(count, &attrs).unwrap();
        // FLAGS is always emitted for IPSEC; a zero FLAGS on PASS/DROP is
        // omitted and decodes as 0, so the alternatives match exactly.
        prop_assert_eq!(back, alts);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reemit_canonically(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        pfkey::fuzzing::pfkey_msg(&data);
    }

    #[test]
    fn framed_random_extensions_never_panic(
        h in any::<[u8; 8]>(),
        exts in proptest::collection::vec((1u16..30, 1u16..6, proptest::collection::vec(any::<u8>(), 44)), 0..6)
    ) {
        // Build a message whose framing is valid so the per-type parsers see
        // random bodies (raw random bytes rarely get that far).
        let mut body = Vec::new();
        for (t, w, fill) in exts {
            let len = usize::from(w) * 8;
            body.extend_from_slice(&w.to_le_bytes());
            body.extend_from_slice(&t.to_le_bytes());
            body.extend_from_slice(&fill[..len - 4]);
        }
        let total = u16::try_from((body.len() + 16) / 8).unwrap();
        let mut msg = vec![2, h[1], h[2], h[3]];
        msg.extend_from_slice(&total.to_le_bytes());
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&h);
        msg.extend_from_slice(&body);
        pfkey::fuzzing::pfkey_msg(&msg);
    }
}
