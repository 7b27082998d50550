//! Request builders: the messages an IKEv2 daemon sends to illumos PF_KEY
//! (reference §7), in the extension order used by the worked examples (§8).
//!
//! These are shared by every backend, so the bytes sent to the illumos
//! kernel and to the userland engine are the same bytes.

use zeroize::Zeroizing;

use crate::registry::{
    Errno, SadbAalg, SadbEalg, SadbExtType, SadbMsgType, SadbSaFlags, SadbSaState, SadbSaType,
};
use crate::wire::{
    AddressExt, AddressKind, EmitError, Extension, IdentKind, IdentityExt, KeyExt, KeyKind,
    KmCookie, Lifetime, LifetimeKind, SaExt, SadbHeader, SadbMsg, SockAddr, SpiRange,
};

/// An address extension with proto/prefix 0.
pub fn addr(a: SockAddr) -> AddressExt {
    AddressExt {
        proto: 0,
        prefixlen: 0,
        addr: a,
    }
}

/// Everything an ADD or UPDATE carries (RFC 2367 §3.1.3/§3.1.4, reference
/// §2.3 and §7.2).
#[derive(Debug)]
pub struct SaSpec {
    /// SA type (ESP = 3).
    pub satype: SadbSaType,
    /// SPI.
    pub spi: u32,
    /// Replay window.
    pub replay: u8,
    /// Authentication algorithm (0 for AEAD).
    pub auth: SadbAalg,
    /// Encryption algorithm.
    pub encrypt: SadbEalg,
    /// Flags: exactly one of INBOUND/OUTBOUND, TUNNEL for tunnel mode.
    pub flags: SadbSaFlags,
    /// Outer source.
    pub src: AddressExt,
    /// Outer destination.
    pub dst: AddressExt,
    /// Inner source and destination (tunnel mode).
    pub inner: Option<(AddressExt, AddressExt)>,
    /// NAT-T local address/port.
    pub natt_loc: Option<AddressExt>,
    /// NAT-T remote address/port.
    pub natt_rem: Option<AddressExt>,
    /// Hard lifetime.
    pub hard: Option<Lifetime>,
    /// Soft lifetime.
    pub soft: Option<Lifetime>,
    /// Idle lifetime.
    pub idle: Option<Lifetime>,
    /// KEY_AUTH material.
    pub auth_key: Option<KeyExt>,
    /// KEY_ENCRYPT material (key ‖ salt).
    pub encr_key: Option<KeyExt>,
    /// Source identity.
    pub ident_src: Option<IdentityExt>,
    /// Destination identity.
    pub ident_dst: Option<IdentityExt>,
    /// KM cookie.
    pub kmc: Option<KmCookie>,
    /// Partner SPI (put on the second SA of a pair).
    pub pair: Option<u32>,
}

impl SaSpec {
    /// A MATURE ESP SA with no optional parts.
    pub fn esp(spi: u32, encrypt: SadbEalg, src: AddressExt, dst: AddressExt) -> Self {
        Self {
            satype: SadbSaType::SADB_SATYPE_ESP,
            spi,
            replay: 0,
            auth: SadbAalg::SADB_AALG_NONE,
            encrypt,
            flags: SadbSaFlags::default(),
            src,
            dst,
            inner: None,
            natt_loc: None,
            natt_rem: None,
            hard: None,
            soft: None,
            idle: None,
            auth_key: None,
            encr_key: None,
            ident_src: None,
            ident_dst: None,
            kmc: None,
            pair: None,
        }
    }

