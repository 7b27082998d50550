//! Proposals: strongSwan-style proposal strings, selection by the responder
//! and validation of the responder's choice by the initiator
//! (RFC 7296 §2.7, §3.3.6).
//!
//! This layer is pure: it works on configured [`ProposalSpec`]s and on the
//! wire [`Proposal`](crate::wire::Proposal)s a peer sent, and returns either
//! the [`Chosen`] transforms or an error a person can act on (both offers in
//! strongSwan notation). It knows no crypto: whether an algorithm can be run
//! is the crypto layer's business.

use core::fmt;

use crate::wire::{
    self, EncrId, EsnId, IntegId, KeMethod, PrfId, ProtocolId, Transform, TransformType,
};

/// One transform of a configured proposal: type, ID and (for ciphers with a
/// variable key) the key length in bits (RFC 7296 §3.3.5 Key Length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Algorithm {
    /// Transform type (ENCR, PRF, INTEG, KE, ESN).
    pub transform_type: TransformType,
    /// Transform ID within that type's registry.
    pub id: u16,
    /// Key length attribute in bits, for AES and friends.
    pub key_bits: Option<u16>,
}

impl Algorithm {
    const fn new(transform_type: TransformType, id: u16, key_bits: Option<u16>) -> Self {
        Self {
            transform_type,
            id,
            key_bits,
        }
    }

    /// The wire transform for this algorithm.
    pub fn to_transform(self) -> Transform {
        let mut t = Transform::new(self.transform_type, self.id);
        if let Some(k) = self.key_bits {
            t.attributes.push(wire::Attribute {
                attr_type: wire::TransformAttributeType::KEY_LENGTH,
                value: wire::AttributeValue::Tv(k),
            });
        }
        t
    }

    /// Reads a received transform; `None` when it carries an attribute other
    /// than one Key Length, which we never offer (RFC 7296 §3.3.6: a
    /// transform with an unknown attribute is not the transform we know).
    pub fn from_transform(t: &Transform) -> Option<Self> {
        let key_bits = t.key_length();
        let expected_attrs = usize::from(key_bits.is_some());
        (t.attributes.len() == expected_attrs).then_some(Self {
            transform_type: t.transform_type,
            id: t.id,
            key_bits,
        })
    }
}

impl fmt::Display for Algorithm {
    /// strongSwan notation: `AES_GCM_16_256`, `PRF_HMAC_SHA2_384`, `CURVE_25519`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transform_type.id_name(self.id) {
            Some(n) => f.write_str(n)?,
            None => write!(f, "{}_{}", self.transform_type, self.id)?,
        }
        if let Some(k) = self.key_bits {
            write!(f, "_{k}")?;
        }
        Ok(())
    }
}

/// The transform types a proposal can hold, in the order strongSwan prints
/// them (ENCR, INTEG, PRF, KE, ESN).
const TYPE_ORDER: [TransformType; 5] = [
    TransformType::ENCR,
    TransformType::INTEG,
    TransformType::PRF,
    TransformType::KE,
    TransformType::ESN,
];

/// A configured proposal: for each transform type, the acceptable algorithms
/// in order of preference (RFC 7296 §3.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProposalSpec {
    /// IKE or ESP.
    pub protocol: ProtocolId,
    /// Encryption algorithms (AEAD or not; never mixed, RFC 7296 §3.3.3).
    pub encr: Vec<Algorithm>,
    /// Integrity algorithms; empty for AEAD.
    pub integ: Vec<Algorithm>,
    /// PRFs; IKE only.
    pub prf: Vec<Algorithm>,
    /// Key exchange methods; mandatory for IKE, the PFS groups for ESP.
    pub ke: Vec<Algorithm>,
    /// Extended sequence numbers; ESP only.
    pub esn: Vec<Algorithm>,
}

impl ProposalSpec {
    fn of_type(&self, t: TransformType) -> &[Algorithm] {
        match t {
            TransformType::ENCR => &self.encr,
            TransformType::INTEG => &self.integ,
            TransformType::PRF => &self.prf,
            TransformType::KE => &self.ke,
            TransformType::ESN => &self.esn,
            _ => &[],
        }
    }

    /// Whether the encryption algorithms are AEAD (RFC 5282).
    pub fn is_aead(&self) -> bool {
        self.encr.iter().any(|a| EncrId(a.id).is_aead())
    }

