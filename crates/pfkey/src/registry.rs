//! PF_KEY v2 and PF_POLICY numbers as open newtypes.
//!
//! Every constant is spelled exactly as in illumos `net/pfkeyv2.h` and
//! `net/pfpolicy.h` (RFC 2367 names plus the illumos `SADB_X_*` additions).
//! Unknown values are kept as-is so that parse → emit never loses them;
//! `name()` returns `None` for them and `Debug` prints the raw number.

macro_rules! registry {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($repr:ty);
        $( $(#[$cmeta:meta])* $cname:ident = $val:expr ),* $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        $vis struct $name(pub $repr);

        #[allow(missing_docs)]
        impl $name {
            $( $(#[$cmeta])* pub const $cname: Self = Self($val); )*

            /// The C header name of this value, if it has one.
            pub fn name(self) -> Option<&'static str> {
                // Aliases share a value; the first listed name wins.
                $( if self.0 == $val { return Some(stringify!($cname)); } )*
                None
            }

            /// Every named value, in header order.
            pub const ALL: &'static [Self] = &[ $( Self($val) ),* ];
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self { Self(v) }
        }
        impl From<$name> for $repr {
            fn from(v: $name) -> Self { v.0 }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }
    };
}

registry! {
    /// `sadb_msg_type` (pfkeyv2.h; RFC 2367 §2.3 plus illumos SADB_X_*).
    pub struct SadbMsgType(u8);
    SADB_RESERVED = 0,
    SADB_GETSPI = 1,
    SADB_UPDATE = 2,
    SADB_ADD = 3,
    SADB_DELETE = 4,
    SADB_GET = 5,
    SADB_ACQUIRE = 6,
    SADB_REGISTER = 7,
    SADB_EXPIRE = 8,
    SADB_FLUSH = 9,
    SADB_DUMP = 10,
    SADB_X_PROMISC = 11,
    SADB_X_INVERSE_ACQUIRE = 12,
    SADB_X_UPDATEPAIR = 13,
    SADB_X_DELPAIR = 14,
    SADB_X_DELPAIR_STATE = 15,
}

impl SadbMsgType {
    /// `SADB_MAX`: the highest message type keysock accepts.
    pub const SADB_MAX: u8 = 15;
}

registry! {
    /// `sadb_msg_satype` (pfkeyv2.h).
    pub struct SadbSaType(u8);
    SADB_SATYPE_UNSPEC = 0,
    SADB_SATYPE_AH = 2,
    SADB_SATYPE_ESP = 3,
    SADB_X_SATYPE_TCPSIG = 4,
    SADB_SATYPE_RSVP = 5,
    SADB_SATYPE_OSPFV2 = 6,
    SADB_SATYPE_RIPV2 = 7,
    SADB_SATYPE_MIP = 8,
}

impl SadbSaType {
    /// `SADB_SATYPE_MAX`.
    pub const SADB_SATYPE_MAX: u8 = 8;
}

registry! {
    /// `sadb_ext_type` (pfkeyv2.h). Type 7 is RFC 2367's ADDRESS_PROXY, which
    /// illumos uses as the inner source address.
    pub struct SadbExtType(u16);
    SADB_EXT_RESERVED = 0,
    SADB_EXT_SA = 1,
    SADB_EXT_LIFETIME_CURRENT = 2,
    SADB_EXT_LIFETIME_HARD = 3,
    SADB_EXT_LIFETIME_SOFT = 4,
    SADB_EXT_ADDRESS_SRC = 5,
    SADB_EXT_ADDRESS_DST = 6,
    SADB_X_EXT_ADDRESS_INNER_SRC = 7,
    SADB_EXT_KEY_AUTH = 8,
    SADB_EXT_KEY_ENCRYPT = 9,
    SADB_EXT_IDENTITY_SRC = 10,
    SADB_EXT_IDENTITY_DST = 11,
    SADB_EXT_SENSITIVITY = 12,
    SADB_EXT_PROPOSAL = 13,
    SADB_EXT_SUPPORTED_AUTH = 14,
    SADB_EXT_SUPPORTED_ENCRYPT = 15,
    SADB_EXT_SPIRANGE = 16,
    SADB_X_EXT_EREG = 17,
    SADB_X_EXT_EPROP = 18,
    SADB_X_EXT_KM_COOKIE = 19,
    SADB_X_EXT_ADDRESS_NATT_LOC = 20,
    SADB_X_EXT_ADDRESS_NATT_REM = 21,
    SADB_X_EXT_ADDRESS_INNER_DST = 22,
    SADB_X_EXT_PAIR = 23,
    SADB_X_EXT_REPLAY_VALUE = 24,
    SADB_X_EXT_EDUMP = 25,
    SADB_X_EXT_LIFETIME_IDLE = 26,
    SADB_X_EXT_OUTER_SENS = 27,
    SADB_X_EXT_STR_AUTH = 28,
}

impl SadbExtType {
    /// RFC 2367 name of type 7 (illumos: inner source).
    pub const SADB_EXT_ADDRESS_PROXY: Self = Self(7);
    /// `SADB_EXT_MAX`: extension types above this are `UNKNOWN_EXT`.
    pub const SADB_EXT_MAX: u16 = 28;

    /// The line prefix `ipseckey monitor` uses for this extension
    /// (libipsecutil `print_samsg`; EREG/EDUMP/STR_AUTH have none there).
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "SA",
            2 => "CLT",
            3 => "HLT",
            4 => "SLT",
            5 => "SRC",
            6 => "DST",
            7 => "INS",
            8 => "AKY",
            9 => "EKY",
            10 => "SID",
            11 => "DID",
            12 => "SNS",
            13 => "PRP",
            14 => "SUA",
            15 => "SUE",
            16 => "SPR",
            17 => "ERG",
            18 => "EPR",
            19 => "KMC",
            20 => "NLC",
            21 => "NRM",
            22 => "IND",
            23 => "OTH",
            24 => "RPL",
            25 => "EDM",
            26 => "ILT",
            27 => "OSN",
            28 => "STR",
            _ => "UNK",
        }
    }
}

