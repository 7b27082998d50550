//! IANA IKEv2 registries as open newtypes.
//!
//! Each registry is a `struct X(pub uN)` with associated consts, so any value a
//! peer sends survives parse → emit, and unknown values print as their number.
//! Const names follow strongSwan's spelling where strongSwan has one (so logs
//! and `ikegw decode` read like `swanctl --log`); `Display` prints the name
//! strongSwan would print (for example `AES_GCM_16`, `HMAC_SHA2_256_128`).
//! Numbers are from the IANA "Internet Key Exchange Version 2 (IKEv2)
//! Parameters" registries; each const cites the RFC that assigned it.

use core::fmt;

/// Define an open registry newtype with named consts.
///
/// Each entry is `NAME = value, "display", "reference"`.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $name:ident($ty:ty);
        $( $c:ident = $v:literal, $disp:literal, $rfc:literal; )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $ty);

        impl $name {
            $(
                #[doc = concat!("`", $disp, "` = ", stringify!($v), " (", $rfc, ").")]
                pub const $c: Self = Self($v);
            )*

            /// Every value with a name, in registry order.
            pub const KNOWN: &'static [Self] = &[$(Self::$c),*];

            /// The name of this value, or `None` for an unassigned or unknown one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $v => Some($disp), )*
                    _ => None,
                }
            }

            /// The raw number.
            pub const fn get(self) -> $ty {
                self.0
            }
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!(stringify!($name), "({})"), self.0),
                }
            }
        }
    };
}

registry! {
    /// IKEv2 Exchange Types (RFC 7296 §3.1, IANA "IKEv2 Exchange Types").
    ExchangeType(u8);
    IKE_SA_INIT = 34, "IKE_SA_INIT", "RFC 7296";
    IKE_AUTH = 35, "IKE_AUTH", "RFC 7296";
    CREATE_CHILD_SA = 36, "CREATE_CHILD_SA", "RFC 7296";
    INFORMATIONAL = 37, "INFORMATIONAL", "RFC 7296";
    IKE_SESSION_RESUME = 38, "IKE_SESSION_RESUME", "RFC 5723";
    GSA_AUTH = 39, "GSA_AUTH", "draft-ietf-ipsecme-g-ikev2";
    GSA_REGISTRATION = 40, "GSA_REGISTRATION", "draft-ietf-ipsecme-g-ikev2";
    GSA_REKEY = 41, "GSA_REKEY", "draft-ietf-ipsecme-g-ikev2";
    IKE_INTERMEDIATE = 43, "IKE_INTERMEDIATE", "RFC 9242";
    IKE_FOLLOWUP_KE = 44, "IKE_FOLLOWUP_KE", "RFC 9370";
    ME_CONNECT = 240, "ME_CONNECT", "strongSwan private use";
}

registry! {
    /// IKEv2 Payload Types (RFC 7296 §3.2, IANA "IKEv2 Payload Types").
    PayloadType(u8);
    NO_NEXT_PAYLOAD = 0, "NONE", "RFC 7296";
    SA = 33, "SA", "RFC 7296";
    KE = 34, "KE", "RFC 7296";
    IDI = 35, "IDi", "RFC 7296";
    IDR = 36, "IDr", "RFC 7296";
    CERT = 37, "CERT", "RFC 7296";
    CERTREQ = 38, "CERTREQ", "RFC 7296";
    AUTH = 39, "AUTH", "RFC 7296";
    NONCE = 40, "No", "RFC 7296";
    NOTIFY = 41, "N", "RFC 7296";
    DELETE = 42, "D", "RFC 7296";
    VENDOR_ID = 43, "V", "RFC 7296";
    TSI = 44, "TSi", "RFC 7296";
    TSR = 45, "TSr", "RFC 7296";
    SK = 46, "SK", "RFC 7296";
    CP = 47, "CP", "RFC 7296";
    EAP = 48, "EAP", "RFC 7296";
    GSPM = 49, "GSPM", "RFC 6467";
    IDG = 50, "IDg", "draft-ietf-ipsecme-g-ikev2";
    GSA = 51, "GSA", "draft-ietf-ipsecme-g-ikev2";
    KD = 52, "KD", "draft-ietf-ipsecme-g-ikev2";
    SKF = 53, "SKF", "RFC 7383";
    PS = 54, "PS", "RFC 8019";
}

registry! {
    /// Transform Type Values (RFC 7296 §3.3.2, RFC 9370 §2.2.1).
    TransformType(u8);
    ENCR = 1, "ENCR", "RFC 7296";
    PRF = 2, "PRF", "RFC 7296";
    INTEG = 3, "INTEG", "RFC 7296";
    KE = 4, "KE", "RFC 9370";
    ESN = 5, "ESN", "RFC 7296";
    ADDKE1 = 6, "ADDKE1", "RFC 9370";
    ADDKE2 = 7, "ADDKE2", "RFC 9370";
    ADDKE3 = 8, "ADDKE3", "RFC 9370";
    ADDKE4 = 9, "ADDKE4", "RFC 9370";
    ADDKE5 = 10, "ADDKE5", "RFC 9370";
    ADDKE6 = 11, "ADDKE6", "RFC 9370";
    ADDKE7 = 12, "ADDKE7", "RFC 9370";
    KWA = 13, "KWA", "draft-ietf-ipsecme-g-ikev2";
    GCAUTH = 14, "GCAUTH", "draft-ietf-ipsecme-g-ikev2";
}

