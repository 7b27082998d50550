//! The engine's SA database: entries as the illumos kernel keeps them
//! (`ipsa_t` in spirit), the default ESP algorithm table, and the GET/DUMP/
//! DELETE/EXPIRE descriptions built from an entry (`sadb_sa2msg`, §2.5).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::registry::{SadbAalg, SadbEalg, SadbKmp, SadbSaFlags, SadbSaState, SadbSaType};
use crate::wire::{
    AddressExt, AddressKind, Alg, Extension, IdentKind, IdentityExt, KeyExt, KeyKind, KmCookie,
    Lifetime, LifetimeKind, SaExt, SockAddr,
};

/// Which table an SA lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Inbound table (keyed by SPI + destination).
    Inbound,
    /// Outbound table.
    Outbound,
}

impl Direction {
    /// The other table.
    pub fn other(self) -> Self {
        match self {
            Self::Inbound => Self::Outbound,
            Self::Outbound => Self::Inbound,
        }
    }
}

/// One SA.
pub(crate) struct SaEntry {
    pub(crate) satype: SadbSaType,
    pub(crate) spi: u32,
    pub(crate) dir: Direction,
    pub(crate) state: SadbSaState,
    pub(crate) replay: u8,
    pub(crate) auth: SadbAalg,
    pub(crate) encrypt: SadbEalg,
    pub(crate) flags: SadbSaFlags,
    pub(crate) src: AddressExt,
    pub(crate) dst: AddressExt,
    pub(crate) inner: Option<(AddressExt, AddressExt)>,
    pub(crate) natt_loc: Option<AddressExt>,
    pub(crate) natt_rem: Option<AddressExt>,
    pub(crate) hard: Lifetime,
    pub(crate) soft: Lifetime,
    pub(crate) idle: Lifetime,
    pub(crate) auth_key: Option<KeyExt>,
    /// key ‖ salt (IV bits stripped).
    pub(crate) encr_key: Option<Zeroizing<Vec<u8>>>,
    pub(crate) ident_src: Option<IdentityExt>,
    pub(crate) ident_dst: Option<IdentityExt>,
    pub(crate) kmc: KmCookie,
    pub(crate) pair: Option<u32>,
    pub(crate) added: Instant,
    pub(crate) added_unix: u64,
    pub(crate) first_use: Option<(Instant, u64)>,
    pub(crate) last_use: Option<Instant>,
    pub(crate) bytes: u64,
    pub(crate) larval_deadline: Option<Instant>,
    pub(crate) dead_at: Option<Instant>,
    pub(crate) idle_next: Option<Instant>,
    /// The pair partner died inbound-first: expire on the next pass.
    pub(crate) force_hard: bool,
}

impl SaEntry {
    /// A larval SA reserved by GETSPI.
    pub(crate) fn larval(
        satype: SadbSaType,
        spi: u32,
        src: AddressExt,
        dst: AddressExt,
        now: Instant,
        unix: u64,
        timeout: Duration,
    ) -> Self {
        Self {
            satype,
            spi,
            dir: Direction::Inbound,
            state: SadbSaState::SADB_SASTATE_LARVAL,
            replay: 0,
            auth: SadbAalg::SADB_AALG_NONE,
            encrypt: SadbEalg::SADB_EALG_NONE,
            flags: SadbSaFlags::default(),
            src,
            dst,
            inner: None,
            natt_loc: None,
            natt_rem: None,
            hard: Lifetime::default(),
            soft: Lifetime::default(),
            idle: Lifetime::default(),
            auth_key: None,
            encr_key: None,
            ident_src: None,
            ident_dst: None,
            kmc: KmCookie::default(),
            pair: None,
            added: now,
            added_unix: unix,
            first_use: None,
            last_use: None,
            bytes: 0,
            larval_deadline: now.checked_add(timeout),
            dead_at: None,
            idle_next: None,
            force_hard: false,
        }
    }

    pub(crate) fn src_ip(&self) -> Option<IpAddr> {
        self.src.addr.ip()
    }
    pub(crate) fn dst_ip(&self) -> Option<IpAddr> {
        self.dst.addr.ip()
    }