registry! {
    /// `sadb_x_msg_diagnostic` (`SADB_X_DIAGNOSTIC_*`, pfkeyv2.h), carried at
    /// offset 6 of an error reply.
    pub struct SadbDiagnostic(u16);
    SADB_X_DIAGNOSTIC_NONE = 0,
    SADB_X_DIAGNOSTIC_UNKNOWN_MSG = 1,
    SADB_X_DIAGNOSTIC_UNKNOWN_EXT = 2,
    SADB_X_DIAGNOSTIC_BAD_EXTLEN = 3,
    SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE = 4,
    SADB_X_DIAGNOSTIC_SATYPE_NEEDED = 5,
    SADB_X_DIAGNOSTIC_NO_SADBS = 6,
    SADB_X_DIAGNOSTIC_NO_EXT = 7,
    SADB_X_DIAGNOSTIC_BAD_SRC_AF = 8,
    SADB_X_DIAGNOSTIC_BAD_DST_AF = 9,
    SADB_X_DIAGNOSTIC_BAD_INNER_SRC_AF = 10,
    SADB_X_DIAGNOSTIC_AF_MISMATCH = 11,
    SADB_X_DIAGNOSTIC_BAD_SRC = 12,
    SADB_X_DIAGNOSTIC_BAD_DST = 13,
    SADB_X_DIAGNOSTIC_ALLOC_HSERR = 14,
    SADB_X_DIAGNOSTIC_BYTES_HSERR = 15,
    SADB_X_DIAGNOSTIC_ADDTIME_HSERR = 16,
    SADB_X_DIAGNOSTIC_USETIME_HSERR = 17,
    SADB_X_DIAGNOSTIC_MISSING_SRC = 18,
    SADB_X_DIAGNOSTIC_MISSING_DST = 19,
    SADB_X_DIAGNOSTIC_MISSING_SA = 20,
    SADB_X_DIAGNOSTIC_MISSING_EKEY = 21,
    SADB_X_DIAGNOSTIC_MISSING_AKEY = 22,
    SADB_X_DIAGNOSTIC_MISSING_RANGE = 23,
    SADB_X_DIAGNOSTIC_DUPLICATE_SRC = 24,
    SADB_X_DIAGNOSTIC_DUPLICATE_DST = 25,
    SADB_X_DIAGNOSTIC_DUPLICATE_SA = 26,
    SADB_X_DIAGNOSTIC_DUPLICATE_EKEY = 27,
    SADB_X_DIAGNOSTIC_DUPLICATE_AKEY = 28,
    SADB_X_DIAGNOSTIC_DUPLICATE_RANGE = 29,
    SADB_X_DIAGNOSTIC_MALFORMED_SRC = 30,
    SADB_X_DIAGNOSTIC_MALFORMED_DST = 31,
    SADB_X_DIAGNOSTIC_MALFORMED_SA = 32,
    SADB_X_DIAGNOSTIC_MALFORMED_EKEY = 33,
    SADB_X_DIAGNOSTIC_MALFORMED_AKEY = 34,
    SADB_X_DIAGNOSTIC_MALFORMED_RANGE = 35,
    SADB_X_DIAGNOSTIC_AKEY_PRESENT = 36,
    SADB_X_DIAGNOSTIC_EKEY_PRESENT = 37,
    SADB_X_DIAGNOSTIC_PROP_PRESENT = 38,
    SADB_X_DIAGNOSTIC_SUPP_PRESENT = 39,
    SADB_X_DIAGNOSTIC_BAD_AALG = 40,
    SADB_X_DIAGNOSTIC_BAD_EALG = 41,
    SADB_X_DIAGNOSTIC_BAD_SAFLAGS = 42,
    SADB_X_DIAGNOSTIC_BAD_SASTATE = 43,
    SADB_X_DIAGNOSTIC_BAD_AKEYBITS = 44,
    SADB_X_DIAGNOSTIC_BAD_EKEYBITS = 45,
    SADB_X_DIAGNOSTIC_ENCR_NOTSUPP = 46,
    SADB_X_DIAGNOSTIC_WEAK_EKEY = 47,
    SADB_X_DIAGNOSTIC_WEAK_AKEY = 48,
    SADB_X_DIAGNOSTIC_DUPLICATE_KMP = 49,
    SADB_X_DIAGNOSTIC_DUPLICATE_KMC = 50,
    SADB_X_DIAGNOSTIC_MISSING_NATT_LOC = 51,
    SADB_X_DIAGNOSTIC_MISSING_NATT_REM = 52,
    SADB_X_DIAGNOSTIC_DUPLICATE_NATT_LOC = 53,
    SADB_X_DIAGNOSTIC_DUPLICATE_NATT_REM = 54,
    SADB_X_DIAGNOSTIC_MALFORMED_NATT_LOC = 55,
    SADB_X_DIAGNOSTIC_MALFORMED_NATT_REM = 56,
    SADB_X_DIAGNOSTIC_DUPLICATE_NATT_PORTS = 57,
    SADB_X_DIAGNOSTIC_MISSING_INNER_SRC = 58,
    SADB_X_DIAGNOSTIC_MISSING_INNER_DST = 59,
    SADB_X_DIAGNOSTIC_DUPLICATE_INNER_SRC = 60,
    SADB_X_DIAGNOSTIC_DUPLICATE_INNER_DST = 61,
    SADB_X_DIAGNOSTIC_MALFORMED_INNER_SRC = 62,
    SADB_X_DIAGNOSTIC_MALFORMED_INNER_DST = 63,
    SADB_X_DIAGNOSTIC_PREFIX_INNER_SRC = 64,
    SADB_X_DIAGNOSTIC_PREFIX_INNER_DST = 65,
    SADB_X_DIAGNOSTIC_BAD_INNER_DST_AF = 66,
    SADB_X_DIAGNOSTIC_INNER_AF_MISMATCH = 67,
    SADB_X_DIAGNOSTIC_BAD_NATT_REM_AF = 68,
    SADB_X_DIAGNOSTIC_BAD_NATT_LOC_AF = 69,
    SADB_X_DIAGNOSTIC_PROTO_MISMATCH = 70,
    SADB_X_DIAGNOSTIC_INNER_PROTO_MISMATCH = 71,
    SADB_X_DIAGNOSTIC_DUAL_PORT_SETS = 72,
    SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE = 73,
    SADB_X_DIAGNOSTIC_PAIR_ADD_MISMATCH = 74,
    SADB_X_DIAGNOSTIC_PAIR_ALREADY = 75,
    SADB_X_DIAGNOSTIC_PAIR_SA_NOTFOUND = 76,
    SADB_X_DIAGNOSTIC_BAD_SA_DIRECTION = 77,
    SADB_X_DIAGNOSTIC_SA_NOTFOUND = 78,
    SADB_X_DIAGNOSTIC_SA_EXPIRED = 79,
    SADB_X_DIAGNOSTIC_BAD_CTX = 80,
    SADB_X_DIAGNOSTIC_INVALID_REPLAY = 81,
    SADB_X_DIAGNOSTIC_MISSING_LIFETIME = 82,
    SADB_X_DIAGNOSTIC_BAD_LABEL = 83,
    SADB_X_DIAGNOSTIC_MISSING_ASTR = 84,
    SADB_X_DIAGNOSTIC_DUPLICATE_ASTR = 85,
    SADB_X_DIAGNOSTIC_MALFORMED_ASTR = 86,
}