impl TransformType {
    /// The name of `id` in this transform type's own registry, if known
    /// (RFC 7296 §3.3.2: each transform type has its own ID space).
    pub fn id_name(self, id: u16) -> Option<&'static str> {
        match self {
            Self::ENCR => EncrId(id).name(),
            Self::PRF => PrfId(id).name(),
            Self::INTEG => IntegId(id).name(),
            Self::KE
            | Self::ADDKE1
            | Self::ADDKE2
            | Self::ADDKE3
            | Self::ADDKE4
            | Self::ADDKE5
            | Self::ADDKE6
            | Self::ADDKE7 => KeMethod(id).name(),
            Self::ESN => EsnId(id).name(),
            _ => None,
        }
    }
}

registry! {
    /// Transform Type 1, Encryption Algorithm Transform IDs (RFC 7296 §3.3.2).
    EncrId(u16);
    DES_IV64 = 1, "DES_IV64", "RFC 1827";
    DES = 2, "DES_CBC", "RFC 2405";
    ENCR_3DES = 3, "3DES_CBC", "RFC 2451";
    RC5 = 4, "RC5_CBC", "RFC 2451";
    IDEA = 5, "IDEA_CBC", "RFC 2451";
    CAST = 6, "CAST_CBC", "RFC 2451";
    BLOWFISH = 7, "BLOWFISH_CBC", "RFC 2451";
    ENCR_3IDEA = 8, "3IDEA", "RFC 2451";
    DES_IV32 = 9, "DES_IV32", "RFC 7296";
    NULL = 11, "NULL", "RFC 2410";
    AES_CBC = 12, "AES_CBC", "RFC 3602";
    AES_CTR = 13, "AES_CTR", "RFC 5930";
    AES_CCM_8 = 14, "AES_CCM_8", "RFC 5282";
    AES_CCM_12 = 15, "AES_CCM_12", "RFC 5282";
    AES_CCM_16 = 16, "AES_CCM_16", "RFC 5282";
    AES_GCM_8 = 18, "AES_GCM_8", "RFC 5282";
    AES_GCM_12 = 19, "AES_GCM_12", "RFC 5282";
    AES_GCM_16 = 20, "AES_GCM_16", "RFC 5282";
    NULL_AES_GMAC = 21, "NULL_AES_GMAC", "RFC 4543";
    CAMELLIA_CBC = 23, "CAMELLIA_CBC", "RFC 5529";
    CAMELLIA_CTR = 24, "CAMELLIA_CTR", "RFC 5529";
    CAMELLIA_CCM_8 = 25, "CAMELLIA_CCM_8", "RFC 5529";
    CAMELLIA_CCM_12 = 26, "CAMELLIA_CCM_12", "RFC 5529";
    CAMELLIA_CCM_16 = 27, "CAMELLIA_CCM_16", "RFC 5529";
    CHACHA20_POLY1305 = 28, "CHACHA20_POLY1305", "RFC 7634";
    AES_CCM_8_IIV = 29, "AES_CCM_8_IIV", "RFC 8750";
    AES_GCM_16_IIV = 30, "AES_GCM_16_IIV", "RFC 8750";
    CHACHA20_POLY1305_IIV = 31, "CHACHA20_POLY1305_IIV", "RFC 8750";
    KUZNYECHIK_MGM_KTREE = 32, "KUZNYECHIK_MGM_KTREE", "RFC 9227";
    MAGMA_MGM_KTREE = 33, "MAGMA_MGM_KTREE", "RFC 9227";
    KUZNYECHIK_MGM_MAC_KTREE = 34, "KUZNYECHIK_MGM_MAC_KTREE", "RFC 9227";
    MAGMA_MGM_MAC_KTREE = 35, "MAGMA_MGM_MAC_KTREE", "RFC 9227";
}

impl EncrId {
    /// True for combined-mode (AEAD) ciphers, which take no INTEG transform
    /// (RFC 5282 §8, RFC 7634 §4).
    pub const fn is_aead(self) -> bool {
        matches!(self.0, 14..=16 | 18..=21 | 25..=32 | 34 | 35)
    }
}

registry! {
    /// Transform Type 2, Pseudorandom Function Transform IDs (RFC 7296 §3.3.2).
    PrfId(u16);
    PRF_HMAC_MD5 = 1, "PRF_HMAC_MD5", "RFC 2104";
    PRF_HMAC_SHA1 = 2, "PRF_HMAC_SHA1", "RFC 2104";
    PRF_HMAC_TIGER = 3, "PRF_HMAC_TIGER", "RFC 7296";
    PRF_AES128_XCBC = 4, "PRF_AES128_XCBC", "RFC 4434";
    PRF_HMAC_SHA2_256 = 5, "PRF_HMAC_SHA2_256", "RFC 4868";
    PRF_HMAC_SHA2_384 = 6, "PRF_HMAC_SHA2_384", "RFC 4868";
    PRF_HMAC_SHA2_512 = 7, "PRF_HMAC_SHA2_512", "RFC 4868";
    PRF_AES128_CMAC = 8, "PRF_AES128_CMAC", "RFC 4615";
    PRF_HMAC_STREEBOG_512 = 9, "PRF_HMAC_STREEBOG_512", "RFC 9385";
}

