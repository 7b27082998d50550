//! The proposal sets that stock road-warrior clients send by default
//! (issue #10, "native-client proposal sets are accepted by the proposal
//! matcher"), run through `ike::policy::proposal::select` against the
//! proposals a gateway operator writes in `ikegw.toml`, parsed the way
//! `crates/gateway` parses them (`parse_list` on each string, in order).
//!
//! Sources of the client sets (facts read from the pages named, encoded
//! here as IANA transform IDs):
//! - iOS (as of 16.5) and macOS (as of 13.4): strongSwan's interop page
//!   "iOS and macOS", section "Default IKE/ESP proposals sent by iOS/macOS"
//!   (https://docs.strongswan.org/docs/latest/interop/ios.html), which also
//!   says that only iOS sends the ECP_256 proposal. The same five IKE
//!   offers are listed for iOS 12/13 at
//!   https://how2itsec.blogspot.com/2019/11/apple-iphoneipad-ios-ipsec-ikev2.html.
//! - Windows 10/11 (Agile VPN, built-in client): strongSwan's interop page
//!   "Windows Clients", section "Enable Strong Key Exchange"
//!   (https://docs.strongswan.org/docs/6.0/interop/windowsClients.html):
//!   by default IKE `3des-aes128-aes192-aes256-sha1-sha256-sha384-modp1024`,
//!   Windows 11 additionally `aes128gcm16-aes256gcm16-sha1-sha256-sha384-modp1024`,
//!   with `NegotiateDH2048_AES256 = 2` in the registry
//!   `aes256-sha1-sha256-sha384-modp2048`, and for ESP
//!   `aes256-aes128-3des-des-null-sha1`. In strongSwan's notation an IKE
//!   integrity keyword without a PRF keyword stands for the matching PRF as
//!   well, so each of those proposals carries PRF_HMAC_SHA1/SHA2_256/SHA2_384.
//!   The fourth Windows set is the one `ikegw profile --format powershell`
//!   pins with `Set-VpnConnectionIPsecConfiguration` (GCMAES256, SHA384,
//!   ECP384; crates/gateway/src/profiles/suite.rs).
//! - Android 11+ platform VPN (`Ikev2VpnProfile`): AOSP
//!   `frameworks/base/services/core/java/com/android/server/connectivity/VpnIkev2Utils.java`,
//!   `getIkeSaProposals()` and `getChildSaProposals()` with the default
//!   allowed algorithms (all of them): a non-AEAD IKE proposal (AES-CTR and
//!   AES-CBC 256/192/128; HMAC-SHA2-512/384/256, AES-XCBC, AES-CMAC) and an
//!   AEAD one (ChaCha20-Poly1305, AES-GCM-16/12/8 at 256/192/128), both with
//!   MODP-4096, Curve25519, MODP-3072, MODP-2048 and PRFs SHA2-512/384/256,
//!   AES128-XCBC, AES128-CMAC, HMAC-SHA1; ESP AES-CBC 256/192/128 with
//!   HMAC-SHA2-512/384/256, and AES-GCM-16/12/8 at 256/192/128.
//! - strongSwan VPN Client for Android: without a custom `ike-proposal` /
//!   `esp-proposal` in its profile (the .sswan format page,
//!   https://docs.strongswan.org/docs/6.0/os/androidVpnClientProfiles.html)
//!   it sends libcharon's `default` proposals, which depend on the crypto
//!   plugins built in. The sets below are what charon 5.9.8 (Debian 12,
//!   openssl plugin) in this lab logs as "configured proposals" for
//!   `proposals = default` and `esp_proposals = default`.
//!
//! What "strongest common suite" means here: the security level of the
//! weakest part (NIST SP 800-57 Part 1 Table 2 equivalences) counted up to
//! 128 bits, then AEAD over encrypt-and-MAC, then the cipher's key size.
//! Levels above 128 bits are not told apart on purpose: ikegw's default,
//! like strongSwan's, prefers X25519 to ECP-384 (a constant-time curve and
//! smaller messages), and both are past the 128-bit level that RFC 8247
//! §2.4 and SP 800-57 ask of new deployments.

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ike::policy::proposal::{parse_list, select, strip_ke, Algorithm, Chosen, ProposalSpec};
use ike::wire::{
    EncrId, EsnId, IntegId, KeMethod, NotifyType, PrfId, Proposal, ProtocolId, Transform,
    TransformType,
};