    fn into_msg(self, msg_type: SadbMsgType, seq: u32, pid: u32) -> SadbMsg {
        let mut m = SadbMsg::new(SadbHeader::new(msg_type, self.satype, seq, pid));
        m.exts.push(Extension::Sa(SaExt {
            spi: self.spi,
            replay: self.replay,
            state: SadbSaState::SADB_SASTATE_MATURE,
            auth: self.auth,
            encrypt: self.encrypt,
            flags: self.flags,
        }));
        let lts = [
            (LifetimeKind::Hard, self.hard),
            (LifetimeKind::Soft, self.soft),
            (LifetimeKind::Idle, self.idle),
        ];
        for (k, l) in lts {
            if let Some(l) = l {
                m.exts.push(Extension::Lifetime(k, l));
            }
        }
        m.exts.push(Extension::Address(AddressKind::Src, self.src));
        m.exts.push(Extension::Address(AddressKind::Dst, self.dst));
        if let Some((s, d)) = self.inner {
            m.exts.push(Extension::Address(AddressKind::InnerSrc, s));
            m.exts.push(Extension::Address(AddressKind::InnerDst, d));
        }
        if let Some(a) = self.natt_loc {
            m.exts.push(Extension::Address(AddressKind::NattLoc, a));
        }
        if let Some(a) = self.natt_rem {
            m.exts.push(Extension::Address(AddressKind::NattRem, a));
        }
        if let Some(k) = self.auth_key {
            m.exts.push(Extension::Key(KeyKind::Auth, k));
        }
        if let Some(k) = self.encr_key {
            m.exts.push(Extension::Key(KeyKind::Encrypt, k));
        }
        if let Some(i) = self.ident_src {
            m.exts.push(Extension::Identity(IdentKind::Src, i));
        }
        if let Some(i) = self.ident_dst {
            m.exts.push(Extension::Identity(IdentKind::Dst, i));
        }
        if let Some(k) = self.kmc {
            m.exts.push(Extension::KmCookie(k));
        }
        if let Some(p) = self.pair {
            m.exts.push(Extension::Pair(p));
        }
        m
    }
}

fn encode(m: &SadbMsg) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    m.to_bytes()
}

/// `SADB_REGISTER` for one satype (§8.1).
pub fn register(satype: SadbSaType, seq: u32, pid: u32) -> SadbMsg {
    SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_REGISTER,
        satype,
        seq,
        pid,
    ))
}

/// Extended `SADB_REGISTER` (satype 0 + X_EREG, §8.12).
pub fn register_extended(satypes: &[SadbSaType], seq: u32, pid: u32) -> SadbMsg {
    register(SadbSaType::SADB_SATYPE_UNSPEC, seq, pid).with(Extension::Ereg(satypes.to_vec()))
}

/// `SADB_GETSPI`: SRC = peer, DST = local (§7.2 step 3, §8.2).
pub fn getspi(
    satype: SadbSaType,
    src: AddressExt,
    dst: AddressExt,
    range: SpiRange,
    seq: u32,
    pid: u32,
) -> SadbMsg {
    SadbMsg::new(SadbHeader::new(SadbMsgType::SADB_GETSPI, satype, seq, pid))
        .with(Extension::Address(AddressKind::Src, src))
        .with(Extension::Address(AddressKind::Dst, dst))
        .with(Extension::SpiRange(range))
}

/// `SADB_UPDATE` completing a larval SA (§8.4). Encoded into a zeroizing
/// buffer because it carries keys.
pub fn update(spec: SaSpec, seq: u32, pid: u32) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    encode(&spec.into_msg(SadbMsgType::SADB_UPDATE, seq, pid))
}

/// `SADB_ADD` (§8.5); put the ACQUIRE's seq in `seq` for an outbound SA.
pub fn add(spec: SaSpec, seq: u32, pid: u32) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    encode(&spec.into_msg(SadbMsgType::SADB_ADD, seq, pid))
}

/// The Repr of an ADD/UPDATE (tests and the engine compare on it).
pub fn sa_msg(spec: SaSpec, msg_type: SadbMsgType, seq: u32, pid: u32) -> SadbMsg {
    spec.into_msg(msg_type, seq, pid)
}