impl SadbDiagnostic {
    /// RFC 2367-era alias of 10.
    pub const SADB_X_DIAGNOSTIC_BAD_PROXY_AF: Self = Self(10);
    /// `SADB_X_DIAGNOSTIC_MAX`.
    pub const SADB_X_DIAGNOSTIC_MAX: u16 = 86;

    /// The diagnostic keysock gives for a second copy of extension `ext`
    /// (keysock.c `ext_check`; types without a dedicated code give 0).
    pub fn duplicate_of(ext: SadbExtType) -> Self {
        match ext {
            SadbExtType::SADB_EXT_ADDRESS_SRC => Self::SADB_X_DIAGNOSTIC_DUPLICATE_SRC,
            SadbExtType::SADB_EXT_ADDRESS_DST => Self::SADB_X_DIAGNOSTIC_DUPLICATE_DST,
            SadbExtType::SADB_EXT_SA => Self::SADB_X_DIAGNOSTIC_DUPLICATE_SA,
            SadbExtType::SADB_EXT_KEY_ENCRYPT => Self::SADB_X_DIAGNOSTIC_DUPLICATE_EKEY,
            SadbExtType::SADB_EXT_KEY_AUTH => Self::SADB_X_DIAGNOSTIC_DUPLICATE_AKEY,
            SadbExtType::SADB_EXT_SPIRANGE => Self::SADB_X_DIAGNOSTIC_DUPLICATE_RANGE,
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC => {
                Self::SADB_X_DIAGNOSTIC_DUPLICATE_INNER_SRC
            }
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST => {
                Self::SADB_X_DIAGNOSTIC_DUPLICATE_INNER_DST
            }
            SadbExtType::SADB_X_EXT_STR_AUTH => Self::SADB_X_DIAGNOSTIC_DUPLICATE_ASTR,
            _ => Self::SADB_X_DIAGNOSTIC_NONE,
        }
    }

