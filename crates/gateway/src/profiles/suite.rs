//! Which single IKE and ESP suite a client profile pins.
//!
//! A server connection offers proposals (each possibly listing several
//! algorithms per transform type, RFC 7296 §3.3); a client profile names
//! exactly one combination. For each client kind we know which algorithms
//! its settings can express ([`ClientKind`]), expand the server's proposals
//! into concrete suites, keep those the client can express, and take the
//! strongest (ties keep the server's order of preference). When none fits,
//! the error names what the server offers, what the client can do, and the
//! proposal to add.

use std::fmt;

use ike::policy::proposal::{Algorithm, ProposalSpec};
#[cfg(test)]
use ike::wire::TransformType;
use ike::wire::{EncrId, IntegId, KeMethod, PrfId, ProtocolId};

/// One concrete combination of algorithms: what a client profile pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    /// IKE or ESP.
    pub(crate) protocol: ProtocolId,
    /// The cipher (with its key length).
    pub(crate) encr: Algorithm,
    /// The integrity algorithm; `None` for AEAD ciphers (RFC 5282 §8).
    pub(crate) integ: Option<Algorithm>,
    /// The PRF (IKE only).
    pub(crate) prf: Option<Algorithm>,
    /// The key exchange method: mandatory for IKE, the PFS group for ESP.
    pub(crate) ke: Option<Algorithm>,
}

impl Suite {
    /// Whether the cipher is AEAD.
    pub(crate) fn is_aead(&self) -> bool {
        EncrId(self.encr.id).is_aead()
    }

    /// The suite in strongSwan's proposal keywords, e.g.
    /// `aes256gcm16-prfsha384-ecp384` (what swanctl, the Android app and the
    /// NetworkManager plugin take). `None` if an algorithm has no keyword.
    pub(crate) fn keyword(&self) -> Option<String> {
        let mut parts = vec![encr_keyword(self.encr)?];
        if let Some(i) = self.integ {
            parts.push(integ_keyword(IntegId(i.id))?.to_owned());
        }
        if let Some(p) = self.prf {
            parts.push(prf_keyword(PrfId(p.id))?.to_owned());
        }
        if let Some(k) = self.ke {
            parts.push(ke_keyword(KeMethod(k.id))?.to_owned());
        }
        Some(parts.join("-"))
    }

    /// Security strength in bits of the weakest part (NIST SP 800-57 Part 1
    /// Table 2 equivalences), the first criterion of "strongest".
    fn strength(&self) -> u16 {
        let mut s = encr_bits(self.encr);
        if let Some(i) = self.integ {
            s = s.min(integ_bits(IntegId(i.id)));
        }
        if let Some(p) = self.prf {
            s = s.min(prf_bits(PrfId(p.id)));
        }
        if let Some(k) = self.ke {
            s = s.min(ke_bits(KeMethod(k.id)));
        }
        s
    }

    /// Ordering key: weakest-part strength, then AEAD over encrypt+MAC,
    /// then cipher key size, then key exchange strength.
    fn rank(&self) -> (u16, bool, u16, u16) {
        (
            self.strength(),
            self.is_aead(),
            encr_bits(self.encr),
            self.ke.map_or(0, |k| ke_bits(KeMethod(k.id))),
        )
    }
}

impl fmt::Display for Suite {
    /// strongSwan's notation, as in its logs: `AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encr)?;
        for a in [self.integ, self.prf, self.ke].into_iter().flatten() {
            write!(f, "/{a}")?;
        }
        Ok(())
    }
}