    /// Parses a strongSwan proposal string for `protocol`
    /// (`aes256gcm16-prfsha384-x25519`, `aes128-sha256-modp2048`,
    /// `aes128gcm16-x25519-esn`).
    ///
    /// As strongSwan does, an IKE proposal with integrity but no PRF gets the
    /// PRF matching each integrity algorithm, and an ESP proposal without an
    /// ESN keyword gets `noesn`.
    pub fn parse(protocol: ProtocolId, text: &str) -> Result<Self, ProposalParseError> {
        let err = |kind| ProposalParseError {
            proposal: text.to_owned(),
            kind,
        };
        if protocol != ProtocolId::IKE && protocol != ProtocolId::ESP {
            return Err(err(ParseErrorKind::UnsupportedProtocol(protocol)));
        }
        let mut spec = Self {
            protocol,
            encr: Vec::new(),
            integ: Vec::new(),
            prf: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
        };
        if text.trim().is_empty() {
            return Err(err(ParseErrorKind::Empty));
        }
        for token in text.split('-') {
            let lower = token.trim().to_ascii_lowercase();
            if lower == "default" {
                let d = default_for(protocol)?;
                for t in TYPE_ORDER {
                    for a in d.of_type(t) {
                        spec.push(*a);
                    }
                }
                continue;
            }
            let Some((_, alg)) = KEYWORDS.iter().find(|(k, _)| *k == lower) else {
                return Err(err(ParseErrorKind::UnknownAlgorithm {
                    token: token.to_owned(),
                    suggestion: suggest(&lower),
                }));
            };
            let allowed = match alg.transform_type {
                TransformType::PRF => protocol == ProtocolId::IKE,
                TransformType::ESN => protocol == ProtocolId::ESP,
                _ => true,
            };
            if !allowed {
                return Err(err(ParseErrorKind::NotForProtocol {
                    token: token.to_owned(),
                    protocol,
                }));
            }
            spec.push(*alg);
        }
        if spec.encr.is_empty() {
            return Err(err(ParseErrorKind::Missing(TransformType::ENCR)));
        }
        let aead = spec.encr.iter().filter(|a| EncrId(a.id).is_aead()).count();
        if aead != 0 && aead != spec.encr.len() {
            return Err(err(ParseErrorKind::MixedAead));
        }
        if aead != 0 && !spec.integ.is_empty() {
            return Err(err(ParseErrorKind::AeadWithIntegrity));
        }
        if aead == 0 && spec.integ.is_empty() {
            return Err(err(ParseErrorKind::Missing(TransformType::INTEG)));
        }
        if protocol == ProtocolId::IKE {
            if spec.prf.is_empty() {
                if aead != 0 {
                    return Err(err(ParseErrorKind::Missing(TransformType::PRF)));
                }
                // strongSwan derives the PRF from each integrity algorithm
                // when none is given (proposal.c); do the same so configs
                // copied from swanctl.conf mean the same thing here.
                for i in spec.integ.clone() {
                    match prf_for_integ(IntegId(i.id)) {
                        Some(p) => spec.push(Algorithm::new(TransformType::PRF, p.0, None)),
                        None => return Err(err(ParseErrorKind::NoPrfForIntegrity(IntegId(i.id)))),
                    }
                }
            }
            if spec.ke.is_empty() {
                return Err(err(ParseErrorKind::Missing(TransformType::KE)));
            }
        } else if spec.esn.is_empty() {
            spec.push(Algorithm::new(
                TransformType::ESN,
                EsnId::NO_EXT_SEQ.0,
                None,
            ));
        }
        Ok(spec)
    }

    fn push(&mut self, a: Algorithm) {
        let list = match a.transform_type {
            TransformType::ENCR => &mut self.encr,
            TransformType::INTEG => &mut self.integ,
            TransformType::PRF => &mut self.prf,
            TransformType::KE => &mut self.ke,
            _ => &mut self.esn,
        };
        if !list.contains(&a) {
            list.push(a);
        }
    }

    /// The wire proposal offering every configured transform
    /// (RFC 7296 §3.3.1); `number` starts at 1.
    pub fn to_wire(&self, number: u8, spi: Vec<u8>) -> wire::Proposal {
        let transforms = TYPE_ORDER
            .iter()
            .flat_map(|t| self.of_type(*t).iter().map(|a| a.to_transform()))
            .collect();
        wire::Proposal {
            number,
            protocol: self.protocol,
            spi,
            transforms,
        }
    }

    /// The same proposal without key exchange methods: what an ESP proposal
    /// means in IKE_AUTH, which carries no KE payload (RFC 7296 §1.2;
    /// strongSwan strips the groups there too and rejects a response that
    /// keeps one).
    pub fn without_ke(&self) -> Self {
        Self {
            ke: Vec::new(),
            ..self.clone()
        }
    }

    /// The first key exchange method, the one an initiator guesses for its
    /// KE payload (RFC 7296 §1.2).
    pub fn first_ke(&self) -> Option<KeMethod> {
        self.ke.first().map(|a| KeMethod(a.id))
    }
}