    /// The diagnostic keysock gives when extension `ext` fails its sanity
    /// check (keysock.c `ext_check`; others give 0).
    pub fn malformed_of(ext: SadbExtType) -> Self {
        match ext {
            SadbExtType::SADB_EXT_ADDRESS_SRC => Self::SADB_X_DIAGNOSTIC_MALFORMED_SRC,
            SadbExtType::SADB_EXT_ADDRESS_DST => Self::SADB_X_DIAGNOSTIC_MALFORMED_DST,
            SadbExtType::SADB_EXT_SA => Self::SADB_X_DIAGNOSTIC_MALFORMED_SA,
            SadbExtType::SADB_EXT_KEY_ENCRYPT => Self::SADB_X_DIAGNOSTIC_MALFORMED_EKEY,
            SadbExtType::SADB_EXT_KEY_AUTH => Self::SADB_X_DIAGNOSTIC_MALFORMED_AKEY,
            SadbExtType::SADB_EXT_SPIRANGE => Self::SADB_X_DIAGNOSTIC_MALFORMED_RANGE,
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC => {
                Self::SADB_X_DIAGNOSTIC_MALFORMED_INNER_SRC
            }
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST => {
                Self::SADB_X_DIAGNOSTIC_MALFORMED_INNER_DST
            }
            SadbExtType::SADB_X_EXT_STR_AUTH => Self::SADB_X_DIAGNOSTIC_MALFORMED_ASTR,
            _ => Self::SADB_X_DIAGNOSTIC_NONE,
        }
    }
}

registry! {
    /// Authentication algorithm ids (`SADB_AALG_*`, pfkeyv2.h). These are
    /// IPsec-DOI numbers, not IKEv2 INTEG transform ids.
    pub struct SadbAalg(u8);
    SADB_AALG_NONE = 0,
    SADB_AALG_MD5 = 1,
    SADB_AALG_MD5HMAC = 2,
    SADB_AALG_SHA1HMAC = 3,
    SADB_AALG_SHA256HMAC = 5,
    SADB_AALG_SHA384HMAC = 6,
    SADB_AALG_SHA512HMAC = 7,
}

impl SadbAalg {
    /// Key length in bits the default ipsecalgs table allows (exactly one
    /// size per HMAC).
    pub fn key_bits(self) -> Option<u16> {
        match self {
            Self::SADB_AALG_MD5HMAC => Some(128),
            Self::SADB_AALG_SHA1HMAC => Some(160),
            Self::SADB_AALG_SHA256HMAC => Some(256),
            Self::SADB_AALG_SHA384HMAC => Some(384),
            Self::SADB_AALG_SHA512HMAC => Some(512),
            _ => None,
        }
    }

    /// Truncated ICV length in bytes implied by the id (ipsecalgs defaults).
    pub fn icv_len(self) -> Option<usize> {
        match self {
            Self::SADB_AALG_MD5HMAC | Self::SADB_AALG_SHA1HMAC => Some(12),
            Self::SADB_AALG_SHA256HMAC => Some(16),
            Self::SADB_AALG_SHA384HMAC => Some(24),
            Self::SADB_AALG_SHA512HMAC => Some(32),
            _ => None,
        }
    }
}

registry! {
    /// Encryption algorithm ids (`SADB_EALG_*`, pfkeyv2.h); they coincide
    /// with IKEv2 ENCR transform ids.
    pub struct SadbEalg(u8);
    SADB_EALG_NONE = 0,
    SADB_EALG_DESCBC = 2,
    SADB_EALG_3DESCBC = 3,
    SADB_EALG_BLOWFISH = 7,
    SADB_EALG_NULL = 11,
    SADB_EALG_AES = 12,
    SADB_EALG_AES_CCM_8 = 14,
    SADB_EALG_AES_CCM_12 = 15,
    SADB_EALG_AES_CCM_16 = 16,
    SADB_EALG_AES_GCM_8 = 18,
    SADB_EALG_AES_GCM_12 = 19,
    SADB_EALG_AES_GCM_16 = 20,
}

impl SadbEalg {
    /// Salt bits appended to the key (ipsecalgs params: GCM 4 bytes, CCM 3).
    pub fn salt_bits(self) -> u16 {
        match self.0 {
            14..=16 => 24,
            18..=20 => 32,
            _ => 0,
        }
    }

    /// True for the combined-mode (AEAD) ciphers.
    pub fn is_aead(self) -> bool {
        matches!(self.0, 14..=16 | 18..=20)
    }

    /// ICV length of an AEAD id (8/12/16), `None` otherwise.
    pub fn aead_icv_len(self) -> Option<usize> {
        match self.0 {
            14 | 18 => Some(8),
            15 | 19 => Some(12),
            16 | 20 => Some(16),
            _ => None,
        }
    }
}