/// The client families whose native settings decide what can be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// iOS/macOS `com.apple.vpn.managed` IKEv2 (Apple's Device Management
    /// "VPN.IKEv2.IKESecurityAssociationParameters": EncryptionAlgorithm
    /// DES/3DES/AES-128/AES-256/AES-128-GCM/AES-256-GCM/ChaCha20Poly1305,
    /// IntegrityAlgorithm SHA1-96/SHA1-160/SHA2-256/SHA2-384/SHA2-512, from
    /// which the PRF is inferred, DiffieHellmanGroup 1,2,5,14-21,31,32).
    Apple,
    /// The Windows native IKEv2 client (Microsoft's
    /// `Set-VpnConnectionIPsecConfiguration` reference: EncryptionMethod
    /// DES3/AES128/AES192/AES256/GCMAES128/GCMAES256, IntegrityCheckMethod
    /// SHA196/SHA256/SHA384, which also picks the PRF, DHGroup
    /// Group2/Group14/ECP256/ECP384/Group24; for ESP CipherTransformConstants
    /// DES3/AES128/AES192/AES256/GCMAES128/GCMAES192/GCMAES256,
    /// AuthenticationTransformConstants SHA196/SHA256128, PfsGroup
    /// PFS2/PFS2048/ECP256/ECP384/PFS24). No Curve25519, no SHA-512.
    Windows,
    /// strongSwan (swanctl, the Android app, the NetworkManager plugin):
    /// any algorithm with a strongSwan proposal keyword.
    StrongSwan,
}

impl ClientKind {
    /// How the client is named in messages.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Apple => "the Apple (iOS/macOS) IKEv2 client",
            Self::Windows => "the Windows native IKEv2 client",
            Self::StrongSwan => "strongSwan",
        }
    }

    /// What the client can express, for error messages.
    fn capabilities(self, protocol: ProtocolId) -> &'static str {
        match (self, protocol == ProtocolId::IKE) {
            (Self::Apple, true) => {
                "AES_CBC/AES_GCM_16 (128 or 256 bits), CHACHA20_POLY1305 or 3DES with \
                 HMAC SHA1/SHA2 integrity and the matching PRF, and MODP or ECP groups or CURVE_25519/448"
            }
            (Self::Apple, false) => {
                "AES_CBC/AES_GCM_16 (128 or 256 bits), CHACHA20_POLY1305 or 3DES with \
                 HMAC SHA1/SHA2 integrity, PFS with MODP or ECP groups or CURVE_25519/448"
            }
            (Self::Windows, true) => {
                "AES_CBC (128/192/256), AES_GCM_16 (128/256) or 3DES with PRF and integrity \
                 HMAC_SHA1/SHA2_256/SHA2_384, and MODP_1024/MODP_2048/MODP_2048_256/ECP_256/ECP_384"
            }
            (Self::Windows, false) => {
                "AES_CBC or AES_GCM_16 (128/192/256) or 3DES with HMAC_SHA1_96/HMAC_SHA2_256_128, \
                 PFS none or MODP_1024/MODP_2048/MODP_2048_256/ECP_256/ECP_384"
            }
            (Self::StrongSwan, _) => "algorithms with a strongSwan proposal keyword",
        }
    }

    /// A proposal the operator can add that this client supports well.
    fn suggestion(self, protocol: ProtocolId) -> &'static str {
        match (self, protocol == ProtocolId::IKE) {
            (Self::Windows, true) => "aes256gcm16-prfsha384-ecp384",
            (Self::Windows, false) => "aes256gcm16-ecp384",
            (_, true) => "aes256gcm16-prfsha384-ecp384",
            (_, false) => "aes256gcm16",
        }
    }

    /// Whether the client's settings can express `s`.
    pub(crate) fn supports(self, s: &Suite) -> bool {
        match self {
            Self::StrongSwan => s.keyword().is_some(),
            Self::Apple => {
                apple::encryption(s.encr).is_some()
                    && match (s.is_aead(), s.integ, s.prf) {
                        // IKE with AEAD: IntegrityAlgorithm picks only the PRF.
                        (true, None, Some(p)) => apple::prf(PrfId(p.id)).is_some(),
                        (true, None, None) => s.protocol == ProtocolId::ESP,
                        // Encrypt+MAC: the PRF (IKE) follows the integrity algorithm.
                        (false, Some(i), prf) => {
                            apple::integrity(IntegId(i.id)).is_some()
                                && prf.is_none_or(|p| prf_matches_integ(PrfId(p.id), IntegId(i.id)))
                        }
                        _ => false,
                    }
                    && s.ke
                        .is_none_or(|k| apple::dh_group(KeMethod(k.id)).is_some())
            }
            Self::Windows => {
                let ike = s.protocol == ProtocolId::IKE;
                let cipher_ok = if ike {
                    windows::ike_encryption(s.encr).is_some()
                } else {
                    windows::esp_cipher(s.encr).is_some()
                };
                let integ_ok = match (s.is_aead(), s.integ, s.prf) {
                    (true, None, Some(p)) => windows::ike_integrity_for_prf(PrfId(p.id)).is_some(),
                    (true, None, None) => !ike,
                    (false, Some(i), Some(p)) if ike => {
                        windows::ike_integrity(IntegId(i.id)).is_some()
                            && prf_matches_integ(PrfId(p.id), IntegId(i.id))
                    }
                    (false, Some(i), None) if !ike => windows::esp_auth(IntegId(i.id)).is_some(),
                    _ => false,
                };
                let ke_ok = match s.ke {
                    Some(k) if ike => windows::dh_group(KeMethod(k.id)).is_some(),
                    Some(k) => windows::pfs_group(KeMethod(k.id)).is_some(),
                    None => !ike,
                };
                cipher_ok && integ_ok && ke_ok
            }
        }
    }
}