impl fmt::Display for ProposalSpec {
    /// strongSwan notation: `AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in TYPE_ORDER {
            for a in self.of_type(t) {
                if !first {
                    f.write_str("/")?;
                }
                first = false;
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

/// Parses several comma-separated proposals (swanctl `proposals = a, b`).
pub fn parse_list(
    protocol: ProtocolId,
    text: &str,
) -> Result<Vec<ProposalSpec>, ProposalParseError> {
    text.split(',')
        .map(|p| ProposalSpec::parse(protocol, p.trim()))
        .collect()
}

fn default_for(protocol: ProtocolId) -> Result<ProposalSpec, ProposalParseError> {
    // Our default is the modern subset both ring and strongSwan 5.9 run:
    // AEAD ciphers with SHA-2 PRFs and elliptic-curve groups.
    let text = if protocol == ProtocolId::IKE {
        "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha384-prfsha256-prfsha512-x25519-ecp256-ecp384"
    } else {
        "aes256gcm16-aes128gcm16-chacha20poly1305"
    };
    ProposalSpec::parse(protocol, text)
}

/// The PRF strongSwan pairs with an integrity algorithm when a proposal
/// names no PRF.
fn prf_for_integ(i: IntegId) -> Option<PrfId> {
    Some(match i {
        IntegId::AUTH_HMAC_MD5_96 | IntegId::AUTH_HMAC_MD5_128 => PrfId::PRF_HMAC_MD5,
        IntegId::AUTH_HMAC_SHA1_96 | IntegId::AUTH_HMAC_SHA1_160 => PrfId::PRF_HMAC_SHA1,
        IntegId::AUTH_HMAC_SHA2_256_128 => PrfId::PRF_HMAC_SHA2_256,
        IntegId::AUTH_HMAC_SHA2_384_192 => PrfId::PRF_HMAC_SHA2_384,
        IntegId::AUTH_HMAC_SHA2_512_256 => PrfId::PRF_HMAC_SHA2_512,
        IntegId::AUTH_AES_XCBC_96 => PrfId::PRF_AES128_XCBC,
        IntegId::AUTH_AES_CMAC_96 => PrfId::PRF_AES128_CMAC,
        _ => return None,
    })
}

const fn enc(id: EncrId, bits: u16) -> Algorithm {
    Algorithm::new(TransformType::ENCR, id.0, Some(bits))
}
const fn enc0(id: EncrId) -> Algorithm {
    Algorithm::new(TransformType::ENCR, id.0, None)
}
const fn integ(id: IntegId) -> Algorithm {
    Algorithm::new(TransformType::INTEG, id.0, None)
}
const fn prf(id: PrfId) -> Algorithm {
    Algorithm::new(TransformType::PRF, id.0, None)
}
const fn ke(id: KeMethod) -> Algorithm {
    Algorithm::new(TransformType::KE, id.0, None)
}

/// strongSwan's proposal keywords (its `proposal_keywords` table, by fact
/// not by text) for the algorithms a gateway meets in practice.
static KEYWORDS: &[(&str, Algorithm)] = &[
    ("aes", enc(EncrId::AES_CBC, 128)),
    ("aes128", enc(EncrId::AES_CBC, 128)),
    ("aes192", enc(EncrId::AES_CBC, 192)),
    ("aes256", enc(EncrId::AES_CBC, 256)),
    ("aes128ctr", enc(EncrId::AES_CTR, 128)),
    ("aes192ctr", enc(EncrId::AES_CTR, 192)),
    ("aes256ctr", enc(EncrId::AES_CTR, 256)),
    ("aes128gcm8", enc(EncrId::AES_GCM_8, 128)),
    ("aes192gcm8", enc(EncrId::AES_GCM_8, 192)),
    ("aes256gcm8", enc(EncrId::AES_GCM_8, 256)),
    ("aes128gcm12", enc(EncrId::AES_GCM_12, 128)),
    ("aes192gcm12", enc(EncrId::AES_GCM_12, 192)),
    ("aes256gcm12", enc(EncrId::AES_GCM_12, 256)),
    ("aes128gcm16", enc(EncrId::AES_GCM_16, 128)),
    ("aes192gcm16", enc(EncrId::AES_GCM_16, 192)),
    ("aes256gcm16", enc(EncrId::AES_GCM_16, 256)),
    ("aes128gcm", enc(EncrId::AES_GCM_16, 128)),
    ("aes192gcm", enc(EncrId::AES_GCM_16, 192)),
    ("aes256gcm", enc(EncrId::AES_GCM_16, 256)),
    ("aes128ccm8", enc(EncrId::AES_CCM_8, 128)),
    ("aes256ccm8", enc(EncrId::AES_CCM_8, 256)),
    ("aes128ccm12", enc(EncrId::AES_CCM_12, 128)),
    ("aes256ccm12", enc(EncrId::AES_CCM_12, 256)),
    ("aes128ccm16", enc(EncrId::AES_CCM_16, 128)),
    ("aes256ccm16", enc(EncrId::AES_CCM_16, 256)),
    ("aes128gmac", enc(EncrId::NULL_AES_GMAC, 128)),
    ("aes256gmac", enc(EncrId::NULL_AES_GMAC, 256)),
    ("chacha20poly1305", enc0(EncrId::CHACHA20_POLY1305)),
    ("3des", enc0(EncrId::ENCR_3DES)),
    ("null", enc0(EncrId::NULL)),
    ("md5", integ(IntegId::AUTH_HMAC_MD5_96)),
    ("sha", integ(IntegId::AUTH_HMAC_SHA1_96)),
    ("sha1", integ(IntegId::AUTH_HMAC_SHA1_96)),
    ("sha256", integ(IntegId::AUTH_HMAC_SHA2_256_128)),
    ("sha2_256", integ(IntegId::AUTH_HMAC_SHA2_256_128)),
    ("sha384", integ(IntegId::AUTH_HMAC_SHA2_384_192)),
    ("sha2_384", integ(IntegId::AUTH_HMAC_SHA2_384_192)),
    ("sha512", integ(IntegId::AUTH_HMAC_SHA2_512_256)),
    ("sha2_512", integ(IntegId::AUTH_HMAC_SHA2_512_256)),
    ("aesxcbc", integ(IntegId::AUTH_AES_XCBC_96)),
    ("aescmac", integ(IntegId::AUTH_AES_CMAC_96)),
    ("prfmd5", prf(PrfId::PRF_HMAC_MD5)),
    ("prfsha1", prf(PrfId::PRF_HMAC_SHA1)),
    ("prfsha256", prf(PrfId::PRF_HMAC_SHA2_256)),
    ("prfsha384", prf(PrfId::PRF_HMAC_SHA2_384)),
    ("prfsha512", prf(PrfId::PRF_HMAC_SHA2_512)),
    ("prfaesxcbc", prf(PrfId::PRF_AES128_XCBC)),
    ("prfaescmac", prf(PrfId::PRF_AES128_CMAC)),
    ("modp768", ke(KeMethod::MODP_768)),
    ("modp1024", ke(KeMethod::MODP_1024)),
    ("modp1536", ke(KeMethod::MODP_1536)),
    ("modp2048", ke(KeMethod::MODP_2048)),
    ("modp3072", ke(KeMethod::MODP_3072)),
    ("modp4096", ke(KeMethod::MODP_4096)),
    ("modp6144", ke(KeMethod::MODP_6144)),
    ("modp8192", ke(KeMethod::MODP_8192)),
    ("modp1024s160", ke(KeMethod::MODP_1024_160)),
    ("modp2048s224", ke(KeMethod::MODP_2048_224)),
    ("modp2048s256", ke(KeMethod::MODP_2048_256)),
    ("ecp192", ke(KeMethod::ECP_192)),
    ("ecp224", ke(KeMethod::ECP_224)),
    ("ecp256", ke(KeMethod::ECP_256)),
    ("ecp384", ke(KeMethod::ECP_384)),
    ("ecp521", ke(KeMethod::ECP_521)),
    ("ecp224bp", ke(KeMethod::ECP_224_BP)),
    ("ecp256bp", ke(KeMethod::ECP_256_BP)),
    ("ecp384bp", ke(KeMethod::ECP_384_BP)),
    ("ecp512bp", ke(KeMethod::ECP_512_BP)),
    ("curve25519", ke(KeMethod::CURVE_25519)),
    ("x25519", ke(KeMethod::CURVE_25519)),
    ("curve448", ke(KeMethod::CURVE_448)),
    ("x448", ke(KeMethod::CURVE_448)),
    (
        "esn",
        Algorithm::new(TransformType::ESN, EsnId::EXT_SEQ.0, None),
    ),
    (
        "noesn",
        Algorithm::new(TransformType::ESN, EsnId::NO_EXT_SEQ.0, None),
    ),
];

/// The closest keyword, if it is close enough to be a typo.
fn suggest(token: &str) -> Option<&'static str> {
    let (best, dist) = KEYWORDS
        .iter()
        .map(|(k, _)| (*k, edit_distance(token, k)))
        .min_by_key(|(_, d)| *d)?;
    // Two edits catch swapped letters and a dropped digit without
    // suggesting unrelated words for short garbage.
    (dist <= 2 && dist < token.len()).then_some(best)
}

/// Damerau-Levenshtein distance (optimal string alignment), so a swap of
/// two adjacent letters (`gmc` for `gcm`) counts as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len().saturating_add(1);
    let mut d = vec![0usize; a.len().saturating_add(1).saturating_mul(w)];
    let at = |i: usize, j: usize| i.saturating_mul(w).saturating_add(j);
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(at(0, j)) {
            *c = j;
        }
    }
    let get =
        |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ai, bj) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ai != bj);
            let mut v = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ai == b.get(j - 2) && a.get(i - 2) == bj {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

/// A proposal string that cannot be used (a configuration error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} in proposal '{proposal}'")]
pub struct ProposalParseError {
    /// The whole proposal string as configured.
    pub proposal: String,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with a proposal string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// No keywords at all.
    Empty,
    /// A keyword we do not know; `suggestion` is the closest known one.
    UnknownAlgorithm {
        /// The keyword as written.
        token: String,
        /// A close keyword, for typos.
        suggestion: Option<&'static str>,
    },
    /// A PRF in an ESP proposal, or ESN in an IKE proposal.
    NotForProtocol {
        /// The keyword as written.
        token: String,
        /// The proposal's protocol.
        protocol: ProtocolId,
    },
    /// A mandatory transform type is missing (RFC 7296 §3.3.3).
    Missing(TransformType),
    /// AEAD and non-AEAD ciphers in one proposal (RFC 7296 §3.3.3 wants
    /// them in separate proposals).
    MixedAead,
    /// AEAD combined with an integrity algorithm (RFC 5282 §8).
    AeadWithIntegrity,
    /// No PRF given and none corresponds to this integrity algorithm.
    NoPrfForIntegrity(IntegId),
    /// Only IKE and ESP proposals are supported.
    UnsupportedProtocol(ProtocolId),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no algorithms"),
            Self::UnknownAlgorithm {
                token,
                suggestion: Some(s),
            } => {
                write!(f, "unknown algorithm '{token}'; did you mean '{s}'?")
            }
            Self::UnknownAlgorithm {
                token,
                suggestion: None,
            } => write!(f, "unknown algorithm '{token}'"),
            Self::NotForProtocol { token, protocol } => {
                write!(f, "'{token}' is not allowed in an {protocol} proposal")
            }
            Self::Missing(t) => write!(f, "no {} algorithm", type_word(*t)),
            Self::MixedAead => f.write_str("AEAD and non-AEAD encryption mixed"),
            Self::AeadWithIntegrity => {
                f.write_str("an AEAD algorithm takes no integrity algorithm")
            }
            Self::NoPrfForIntegrity(i) => write!(f, "no PRF given and none matches integrity {i}"),
            Self::UnsupportedProtocol(p) => write!(f, "protocol {p} not supported"),
        }
    }
}