    pub(crate) fn is_tunnel(&self) -> bool {
        self.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL)
    }

    fn deadline(&self, secs_add: u64, secs_use: u64) -> Option<Instant> {
        let by_add = (secs_add != 0)
            .then(|| self.added.checked_add(Duration::from_secs(secs_add)))
            .flatten();
        let by_use = match (secs_use, self.first_use) {
            (0, _) | (_, None) => None,
            (s, Some((t, _))) => t.checked_add(Duration::from_secs(s)),
        };
        match (by_add, by_use) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the soft lifetime fires (MATURE only).
    pub(crate) fn soft_deadline(&self) -> Option<Instant> {
        (self.state == SadbSaState::SADB_SASTATE_MATURE)
            .then(|| self.deadline(self.soft.addtime, self.soft.usetime))
            .flatten()
    }

    /// When the hard lifetime fires (MATURE or DYING).
    pub(crate) fn hard_deadline(&self) -> Option<Instant> {
        if self.force_hard && self.state != SadbSaState::SADB_SASTATE_DEAD {
            return Some(self.added);
        }
        matches!(
            self.state,
            SadbSaState::SADB_SASTATE_MATURE | SadbSaState::SADB_SASTATE_DYING
        )
        .then(|| self.deadline(self.hard.addtime, self.hard.usetime))
        .flatten()
    }

    /// When the idle lifetime fires next.
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        if self.state != SadbSaState::SADB_SASTATE_MATURE || self.idle.addtime == 0 {
            return None;
        }
        if let Some(n) = self.idle_next {
            return Some(n);
        }
        let mut secs = self.idle.addtime;
        if self.idle.usetime != 0 {
            secs = secs.min(self.idle.usetime);
        }
        self.last_use
            .unwrap_or(self.added)
            .checked_add(Duration::from_secs(secs))
    }

    fn sa_ext(&self) -> SaExt {
        SaExt {
            spi: self.spi,
            replay: self.replay,
            state: self.state,
            auth: self.auth,
            encrypt: self.encrypt,
            flags: self.flags,
        }
    }

    fn current(&self) -> Lifetime {
        Lifetime {
            allocations: 0,
            bytes: self.bytes,
            addtime: self.added_unix,
            usetime: self.first_use.map_or(0, |(_, u)| u),
        }
    }

    /// Outer address as reported: ports only in transport mode, prefix 0.
    fn outer(&self, a: &AddressExt) -> AddressExt {
        let port = if self.is_tunnel() { 0 } else { a.addr.port() };
        AddressExt {
            proto: a.proto,
            prefixlen: 0,
            addr: a.addr.with_port(port),
        }
    }

    /// `sadb_sa2msg`: the SA's description. Keys only for GET/DUMP.
    pub(crate) fn describe(&self, with_keys: bool, iv_bytes: usize) -> Vec<Extension> {
        let mut v = vec![
            Extension::Sa(self.sa_ext()),
            Extension::Lifetime(LifetimeKind::Current, self.current()),
        ];
        let nz =
            |l: &Lifetime| l.allocations != 0 || l.bytes != 0 || l.addtime != 0 || l.usetime != 0;
        if nz(&self.hard) {
            v.push(Extension::Lifetime(LifetimeKind::Hard, self.hard));
        }
        if nz(&self.soft) {
            v.push(Extension::Lifetime(LifetimeKind::Soft, self.soft));
        }
        if self.idle.addtime != 0 || self.idle.usetime != 0 {
            v.push(Extension::Lifetime(
                LifetimeKind::Idle,
                Lifetime {
                    allocations: 0,
                    bytes: 0,
                    ..self.idle
                },
            ));
        }
        v.push(Extension::Address(AddressKind::Src, self.outer(&self.src)));
        v.push(Extension::Address(AddressKind::Dst, self.outer(&self.dst)));
        let natt = |a: &Option<AddressExt>| {
            a.as_ref().map(|a| AddressExt {
                proto: 17,
                prefixlen: 0,
                addr: a.addr.clone(),
            })
        };
        if self.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC) {
            if let Some(a) = natt(&self.natt_loc) {
                v.push(Extension::Address(AddressKind::NattLoc, a));
            }
        }
        if self.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_NATT_REM) {
            if let Some(a) = natt(&self.natt_rem) {
                v.push(Extension::Address(AddressKind::NattRem, a));
            }
        }
        if let Some((s, d)) = &self.inner {
            v.push(Extension::Address(AddressKind::InnerSrc, s.clone()));
            v.push(Extension::Address(AddressKind::InnerDst, d.clone()));
        }
        if self.kmc.proto != SadbKmp::SADB_X_KMP_MANUAL || self.kmc.cookie != 0 {
            v.push(Extension::KmCookie(self.kmc));
        }
        if with_keys {
            if let Some(k) = &self.auth_key {
                v.push(Extension::Key(KeyKind::Auth, k.duplicate()));
            }
            if let Some(k) = &self.encr_key {
                // Output convention (§2.5): bits = key only, reserved =
                // salt bits, extension sized for key + salt + IV.
                let salt = self.encrypt.salt_bits();
                let total_bits = k.len().saturating_mul(8);
                let key_bits = u16::try_from(total_bits)
                    .unwrap_or(u16::MAX)
                    .saturating_sub(salt);
                let mut data = Zeroizing::new(k.to_vec());
                let want = crate::wire::pad8(k.len().saturating_add(iv_bytes));
                data.resize(want, 0);
                v.push(Extension::Key(
                    KeyKind::Encrypt,
                    KeyExt::from_raw(key_bits, salt, data),
                ));
            }
        }
        if let Some(i) = &self.ident_src {
            v.push(Extension::Identity(IdentKind::Src, i.clone()));
        }
        if let Some(i) = &self.ident_dst {
            v.push(Extension::Identity(IdentKind::Dst, i.clone()));
        }
        if let Some(p) = self.pair {
            v.push(Extension::Pair(p));
        }
        v
    }

    /// The EXPIRE body (§5.5): SA, CURRENT, the lifetime that fired, SRC,
    /// DST, inner addresses if TUNNEL, KM cookie always.
    pub(crate) fn expire_body(&self, which: LifetimeKind) -> Vec<Extension> {
        let lt = match which {
            LifetimeKind::Hard => self.hard,
            LifetimeKind::Soft => self.soft,
            _ => Lifetime {
                allocations: 0,
                bytes: 0,
                ..self.idle
            },
        };
        let mut v = vec![
            Extension::Sa(self.sa_ext()),
            Extension::Lifetime(LifetimeKind::Current, self.current()),
            Extension::Lifetime(which, lt),
            Extension::Address(AddressKind::Src, self.outer(&self.src)),
            Extension::Address(AddressKind::Dst, self.outer(&self.dst)),
        ];
        if self.is_tunnel() {
            if let Some((s, d)) = &self.inner {
                v.push(Extension::Address(AddressKind::InnerSrc, s.clone()));
                v.push(Extension::Address(AddressKind::InnerDst, d.clone()));
            }
        }
        v.push(Extension::KmCookie(self.kmc));
        v
    }

    /// A data-plane view of this SA.
    pub(crate) fn snapshot(&self) -> SaSnapshot {
        let port_of =
            |a: &Option<AddressExt>| a.as_ref().map(|a| a.addr.port()).filter(|p| *p != 0);
        SaSnapshot {
            satype: self.satype,
            spi: self.spi,
            direction: self.dir,
            state: self.state,
            auth: self.auth,
            encrypt: self.encrypt,
            flags: self.flags,
            src: self.src.addr.clone(),
            dst: self.dst.addr.clone(),
            inner: self
                .inner
                .as_ref()
                .map(|(s, d)| ((s.addr.clone(), s.prefixlen), (d.addr.clone(), d.prefixlen))),
            natt_local_port: port_of(&self.natt_loc),
            natt_remote_port: port_of(&self.natt_rem),
            udp_encap: self.flags.intersects(SadbSaFlags(
                SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC.0
                    | SadbSaFlags::SADB_X_SAFLAGS_NATT_REM.0
                    | SadbSaFlags::SADB_X_SAFLAGS_NATTED.0,
            )),
            replay_window: self.replay,
            hard: self.hard,
            soft: self.soft,
            idle: self.idle,
            kmc: self.kmc,
            auth_key: self
                .auth_key
                .as_ref()
                .map(|k| Zeroizing::new(k.material().to_vec())),
            encr_key: self.encr_key.as_ref().map(|k| Zeroizing::new(k.to_vec())),
            salt_bits: self.encrypt.salt_bits(),
        }
    }
}