registry! {
    /// `sadb_sa_state` (pfkeyv2.h).
    pub struct SadbSaState(u8);
    SADB_SASTATE_LARVAL = 0,
    SADB_SASTATE_MATURE = 1,
    SADB_SASTATE_DYING = 2,
    SADB_SASTATE_DEAD = 3,
    SADB_X_SASTATE_ACTIVE_ELSEWHERE = 4,
    SADB_X_SASTATE_IDLE = 5,
    SADB_X_SASTATE_ACTIVE = 6,
}

registry! {
    /// `sadb_ident_type` (pfkeyv2.h).
    pub struct SadbIdentType(u16);
    SADB_IDENTTYPE_RESERVED = 0,
    SADB_IDENTTYPE_PREFIX = 1,
    SADB_IDENTTYPE_FQDN = 2,
    SADB_IDENTTYPE_USER_FQDN = 3,
    SADB_X_IDENTTYPE_DN = 4,
    SADB_X_IDENTTYPE_GN = 5,
    SADB_X_IDENTTYPE_KEY_ID = 6,
    SADB_X_IDENTTYPE_ADDR_RANGE = 7,
}

registry! {
    /// `sadb_x_kmc_proto` (`SADB_X_KMP_*`, pfkeyv2.h).
    pub struct SadbKmp(u32);
    SADB_X_KMP_MANUAL = 0,
    SADB_X_KMP_IKE = 1,
    SADB_X_KMP_KINK = 2,
    SADB_X_KMP_IKEV2 = 3,
}

registry! {
    /// `sadb_x_algdesc_algtype` (pfkeyv2.h).
    pub struct SadbAlgType(u8);
    SADB_X_ALGTYPE_NONE = 0,
    SADB_X_ALGTYPE_AUTH = 1,
    SADB_X_ALGTYPE_CRYPT = 2,
    SADB_X_ALGTYPE_COMPRESS = 3,
}

/// `sadb_sa_flags` bits (pfkeyv2.h). Kept as a plain `u32` newtype: the
/// kernel reports kernel-owned bits too, so every bit must survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SadbSaFlags(pub u32);

#[allow(missing_docs)]
impl SadbSaFlags {
    pub const SADB_SAFLAGS_PFS: Self = Self(0x0000_0001);
    pub const SADB_SAFLAGS_NOREPLAY: Self = Self(0x0000_0002);
    pub const SADB_X_SAFLAGS_NATTED: Self = Self(0x0000_1000);
    pub const SADB_X_SAFLAGS_TCPSIG: Self = Self(0x0000_2000);
    pub const SADB_X_SAFLAGS_INBOUND: Self = Self(0x0000_4000);
    pub const SADB_X_SAFLAGS_OUTBOUND: Self = Self(0x0000_8000);
    pub const SADB_X_SAFLAGS_PAIRED: Self = Self(0x0001_0000);
    pub const SADB_X_SAFLAGS_TUNNEL: Self = Self(0x0002_0000);
    pub const SADB_X_SAFLAGS_KRES2: Self = Self(0x0004_0000);
    pub const SADB_X_SAFLAGS_NATT_REM: Self = Self(0x0008_0000);
    pub const SADB_X_SAFLAGS_NATT_LOC: Self = Self(0x0010_0000);
    pub const SADB_X_SAFLAGS_KRES1: Self = Self(0x0020_0000);
    pub const SADB_X_SAFLAGS_KM4: Self = Self(0x0040_0000);
    pub const SADB_X_SAFLAGS_KM3: Self = Self(0x0080_0000);
    pub const SADB_X_SAFLAGS_KM2: Self = Self(0x0100_0000);
    pub const SADB_X_SAFLAGS_KM1: Self = Self(0x0200_0000);
    pub const SADB_X_SAFLAGS_EALG2: Self = Self(0x0400_0000);
    pub const SADB_X_SAFLAGS_EALG1: Self = Self(0x0800_0000);
    pub const SADB_X_SAFLAGS_AALG2: Self = Self(0x1000_0000);
    pub const SADB_X_SAFLAGS_AALG1: Self = Self(0x2000_0000);
    pub const SADB_X_SAFLAGS_UNIQUE: Self = Self(0x4000_0000);
    pub const SADB_X_SAFLAGS_USED: Self = Self(0x8000_0000);

    /// sadb.h `ESP_ADD_SETTABLE_FLAGS`.
    pub const ESP_ADD_SETTABLE_FLAGS: Self = Self(0x3FDB_D002);
    /// sadb.h `ESP_UPDATE_SETTABLE_FLAGS`.
    pub const ESP_UPDATE_SETTABLE_FLAGS: Self = Self(0x03D9_D002);