impl ProposalParseError {
    /// Message order as a person reads it: "unknown algorithm 'x' in proposal 'y'; did you mean 'z'?".
    pub fn message(&self) -> String {
        match &self.kind {
            ParseErrorKind::UnknownAlgorithm {
                token,
                suggestion: Some(s),
            } => {
                format!(
                    "unknown algorithm '{token}' in proposal '{}'; did you mean '{s}'?",
                    self.proposal
                )
            }
            k => format!("{k} in proposal '{}'", self.proposal),
        }
    }
}

fn type_word(t: TransformType) -> &'static str {
    match t {
        TransformType::ENCR => "encryption",
        TransformType::INTEG => "integrity",
        TransformType::PRF => "PRF",
        TransformType::KE => "key exchange",
        TransformType::ESN => "ESN",
        _ => "other",
    }
}

/// The transforms both sides agreed on: one per type (RFC 7296 §2.7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chosen {
    /// The proposal number, echoed from the offer (RFC 7296 §3.3.1).
    pub number: u8,
    /// IKE or ESP.
    pub protocol: ProtocolId,
    /// The SPI the offering side put in its proposal (its inbound SPI for
    /// ESP, empty or its IKE SPI for IKE).
    pub peer_spi: Vec<u8>,
    /// Encryption algorithm.
    pub encr: Algorithm,
    /// Integrity algorithm; `None` with AEAD.
    pub integ: Option<Algorithm>,
    /// PRF; IKE only.
    pub prf: Option<Algorithm>,
    /// Key exchange method; `None` for ESP without PFS.
    pub ke: Option<Algorithm>,
    /// ESN; ESP only.
    pub esn: Option<Algorithm>,
}