/// What a data plane needs to run one SA. Keys are zeroizing and never
/// printed by `Debug`.
pub struct SaSnapshot {
    /// SA type.
    pub satype: SadbSaType,
    /// SPI.
    pub spi: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// State.
    pub state: SadbSaState,
    /// Authentication algorithm (NONE for AEAD).
    pub auth: SadbAalg,
    /// Encryption algorithm.
    pub encrypt: SadbEalg,
    /// Flags.
    pub flags: SadbSaFlags,
    /// Outer source.
    pub src: SockAddr,
    /// Outer destination.
    pub dst: SockAddr,
    /// Inner (address, prefix) source and destination in tunnel mode.
    pub inner: Option<((SockAddr, u8), (SockAddr, u8))>,
    /// NAT-T local UDP port (None = 4500).
    pub natt_local_port: Option<u16>,
    /// NAT-T remote UDP port (None = 4500).
    pub natt_remote_port: Option<u16>,
    /// True if ESP is UDP-encapsulated (RFC 3948).
    pub udp_encap: bool,
    /// Replay window in packets.
    pub replay_window: u8,
    /// Hard limits.
    pub hard: Lifetime,
    /// Soft limits.
    pub soft: Lifetime,
    /// Idle limits.
    pub idle: Lifetime,
    /// KM cookie.
    pub kmc: KmCookie,
    /// Authentication key.
    pub auth_key: Option<Zeroizing<Vec<u8>>>,
    /// Encryption key ‖ salt.
    pub encr_key: Option<Zeroizing<Vec<u8>>>,
    /// Salt bits at the end of `encr_key`.
    pub salt_bits: u16,
}