    const NAMES: &'static [(u32, &'static str)] = &[
        (0x0000_0001, "PFS"),
        (0x0000_0002, "NOREPLAY"),
        (0x0000_1000, "NATTED"),
        (0x0000_2000, "TCPSIG"),
        (0x0000_4000, "INBOUND"),
        (0x0000_8000, "OUTBOUND"),
        (0x0001_0000, "PAIRED"),
        (0x0002_0000, "TUNNEL"),
        (0x0004_0000, "KRES2"),
        (0x0008_0000, "NATT_REM"),
        (0x0010_0000, "NATT_LOC"),
        (0x0020_0000, "KRES1"),
        (0x0040_0000, "KM4"),
        (0x0080_0000, "KM3"),
        (0x0100_0000, "KM2"),
        (0x0200_0000, "KM1"),
        (0x0400_0000, "EALG2"),
        (0x0800_0000, "EALG1"),
        (0x1000_0000, "AALG2"),
        (0x2000_0000, "AALG1"),
        (0x4000_0000, "UNIQUE"),
        (0x8000_0000, "USED"),
    ];

    /// True if every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any bit of `other` is set.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Bitwise union.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Bits of `self` not in `other`.
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Names of the set bits, joined by `|` (unknown bits as hex).
    pub fn names(self) -> String {
        let mut out = String::new();
        let mut rest = self.0;
        for (bit, name) in Self::NAMES {
            if self.0 & bit != 0 {
                if !out.is_empty() {
                    out.push('|');
                }
                out.push_str(name);
                rest &= !bit;
            }
        }
        if rest != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(&format!("{rest:#x}"));
        }
        out
    }
}

impl core::fmt::Debug for SadbSaFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#010x}<{}>", self.0, self.names())
    }
}

/// illumos errno values carried in `sadb_msg_errno` / `spd_msg_errno`
/// (`sys/errno.h`; they differ from Linux).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Errno(pub u8);

#[allow(missing_docs)]
impl Errno {
    pub const OK: Self = Self(0);
    pub const EPERM: Self = Self(1);
    pub const ENOENT: Self = Self(2);
    pub const ESRCH: Self = Self(3);
    pub const EAGAIN: Self = Self(11);
    pub const ENOMEM: Self = Self(12);
    pub const EBUSY: Self = Self(16);
    pub const EEXIST: Self = Self(17);
    pub const EINVAL: Self = Self(22);
    pub const ETIME: Self = Self(62);
    pub const EMSGSIZE: Self = Self(97);
    pub const EPROTOTYPE: Self = Self(98);
    pub const EOPNOTSUPP: Self = Self(122);
    pub const EPFNOSUPPORT: Self = Self(123);
    pub const ENOBUFS: Self = Self(132);

    /// Symbolic name of the value, if it is one the PF_KEY paths use.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "0",
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            11 => "EAGAIN",
            12 => "ENOMEM",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            62 => "ETIME",
            97 => "EMSGSIZE",
            98 => "EPROTOTYPE",
            122 => "EOPNOTSUPP",
            123 => "EPFNOSUPPORT",
            132 => "ENOBUFS",
            _ => return None,
        })
    }
}

impl core::fmt::Debug for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

// ---------------------------------------------------------------- PF_POLICY

registry! {
    /// `spd_msg_type` (pfpolicy.h).
    pub struct SpdMsgType(u8);
    SPD_RESERVED = 0,
    SPD_FLUSH = 1,
    SPD_ADDRULE = 2,
    SPD_DELETERULE = 3,
    SPD_FLIP = 4,
    SPD_LOOKUP = 5,
    SPD_DUMP = 6,
    SPD_CLONE = 7,
    SPD_ALGLIST = 8,
    SPD_DUMPALGS = 9,
    SPD_UPDATEALGS = 10,
}

registry! {
    /// `spd_ext_type` (pfpolicy.h).
    pub struct SpdExtType(u16);
    SPD_EXT_RESERVED = 0,
    SPD_EXT_LCLPORT = 1,
    SPD_EXT_REMPORT = 2,
    SPD_EXT_PROTO = 3,
    SPD_EXT_LCLADDR = 4,
    SPD_EXT_REMADDR = 5,
    SPD_EXT_ACTION = 6,
    SPD_EXT_RULE = 7,
    SPD_EXT_RULESET = 8,
    SPD_EXT_ICMP_TYPECODE = 9,
    SPD_EXT_TUN_NAME = 10,
}

impl SpdExtType {
    /// `SPD_EXT_MAX`.
    pub const SPD_EXT_MAX: u16 = 10;
}

registry! {
    /// `spd_msg_spdid` (pfpolicy.h).
    pub struct SpdId(u8);
    SPD_ACTIVE = 0,
    SPD_STANDBY = 1,
}