/// Nothing the server offers can be expressed by the client.
#[derive(Debug, thiserror::Error)]
#[error(
    "connection '{conn}' offers only {offered} for {what}; {client} needs one of: {needs}; \
     add '{suggestion}' to {key}"
)]
pub(crate) struct NoCommonSuite {
    conn: String,
    offered: String,
    what: &'static str,
    client: &'static str,
    needs: &'static str,
    suggestion: &'static str,
    key: String,
}

/// Pick the strongest suite among `offered` that `client` supports.
/// `key` names the config key, for the error (`proposals`,
/// `children.office.esp_proposals`).
pub(crate) fn choose(
    conn: &str,
    key: &str,
    protocol: ProtocolId,
    offered: &[ProposalSpec],
    client: ClientKind,
) -> Result<Suite, NoCommonSuite> {
    let mut best: Option<Suite> = None;
    for s in offered.iter().flat_map(|p| expand(protocol, p)) {
        if !client.supports(&s) {
            continue;
        }
        // Strictly greater only: among equals the server's earlier
        // (preferred) proposal stays.
        if best.is_none_or(|b| s.rank() > b.rank()) {
            best = Some(s);
        }
    }
    best.ok_or_else(|| NoCommonSuite {
        conn: conn.to_owned(),
        offered: offered
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        what: if protocol == ProtocolId::IKE {
            "IKE"
        } else {
            "ESP"
        },
        client: client.label(),
        needs: client.capabilities(protocol),
        suggestion: client.suggestion(protocol),
        key: key.to_owned(),
    })
}

/// Every concrete suite a proposal allows, in the proposal's order.
fn expand(protocol: ProtocolId, p: &ProposalSpec) -> Vec<Suite> {
    fn or_none(v: &[Algorithm]) -> Vec<Option<Algorithm>> {
        if v.is_empty() {
            vec![None]
        } else {
            v.iter().copied().map(Some).collect()
        }
    }
    let mut out = Vec::new();
    for &encr in &p.encr {
        for integ in or_none(&p.integ) {
            for prf in or_none(&p.prf) {
                for ke in or_none(&p.ke) {
                    out.push(Suite {
                        protocol,
                        encr,
                        integ,
                        prf,
                        ke,
                    });
                }
            }
        }
    }
    out
}

/// Apple and Windows derive the IKE PRF from the integrity setting.
fn prf_matches_integ(prf: PrfId, integ: IntegId) -> bool {
    matches!(
        (prf, integ),
        (PrfId::PRF_HMAC_SHA1, IntegId::AUTH_HMAC_SHA1_96)
            | (PrfId::PRF_HMAC_SHA1, IntegId::AUTH_HMAC_SHA1_160)
            | (PrfId::PRF_HMAC_SHA2_256, IntegId::AUTH_HMAC_SHA2_256_128)
            | (PrfId::PRF_HMAC_SHA2_384, IntegId::AUTH_HMAC_SHA2_384_192)
            | (PrfId::PRF_HMAC_SHA2_512, IntegId::AUTH_HMAC_SHA2_512_256)
    )
}

fn key_bits(a: Algorithm) -> Option<u16> {
    a.key_bits
}