registry! {
    /// Transform Type 3, Integrity Algorithm Transform IDs (RFC 7296 §3.3.2).
    IntegId(u16);
    AUTH_NONE = 0, "NONE", "RFC 7296";
    AUTH_HMAC_MD5_96 = 1, "HMAC_MD5_96", "RFC 2403";
    AUTH_HMAC_SHA1_96 = 2, "HMAC_SHA1_96", "RFC 2404";
    AUTH_DES_MAC = 3, "DES_MAC", "RFC 7296";
    AUTH_KPDK_MD5 = 4, "KPDK_MD5", "RFC 1826";
    AUTH_AES_XCBC_96 = 5, "AES_XCBC_96", "RFC 3566";
    AUTH_HMAC_MD5_128 = 6, "HMAC_MD5_128", "RFC 4595";
    AUTH_HMAC_SHA1_160 = 7, "HMAC_SHA1_160", "RFC 4595";
    AUTH_AES_CMAC_96 = 8, "AES_CMAC_96", "RFC 4494";
    AUTH_AES_128_GMAC = 9, "AES_128_GMAC", "RFC 4543";
    AUTH_AES_192_GMAC = 10, "AES_192_GMAC", "RFC 4543";
    AUTH_AES_256_GMAC = 11, "AES_256_GMAC", "RFC 4543";
    AUTH_HMAC_SHA2_256_128 = 12, "HMAC_SHA2_256_128", "RFC 4868";
    AUTH_HMAC_SHA2_384_192 = 13, "HMAC_SHA2_384_192", "RFC 4868";
    AUTH_HMAC_SHA2_512_256 = 14, "HMAC_SHA2_512_256", "RFC 4868";
}

registry! {
    /// Transform Type 4, Key Exchange Method Transform IDs, formerly
    /// Diffie-Hellman groups (RFC 7296 §3.3.2, RFC 9370 §2.2.1).
    KeMethod(u16);
    KE_NONE = 0, "KE_NONE", "RFC 9370";
    MODP_768 = 1, "MODP_768", "RFC 7296";
    MODP_1024 = 2, "MODP_1024", "RFC 7296";
    MODP_1536 = 5, "MODP_1536", "RFC 3526";
    MODP_2048 = 14, "MODP_2048", "RFC 3526";
    MODP_3072 = 15, "MODP_3072", "RFC 3526";
    MODP_4096 = 16, "MODP_4096", "RFC 3526";
    MODP_6144 = 17, "MODP_6144", "RFC 3526";
    MODP_8192 = 18, "MODP_8192", "RFC 3526";
    ECP_256 = 19, "ECP_256", "RFC 5903";
    ECP_384 = 20, "ECP_384", "RFC 5903";
    ECP_521 = 21, "ECP_521", "RFC 5903";
    MODP_1024_160 = 22, "MODP_1024_160", "RFC 5114";
    MODP_2048_224 = 23, "MODP_2048_224", "RFC 5114";
    MODP_2048_256 = 24, "MODP_2048_256", "RFC 5114";
    ECP_192 = 25, "ECP_192", "RFC 5114";
    ECP_224 = 26, "ECP_224", "RFC 5114";
    ECP_224_BP = 27, "ECP_224_BP", "RFC 6954";
    ECP_256_BP = 28, "ECP_256_BP", "RFC 6954";
    ECP_384_BP = 29, "ECP_384_BP", "RFC 6954";
    ECP_512_BP = 30, "ECP_512_BP", "RFC 6954";
    CURVE_25519 = 31, "CURVE_25519", "RFC 8031";
    CURVE_448 = 32, "CURVE_448", "RFC 8031";
    GOST3410_256 = 33, "GOST3410_256", "RFC 9385";
    GOST3410_512 = 34, "GOST3410_512", "RFC 9385";
    ML_KEM_512 = 35, "ML_KEM_512", "draft-ietf-ipsecme-ikev2-mlkem";
    ML_KEM_768 = 36, "ML_KEM_768", "draft-ietf-ipsecme-ikev2-mlkem";
    ML_KEM_1024 = 37, "ML_KEM_1024", "draft-ietf-ipsecme-ikev2-mlkem";
}

/// The pre-RFC 9370 name of [`KeMethod`] (RFC 7296 §3.3.2 "Diffie-Hellman Group").
pub type DhGroup = KeMethod;

registry! {
    /// Transform Type 5, Extended Sequence Numbers Transform IDs (RFC 7296 §3.3.2).
    EsnId(u16);
    NO_EXT_SEQ = 0, "NO_EXT_SEQ", "RFC 7296";
    EXT_SEQ = 1, "EXT_SEQ", "RFC 7296";
}

registry! {
    /// IKEv2 Transform Attribute Types (RFC 7296 §3.3.5).
    TransformAttributeType(u16);
    KEY_LENGTH = 14, "KEY_LENGTH", "RFC 7296";
}