registry! {
    /// `spd_msg_diagnostic` (`SPD_DIAGNOSTIC_*`, pfpolicy.h).
    pub struct SpdDiagnostic(u16);
    SPD_DIAGNOSTIC_NONE = 0,
    SPD_DIAGNOSTIC_UNKNOWN_EXT = 1,
    SPD_DIAGNOSTIC_BAD_EXTLEN = 2,
    SPD_DIAGNOSTIC_NO_RULE_EXT = 3,
    SPD_DIAGNOSTIC_BAD_ADDR_LEN = 4,
    SPD_DIAGNOSTIC_MIXED_AF = 5,
    SPD_DIAGNOSTIC_ADD_NO_MEM = 6,
    SPD_DIAGNOSTIC_ADD_WRONG_ACT_COUNT = 7,
    SPD_DIAGNOSTIC_ADD_BAD_TYPE = 8,
    SPD_DIAGNOSTIC_ADD_BAD_FLAGS = 9,
    SPD_DIAGNOSTIC_ADD_INCON_FLAGS = 10,
    SPD_DIAGNOSTIC_MALFORMED_LCLPORT = 11,
    SPD_DIAGNOSTIC_DUPLICATE_LCLPORT = 12,
    SPD_DIAGNOSTIC_MALFORMED_REMPORT = 13,
    SPD_DIAGNOSTIC_DUPLICATE_REMPORT = 14,
    SPD_DIAGNOSTIC_MALFORMED_PROTO = 15,
    SPD_DIAGNOSTIC_DUPLICATE_PROTO = 16,
    SPD_DIAGNOSTIC_MALFORMED_LCLADDR = 17,
    SPD_DIAGNOSTIC_DUPLICATE_LCLADDR = 18,
    SPD_DIAGNOSTIC_MALFORMED_REMADDR = 19,
    SPD_DIAGNOSTIC_DUPLICATE_REMADDR = 20,
    SPD_DIAGNOSTIC_MALFORMED_ACTION = 21,
    SPD_DIAGNOSTIC_DUPLICATE_ACTION = 22,
    SPD_DIAGNOSTIC_MALFORMED_RULE = 23,
    SPD_DIAGNOSTIC_DUPLICATE_RULE = 24,
    SPD_DIAGNOSTIC_MALFORMED_RULESET = 25,
    SPD_DIAGNOSTIC_DUPLICATE_RULESET = 26,
    SPD_DIAGNOSTIC_INVALID_RULE_INDEX = 27,
    SPD_DIAGNOSTIC_BAD_SPDID = 28,
    SPD_DIAGNOSTIC_BAD_MSG_TYPE = 29,
    SPD_DIAGNOSTIC_UNSUPP_AH_ALG = 30,
    SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_ALG = 31,
    SPD_DIAGNOSTIC_UNSUPP_ESP_AUTH_ALG = 32,
    SPD_DIAGNOSTIC_UNSUPP_AH_KEYSIZE = 33,
    SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_KEYSIZE = 34,
    SPD_DIAGNOSTIC_UNSUPP_ESP_AUTH_KEYSIZE = 35,
    SPD_DIAGNOSTIC_NO_ACTION_EXT = 36,
    SPD_DIAGNOSTIC_ALG_ID_RANGE = 37,
    SPD_DIAGNOSTIC_ALG_NUM_KEY_SIZES = 38,
    SPD_DIAGNOSTIC_ALG_NUM_BLOCK_SIZES = 39,
    SPD_DIAGNOSTIC_ALG_MECH_NAME_LEN = 40,
    SPD_DIAGNOSTIC_ALG_IPSEC_NOT_LOADED = 41,
    SPD_DIAGNOSTIC_MALFORMED_ICMP_TYPECODE = 42,
    SPD_DIAGNOSTIC_DUPLICATE_ICMP_TYPECODE = 43,
    SPD_DIAGNOSTIC_NOT_GLOBAL_OP = 44,
    SPD_DIAGNOSTIC_NO_TUNNEL_SELECTORS = 45,
}

registry! {
    /// `spd_attr_tag` (`SPD_ATTR_*`, pfpolicy.h).
    pub struct SpdAttrTag(u32);
    SPD_ATTR_NOP = 0x000,
    SPD_ATTR_END = 0x001,
    SPD_ATTR_EMPTY = 0x002,
    SPD_ATTR_NEXT = 0x003,
    SPD_ATTR_TYPE = 0x100,
    SPD_ATTR_FLAGS = 0x101,
    SPD_ATTR_AH_AUTH = 0x102,
    SPD_ATTR_ESP_ENCR = 0x103,
    SPD_ATTR_ESP_AUTH = 0x104,
    SPD_ATTR_ENCR_MINBITS = 0x105,
    SPD_ATTR_ENCR_MAXBITS = 0x106,
    SPD_ATTR_AH_MINBITS = 0x107,
    SPD_ATTR_AH_MAXBITS = 0x108,
    SPD_ATTR_LIFE_SOFT_TIME = 0x109,
    SPD_ATTR_LIFE_HARD_TIME = 0x10a,
    SPD_ATTR_LIFE_SOFT_BYTES = 0x10b,
    SPD_ATTR_LIFE_HARD_BYTES = 0x10c,
    SPD_ATTR_KM_PROTO = 0x10d,
    SPD_ATTR_KM_COOKIE = 0x10e,
    SPD_ATTR_REPLAY_DEPTH = 0x10f,
    SPD_ATTR_ESPA_MINBITS = 0x110,
    SPD_ATTR_ESPA_MAXBITS = 0x111,
    SPD_ATTR_ENCR_DEFBITS = 0x112,
    SPD_ATTR_ENCR_INCRBITS = 0x113,
    SPD_ATTR_AH_DEFBITS = 0x114,
    SPD_ATTR_AH_INCRBITS = 0x115,
    SPD_ATTR_ESPA_DEFBITS = 0x116,
    SPD_ATTR_ESPA_INCRBITS = 0x117,
    SPD_ATTR_ALG_ID = 0x118,
    SPD_ATTR_ALG_PROTO = 0x119,
    SPD_ATTR_ALG_INCRBITS = 0x11a,
    SPD_ATTR_ALG_NKEYSIZES = 0x11b,
    SPD_ATTR_ALG_KEYSIZE = 0x11c,
    SPD_ATTR_ALG_NBLOCKSIZES = 0x11d,
    SPD_ATTR_ALG_BLOCKSIZE = 0x11e,
    SPD_ATTR_ALG_MECHNAME = 0x11f,
    SPD_ATTR_PROTO_ID = 0x120,
    SPD_ATTR_PROTO_EXEC_MODE = 0x121,
    SPD_ATTR_ALG_NPARAMS = 0x122,
    SPD_ATTR_ALG_PARAMS = 0x123,
    SPD_ATTR_ALG_FLAGS = 0x124,
}