fn encr_bits(a: Algorithm) -> u16 {
    match EncrId(a.id) {
        EncrId::AES_CBC | EncrId::AES_CTR | EncrId::AES_GCM_16 | EncrId::AES_GCM_12 => {
            key_bits(a).unwrap_or(128)
        }
        EncrId::AES_GCM_8 | EncrId::AES_CCM_8 | EncrId::AES_CCM_12 | EncrId::AES_CCM_16 => {
            key_bits(a).unwrap_or(128)
        }
        EncrId::CHACHA20_POLY1305 => 256,
        EncrId::ENCR_3DES => 112,
        _ => 0,
    }
}

fn integ_bits(i: IntegId) -> u16 {
    match i {
        IntegId::AUTH_HMAC_SHA2_512_256 => 256,
        IntegId::AUTH_HMAC_SHA2_384_192 => 192,
        IntegId::AUTH_HMAC_SHA2_256_128 | IntegId::AUTH_AES_XCBC_96 | IntegId::AUTH_AES_CMAC_96 => {
            128
        }
        // SHA-1 HMACs are not broken, but rank below SHA-2 so a SHA-2
        // suite always wins when both are offered.
        IntegId::AUTH_HMAC_SHA1_96 | IntegId::AUTH_HMAC_SHA1_160 => 80,
        _ => 0,
    }
}

fn prf_bits(p: PrfId) -> u16 {
    match p {
        PrfId::PRF_HMAC_SHA2_512 => 256,
        PrfId::PRF_HMAC_SHA2_384 => 192,
        PrfId::PRF_HMAC_SHA2_256 | PrfId::PRF_AES128_XCBC | PrfId::PRF_AES128_CMAC => 128,
        PrfId::PRF_HMAC_SHA1 => 80,
        _ => 0,
    }
}

/// NIST SP 800-57 Part 1 Table 2 (finite field and elliptic curve sizes).
fn ke_bits(k: KeMethod) -> u16 {
    match k {
        KeMethod::MODP_1024 | KeMethod::MODP_1024_160 => 80,
        KeMethod::MODP_1536 => 96,
        KeMethod::MODP_2048 | KeMethod::MODP_2048_224 | KeMethod::MODP_2048_256 => 112,
        KeMethod::MODP_3072 | KeMethod::ECP_256 | KeMethod::ECP_256_BP => 128,
        KeMethod::CURVE_25519 => 128,
        KeMethod::MODP_4096 => 152,
        KeMethod::MODP_6144 => 176,
        KeMethod::MODP_8192 | KeMethod::ECP_384 | KeMethod::ECP_384_BP => 192,
        KeMethod::CURVE_448 => 224,
        KeMethod::ECP_521 | KeMethod::ECP_512_BP => 256,
        _ => 0,
    }
}

fn encr_keyword(a: Algorithm) -> Option<String> {
    let bits = a.key_bits;
    Some(match (EncrId(a.id), bits) {
        (EncrId::AES_CBC, Some(b)) => format!("aes{b}"),
        (EncrId::AES_CTR, Some(b)) => format!("aes{b}ctr"),
        (EncrId::AES_GCM_16, Some(b)) => format!("aes{b}gcm16"),
        (EncrId::AES_GCM_12, Some(b)) => format!("aes{b}gcm12"),
        (EncrId::AES_GCM_8, Some(b)) => format!("aes{b}gcm8"),
        (EncrId::AES_CCM_16, Some(b)) => format!("aes{b}ccm16"),
        (EncrId::AES_CCM_12, Some(b)) => format!("aes{b}ccm12"),
        (EncrId::AES_CCM_8, Some(b)) => format!("aes{b}ccm8"),
        (EncrId::CHACHA20_POLY1305, None) => "chacha20poly1305".to_owned(),
        (EncrId::ENCR_3DES, None) => "3des".to_owned(),
        _ => return None,
    })
}

fn integ_keyword(i: IntegId) -> Option<&'static str> {
    Some(match i {
        IntegId::AUTH_HMAC_SHA1_96 => "sha1",
        IntegId::AUTH_HMAC_SHA2_256_128 => "sha256",
        IntegId::AUTH_HMAC_SHA2_384_192 => "sha384",
        IntegId::AUTH_HMAC_SHA2_512_256 => "sha512",
        IntegId::AUTH_AES_XCBC_96 => "aesxcbc",
        IntegId::AUTH_AES_CMAC_96 => "aescmac",
        _ => return None,
    })
}