registry! {
    /// Security Protocol Identifiers (RFC 7296 §3.3.1, IANA "IKEv2 Security
    /// Protocol Identifiers"); 0 means "none" in Notify (RFC 7296 §3.10).
    ProtocolId(u8);
    NONE = 0, "NONE", "RFC 7296";
    IKE = 1, "IKE", "RFC 7296";
    AH = 2, "AH", "RFC 7296";
    ESP = 3, "ESP", "RFC 7296";
    FC_ESP_HEADER = 4, "FC_ESP_HEADER", "RFC 4595";
    FC_CT_AUTHENTICATION = 5, "FC_CT_AUTHENTICATION", "RFC 4595";
    GIKE_UPDATE = 6, "GIKE_UPDATE", "draft-ietf-ipsecme-g-ikev2";
}

registry! {
    /// IKEv2 Identification Payload ID Types (RFC 7296 §3.5).
    IdType(u8);
    ID_IPV4_ADDR = 1, "ID_IPV4_ADDR", "RFC 7296";
    ID_FQDN = 2, "ID_FQDN", "RFC 7296";
    ID_RFC822_ADDR = 3, "ID_RFC822_ADDR", "RFC 7296";
    ID_IPV6_ADDR = 5, "ID_IPV6_ADDR", "RFC 7296";
    ID_DER_ASN1_DN = 9, "ID_DER_ASN1_DN", "RFC 7296";
    ID_DER_ASN1_GN = 10, "ID_DER_ASN1_GN", "RFC 7296";
    ID_KEY_ID = 11, "ID_KEY_ID", "RFC 7296";
    ID_FC_NAME = 12, "ID_FC_NAME", "RFC 4595";
    ID_NULL = 13, "ID_NULL", "RFC 7619";
}

registry! {
    /// IKEv2 Certificate Encodings (RFC 7296 §3.6).
    CertEncoding(u8);
    PKCS7_WRAPPED_X509 = 1, "PKCS7_WRAPPED_X509", "RFC 7296";
    PGP = 2, "PGP", "RFC 7296";
    DNS_SIGNED_KEY = 3, "DNS_SIGNED_KEY", "RFC 7296";
    X509_CERT_SIG = 4, "X509_CERT_SIG", "RFC 7296";
    KERBEROS_TOKEN = 6, "KERBEROS_TOKEN", "RFC 7296";
    CRL = 7, "CRL", "RFC 7296";
    ARL = 8, "ARL", "RFC 7296";
    SPKI = 9, "SPKI", "RFC 7296";
    X509_CERT_ATTR = 10, "X509_CERT_ATTR", "RFC 7296";
    RAW_RSA_KEY = 11, "RAW_RSA_KEY", "RFC 7296";
    HASH_URL_X509_CERT = 12, "HASH_URL_X509_CERT", "RFC 7296";
    HASH_URL_X509_BUNDLE = 13, "HASH_URL_X509_BUNDLE", "RFC 7296";
    OCSP_CONTENT = 14, "OCSP_CONTENT", "RFC 4806";
    RAW_PUBLIC_KEY = 15, "RAW_PUBLIC_KEY", "RFC 7670";
}

registry! {
    /// IKEv2 Authentication Methods (RFC 7296 §3.8, RFC 7427 §3).
    AuthMethod(u8);
    RSA_DIGITAL_SIGNATURE = 1, "RSA_DIGITAL_SIGNATURE", "RFC 7296";
    SHARED_KEY_MIC = 2, "SHARED_KEY_MIC", "RFC 7296";
    DSS_DIGITAL_SIGNATURE = 3, "DSS_DIGITAL_SIGNATURE", "RFC 7296";
    ECDSA_SHA256_P256 = 9, "ECDSA_SHA256_P256", "RFC 4754";
    ECDSA_SHA384_P384 = 10, "ECDSA_SHA384_P384", "RFC 4754";
    ECDSA_SHA512_P521 = 11, "ECDSA_SHA512_P521", "RFC 4754";
    GSPAM = 12, "GSPAM", "RFC 6467";
    NULL = 13, "NULL", "RFC 7619";
    DIGITAL_SIGNATURE = 14, "DIGITAL_SIGNATURE", "RFC 7427";
}

registry! {
    /// IKEv2 Hash Algorithms for SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).
    HashAlgorithm(u16);
    SHA1 = 1, "HASH_SHA1", "RFC 7427";
    SHA2_256 = 2, "HASH_SHA2_256", "RFC 7427";
    SHA2_384 = 3, "HASH_SHA2_384", "RFC 7427";
    SHA2_512 = 4, "HASH_SHA2_512", "RFC 7427";
    IDENTITY = 5, "HASH_IDENTITY", "RFC 8420";
    STREEBOG_256 = 6, "HASH_STREEBOG_256", "RFC 9385";
    STREEBOG_512 = 7, "HASH_STREEBOG_512", "RFC 9385";
}

registry! {
    /// IKEv2 Traffic Selector Types (RFC 7296 §3.13.1).
    TsType(u8);
    TS_IPV4_ADDR_RANGE = 7, "TS_IPV4_ADDR_RANGE", "RFC 7296";
    TS_IPV6_ADDR_RANGE = 8, "TS_IPV6_ADDR_RANGE", "RFC 7296";
    TS_FC_ADDR_RANGE = 9, "TS_FC_ADDR_RANGE", "RFC 4595";
    TS_SECLABEL = 10, "TS_SECLABEL", "RFC 9478";
}