// ---------------------------------------------------------------- offers --

fn encr(id: EncrId, bits: Option<u16>) -> Transform {
    Transform::encr(id, bits)
}
fn integ(id: IntegId) -> Transform {
    Transform::new(TransformType::INTEG, id.0)
}
fn prf(id: PrfId) -> Transform {
    Transform::new(TransformType::PRF, id.0)
}
fn ke(id: KeMethod) -> Transform {
    Transform::new(TransformType::KE, id.0)
}
fn no_esn() -> Transform {
    Transform::new(TransformType::ESN, EsnId::NO_EXT_SEQ.0)
}

/// Numbers the proposals 1, 2, ... (RFC 7296 §3.3.1); ESP ones get a
/// 4-byte SPI as in IKE_AUTH.
fn numbered(protocol: ProtocolId, sets: Vec<Vec<Transform>>) -> Vec<Proposal> {
    sets.into_iter()
        .enumerate()
        .map(|(n, transforms)| Proposal {
            number: u8::try_from(n + 1).unwrap(),
            protocol,
            spi: if protocol == ProtocolId::ESP {
                vec![0xc0, 0, 0, u8::try_from(n + 1).unwrap()]
            } else {
                Vec::new()
            },
            transforms,
        })
        .collect()
}

/// One client's default offers.
struct Client {
    name: &'static str,
    ike: Vec<Proposal>,
    esp: Vec<Proposal>,
}

/// AES-CBC-256 / HMAC-SHA2-256 / PRF-SHA2-256 with `group`, Apple's first offers.
fn apple_cbc256(group: KeMethod) -> Vec<Transform> {
    vec![
        encr(EncrId::AES_CBC, Some(256)),
        integ(IntegId::AUTH_HMAC_SHA2_256_128),
        prf(PrfId::PRF_HMAC_SHA2_256),
        ke(group),
    ]
}

fn apple_legacy() -> Vec<Vec<Transform>> {
    vec![
        vec![
            encr(EncrId::AES_CBC, Some(128)),
            integ(IntegId::AUTH_HMAC_SHA1_96),
            prf(PrfId::PRF_HMAC_SHA1),
            ke(KeMethod::MODP_1024),
        ],
        vec![
            encr(EncrId::ENCR_3DES, None),
            integ(IntegId::AUTH_HMAC_SHA1_96),
            prf(PrfId::PRF_HMAC_SHA1),
            ke(KeMethod::MODP_1024),
        ],
    ]
}

fn apple_esp() -> Vec<Proposal> {
    let cbc256 = || {
        vec![
            encr(EncrId::AES_CBC, Some(256)),
            integ(IntegId::AUTH_HMAC_SHA2_256_128),
            no_esn(),
        ]
    };
    numbered(
        ProtocolId::ESP,
        vec![
            cbc256(),
            cbc256(),
            cbc256(),
            vec![
                encr(EncrId::AES_CBC, Some(128)),
                integ(IntegId::AUTH_HMAC_SHA1_96),
                no_esn(),
            ],
            vec![
                encr(EncrId::ENCR_3DES, None),
                integ(IntegId::AUTH_HMAC_SHA1_96),
                no_esn(),
            ],
        ],
    )
}

fn ios() -> Client {
    let mut ike = vec![
        apple_cbc256(KeMethod::MODP_2048),
        apple_cbc256(KeMethod::ECP_256),
        apple_cbc256(KeMethod::MODP_1536),
    ];
    ike.extend(apple_legacy());
    Client {
        name: "iOS 16.5",
        ike: numbered(ProtocolId::IKE, ike),
        esp: apple_esp(),
    }
}

fn macos() -> Client {
    // As iOS, without the ECP_256 proposal (only iOS sends it).
    let mut ike = vec![
        apple_cbc256(KeMethod::MODP_2048),
        apple_cbc256(KeMethod::MODP_1536),
    ];
    ike.extend(apple_legacy());
    Client {
        name: "macOS 13.4",
        ike: numbered(ProtocolId::IKE, ike),
        esp: apple_esp(),
    }
}