fn prf_keyword(p: PrfId) -> Option<&'static str> {
    Some(match p {
        PrfId::PRF_HMAC_SHA1 => "prfsha1",
        PrfId::PRF_HMAC_SHA2_256 => "prfsha256",
        PrfId::PRF_HMAC_SHA2_384 => "prfsha384",
        PrfId::PRF_HMAC_SHA2_512 => "prfsha512",
        PrfId::PRF_AES128_XCBC => "prfaesxcbc",
        PrfId::PRF_AES128_CMAC => "prfaescmac",
        _ => return None,
    })
}

fn ke_keyword(k: KeMethod) -> Option<&'static str> {
    Some(match k {
        KeMethod::MODP_1024 => "modp1024",
        KeMethod::MODP_1536 => "modp1536",
        KeMethod::MODP_2048 => "modp2048",
        KeMethod::MODP_3072 => "modp3072",
        KeMethod::MODP_4096 => "modp4096",
        KeMethod::MODP_6144 => "modp6144",
        KeMethod::MODP_8192 => "modp8192",
        KeMethod::MODP_2048_256 => "modp2048s256",
        KeMethod::ECP_256 => "ecp256",
        KeMethod::ECP_384 => "ecp384",
        KeMethod::ECP_521 => "ecp521",
        KeMethod::ECP_256_BP => "ecp256bp",
        KeMethod::ECP_384_BP => "ecp384bp",
        KeMethod::ECP_512_BP => "ecp512bp",
        KeMethod::CURVE_25519 => "curve25519",
        KeMethod::CURVE_448 => "curve448",
        _ => return None,
    })
}

/// Apple's value strings for the IKEv2 SA parameter dictionaries.
pub(crate) mod apple {
    use super::*;

    /// `EncryptionAlgorithm`.
    pub(crate) fn encryption(a: Algorithm) -> Option<&'static str> {
        Some(match (EncrId(a.id), a.key_bits) {
            (EncrId::AES_CBC, Some(128)) => "AES-128",
            (EncrId::AES_CBC, Some(256)) => "AES-256",
            (EncrId::AES_GCM_16, Some(128)) => "AES-128-GCM",
            (EncrId::AES_GCM_16, Some(256)) => "AES-256-GCM",
            (EncrId::CHACHA20_POLY1305, None) => "ChaCha20Poly1305",
            (EncrId::ENCR_3DES, None) => "3DES",
            _ => return None,
        })
    }

    /// `IntegrityAlgorithm` for an encrypt+MAC suite.
    pub(crate) fn integrity(i: IntegId) -> Option<&'static str> {
        Some(match i {
            IntegId::AUTH_HMAC_SHA1_96 => "SHA1-96",
            IntegId::AUTH_HMAC_SHA1_160 => "SHA1-160",
            IntegId::AUTH_HMAC_SHA2_256_128 => "SHA2-256",
            IntegId::AUTH_HMAC_SHA2_384_192 => "SHA2-384",
            IntegId::AUTH_HMAC_SHA2_512_256 => "SHA2-512",
            _ => return None,
        })
    }

    /// `IntegrityAlgorithm` for an AEAD IKE suite: it only selects the PRF.
    pub(crate) fn prf(p: PrfId) -> Option<&'static str> {
        Some(match p {
            PrfId::PRF_HMAC_SHA1 => "SHA1-160",
            PrfId::PRF_HMAC_SHA2_256 => "SHA2-256",
            PrfId::PRF_HMAC_SHA2_384 => "SHA2-384",
            PrfId::PRF_HMAC_SHA2_512 => "SHA2-512",
            _ => return None,
        })
    }

    /// `DiffieHellmanGroup`: the IANA number itself.
    pub(crate) fn dh_group(k: KeMethod) -> Option<u16> {
        matches!(k.0, 1 | 2 | 5 | 14..=21 | 31 | 32).then_some(k.0)
    }
}