registry! {
    /// IKEv2 Configuration Payload CFG Types (RFC 7296 §3.15).
    CfgType(u8);
    CFG_REQUEST = 1, "CFG_REQUEST", "RFC 7296";
    CFG_REPLY = 2, "CFG_REPLY", "RFC 7296";
    CFG_SET = 3, "CFG_SET", "RFC 7296";
    CFG_ACK = 4, "CFG_ACK", "RFC 7296";
}

registry! {
    /// IKEv2 Configuration Payload Attribute Types, 15 bits (RFC 7296 §3.15.1).
    CpAttributeType(u16);
    INTERNAL_IP4_ADDRESS = 1, "INTERNAL_IP4_ADDRESS", "RFC 7296";
    INTERNAL_IP4_NETMASK = 2, "INTERNAL_IP4_NETMASK", "RFC 7296";
    INTERNAL_IP4_DNS = 3, "INTERNAL_IP4_DNS", "RFC 7296";
    INTERNAL_IP4_NBNS = 4, "INTERNAL_IP4_NBNS", "RFC 7296";
    INTERNAL_ADDRESS_EXPIRY = 5, "INTERNAL_ADDRESS_EXPIRY", "RFC 4306 (reserved by RFC 7296)";
    INTERNAL_IP4_DHCP = 6, "INTERNAL_IP4_DHCP", "RFC 7296";
    APPLICATION_VERSION = 7, "APPLICATION_VERSION", "RFC 7296";
    INTERNAL_IP6_ADDRESS = 8, "INTERNAL_IP6_ADDRESS", "RFC 7296";
    INTERNAL_IP6_NETMASK = 9, "INTERNAL_IP6_NETMASK", "RFC 4306 (reserved by RFC 7296)";
    INTERNAL_IP6_DNS = 10, "INTERNAL_IP6_DNS", "RFC 7296";
    INTERNAL_IP6_NBNS = 11, "INTERNAL_IP6_NBNS", "RFC 4306 (reserved by RFC 7296)";
    INTERNAL_IP6_DHCP = 12, "INTERNAL_IP6_DHCP", "RFC 7296";
    INTERNAL_IP4_SUBNET = 13, "INTERNAL_IP4_SUBNET", "RFC 7296";
    SUPPORTED_ATTRIBUTES = 14, "SUPPORTED_ATTRIBUTES", "RFC 7296";
    INTERNAL_IP6_SUBNET = 15, "INTERNAL_IP6_SUBNET", "RFC 7296";
    MIP6_HOME_PREFIX = 16, "MIP6_HOME_PREFIX", "RFC 5026";
    INTERNAL_IP6_LINK = 17, "INTERNAL_IP6_LINK", "RFC 5739";
    INTERNAL_IP6_PREFIX = 18, "INTERNAL_IP6_PREFIX", "RFC 5739";
    HOME_AGENT_ADDRESS = 19, "HOME_AGENT_ADDRESS", "3GPP TS 24.302";
    P_CSCF_IP4_ADDRESS = 20, "P_CSCF_IP4_ADDRESS", "RFC 7651";
    P_CSCF_IP6_ADDRESS = 21, "P_CSCF_IP6_ADDRESS", "RFC 7651";
    FTT_KAT = 22, "FTT_KAT", "3GPP TS 24.302";
    EXTERNAL_SOURCE_IP4_NAT_INFO = 23, "EXTERNAL_SOURCE_IP4_NAT_INFO", "3GPP TS 24.502";
    TIMEOUT_PERIOD_FOR_LIVENESS_CHECK = 24, "TIMEOUT_PERIOD_FOR_LIVENESS_CHECK", "3GPP TS 24.502";
    INTERNAL_DNS_DOMAIN = 25, "INTERNAL_DNS_DOMAIN", "RFC 8598";
    INTERNAL_DNSSEC_TA = 26, "INTERNAL_DNSSEC_TA", "RFC 8598";
    ENCDNS_IP4 = 27, "ENCDNS_IP4", "RFC 9464";
    ENCDNS_IP6 = 28, "ENCDNS_IP6", "RFC 9464";
    ENCDNS_DIGEST_INFO = 29, "ENCDNS_DIGEST_INFO", "RFC 9464";
    INTERNAL_IP4_SERVER = 23456, "INTERNAL_IP4_SERVER", "MS-IKEE §2.2.8 (private use)";
    INTERNAL_IP6_SERVER = 23457, "INTERNAL_IP6_SERVER", "MS-IKEE §2.2.8 (private use)";
    UNITY_BANNER = 28672, "UNITY_BANNER", "Cisco Unity (private use)";
    UNITY_SAVE_PASSWD = 28673, "UNITY_SAVE_PASSWD", "Cisco Unity (private use)";
    UNITY_DEF_DOMAIN = 28674, "UNITY_DEF_DOMAIN", "Cisco Unity (private use)";
    UNITY_SPLITDNS_NAME = 28675, "UNITY_SPLITDNS_NAME", "Cisco Unity (private use)";
    UNITY_SPLIT_INCLUDE = 28676, "UNITY_SPLIT_INCLUDE", "Cisco Unity (private use)";
    UNITY_NATT_PORT = 28677, "UNITY_NATT_PORT", "Cisco Unity (private use)";
    UNITY_LOCAL_LAN = 28678, "UNITY_LOCAL_LAN", "Cisco Unity (private use)";
    UNITY_PFS = 28679, "UNITY_PFS", "Cisco Unity (private use)";
    UNITY_FW_TYPE = 28680, "UNITY_FW_TYPE", "Cisco Unity (private use)";
    UNITY_BACKUP_SERVERS = 28681, "UNITY_BACKUP_SERVERS", "Cisco Unity (private use)";
    UNITY_DDNS_HOSTNAME = 28682, "UNITY_DDNS_HOSTNAME", "Cisco Unity (private use)";
}