impl Chosen {
    /// Encryption algorithm ID.
    pub fn encr_id(&self) -> EncrId {
        EncrId(self.encr.id)
    }
    /// Integrity algorithm ID, `AUTH_NONE` for AEAD.
    pub fn integ_id(&self) -> IntegId {
        self.integ.map_or(IntegId::AUTH_NONE, |a| IntegId(a.id))
    }
    /// PRF ID, if any.
    pub fn prf_id(&self) -> Option<PrfId> {
        self.prf.map(|a| PrfId(a.id))
    }
    /// Key exchange method, if any.
    pub fn ke_method(&self) -> Option<KeMethod> {
        self.ke.map(|a| KeMethod(a.id))
    }
    /// Whether extended sequence numbers were chosen.
    pub fn esn(&self) -> bool {
        self.esn.is_some_and(|a| a.id == EsnId::EXT_SEQ.0)
    }

    fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        [Some(self.encr), self.integ, self.prf, self.ke, self.esn]
            .into_iter()
            .flatten()
    }

    /// The single-proposal SA a responder returns, with its own SPI
    /// (RFC 7296 §3.3.1: same number, one transform per type).
    pub fn to_wire(&self, our_spi: Vec<u8>) -> wire::Proposal {
        wire::Proposal {
            number: self.number,
            protocol: self.protocol,
            spi: our_spi,
            transforms: self.algorithms().map(Algorithm::to_transform).collect(),
        }
    }

    /// The same choice with another KE method (after INVALID_KE_PAYLOAD).
    pub fn with_ke(mut self, ke: Option<KeMethod>) -> Self {
        self.ke = ke.map(|k| Algorithm::new(TransformType::KE, k.0, None));
        self
    }
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, a) in self.algorithms().enumerate() {
            if n > 0 {
                f.write_str("/")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// No configured proposal matches anything the peer offered
/// (NO_PROPOSAL_CHOSEN, RFC 7296 §2.7). Both lists print in strongSwan
/// notation so the operator can see which side to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no proposal chosen: peer offered {}, we accept {}",
    OfferList(offered),
    SpecList(accepted)
)]
pub struct NoProposalChosen {
    /// What the peer offered.
    pub offered: Vec<wire::Proposal>,
    /// What we are configured to accept.
    pub accepted: Vec<ProposalSpec>,
}

struct OfferList<'a>(&'a [wire::Proposal]);
impl fmt::Display for OfferList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing");
        }
        for (n, p) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            // Same order as our own rendering, whatever order the peer used.
            let mut first = true;
            for t in TYPE_ORDER {
                for tr in p.transforms.iter().filter(|tr| tr.transform_type == t) {
                    if !first {
                        f.write_str("/")?;
                    }
                    first = false;
                    write!(f, "{tr}")?;
                }
            }
            for tr in p
                .transforms
                .iter()
                .filter(|tr| !TYPE_ORDER.contains(&tr.transform_type))
            {
                write!(f, "/{tr}")?;
            }
        }
        Ok(())
    }
}

struct SpecList<'a>(&'a [ProposalSpec]);
impl fmt::Display for SpecList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, p) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A peer's proposals with their key exchange transforms removed, for
/// selecting the CHILD_SA of IKE_AUTH (see [`ProposalSpec::without_ke`]).
pub fn strip_ke(offered: &[wire::Proposal]) -> Vec<wire::Proposal> {
    offered
        .iter()
        .map(|p| wire::Proposal {
            transforms: p
                .transforms
                .iter()
                .filter(|t| t.transform_type != TransformType::KE)
                .cloned()
                .collect(),
            ..p.clone()
        })
        .collect()
}

/// Responder selection (RFC 7296 §2.7): the first of *our* proposals, in our
/// order (strongSwan's default preference), that some peer proposal of the
/// same protocol can satisfy, taking for each type our most preferred
/// algorithm the peer also offered.
///
/// `ke_hint` is the group of the peer's KE payload: when it is acceptable
/// within the matching proposal it is preferred, which avoids a needless
/// INVALID_KE_PAYLOAD round trip. The caller compares the chosen group with
/// the KE payload and asks for [`Chosen::ke_method`] if they differ.
pub fn select(
    ours: &[ProposalSpec],
    offered: &[wire::Proposal],
    ke_hint: Option<KeMethod>,
) -> Result<Chosen, NoProposalChosen> {
    for spec in ours {
        for p in offered.iter().filter(|p| p.protocol == spec.protocol) {
            if let Some(c) = match_one(spec, p, ke_hint) {
                return Ok(c);
            }
        }
    }
    Err(NoProposalChosen {
        offered: offered.to_vec(),
        accepted: ours.to_vec(),
    })
}