/// Windows' integrity list `sha1-sha256-sha384` with its matching PRFs.
fn windows_integ_prf() -> Vec<Transform> {
    vec![
        integ(IntegId::AUTH_HMAC_SHA1_96),
        integ(IntegId::AUTH_HMAC_SHA2_256_128),
        integ(IntegId::AUTH_HMAC_SHA2_384_192),
        prf(PrfId::PRF_HMAC_SHA1),
        prf(PrfId::PRF_HMAC_SHA2_256),
        prf(PrfId::PRF_HMAC_SHA2_384),
    ]
}

/// Windows' default ESP offer `aes256-aes128-3des-des-null-sha1`.
fn windows_esp() -> Vec<Proposal> {
    numbered(
        ProtocolId::ESP,
        vec![vec![
            encr(EncrId::AES_CBC, Some(256)),
            encr(EncrId::AES_CBC, Some(128)),
            encr(EncrId::ENCR_3DES, None),
            encr(EncrId::DES, None),
            encr(EncrId::NULL, None),
            integ(IntegId::AUTH_HMAC_SHA1_96),
            no_esn(),
        ]],
    )
}

fn windows_default() -> Client {
    let mut cbc = vec![
        encr(EncrId::ENCR_3DES, None),
        encr(EncrId::AES_CBC, Some(128)),
        encr(EncrId::AES_CBC, Some(192)),
        encr(EncrId::AES_CBC, Some(256)),
    ];
    cbc.extend(windows_integ_prf());
    cbc.push(ke(KeMethod::MODP_1024));
    Client {
        name: "Windows 10 default",
        ike: numbered(ProtocolId::IKE, vec![cbc]),
        esp: windows_esp(),
    }
}

fn windows11_default() -> Client {
    let mut w = windows_default();
    w.name = "Windows 11 default";
    // The AEAD proposal comes with the integrity keywords' PRFs only: an
    // AEAD proposal carries no INTEG transform (RFC 5282 §8).
    let gcm = vec![
        encr(EncrId::AES_GCM_16, Some(128)),
        encr(EncrId::AES_GCM_16, Some(256)),
        prf(PrfId::PRF_HMAC_SHA1),
        prf(PrfId::PRF_HMAC_SHA2_256),
        prf(PrfId::PRF_HMAC_SHA2_384),
        ke(KeMethod::MODP_1024),
    ];
    let mut sets: Vec<Vec<Transform>> = w.ike.into_iter().map(|p| p.transforms).collect();
    sets.push(gcm);
    w.ike = numbered(ProtocolId::IKE, sets);
    w
}

fn windows_dh2048() -> Client {
    let mut t = vec![encr(EncrId::AES_CBC, Some(256))];
    t.extend(windows_integ_prf());
    t.push(ke(KeMethod::MODP_2048));
    Client {
        name: "Windows 11, NegotiateDH2048_AES256 = 2",
        ike: numbered(ProtocolId::IKE, vec![t]),
        esp: windows_esp(),
    }
}

fn windows_pinned() -> Client {
    Client {
        name: "Windows, ikegw's PowerShell profile (GCMAES256/SHA384/ECP384)",
        ike: numbered(
            ProtocolId::IKE,
            vec![vec![
                encr(EncrId::AES_GCM_16, Some(256)),
                prf(PrfId::PRF_HMAC_SHA2_384),
                ke(KeMethod::ECP_384),
            ]],
        ),
        esp: numbered(
            ProtocolId::ESP,
            vec![vec![
                encr(EncrId::AES_GCM_16, Some(256)),
                ke(KeMethod::ECP_384),
                no_esn(),
            ]],
        ),
    }
}