registry! {
    /// IKEv2 Notify Message Types, errors 0–16383 and status 16384–65535
    /// (RFC 7296 §3.10.1 and the RFCs cited per value).
    NotifyType(u16);
    UNSUPPORTED_CRITICAL_PAYLOAD = 1, "UNSUPPORTED_CRITICAL_PAYLOAD", "RFC 7296";
    INVALID_IKE_SPI = 4, "INVALID_IKE_SPI", "RFC 7296";
    INVALID_MAJOR_VERSION = 5, "INVALID_MAJOR_VERSION", "RFC 7296";
    INVALID_SYNTAX = 7, "INVALID_SYNTAX", "RFC 7296";
    INVALID_MESSAGE_ID = 9, "INVALID_MESSAGE_ID", "RFC 7296";
    INVALID_SPI = 11, "INVALID_SPI", "RFC 7296";
    NO_PROPOSAL_CHOSEN = 14, "NO_PROPOSAL_CHOSEN", "RFC 7296";
    INVALID_KE_PAYLOAD = 17, "INVALID_KE_PAYLOAD", "RFC 7296";
    AUTHENTICATION_FAILED = 24, "AUTHENTICATION_FAILED", "RFC 7296";
    SINGLE_PAIR_REQUIRED = 34, "SINGLE_PAIR_REQUIRED", "RFC 7296";
    NO_ADDITIONAL_SAS = 35, "NO_ADDITIONAL_SAS", "RFC 7296";
    INTERNAL_ADDRESS_FAILURE = 36, "INTERNAL_ADDRESS_FAILURE", "RFC 7296";
    FAILED_CP_REQUIRED = 37, "FAILED_CP_REQUIRED", "RFC 7296";
    TS_UNACCEPTABLE = 38, "TS_UNACCEPTABLE", "RFC 7296";
    INVALID_SELECTORS = 39, "INVALID_SELECTORS", "RFC 7296";
    UNACCEPTABLE_ADDRESSES = 40, "UNACCEPTABLE_ADDRESSES", "RFC 4555";
    UNEXPECTED_NAT_DETECTED = 41, "UNEXPECTED_NAT_DETECTED", "RFC 4555";
    USE_ASSIGNED_HOA = 42, "USE_ASSIGNED_HoA", "RFC 5026";
    TEMPORARY_FAILURE = 43, "TEMPORARY_FAILURE", "RFC 7296";
    CHILD_SA_NOT_FOUND = 44, "CHILD_SA_NOT_FOUND", "RFC 7296";
    INVALID_GROUP_ID = 45, "INVALID_GROUP_ID", "draft-ietf-ipsecme-g-ikev2";
    AUTHORIZATION_FAILED = 46, "AUTHORIZATION_FAILED", "draft-ietf-ipsecme-g-ikev2";
    STATE_NOT_FOUND = 47, "STATE_NOT_FOUND", "RFC 9370";
    TS_MAX_QUEUE = 48, "TS_MAX_QUEUE", "RFC 9611";
    ME_CONNECT_FAILED = 8192, "ME_CONNECT_FAILED", "strongSwan private use";
    MS_NOTIFY_STATUS = 12345, "MS_NOTIFY_STATUS", "Microsoft private use";
    INITIAL_CONTACT = 16384, "INITIAL_CONTACT", "RFC 7296";
    SET_WINDOW_SIZE = 16385, "SET_WINDOW_SIZE", "RFC 7296";
    ADDITIONAL_TS_POSSIBLE = 16386, "ADDITIONAL_TS_POSSIBLE", "RFC 7296";
    IPCOMP_SUPPORTED = 16387, "IPCOMP_SUPPORTED", "RFC 7296";
    NAT_DETECTION_SOURCE_IP = 16388, "NAT_DETECTION_SOURCE_IP", "RFC 7296";
    NAT_DETECTION_DESTINATION_IP = 16389, "NAT_DETECTION_DESTINATION_IP", "RFC 7296";
    COOKIE = 16390, "COOKIE", "RFC 7296";
    USE_TRANSPORT_MODE = 16391, "USE_TRANSPORT_MODE", "RFC 7296";
    HTTP_CERT_LOOKUP_SUPPORTED = 16392, "HTTP_CERT_LOOKUP_SUPPORTED", "RFC 7296";
    REKEY_SA = 16393, "REKEY_SA", "RFC 7296";
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394, "ESP_TFC_PADDING_NOT_SUPPORTED", "RFC 7296";
    NON_FIRST_FRAGMENTS_ALSO = 16395, "NON_FIRST_FRAGMENTS_ALSO", "RFC 7296";
    MOBIKE_SUPPORTED = 16396, "MOBIKE_SUPPORTED", "RFC 4555";
    ADDITIONAL_IP4_ADDRESS = 16397, "ADDITIONAL_IP4_ADDRESS", "RFC 4555";
    ADDITIONAL_IP6_ADDRESS = 16398, "ADDITIONAL_IP6_ADDRESS", "RFC 4555";
    NO_ADDITIONAL_ADDRESSES = 16399, "NO_ADDITIONAL_ADDRESSES", "RFC 4555";
    UPDATE_SA_ADDRESSES = 16400, "UPDATE_SA_ADDRESSES", "RFC 4555";
    COOKIE2 = 16401, "COOKIE2", "RFC 4555";
    NO_NATS_ALLOWED = 16402, "NO_NATS_ALLOWED", "RFC 4555";
    AUTH_LIFETIME = 16403, "AUTH_LIFETIME", "RFC 4478";
    MULTIPLE_AUTH_SUPPORTED = 16404, "MULTIPLE_AUTH_SUPPORTED", "RFC 4739";
    ANOTHER_AUTH_FOLLOWS = 16405, "ANOTHER_AUTH_FOLLOWS", "RFC 4739";
    REDIRECT_SUPPORTED = 16406, "REDIRECT_SUPPORTED", "RFC 5685";
    REDIRECT = 16407, "REDIRECT", "RFC 5685";
    REDIRECTED_FROM = 16408, "REDIRECTED_FROM", "RFC 5685";
    TICKET_LT_OPAQUE = 16409, "TICKET_LT_OPAQUE", "RFC 5723";
    TICKET_REQUEST = 16410, "TICKET_REQUEST", "RFC 5723";
    TICKET_ACK = 16411, "TICKET_ACK", "RFC 5723";
    TICKET_NACK = 16412, "TICKET_NACK", "RFC 5723";
    TICKET_OPAQUE = 16413, "TICKET_OPAQUE", "RFC 5723";
    LINK_ID = 16414, "LINK_ID", "RFC 5739";
    USE_WESP_MODE = 16415, "USE_WESP_MODE", "RFC 5840";
    ROHC_SUPPORTED = 16416, "ROHC_SUPPORTED", "RFC 5857";
    EAP_ONLY_AUTHENTICATION = 16417, "EAP_ONLY_AUTHENTICATION", "RFC 5998";
    CHILDLESS_IKEV2_SUPPORTED = 16418, "CHILDLESS_IKEV2_SUPPORTED", "RFC 6023";
    QUICK_CRASH_DETECTION = 16419, "QUICK_CRASH_DETECTION", "RFC 6290";
    IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED", "RFC 6311";
    IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421, "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED", "RFC 6311";
    IKEV2_MESSAGE_ID_SYNC = 16422, "IKEV2_MESSAGE_ID_SYNC", "RFC 6311";
    IPSEC_REPLAY_COUNTER_SYNC = 16423, "IPSEC_REPLAY_COUNTER_SYNC", "RFC 6311";
    SECURE_PASSWORD_METHODS = 16424, "SECURE_PASSWORD_METHODS", "RFC 6467";
    PSK_PERSIST = 16425, "PSK_PERSIST", "RFC 6631";
    PSK_CONFIRM = 16426, "PSK_CONFIRM", "RFC 6631";
    ERX_SUPPORTED = 16427, "ERX_SUPPORTED", "RFC 6867";
    IFOM_CAPABILITY = 16428, "IFOM_CAPABILITY", "3GPP TS 24.303";
    SENDER_REQUEST_ID = 16429, "SENDER_REQUEST_ID", "draft-ietf-ipsecme-g-ikev2";
    IKEV2_FRAGMENTATION_SUPPORTED = 16430, "FRAGMENTATION_SUPPORTED", "RFC 7383";
    SIGNATURE_HASH_ALGORITHMS = 16431, "SIGNATURE_HASH_ALGORITHMS", "RFC 7427";
    CLONE_IKE_SA_SUPPORTED = 16432, "CLONE_IKE_SA_SUPPORTED", "RFC 7791";
    CLONE_IKE_SA = 16433, "CLONE_IKE_SA", "RFC 7791";
    PUZZLE = 16434, "PUZZLE", "RFC 8019";
    USE_PPK = 16435, "USE_PPK", "RFC 8784";
    PPK_IDENTITY = 16436, "PPK_IDENTITY", "RFC 8784";
    NO_PPK_AUTH = 16437, "NO_PPK_AUTH", "RFC 8784";
    INTERMEDIATE_EXCHANGE_SUPPORTED = 16438, "INTERMEDIATE_EXCHANGE_SUPPORTED", "RFC 9242";
    IP4_ALLOWED = 16439, "IP4_ALLOWED", "RFC 8983";
    IP6_ALLOWED = 16440, "IP6_ALLOWED", "RFC 8983";
    ADDITIONAL_KEY_EXCHANGE = 16441, "ADDITIONAL_KEY_EXCHANGE", "RFC 9370";
    USE_AGGFRAG = 16442, "USE_AGGFRAG", "RFC 9347";
    SUPPORTED_AUTH_METHODS = 16443, "SUPPORTED_AUTH_METHODS", "RFC 9593";
    SA_RESOURCE_INFO = 16444, "SA_RESOURCE_INFO", "RFC 9611";
    USE_BEET_MODE = 40961, "USE_BEET_MODE", "strongSwan private use";
    ME_MEDIATION = 40962, "ME_MEDIATION", "strongSwan private use";
    ME_ENDPOINT = 40963, "ME_ENDPOINT", "strongSwan private use";
    ME_CALLBACK = 40964, "ME_CALLBACK", "strongSwan private use";
    ME_CONNECTID = 40965, "ME_CONNECTID", "strongSwan private use";
    ME_CONNECTKEY = 40966, "ME_CONNECTKEY", "strongSwan private use";
    ME_CONNECTAUTH = 40967, "ME_CONNECTAUTH", "strongSwan private use";
    ME_RESPONSE = 40968, "ME_RESPONSE", "strongSwan private use";
    RADIUS_ATTRIBUTE = 40969, "RADIUS_ATTRIBUTE", "strongSwan private use";
}