/// Windows' parameter values for `Set-VpnConnectionIPsecConfiguration`.
pub(crate) mod windows {
    use super::*;

    /// `-EncryptionMethod` (IKE).
    pub(crate) fn ike_encryption(a: Algorithm) -> Option<&'static str> {
        Some(match (EncrId(a.id), a.key_bits) {
            (EncrId::ENCR_3DES, None) => "DES3",
            (EncrId::AES_CBC, Some(128)) => "AES128",
            (EncrId::AES_CBC, Some(192)) => "AES192",
            (EncrId::AES_CBC, Some(256)) => "AES256",
            (EncrId::AES_GCM_16, Some(128)) => "GCMAES128",
            (EncrId::AES_GCM_16, Some(256)) => "GCMAES256",
            _ => return None,
        })
    }

    /// `-IntegrityCheckMethod` (IKE, encrypt+MAC).
    pub(crate) fn ike_integrity(i: IntegId) -> Option<&'static str> {
        Some(match i {
            IntegId::AUTH_HMAC_SHA1_96 => "SHA196",
            IntegId::AUTH_HMAC_SHA2_256_128 => "SHA256",
            IntegId::AUTH_HMAC_SHA2_384_192 => "SHA384",
            _ => return None,
        })
    }

    /// `-IntegrityCheckMethod` for an AEAD IKE suite: it selects the PRF.
    pub(crate) fn ike_integrity_for_prf(p: PrfId) -> Option<&'static str> {
        Some(match p {
            PrfId::PRF_HMAC_SHA1 => "SHA196",
            PrfId::PRF_HMAC_SHA2_256 => "SHA256",
            PrfId::PRF_HMAC_SHA2_384 => "SHA384",
            _ => return None,
        })
    }

    /// `-DHGroup` (IKE).
    pub(crate) fn dh_group(k: KeMethod) -> Option<&'static str> {
        Some(match k {
            KeMethod::MODP_1024 => "Group2",
            KeMethod::MODP_2048 => "Group14",
            KeMethod::MODP_2048_256 => "Group24",
            KeMethod::ECP_256 => "ECP256",
            KeMethod::ECP_384 => "ECP384",
            _ => return None,
        })
    }

    /// `-CipherTransformConstants` (ESP).
    pub(crate) fn esp_cipher(a: Algorithm) -> Option<&'static str> {
        Some(match (EncrId(a.id), a.key_bits) {
            (EncrId::ENCR_3DES, None) => "DES3",
            (EncrId::AES_CBC, Some(128)) => "AES128",
            (EncrId::AES_CBC, Some(192)) => "AES192",
            (EncrId::AES_CBC, Some(256)) => "AES256",
            (EncrId::AES_GCM_16, Some(128)) => "GCMAES128",
            (EncrId::AES_GCM_16, Some(192)) => "GCMAES192",
            (EncrId::AES_GCM_16, Some(256)) => "GCMAES256",
            _ => return None,
        })
    }

    /// `-AuthenticationTransformConstants` (ESP, encrypt+MAC).
    pub(crate) fn esp_auth(i: IntegId) -> Option<&'static str> {
        Some(match i {
            IntegId::AUTH_HMAC_SHA1_96 => "SHA196",
            IntegId::AUTH_HMAC_SHA2_256_128 => "SHA256128",
            _ => return None,
        })
    }

    /// `-PfsGroup` (ESP).
    pub(crate) fn pfs_group(k: KeMethod) -> Option<&'static str> {
        Some(match k {
            KeMethod::MODP_1024 => "PFS2",
            KeMethod::MODP_2048 => "PFS2048",
            KeMethod::MODP_2048_256 => "PFS24",
            KeMethod::ECP_256 => "ECP256",
            KeMethod::ECP_384 => "ECP384",
            _ => return None,
        })
    }
}