fn android_native() -> Client {
    let groups_prfs = || {
        vec![
            ke(KeMethod::MODP_4096),
            ke(KeMethod::CURVE_25519),
            ke(KeMethod::MODP_3072),
            ke(KeMethod::MODP_2048),
            prf(PrfId::PRF_HMAC_SHA2_512),
            prf(PrfId::PRF_HMAC_SHA2_384),
            prf(PrfId::PRF_HMAC_SHA2_256),
            prf(PrfId::PRF_AES128_XCBC),
            prf(PrfId::PRF_AES128_CMAC),
            prf(PrfId::PRF_HMAC_SHA1),
        ]
    };
    let mut normal = Vec::new();
    for bits in [256, 192, 128] {
        normal.push(encr(EncrId::AES_CTR, Some(bits)));
        normal.push(encr(EncrId::AES_CBC, Some(bits)));
    }
    normal.extend([
        integ(IntegId::AUTH_HMAC_SHA2_512_256),
        integ(IntegId::AUTH_HMAC_SHA2_384_192),
        integ(IntegId::AUTH_HMAC_SHA2_256_128),
        integ(IntegId::AUTH_AES_XCBC_96),
        integ(IntegId::AUTH_AES_CMAC_96),
    ]);
    normal.extend(groups_prfs());
    let gcm_all = || {
        let mut v = Vec::new();
        for bits in [256, 192, 128] {
            for id in [EncrId::AES_GCM_16, EncrId::AES_GCM_12, EncrId::AES_GCM_8] {
                v.push(encr(id, Some(bits)));
            }
        }
        v
    };
    let mut aead = vec![encr(EncrId::CHACHA20_POLY1305, None)];
    aead.extend(gcm_all());
    aead.extend(groups_prfs());
    let mut esp_cbc: Vec<Transform> = [256, 192, 128]
        .into_iter()
        .map(|b| encr(EncrId::AES_CBC, Some(b)))
        .collect();
    esp_cbc.extend([
        integ(IntegId::AUTH_HMAC_SHA2_512_256),
        integ(IntegId::AUTH_HMAC_SHA2_384_192),
        integ(IntegId::AUTH_HMAC_SHA2_256_128),
        no_esn(),
    ]);
    let mut esp_gcm = gcm_all();
    esp_gcm.push(no_esn());
    Client {
        name: "Android 11+ platform VPN",
        ike: numbered(ProtocolId::IKE, vec![normal, aead]),
        esp: numbered(ProtocolId::ESP, vec![esp_cbc, esp_gcm]),
    }
}

fn strongswan_app() -> Client {
    // libcharon's `default` as charon 5.9.8 printed it here ("configured
    // proposals", crypto from the openssl plugin): one encrypt-and-MAC and
    // one AEAD proposal for IKE, the reverse order for ESP.
    let groups = || {
        [
            KeMethod::CURVE_25519,
            KeMethod::CURVE_448,
            KeMethod::ECP_256,
            KeMethod::ECP_384,
            KeMethod::ECP_521,
            KeMethod::ECP_256_BP,
            KeMethod::ECP_384_BP,
            KeMethod::ECP_512_BP,
            KeMethod::MODP_3072,
            KeMethod::MODP_4096,
            KeMethod::MODP_6144,
            KeMethod::MODP_8192,
            KeMethod::MODP_2048,
        ]
        .into_iter()
        .map(ke)
    };
    let prfs = || {
        [
            PrfId::PRF_HMAC_SHA2_256,
            PrfId::PRF_HMAC_SHA2_384,
            PrfId::PRF_HMAC_SHA2_512,
            PrfId::PRF_HMAC_SHA1,
        ]
        .into_iter()
        .map(prf)
    };
    let sized = |ids: &[EncrId]| -> Vec<Transform> {
        ids.iter()
            .flat_map(|id| [128, 192, 256].map(|b| encr(*id, Some(b))))
            .collect()
    };
    let sha2_sha1 = || {
        [
            IntegId::AUTH_HMAC_SHA2_256_128,
            IntegId::AUTH_HMAC_SHA2_384_192,
            IntegId::AUTH_HMAC_SHA2_512_256,
            IntegId::AUTH_HMAC_SHA1_96,
        ]
        .into_iter()
        .map(integ)
    };
    let mut cbc = sized(&[
        EncrId::AES_CBC,
        EncrId::AES_CTR,
        EncrId::CAMELLIA_CBC,
        EncrId::CAMELLIA_CTR,
    ]);
    cbc.push(encr(EncrId::ENCR_3DES, None));
    cbc.extend(sha2_sha1());
    cbc.extend(prfs());
    cbc.extend(groups());
    let mut aead = sized(&[EncrId::AES_GCM_16, EncrId::AES_CCM_16]);
    aead.push(encr(EncrId::CHACHA20_POLY1305, None));
    aead.extend(sized(&[
        EncrId::AES_GCM_12,
        EncrId::AES_GCM_8,
        EncrId::AES_CCM_12,
        EncrId::AES_CCM_8,
    ]));
    aead.extend(prfs());
    aead.extend(groups());
    let mut esp_cbc = sized(&[EncrId::AES_CBC]);
    esp_cbc.extend(sha2_sha1());
    esp_cbc.extend([integ(IntegId::AUTH_AES_XCBC_96), no_esn()]);
    let mut esp_gcm = sized(&[EncrId::AES_GCM_16]);
    esp_gcm.push(no_esn());
    Client {
        name: "strongSwan Android app (libcharon default)",
        ike: numbered(ProtocolId::IKE, vec![cbc, aead]),
        esp: numbered(ProtocolId::ESP, vec![esp_cbc, esp_gcm]),
    }
}