impl NotifyType {
    /// Error types are 0–16383, status types 16384–65535 (RFC 7296 §3.10.1).
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}

/// The number of named values across all registries (reported by tests).
pub fn registry_entry_count() -> usize {
    [
        ExchangeType::KNOWN.len(),
        PayloadType::KNOWN.len(),
        TransformType::KNOWN.len(),
        EncrId::KNOWN.len(),
        PrfId::KNOWN.len(),
        IntegId::KNOWN.len(),
        KeMethod::KNOWN.len(),
        EsnId::KNOWN.len(),
        TransformAttributeType::KNOWN.len(),
        ProtocolId::KNOWN.len(),
        IdType::KNOWN.len(),
        CertEncoding::KNOWN.len(),
        AuthMethod::KNOWN.len(),
        HashAlgorithm::KNOWN.len(),
        TsType::KNOWN.len(),
        CfgType::KNOWN.len(),
        CpAttributeType::KNOWN.len(),
        NotifyType::KNOWN.len(),
    ]
    .iter()
    .fold(0usize, |a, b| a.saturating_add(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_strongswan_spelling() {
        assert_eq!(EncrId::AES_GCM_16.to_string(), "AES_GCM_16");
        assert_eq!(PrfId::PRF_HMAC_SHA2_256.to_string(), "PRF_HMAC_SHA2_256");
        assert_eq!(KeMethod::CURVE_25519.to_string(), "CURVE_25519");
        assert_eq!(
            IntegId::AUTH_HMAC_SHA2_256_128.to_string(),
            "HMAC_SHA2_256_128"
        );
        assert_eq!(KeMethod::ECP_256.to_string(), "ECP_256");
        assert_eq!(KeMethod::MODP_2048.to_string(), "MODP_2048");
        assert_eq!(EsnId::NO_EXT_SEQ.to_string(), "NO_EXT_SEQ");
    }

    #[test]
    fn unknown_values_print_their_number() {
        assert_eq!(NotifyType(12_000).to_string(), "12000");
        assert_eq!(format!("{:?}", NotifyType(12_000)), "NotifyType(12000)");
        assert_eq!(format!("{:?}", NotifyType::COOKIE), "COOKIE");
        assert_eq!(ExchangeType(99).name(), None);
    }

    #[test]
    fn numbers_match_the_iana_registry() {
        assert_eq!(ExchangeType::IKE_INTERMEDIATE.0, 43);
        assert_eq!(ExchangeType::IKE_FOLLOWUP_KE.0, 44);
        assert_eq!(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED.0, 16430);
        assert_eq!(NotifyType::SIGNATURE_HASH_ALGORITHMS.0, 16431);
        assert_eq!(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED.0, 16438);
        assert_eq!(NotifyType::ADDITIONAL_KEY_EXCHANGE.0, 16441);
        assert_eq!(KeMethod::ML_KEM_768.0, 36);
        assert_eq!(CpAttributeType::INTERNAL_DNS_DOMAIN.0, 25);
        assert_eq!(CpAttributeType::INTERNAL_DNSSEC_TA.0, 26);
        assert_eq!(AuthMethod::DIGITAL_SIGNATURE.0, 14);
        assert_eq!(PayloadType::SKF.0, 53);
    }

    #[test]
    fn every_registry_has_distinct_values() {
        fn distinct<T: Ord + Copy>(v: &[T]) -> bool {
            let mut s = v.to_vec();
            s.sort();
            s.windows(2).all(|w| w[0] != w[1])
        }
        assert!(distinct(NotifyType::KNOWN));
        assert!(distinct(KeMethod::KNOWN));
        assert!(distinct(EncrId::KNOWN));
        assert!(distinct(CpAttributeType::KNOWN));
        assert!(registry_entry_count() > 250);
    }

    #[test]
    fn transform_ids_are_named_per_type() {
        assert_eq!(TransformType::ENCR.id_name(20), Some("AES_GCM_16"));
        assert_eq!(TransformType::KE.id_name(31), Some("CURVE_25519"));
        assert_eq!(TransformType::ADDKE1.id_name(36), Some("ML_KEM_768"));
        assert_eq!(TransformType::ESN.id_name(1), Some("EXT_SEQ"));
        assert_eq!(TransformType(99).id_name(1), None);
    }
}