registry! {
    /// `SPD_ACTTYPE_*` values of `SPD_ATTR_TYPE` (pfpolicy.h).
    pub struct SpdActType(u32);
    SPD_ACTTYPE_DROP = 1,
    SPD_ACTTYPE_PASS = 2,
    SPD_ACTTYPE_IPSEC = 3,
}

/// `SPD_APPLY_*` bits of `SPD_ATTR_FLAGS` (pfpolicy.h).
#[allow(missing_docs)]
pub mod spd_apply {
    pub const SPD_APPLY_AH: u32 = 0x0001;
    pub const SPD_APPLY_ESP: u32 = 0x0002;
    pub const SPD_APPLY_SE: u32 = 0x0004;
    pub const SPD_APPLY_COMP: u32 = 0x0008;
    pub const SPD_APPLY_UNIQUE: u32 = 0x0010;
    pub const SPD_APPLY_BYPASS: u32 = 0x0020;
    pub const SPD_APPLY_ESPA: u32 = 0x0040;
}

/// `SPD_RULE_FLAG_*` bits of `spd_rule_flags` (pfpolicy.h).
#[allow(missing_docs)]
pub mod spd_rule_flag {
    pub const SPD_RULE_FLAG_INBOUND: u32 = 0x0001;
    pub const SPD_RULE_FLAG_OUTBOUND: u32 = 0x0002;
    pub const SPD_RULE_FLAG_TUNNEL: u32 = 0x0004;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknowns_print() {
        assert_eq!(
            format!("{:?}", SadbMsgType::SADB_X_DELPAIR),
            "SADB_X_DELPAIR"
        );
        assert_eq!(format!("{:?}", SadbMsgType(99)), "SadbMsgType(99)");
        assert_eq!(SadbExtType(7).name(), Some("SADB_X_EXT_ADDRESS_INNER_SRC"));
        assert_eq!(SadbExtType::ALL.len(), 29);
        assert_eq!(SadbMsgType::ALL.len(), 16);
        assert_eq!(SadbDiagnostic::ALL.len(), 87);
        assert_eq!(SpdDiagnostic::ALL.len(), 46);
    }

    #[test]
    fn flag_names_keep_unknown_bits() {
        let f = SadbSaFlags(0x8c00_4000);
        assert_eq!(f.names(), "INBOUND|EALG2|EALG1|USED");
        assert_eq!(SadbSaFlags(0x0000_0100).names(), "0x100");
    }

    #[test]
    fn settable_masks_match_the_listed_bits() {
        let add = [
            SadbSaFlags::SADB_X_SAFLAGS_PAIRED,
            SadbSaFlags::SADB_SAFLAGS_NOREPLAY,
            SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
            SadbSaFlags::SADB_X_SAFLAGS_INBOUND,
            SadbSaFlags::SADB_X_SAFLAGS_KM1,
            SadbSaFlags::SADB_X_SAFLAGS_KM2,
            SadbSaFlags::SADB_X_SAFLAGS_KM3,
            SadbSaFlags::SADB_X_SAFLAGS_KM4,
            SadbSaFlags::SADB_X_SAFLAGS_AALG1,
            SadbSaFlags::SADB_X_SAFLAGS_AALG2,
            SadbSaFlags::SADB_X_SAFLAGS_TUNNEL,
            SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC,
            SadbSaFlags::SADB_X_SAFLAGS_NATT_REM,
            SadbSaFlags::SADB_X_SAFLAGS_NATTED,
            SadbSaFlags::SADB_X_SAFLAGS_EALG1,
            SadbSaFlags::SADB_X_SAFLAGS_EALG2,
        ]
        .iter()
        .fold(0u32, |a, f| a | f.0);
        assert_eq!(add, SadbSaFlags::ESP_ADD_SETTABLE_FLAGS.0);
    }
}