// ---------------------------------------------------------------- server --

/// A server connection's `proposals` and `esp_proposals`, as written in
/// `ikegw.toml`.
struct Server {
    name: &'static str,
    ike: &'static [&'static str],
    esp: &'static [&'static str],
}

/// Neither key set: ikegw's `default` (AEAD with SHA-2 PRFs and
/// X25519/ECP groups only).
const DEFAULT: Server = Server {
    name: "default",
    ike: &["default"],
    esp: &["default"],
};

/// `[connections.rw]` of examples/road-warrior-server.toml (checked below
/// against the file).
const RW_EXAMPLE: Server = Server {
    name: "examples/road-warrior-server.toml",
    ike: &["aes256gcm16-prfsha384-ecp384", "aes256-sha256-modp2048"],
    esp: &["aes256gcm16", "aes256-sha256"],
};

/// The native-client opt-in of issue #10 (AES-CBC-128/256, HMAC-SHA2 and
/// HMAC-SHA1-96, MODP-2048/3072/4096, ESP AES-CBC + HMAC) after `default`,
/// split by strength: the 128-bit groups in one proposal before MODP-2048
/// in the next, because the first acceptable proposal wins (RFC 7296 §2.7)
/// and within one proposal the client's first matching offer decides.
const NATIVE: Server = Server {
    name: "default + native-client opt-in",
    ike: &[
        "default",
        "aes256-aes128-sha512-sha384-sha256-ecp384-ecp256-modp4096-modp3072",
        "aes256-aes128-sha512-sha384-sha256-sha1-modp2048",
    ],
    esp: &["default", "aes256-aes128-sha512-sha384-sha256-sha1"],
};

fn specs(protocol: ProtocolId, list: &[&str]) -> Vec<ProposalSpec> {
    // crates/gateway/src/config/schema.rs: each string through parse_list, concatenated.
    list.iter()
        .flat_map(|s| parse_list(protocol, s).unwrap())
        .collect()
}

/// The IKE_SA_INIT choice, with the group of the client's KE payload as
/// the hint the responder gets: an initiator guesses the first group of its
/// first proposal (RFC 7296 §1.2), and a choice of another group costs an
/// INVALID_KE_PAYLOAD round trip but is still the choice.
fn choose_ike(server: &Server, client: &Client) -> Result<Chosen, ike::Error> {
    let guess = client
        .ike
        .first()
        .and_then(|p| {
            p.transforms
                .iter()
                .find(|t| t.transform_type == TransformType::KE)
        })
        .map(|t| KeMethod(t.id));
    Ok(select(
        &specs(ProtocolId::IKE, server.ike),
        &client.ike,
        guess,
    )?)
}

/// The CHILD SA choice of IKE_AUTH, which has no KE payload: both sides'
/// groups are left out (RFC 7296 §1.2), as the responder does.
fn choose_esp(server: &Server, client: &Client) -> Result<Chosen, ike::Error> {
    let ours: Vec<ProposalSpec> = specs(ProtocolId::ESP, server.esp)
        .iter()
        .map(ProposalSpec::without_ke)
        .collect();
    Ok(select(&ours, &strip_ke(&client.esp), None)?)
}

// -------------------------------------------------------------- strength --