impl core::fmt::Debug for SaSnapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaSnapshot")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("state", &self.state)
            .field("auth", &self.auth)
            .field("encrypt", &self.encrypt)
            .field("flags", &self.flags)
            .field("src", &self.src)
            .field("dst", &self.dst)
            .field("udp_encap", &self.udp_encap)
            .field(
                "auth_key",
                &self
                    .auth_key
                    .as_ref()
                    .map(|k| format!("<secret len={}>", k.len())),
            )
            .field(
                "encr_key",
                &self
                    .encr_key
                    .as_ref()
                    .map(|k| format!("<secret len={}>", k.len())),
            )
            .finish_non_exhaustive()
    }
}

/// One algorithm the engine offers (a row of `/etc/inet/ipsecalgs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgInfo {
    /// Algorithm id.
    pub id: u8,
    /// Allowed key sizes in bits: min, max, step (0 = only min).
    pub minbits: u16,
    /// Maximum key bits.
    pub maxbits: u16,
    /// Step in bits (0: min == max).
    pub increment: u8,
    /// IV length in bytes.
    pub ivlen: u8,
    /// Salt bits.
    pub saltbits: u8,
}

impl AlgInfo {
    /// Is `bits` a valid key size?
    pub fn valid_bits(&self, bits: u16) -> bool {
        if bits < self.minbits || bits > self.maxbits {
            return false;
        }
        match self.increment {
            0 => bits == self.minbits || bits == self.maxbits,
            inc => (bits - self.minbits) % u16::from(inc) == 0,
        }
    }

    pub(crate) fn to_alg(self) -> Alg {
        Alg {
            id: self.id,
            ivlen: self.ivlen,
            minbits: self.minbits,
            maxbits: self.maxbits,
            increment: self.increment,
            saltbits: self.saltbits,
        }
    }
}

/// The algorithm table the engine advertises in REGISTER replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgTable {
    /// Authentication algorithms (ascending id).
    pub auth: Vec<AlgInfo>,
    /// Encryption algorithms (ascending id).
    pub encr: Vec<AlgInfo>,
}

impl AlgTable {
    /// What illumos ESP offers for the set our data plane implements:
    /// HMAC-SHA1/SHA2-256/384/512, AES-CBC, AES-CCM-8/12/16 and
    /// AES-GCM-8/12/16 (ipsecalgs defaults, reference §4.2/§4.4). No
    /// ChaCha20 (illumos has none).
    pub fn illumos_default() -> Self {
        let hmac = |id, bits| AlgInfo {
            id,
            minbits: bits,
            maxbits: bits,
            increment: 0,
            ivlen: 0,
            saltbits: 0,
        };
        let aes = |id, ivlen, saltbits| AlgInfo {
            id,
            minbits: 128,
            maxbits: 256,
            increment: 64,
            ivlen,
            saltbits,
        };
        Self {
            auth: vec![hmac(3, 160), hmac(5, 256), hmac(6, 384), hmac(7, 512)],
            encr: vec![
                aes(12, 16, 0),
                aes(14, 8, 24),
                aes(15, 8, 24),
                aes(16, 8, 24),
                aes(18, 8, 32),
                aes(19, 8, 32),
                aes(20, 8, 32),
            ],
        }
    }

    /// Look up an auth algorithm.
    pub fn auth(&self, id: u8) -> Option<&AlgInfo> {
        self.auth.iter().find(|a| a.id == id)
    }

    /// Look up an encryption algorithm.
    pub fn encr(&self, id: u8) -> Option<&AlgInfo> {
        self.encr.iter().find(|a| a.id == id)
    }
}