/// Check that the transform type is what a suite slot expects (for tests
/// and debug assertions on hand-built suites).
#[cfg(test)]
fn well_formed(s: &Suite) -> bool {
    s.encr.transform_type == TransformType::ENCR
        && s.integ
            .is_none_or(|a| a.transform_type == TransformType::INTEG)
        && s.prf.is_none_or(|a| a.transform_type == TransformType::PRF)
        && s.ke.is_none_or(|a| a.transform_type == TransformType::KE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(list: &[&str]) -> Vec<ProposalSpec> {
        list.iter()
            .map(|p| ProposalSpec::parse(ProtocolId::IKE, p).unwrap())
            .collect()
    }

    fn esp(list: &[&str]) -> Vec<ProposalSpec> {
        list.iter()
            .map(|p| ProposalSpec::parse(ProtocolId::ESP, p).unwrap())
            .collect()
    }

    fn pick(kind: ClientKind, list: &[&str]) -> String {
        let s = choose("rw", "proposals", ProtocolId::IKE, &ike(list), kind).unwrap();
        assert!(well_formed(&s));
        s.keyword().unwrap()
    }

    #[test]
    fn picks_the_strongest_suite_each_client_supports() {
        let server = [
            "aes128-sha256-modp2048",
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16-prfsha384-x25519",
        ];
        assert_eq!(
            pick(ClientKind::Windows, &server),
            "aes256gcm16-prfsha384-ecp384"
        );
        assert_eq!(
            pick(ClientKind::Apple, &server),
            "aes256gcm16-prfsha384-ecp384"
        );
        assert_eq!(
            pick(ClientKind::StrongSwan, &server),
            "aes256gcm16-prfsha384-ecp384"
        );
    }

    #[test]
    fn expands_multi_algorithm_proposals() {
        let server = ["aes128-aes256-sha1-sha256-modp1024-modp2048-ecp256"];
        assert_eq!(
            pick(ClientKind::Windows, &server),
            "aes256-sha256-prfsha256-ecp256"
        );
    }

    #[test]
    fn windows_never_gets_curve25519() {
        let server = ["aes256gcm16-prfsha384-x25519", "aes128-sha1-modp1024"];
        assert_eq!(
            pick(ClientKind::Windows, &server),
            "aes128-sha1-prfsha1-modp1024"
        );
        assert_eq!(
            pick(ClientKind::Apple, &server),
            "aes256gcm16-prfsha384-curve25519"
        );
    }

    #[test]
    fn names_offer_client_and_fix_when_nothing_fits() {
        let e = choose(
            "rw",
            "proposals",
            ProtocolId::IKE,
            &ike(&["aes256gcm16-prfsha384-x25519"]),
            ClientKind::Windows,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "connection 'rw' offers only AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519 for IKE; \
                 the Windows native IKEv2 client needs one of: "
            ),
            "{e}"
        );
        assert!(
            e.ends_with("add 'aes256gcm16-prfsha384-ecp384' to proposals"),
            "{e}"
        );
    }

    #[test]
    fn esp_without_pfs_and_windows_esp_limits() {
        let list = esp(&["aes256gcm16", "aes256-sha384"]);
        let s = choose(
            "rw",
            "esp_proposals",
            ProtocolId::ESP,
            &list,
            ClientKind::Windows,
        )
        .unwrap();
        assert_eq!(s.keyword().unwrap(), "aes256gcm16");
        assert_eq!(s.ke, None);
        // Windows ESP has no HMAC-SHA-384 transform.
        let only = esp(&["aes256-sha384"]);
        assert!(choose(
            "rw",
            "esp_proposals",
            ProtocolId::ESP,
            &only,
            ClientKind::Windows
        )
        .is_err());
        assert_eq!(
            choose(
                "rw",
                "esp_proposals",
                ProtocolId::ESP,
                &only,
                ClientKind::Apple
            )
            .unwrap()
            .keyword()
            .unwrap(),
            "aes256-sha384"
        );
    }

    #[test]
    fn ties_keep_the_server_order() {
        let server = [
            "aes256gcm16-prfsha256-ecp256",
            "aes256gcm16-prfsha256-x25519",
        ];
        assert_eq!(
            pick(ClientKind::StrongSwan, &server),
            "aes256gcm16-prfsha256-ecp256"
        );
        let server = [
            "aes256gcm16-prfsha256-x25519",
            "aes256gcm16-prfsha256-ecp256",
        ];
        assert_eq!(
            pick(ClientKind::StrongSwan, &server),
            "aes256gcm16-prfsha256-curve25519"
        );
    }
}