/// Security strength in bits (NIST SP 800-57 Part 1 Rev. 5 Tables 2 and 3).
fn strength(a: &Algorithm) -> u16 {
    match a.transform_type {
        TransformType::ENCR => match EncrId(a.id) {
            EncrId::ENCR_3DES => 112,
            EncrId::CHACHA20_POLY1305 => 256,
            EncrId::AES_CBC
            | EncrId::AES_CTR
            | EncrId::AES_GCM_8
            | EncrId::AES_GCM_12
            | EncrId::AES_GCM_16 => a.key_bits.unwrap_or(0),
            _ => 0,
        },
        TransformType::INTEG => match IntegId(a.id) {
            IntegId::AUTH_HMAC_SHA2_256_128
            | IntegId::AUTH_HMAC_SHA2_384_192
            | IntegId::AUTH_HMAC_SHA2_512_256 => 256,
            IntegId::AUTH_HMAC_SHA1_96 | IntegId::AUTH_AES_XCBC_96 | IntegId::AUTH_AES_CMAC_96 => {
                128
            }
            _ => 0,
        },
        TransformType::PRF => match PrfId(a.id) {
            PrfId::PRF_HMAC_SHA2_256 | PrfId::PRF_HMAC_SHA2_384 | PrfId::PRF_HMAC_SHA2_512 => 256,
            PrfId::PRF_HMAC_SHA1 | PrfId::PRF_AES128_XCBC | PrfId::PRF_AES128_CMAC => 128,
            _ => 0,
        },
        TransformType::KE => match KeMethod(a.id) {
            KeMethod::MODP_1024 | KeMethod::MODP_1536 => 80,
            KeMethod::MODP_2048 => 112,
            KeMethod::MODP_3072 | KeMethod::MODP_4096 | KeMethod::MODP_6144 => 128,
            KeMethod::ECP_256 | KeMethod::CURVE_25519 => 128,
            KeMethod::MODP_8192 | KeMethod::ECP_384 => 192,
            KeMethod::CURVE_448 => 224,
            KeMethod::ECP_521 => 256,
            _ => 0,
        },
        // ESN says nothing about strength.
        _ => u16::MAX,
    }
}

/// Ordering key of "strongest" (module doc): level of the weakest part up
/// to 128 bits, AEAD, cipher key size.
fn rank(c: &Chosen) -> (u16, bool, u16) {
    let weakest = [Some(c.encr), c.integ, c.prf, c.ke]
        .into_iter()
        .flatten()
        .map(|a| strength(&a))
        .min()
        .unwrap_or(0);
    (
        weakest.min(128),
        c.integ.is_none(),
        c.encr.key_bits.unwrap_or(256),
    )
}