fn match_one(spec: &ProposalSpec, p: &wire::Proposal, ke_hint: Option<KeMethod>) -> Option<Chosen> {
    // A peer transform we cannot read (unknown attribute) is skipped, not
    // fatal: the peer may offer it next to ones we know.
    let theirs: Vec<Algorithm> = p
        .transforms
        .iter()
        .filter_map(Algorithm::from_transform)
        .collect();
    // Every transform type the peer put in its proposal must be chosen
    // (RFC 7296 §3.3.6), unless it offered NONE for it.
    for t in p.transforms.iter().map(|t| t.transform_type) {
        if spec.of_type(t).is_empty()
            && !p
                .transforms
                .iter()
                .any(|x| x.transform_type == t && x.id == 0)
        {
            return None;
        }
    }
    let pick = |t: TransformType, hint: Option<u16>| -> Result<Option<Algorithm>, ()> {
        let mine = spec.of_type(t);
        if mine.is_empty() {
            return Ok(None);
        }
        let peer_has_type = theirs.iter().any(|a| a.transform_type == t);
        if !peer_has_type {
            // A peer without ESN in an ESP proposal means no ESN (strongSwan
            // accepts this from older peers); anything else is mandatory.
            if t == TransformType::ESN && mine.iter().any(|a| a.id == EsnId::NO_EXT_SEQ.0) {
                return Ok(None);
            }
            return Err(());
        }
        if let Some(h) = hint {
            if let Some(a) = mine.iter().find(|a| a.id == h && theirs.contains(a)) {
                return Ok(Some(*a));
            }
        }
        mine.iter()
            .find(|a| theirs.contains(a))
            .copied()
            .map(Some)
            .ok_or(())
    };
    let encr = pick(TransformType::ENCR, None).ok()??;
    let integ = pick(TransformType::INTEG, None).ok()?;
    let prf = pick(TransformType::PRF, None).ok()?;
    let ke = pick(TransformType::KE, ke_hint.map(|k| k.0)).ok()?;
    let esn = pick(TransformType::ESN, None).ok()?;
    Some(Chosen {
        number: p.number,
        protocol: p.protocol,
        peer_spi: p.spi.clone(),
        encr,
        integ,
        prf,
        ke,
        esn,
    })
}

/// Why a responder's SA payload does not answer our offer
/// (RFC 7296 §2.7: exactly one proposal, one transform per type, all
/// from what we offered).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The SA payload holds other than exactly one proposal.
    #[error("response SA has {0} proposals, expected exactly one")]
    ProposalCount(usize),
    /// The proposal number names none of ours.
    #[error("response proposal number {0} is not one we offered")]
    UnknownNumber(u8),
    /// Protocol differs from what we offered.
    #[error("response proposal is for {got}, we offered {offered}")]
    Protocol {
        /// Protocol in the response.
        got: ProtocolId,
        /// Protocol we offered.
        offered: ProtocolId,
    },
    /// A transform type appears twice.
    #[error("response proposal has more than one {0} transform")]
    DuplicateType(TransformType),
    /// A transform we did not offer in that proposal.
    #[error("response chose {0}, which we did not offer")]
    NotOffered(String),
    /// A type we require is missing.
    #[error("response proposal has no {0} transform")]
    MissingType(TransformType),
    /// The SPI has the wrong size for the protocol.
    #[error("response proposal SPI is {0} bytes")]
    BadSpi(usize),
}

/// Initiator side: checks that `response` picked one transform of each type
/// from proposal `number` of `offered` (numbered from 1 in order).
pub fn validate_response(
    offered: &[ProposalSpec],
    response: &[wire::Proposal],
) -> Result<Chosen, ResponseError> {
    let [p] = response else {
        return Err(ResponseError::ProposalCount(response.len()));
    };
    let spec = usize::from(p.number)
        .checked_sub(1)
        .and_then(|i| offered.get(i))
        .ok_or(ResponseError::UnknownNumber(p.number))?;
    if p.protocol != spec.protocol {
        return Err(ResponseError::Protocol {
            got: p.protocol,
            offered: spec.protocol,
        });
    }
    let spi_ok = if p.protocol == ProtocolId::IKE {
        p.spi.is_empty() || p.spi.len() == 8
    } else {
        p.spi.len() == 4
    };
    if !spi_ok {
        return Err(ResponseError::BadSpi(p.spi.len()));
    }
    let mut chosen: [Option<Algorithm>; 5] = [None; 5];
    for t in &p.transforms {
        let a =
            Algorithm::from_transform(t).ok_or_else(|| ResponseError::NotOffered(t.to_string()))?;
        let Some(slot_idx) = TYPE_ORDER.iter().position(|x| *x == t.transform_type) else {
            return Err(ResponseError::NotOffered(t.to_string()));
        };
        if !spec.of_type(t.transform_type).contains(&a) {
            // Integrity NONE with AEAD is allowed to be echoed (RFC 7296 §3.3.3).
            if t.transform_type == TransformType::INTEG && t.id == 0 && spec.is_aead() {
                continue;
            }
            return Err(ResponseError::NotOffered(a.to_string()));
        }
        let slot = chosen
            .get_mut(slot_idx)
            .ok_or(ResponseError::DuplicateType(t.transform_type))?;
        if slot.is_some() {
            return Err(ResponseError::DuplicateType(t.transform_type));
        }
        *slot = Some(a);
    }
    let [encr, integ, prf, ke, esn] = chosen;
    let need = |t: TransformType, v: Option<Algorithm>| {
        let optional = (t == TransformType::ESN
            && spec.esn.iter().any(|a| a.id == EsnId::NO_EXT_SEQ.0))
            || (t == TransformType::KE && spec.protocol != ProtocolId::IKE && spec.ke.is_empty());
        if v.is_none() && !spec.of_type(t).is_empty() && !optional {
            Err(ResponseError::MissingType(t))
        } else {
            Ok(())
        }
    };
    need(TransformType::INTEG, integ)?;
    need(TransformType::PRF, prf)?;
    need(TransformType::KE, ke)?;
    need(TransformType::ESN, esn)?;
    let encr = encr.ok_or(ResponseError::MissingType(TransformType::ENCR))?;
    Ok(Chosen {
        number: p.number,
        protocol: p.protocol,
        peer_spi: p.spi.clone(),
        encr,
        integ,
        prf,
        ke,
        esn,
    })
}