/// An SA-naming message (DELETE, GET, X_DELPAIR): SA{spi[, flags]}, SRC, DST
/// (§8.6).
#[allow(clippy::too_many_arguments)] // one argument per message field
pub fn sa_op(
    msg_type: SadbMsgType,
    satype: SadbSaType,
    spi: u32,
    flags: SadbSaFlags,
    src: Option<AddressExt>,
    dst: AddressExt,
    seq: u32,
    pid: u32,
) -> SadbMsg {
    let mut m =
        SadbMsg::new(SadbHeader::new(msg_type, satype, seq, pid)).with(Extension::Sa(SaExt {
            spi,
            flags,
            ..SaExt::default()
        }));
    if let Some(s) = src {
        m.exts.push(Extension::Address(AddressKind::Src, s));
    }
    m.with(Extension::Address(AddressKind::Dst, dst))
}

/// Header-only ACQUIRE with errno ≠ 0 aborting kernel ACQUIRE `seq` (§8.8).
pub fn acquire_abort(satype: SadbSaType, errno: Errno, seq: u32, pid: u32) -> SadbMsg {
    let mut h = SadbHeader::new(SadbMsgType::SADB_ACQUIRE, satype, seq, pid);
    h.errno = errno;
    SadbMsg::new(h)
}

/// `SADB_X_INVERSE_ACQUIRE`: SRC = local, DST = peer (§8.9), optional inner
/// selectors for tunnel mode.
pub fn inverse_acquire(
    src: AddressExt,
    dst: AddressExt,
    inner: Option<(AddressExt, AddressExt)>,
    seq: u32,
    pid: u32,
) -> SadbMsg {
    let mut m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_X_INVERSE_ACQUIRE,
        SadbSaType::SADB_SATYPE_UNSPEC,
        seq,
        pid,
    ));
    if let Some((s, d)) = inner {
        m.exts.push(Extension::Address(AddressKind::InnerSrc, s));
        m.exts.push(Extension::Address(AddressKind::InnerDst, d));
    }
    m.with(Extension::Address(AddressKind::Src, src))
        .with(Extension::Address(AddressKind::Dst, dst))
}

/// `SADB_FLUSH` (§8.13).
pub fn flush(satype: SadbSaType, seq: u32, pid: u32) -> SadbMsg {
    SadbMsg::new(SadbHeader::new(SadbMsgType::SADB_FLUSH, satype, seq, pid))
}

/// `SADB_DUMP` (§8.14).
pub fn dump(satype: SadbSaType, seq: u32, pid: u32) -> SadbMsg {
    SadbMsg::new(SadbHeader::new(SadbMsgType::SADB_DUMP, satype, seq, pid))
}

/// UPDATE of an established SA moving it to a new KM cookie (§7.6).
#[allow(clippy::too_many_arguments)] // one argument per message field
pub fn update_cookie(
    msg_type: SadbMsgType,
    satype: SadbSaType,
    spi: u32,
    flags: SadbSaFlags,
    src: AddressExt,
    dst: AddressExt,
    kmc: KmCookie,
    seq: u32,
    pid: u32,
) -> SadbMsg {
    SadbMsg::new(SadbHeader::new(msg_type, satype, seq, pid))
        .with(Extension::Sa(SaExt {
            spi,
            state: SadbSaState::SADB_SASTATE_MATURE,
            flags,
            ..SaExt::default()
        }))
        .with(Extension::Address(AddressKind::Src, src))
        .with(Extension::Address(AddressKind::Dst, dst))
        .with(Extension::KmCookie(kmc))
}

/// Does `reply` answer request (`msg_type`, `seq`, `pid`)? Same seq and
/// pid, and the same type, except INVERSE_ACQUIRE whose success reply is
/// an ACQUIRE (§7.11).
pub fn is_reply_to(reply: &SadbHeader, msg_type: SadbMsgType, seq: u32, pid: u32) -> bool {
    if reply.seq != seq || reply.pid != pid {
        return false;
    }
    reply.msg_type == msg_type
        || (msg_type == SadbMsgType::SADB_X_INVERSE_ACQUIRE
            && reply.msg_type == SadbMsgType::SADB_ACQUIRE
            && reply.errno == Errno::OK)
}

/// The extension type numbers present, in order (diagnostics, tests).
pub fn ext_types(m: &SadbMsg) -> Vec<SadbExtType> {
    m.exts.iter().map(Extension::ext_type).collect()
}