/// Every concrete suite the server's specs accept from the client's offers
/// (one algorithm per type, present at both ends), found without `select`.
fn common_suites(ours: &[ProposalSpec], offered: &[Proposal]) -> Vec<Chosen> {
    let of = |s: &ProposalSpec, t: TransformType| -> Vec<Algorithm> {
        match t {
            TransformType::ENCR => s.encr.clone(),
            TransformType::INTEG => s.integ.clone(),
            TransformType::PRF => s.prf.clone(),
            TransformType::KE => s.ke.clone(),
            _ => s.esn.clone(),
        }
    };
    let types = [
        TransformType::ENCR,
        TransformType::INTEG,
        TransformType::PRF,
        TransformType::KE,
        TransformType::ESN,
    ];
    let mut out = Vec::new();
    for spec in ours {
        'offer: for p in offered.iter().filter(|p| p.protocol == spec.protocol) {
            let theirs: Vec<Algorithm> = p
                .transforms
                .iter()
                .filter_map(Algorithm::from_transform)
                .collect();
            // For each type: the candidates, or [None] when neither side has it.
            let mut per_type: Vec<Vec<Option<Algorithm>>> = Vec::new();
            for t in types {
                let mine = of(spec, t);
                let peer: Vec<&Algorithm> =
                    theirs.iter().filter(|a| a.transform_type == t).collect();
                let both: Vec<Option<Algorithm>> = mine
                    .iter()
                    .filter(|a| peer.contains(a))
                    .map(|a| Some(*a))
                    .collect();
                match (mine.is_empty(), peer.is_empty()) {
                    (true, true) => per_type.push(vec![None]),
                    (false, true)
                        if t == TransformType::ESN
                            && mine.iter().any(|a| a.id == EsnId::NO_EXT_SEQ.0) =>
                    {
                        per_type.push(vec![None]);
                    }
                    (true, false) | (false, true) => continue 'offer,
                    (false, false) if both.is_empty() => continue 'offer,
                    (false, false) => per_type.push(both),
                }
            }
            for e in &per_type[0] {
                for i in &per_type[1] {
                    for r in &per_type[2] {
                        for k in &per_type[3] {
                            for n in &per_type[4] {
                                out.push(Chosen {
                                    number: p.number,
                                    protocol: p.protocol,
                                    peer_spi: p.spi.clone(),
                                    encr: e.unwrap(),
                                    integ: *i,
                                    prf: *r,
                                    ke: *k,
                                    esn: *n,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// `chosen` is one of the common suites, and none of them ranks higher.
fn assert_strongest(what: &str, chosen: &Chosen, all: &[Chosen]) {
    assert!(
        all.contains(chosen),
        "{what}: {chosen} is not a suite both sides accept"
    );
    let best = all.iter().map(rank).max().unwrap();
    assert_eq!(
        rank(chosen),
        best,
        "{what}: picked {chosen}, but a stronger common suite exists: {}",
        all.iter()
            .filter(|c| rank(c) == best)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn assert_refused(what: &str, r: Result<Chosen, ike::Error>) {
    match r {
        Ok(c) => panic!("{what}: accepted {c}, want NO_PROPOSAL_CHOSEN"),
        Err(e) => assert_eq!(
            e.notify(),
            Some(NotifyType::NO_PROPOSAL_CHOSEN),
            "{what}: {e}"
        ),
    }
}

/// IKE and ESP both chosen, each the strongest common suite, and the
/// expected one.
fn assert_accepts(server: &Server, client: &Client, ike_want: &str, esp_want: &str) {
    let what = format!("{} against {}", client.name, server.name);
    let ike = choose_ike(server, client).unwrap_or_else(|e| panic!("{what}: IKE refused: {e}"));
    let esp = choose_esp(server, client).unwrap_or_else(|e| panic!("{what}: ESP refused: {e}"));
    assert_eq!(ike.to_string(), ike_want, "{what}: IKE");
    assert_eq!(esp.to_string(), esp_want, "{what}: ESP");
    assert_strongest(
        &format!("{what}, IKE"),
        &ike,
        &common_suites(&specs(ProtocolId::IKE, server.ike), &client.ike),
    );
    let esp_specs: Vec<ProposalSpec> = specs(ProtocolId::ESP, server.esp)
        .iter()
        .map(ProposalSpec::without_ke)
        .collect();
    assert_strongest(
        &format!("{what}, ESP"),
        &esp,
        &common_suites(&esp_specs, &strip_ke(&client.esp)),
    );
}

// ----------------------------------------------------------------- tests --

#[test]
fn the_example_server_offers_what_this_test_assumes() {
    let text = include_str!("../../../examples/road-warrior-server.toml");
    let quoted = |l: &[&str]| {
        l.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert!(
        text.contains(&format!("proposals = [{}]", quoted(RW_EXAMPLE.ike))),
        "examples/road-warrior-server.toml changed its IKE proposals"
    );
    assert!(
        text.contains(&format!("esp_proposals = [{}]", quoted(RW_EXAMPLE.esp))),
        "examples/road-warrior-server.toml changed its ESP proposals"
    );
}

#[test]
fn native_opt_in_accepts_ios_with_its_ecp256_offer() {
    assert_accepts(
        &NATIVE,
        &ios(),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256",
        "AES_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ",
    );
}

#[test]
fn native_opt_in_accepts_macos_with_modp2048() {
    assert_accepts(
        &NATIVE,
        &macos(),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
        "AES_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ",
    );
}

#[test]
fn native_opt_in_accepts_windows_with_the_dh2048_registry_key() {
    assert_accepts(
        &NATIVE,
        &windows_dh2048(),
        "AES_CBC_256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_2048",
        "AES_CBC_256/HMAC_SHA1_96/NO_EXT_SEQ",
    );
}

#[test]
fn native_opt_in_and_default_accept_the_pinned_windows_profile() {
    for server in [&NATIVE, &DEFAULT, &RW_EXAMPLE] {
        assert_accepts(
            server,
            &windows_pinned(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384",
            "AES_GCM_16_256/NO_EXT_SEQ",
        );
    }
}

#[test]
fn native_opt_in_and_default_accept_android_native_with_aead() {
    for server in [&NATIVE, &DEFAULT] {
        assert_accepts(
            server,
            &android_native(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519",
            "AES_GCM_16_256/NO_EXT_SEQ",
        );
    }
}

#[test]
fn native_opt_in_and_default_accept_the_strongswan_app() {
    for server in [&NATIVE, &DEFAULT] {
        assert_accepts(
            server,
            &strongswan_app(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519",
            "AES_GCM_16_256/NO_EXT_SEQ",
        );
    }
}

#[test]
fn the_example_accepts_apple_and_android_through_its_cbc_proposal() {
    for c in [ios(), macos(), android_native()] {
        let esp = if c.name.starts_with("Android") {
            "AES_GCM_16_256/NO_EXT_SEQ"
        } else {
            "AES_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ"
        };
        assert_accepts(
            &RW_EXAMPLE,
            &c,
            "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
            esp,
        );
    }
}

#[test]
fn default_refuses_windows_defaults_that_offer_only_modp1024() {
    for c in [windows_default(), windows11_default()] {
        for server in [&DEFAULT, &NATIVE, &RW_EXAMPLE] {
            assert_refused(
                &format!("{} against {}, IKE", c.name, server.name),
                choose_ike(server, &c),
            );
        }
    }
}

#[test]
fn default_refuses_apple_clients_that_offer_no_aead() {
    for c in [ios(), macos()] {
        assert_refused(
            &format!("{} against default, IKE", c.name),
            choose_ike(&DEFAULT, &c),
        );
        assert_refused(
            &format!("{} against default, ESP", c.name),
            choose_esp(&DEFAULT, &c),
        );
    }
}

#[test]
fn windows_default_esp_needs_hmac_sha1_which_only_the_opt_in_has() {
    // Windows' ESP offer has no integrity but HMAC-SHA1-96: ikegw's default
    // (AEAD only) and the example's aes256-sha256 refuse it, so a Windows
    // client needs the opt-in's sha1, or the pinned PowerShell profile.
    let w = windows_dh2048();
    for server in [&DEFAULT, &RW_EXAMPLE] {
        assert_refused(
            &format!("{} against {}, ESP", w.name, server.name),
            choose_esp(server, &w),
        );
    }
    assert!(choose_esp(&NATIVE, &w).is_ok());
}

#[test]
fn one_broad_proposal_takes_the_first_client_offer_it_matches() {
    // Why NATIVE splits its groups by strength: with one proposal holding
    // every group, the responder walks the client's offers in order and
    // stops at iOS's first one, MODP-2048, although its second (ECP-256)
    // is stronger and also acceptable. RFC 7296 §2.7 leaves that choice to
    // the responder; strongSwan walks the lists the same way.
    let broad = Server {
        name: "one broad CBC proposal",
        ike: &["aes256-sha256-ecp256-modp2048"],
        esp: &["aes256-sha256"],
    };
    let c = choose_ike(&broad, &ios()).unwrap();
    assert_eq!(
        c.to_string(),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    let all = common_suites(&specs(ProtocolId::IKE, broad.ike), &ios().ike);
    assert!(all.iter().any(|s| s.ke_method() == Some(KeMethod::ECP_256)));
    assert!(all.iter().map(rank).max().unwrap() > rank(&c));
}

#[test]
fn the_strength_check_can_fail() {
    // The check itself is not vacuous: a weaker suite of the same offers
    // is caught.
    let server = &NATIVE;
    let client = ios();
    let all = common_suites(&specs(ProtocolId::IKE, server.ike), &client.ike);
    let weaker = all
        .iter()
        .find(|s| s.ke_method() == Some(KeMethod::MODP_2048))
        .unwrap()
        .clone();
    let r = std::panic::catch_unwind(|| assert_strongest("probe", &weaker, &all));
    assert!(r.is_err(), "MODP_2048 should not pass as the strongest");
}