/// The wire SA payload offering `specs`, numbered from 1 (RFC 7296 §3.3.1).
pub fn offer(specs: &[ProposalSpec], spi: &[u8]) -> wire::Sa {
    wire::Sa {
        proposals: specs
            .iter()
            .zip(1u8..)
            .map(|(s, n)| s.to_wire(n, spi.to_vec()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(s: &str) -> ProposalSpec {
        ProposalSpec::parse(ProtocolId::IKE, s).unwrap()
    }
    fn esp(s: &str) -> ProposalSpec {
        ProposalSpec::parse(ProtocolId::ESP, s).unwrap()
    }

    #[test]
    fn parses_and_renders_strongswan_notation() {
        assert_eq!(
            ike("aes256gcm16-prfsha384-x25519").to_string(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
        );
        assert_eq!(
            ike("aes256gcm16-prfsha384-x25519-ecp256").to_string(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519/ECP_256"
        );
        assert_eq!(
            ike("aes128gcm16-prfsha256-x25519").to_string(),
            "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        assert_eq!(esp("aes128gcm16").to_string(), "AES_GCM_16_128/NO_EXT_SEQ");
        assert_eq!(
            esp("aes256gcm16-x25519").to_string(),
            "AES_GCM_16_256/CURVE_25519/NO_EXT_SEQ"
        );
        assert_eq!(
            esp("aes128-sha256-esn").to_string(),
            "AES_CBC_128/HMAC_SHA2_256_128/EXT_SEQ"
        );
        assert_eq!(
            esp("aes128-sha256-noesn").to_string(),
            "AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ"
        );
        assert_eq!(esp("aes128-sha256-esn-noesn").esn.len(), 2);
    }

    #[test]
    fn non_aead_ike_proposal_without_prf_takes_the_integrity_prf() {
        let p = ike("aes256-sha256-modp2048");
        assert_eq!(
            p.to_string(),
            "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        );
        let p = ike("aes128-sha1-sha384-modp1024");
        assert_eq!(p.prf.len(), 2);
        assert_eq!(PrfId(p.prf[1].id), PrfId::PRF_HMAC_SHA2_384);
    }

    #[test]
    fn suggests_the_keyword_for_a_typo() {
        let e = ProposalSpec::parse(ProtocolId::IKE, "aes256gmc16-prfsha384-x25519").unwrap_err();
        assert_eq!(
            e.message(),
            "unknown algorithm 'aes256gmc16' in proposal 'aes256gmc16-prfsha384-x25519'; did you mean 'aes256gcm16'?"
        );
        let e = ProposalSpec::parse(ProtocolId::IKE, "zzzzzzzzzz-prfsha384-x25519").unwrap_err();
        assert_eq!(
            e.kind,
            ParseErrorKind::UnknownAlgorithm {
                token: "zzzzzzzzzz".into(),
                suggestion: None
            }
        );
        assert_eq!(
            e.to_string(),
            "unknown algorithm 'zzzzzzzzzz' in proposal 'zzzzzzzzzz-prfsha384-x25519'"
        );
    }

    #[test]
    fn rejects_aead_with_integrity() {
        let e = ProposalSpec::parse(ProtocolId::IKE, "aes256gcm16-sha256-prfsha256-x25519")
            .unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::AeadWithIntegrity);
    }

    #[test]
    fn rejects_missing_and_misplaced_transforms() {
        let kind = |p, s| ProposalSpec::parse(p, s).unwrap_err().kind;
        assert_eq!(
            kind(ProtocolId::IKE, "aes256gcm16-x25519"),
            ParseErrorKind::Missing(TransformType::PRF)
        );
        assert_eq!(
            kind(ProtocolId::IKE, "aes256gcm16-prfsha256"),
            ParseErrorKind::Missing(TransformType::KE)
        );
        assert_eq!(
            kind(ProtocolId::IKE, "aes256-modp2048"),
            ParseErrorKind::Missing(TransformType::INTEG)
        );
        assert_eq!(
            kind(ProtocolId::ESP, "sha256"),
            ParseErrorKind::Missing(TransformType::ENCR)
        );
        assert_eq!(kind(ProtocolId::IKE, ""), ParseErrorKind::Empty);
        assert_eq!(
            kind(ProtocolId::IKE, "aes256gcm16-aes256-sha256-x25519"),
            ParseErrorKind::MixedAead
        );
        assert!(matches!(
            kind(ProtocolId::ESP, "aes128gcm16-prfsha256"),
            ParseErrorKind::NotForProtocol { .. }
        ));
        assert!(matches!(
            kind(ProtocolId::IKE, "aes128gcm16-prfsha256-x25519-esn"),
            ParseErrorKind::NotForProtocol { .. }
        ));
        assert_eq!(
            kind(ProtocolId::AH, "sha256"),
            ParseErrorKind::UnsupportedProtocol(ProtocolId::AH)
        );
    }

    #[test]
    fn parses_lists_and_default() {
        let l = parse_list(
            ProtocolId::IKE,
            "aes256gcm16-prfsha384-x25519, aes128-sha256-modp2048",
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        let d = ike("default");
        assert!(d.is_aead() && d.first_ke() == Some(KeMethod::CURVE_25519));
    }

    fn sa_of(specs: &[ProposalSpec]) -> Vec<wire::Proposal> {
        offer(specs, &[]).proposals
    }

    #[test]
    fn selects_our_first_proposal_in_our_order() {
        let ours = [
            ike("aes256gcm16-prfsha384-ecp256-x25519"),
            ike("aes128-sha256-modp2048"),
        ];
        let theirs = sa_of(&[
            ike("aes128-sha256-modp2048"),
            ike("aes256gcm16-prfsha384-x25519-ecp256"),
        ]);
        let c = select(&ours, &theirs, None).unwrap();
        assert_eq!(c.number, 2);
        assert_eq!(c.to_string(), "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_256");
        // With the peer's KE group acceptable, we take it instead.
        let c = select(&ours, &theirs, Some(KeMethod::CURVE_25519)).unwrap();
        assert_eq!(c.ke_method(), Some(KeMethod::CURVE_25519));
        let w = c.to_wire(vec![1; 8]);
        assert_eq!(w.number, 2);
        assert_eq!(w.transforms.len(), 3);
    }

    #[test]
    fn no_proposal_chosen_names_both_offers() {
        let ours = [ike("aes256gcm16-prfsha384-x25519")];
        let theirs = sa_of(&[ike("aes128-sha1-prfsha1-modp1024")]);
        let e = select(&ours, &theirs, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no proposal chosen: peer offered AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024, \
             we accept AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
        );
    }

    #[test]
    fn esp_selection_handles_esn_and_pfs() {
        let ours = [esp("aes128gcm16-esn-noesn")];
        let c = select(&ours, &sa_of(&[esp("aes128gcm16-noesn")]), None).unwrap();
        assert!(!c.esn());
        let c = select(&ours, &sa_of(&[esp("aes128gcm16-esn")]), None).unwrap();
        assert!(c.esn());
        // Peer wants PFS, we do not: no match.
        assert!(select(
            &[esp("aes128gcm16")],
            &sa_of(&[esp("aes128gcm16-x25519")]),
            None
        )
        .is_err());
        // We want PFS, peer does not: no match.
        assert!(select(
            &[esp("aes128gcm16-x25519")],
            &sa_of(&[esp("aes128gcm16")]),
            None
        )
        .is_err());
        let c = select(
            &[esp("aes128gcm16-x25519")],
            &sa_of(&[esp("aes128gcm16-x25519")]),
            None,
        )
        .unwrap();
        assert_eq!(c.ke_method(), Some(KeMethod::CURVE_25519));
        // A peer omitting ESN altogether gets no ESN.
        let mut p = sa_of(&[esp("aes128gcm16")]);
        p[0].transforms
            .retain(|t| t.transform_type != TransformType::ESN);
        assert!(select(&[esp("aes128gcm16")], &p, None).is_ok());
        // Wrong protocol never matches.
        assert!(select(
            &[esp("aes128gcm16")],
            &sa_of(&[ike("aes128gcm16-prfsha256-x25519")]),
            None
        )
        .is_err());
    }

    #[test]
    fn ike_auth_selection_ignores_pfs_groups() {
        let ours: Vec<_> = [esp("aes128gcm16-x25519")]
            .iter()
            .map(ProposalSpec::without_ke)
            .collect();
        let theirs = strip_ke(&sa_of(&[esp("aes128gcm16-ecp256")]));
        let c = select(&ours, &theirs, None).unwrap();
        assert_eq!(c.to_string(), "AES_GCM_16_128/NO_EXT_SEQ");
        assert_eq!(
            validate_response(&ours, &[c.to_wire(vec![0; 4])])
                .unwrap()
                .ke_method(),
            None
        );
    }

    #[test]
    fn key_length_must_match() {
        let ours = [ike("aes256gcm16-prfsha256-x25519")];
        assert!(select(&ours, &sa_of(&[ike("aes128gcm16-prfsha256-x25519")]), None).is_err());
        let mut theirs = sa_of(&ours);
        theirs[0].transforms[0].attributes.clear();
        assert!(select(&ours, &theirs, None).is_err());
    }

    #[test]
    fn validates_the_responders_choice() {
        let ours = [
            ike("aes256gcm16-prfsha384-x25519-ecp256"),
            ike("aes128-sha256-modp2048"),
        ];
        let c = select(&ours, &sa_of(&ours), Some(KeMethod::ECP_256)).unwrap();
        let resp = vec![c.to_wire(vec![7; 8])];
        let v = validate_response(&ours, &resp).unwrap();
        assert_eq!(v.ke_method(), Some(KeMethod::ECP_256));
        assert_eq!(v.peer_spi, vec![7; 8]);
    }

    #[test]
    fn rejects_a_bad_response() {
        let ours = [ike("aes256gcm16-prfsha384-x25519-ecp256")];
        let good = select(&ours, &sa_of(&ours), None)
            .unwrap()
            .to_wire(Vec::new());
        assert_eq!(
            validate_response(&ours, &[]),
            Err(ResponseError::ProposalCount(0))
        );
        assert_eq!(
            validate_response(&ours, &[good.clone(), good.clone()]),
            Err(ResponseError::ProposalCount(2))
        );
        let mut p = good.clone();
        p.number = 2;
        assert_eq!(
            validate_response(&ours, &[p]),
            Err(ResponseError::UnknownNumber(2))
        );
        let mut p = good.clone();
        p.transforms
            .push(wire::Transform::new(TransformType::KE, KeMethod::ECP_256.0));
        assert_eq!(
            validate_response(&ours, &[p]),
            Err(ResponseError::DuplicateType(TransformType::KE))
        );
        let mut p = good.clone();
        p.transforms
            .retain(|t| t.transform_type != TransformType::PRF);
        assert_eq!(
            validate_response(&ours, &[p]),
            Err(ResponseError::MissingType(TransformType::PRF))
        );
        let mut p = good.clone();
        p.transforms[2] = wire::Transform::new(TransformType::KE, KeMethod::MODP_1024.0);
        assert_eq!(
            validate_response(&ours, &[p]),
            Err(ResponseError::NotOffered("MODP_1024".into()))
        );
        let mut p = good.clone();
        p.protocol = ProtocolId::ESP;
        assert!(matches!(
            validate_response(&ours, &[p]),
            Err(ResponseError::Protocol { .. })
        ));
        let mut p = good;
        p.spi = vec![1, 2, 3];
        assert_eq!(
            validate_response(&ours, &[p]),
            Err(ResponseError::BadSpi(3))
        );
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("gmc", "gcm"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("sha265", "sha256"), 1);
    }
}
