//! The 16-byte `sadb_msg` header (RFC 2367 §2.2, illumos diagnostic field)
//! and whole PF_KEY messages.

use zeroize::Zeroizing;

use super::ext::{AddressExt, AddressKind, Extension, KeyExt, KeyKind, Lifetime, LifetimeKind};
use super::{words, DecodeError, EmitError, ExtName, Reader, Writer, HEADER_LEN, PF_KEY_V2};
use crate::registry::{Errno, SadbDiagnostic, SadbExtType, SadbMsgType, SadbSaType};

mod field {
    pub(super) const VERSION: usize = 0;
    pub(super) const TYPE: usize = 1;
    pub(super) const ERRNO: usize = 2;
    pub(super) const SATYPE: usize = 3;
    pub(super) const LEN: core::ops::Range<usize> = 4..6;
    pub(super) const DIAG: core::ops::Range<usize> = 6..8;
    pub(super) const SEQ: core::ops::Range<usize> = 8..12;
    pub(super) const PID: core::ops::Range<usize> = 12..16;
}

/// Zero-copy view of a PF_KEY message header (also valid for `spd_msg`,
/// whose layout is the same with `satype` read as `spdid`).
///
/// After [`Self::new_checked`] the buffer holds at least 16 bytes and exactly
/// `len × 8` bytes, so no accessor can fail.
#[derive(Debug, Clone)]
pub struct SadbMsgPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> SadbMsgPacket<T> {
    /// Wrap without checks (emit paths only).
    pub fn new_unchecked(buf: T) -> Self {
        Self { buf }
    }

    /// Wrap after [`Self::check_len`].
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let p = Self { buf };
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds a whole header and exactly the declared length.
    pub fn check_len(&self) -> Result<(), DecodeError> {
        let b = self.buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(DecodeError::ShortHeader { len: b.len() });
        }
        let declared = self.len_words();
        if usize::from(declared).checked_mul(8) != Some(b.len()) {
            return Err(DecodeError::LengthMismatch {
                declared_words: declared,
                actual: b.len(),
            });
        }
        Ok(())
    }

    fn byte(&self, i: usize) -> u8 {
        self.buf.as_ref().get(i).copied().unwrap_or(0)
    }
    fn arr<const N: usize>(&self, r: core::ops::Range<usize>) -> [u8; N] {
        self.buf
            .as_ref()
            .get(r)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N])
    }

    /// `sadb_msg_version`.
    pub fn version(&self) -> u8 {
        self.byte(field::VERSION)
    }
    /// `sadb_msg_type`.
    pub fn msg_type(&self) -> SadbMsgType {
        SadbMsgType(self.byte(field::TYPE))
    }
    /// `sadb_msg_errno`.
    pub fn errno(&self) -> Errno {
        Errno(self.byte(field::ERRNO))
    }
    /// `sadb_msg_satype`.
    pub fn satype(&self) -> SadbSaType {
        SadbSaType(self.byte(field::SATYPE))
    }
    /// `sadb_msg_len` in words.
    pub fn len_words(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::LEN))
    }
    /// `sadb_x_msg_diagnostic`.
    pub fn diagnostic(&self) -> SadbDiagnostic {
        SadbDiagnostic(u16::from_le_bytes(self.arr(field::DIAG)))
    }
    /// `sadb_msg_seq`.
    pub fn seq(&self) -> u32 {
        u32::from_le_bytes(self.arr(field::SEQ))
    }
    /// `sadb_msg_pid`.
    pub fn pid(&self) -> u32 {
        u32::from_le_bytes(self.arr(field::PID))
    }
    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        self.buf.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

/// One raw extension found by [`RawExtIter`].
#[derive(Debug, Clone, Copy)]
pub struct RawExt<'a> {
    /// Byte offset in the message.
    pub offset: usize,
    /// `len` field, in words.
    pub len_words: u16,
    /// `type` field.
    pub ext_type: u16,
    /// The whole extension (header included).
    pub bytes: &'a [u8],
}

/// Walks extensions after the header the way keysock does, yielding an
/// error for a zero-length or overrunning extension and stopping there.
#[derive(Debug, Clone)]
pub struct RawExtIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> RawExtIter<'a> {
    /// Iterate over the extensions of a whole message (header included).
    pub fn new(msg: &'a [u8]) -> Self {
        Self {
            buf: msg,
            pos: HEADER_LEN,
            done: false,
        }
    }
}

/// Which kind of extension registry a walk reports errors in.
pub(crate) fn ext_name(spd: bool, t: u16) -> ExtName {
    if spd {
        ExtName::Spd(crate::registry::SpdExtType(t))
    } else {
        ExtName::Sadb(SadbExtType(t))
    }
}

impl<'a> RawExtIter<'a> {
    pub(crate) fn next_ext(&mut self, spd: bool) -> Option<Result<RawExt<'a>, DecodeError>> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let mut r = Reader::new(self.buf.get(self.pos..).unwrap_or(&[]));
        let (Some(len_words), Some(ext_type)) = (r.u16le(), r.u16le()) else {
            self.done = true;
            return Some(Err(DecodeError::BadExtLen {
                ext: ExtName::Header,
                offset: self.pos,
                len_words: 0,
            }));
        };
        let len = usize::from(len_words) * 8;
        let end = self.pos.checked_add(len);
        let bytes = end.and_then(|e| self.buf.get(self.pos..e));
        match bytes {
            Some(bytes) if len_words != 0 => {
                let ext = RawExt {
                    offset: self.pos,
                    len_words,
                    ext_type,
                    bytes,
                };
                self.pos = self.pos.saturating_add(len);
                Some(Ok(ext))
            }
            _ => {
                self.done = true;
                Some(Err(DecodeError::BadExtLen {
                    ext: ext_name(spd, ext_type),
                    offset: self.pos,
                    len_words,
                }))
            }
        }
    }
}

impl<'a> Iterator for RawExtIter<'a> {
    type Item = Result<RawExt<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_ext(false)
    }
}

/// The semantic `sadb_msg` header. `sadb_msg_len` is derived on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SadbHeader {
    /// `sadb_msg_version` (illumos never checks it; always writes 2).
    pub version: u8,
    /// Message type.
    pub msg_type: SadbMsgType,
    /// errno (0 in requests).
    pub errno: Errno,
    /// SA type.
    pub satype: SadbSaType,
    /// `sadb_x_msg_diagnostic` (0 in requests).
    pub diagnostic: SadbDiagnostic,
    /// Sequence number chosen by the originator.
    pub seq: u32,
    /// Originator's pid (0 from the kernel).
    pub pid: u32,
}

impl SadbHeader {
    /// A request header: version 2, errno 0, diagnostic 0.
    pub fn new(msg_type: SadbMsgType, satype: SadbSaType, seq: u32, pid: u32) -> Self {
        Self {
            version: PF_KEY_V2,
            msg_type,
            errno: Errno::OK,
            satype,
            diagnostic: SadbDiagnostic::SADB_X_DIAGNOSTIC_NONE,
            seq,
            pid,
        }
    }

    fn emit(&self, w: &mut Writer<'_>, len_words: u16) {
        w.u8(self.version);
        w.u8(self.msg_type.0);
        w.u8(self.errno.0);
        w.u8(self.satype.0);
        w.u16le(len_words);
        w.u16le(self.diagnostic.0);
        w.u32le(self.seq);
        w.u32le(self.pid);
    }
}

/// A whole PF_KEY message: header plus extensions in wire order.
#[derive(Debug, PartialEq, Eq)]
pub struct SadbMsg {
    /// The header.
    pub header: SadbHeader,
    /// Extensions in the order they appear.
    pub exts: Vec<Extension>,
}

impl SadbMsg {
    /// A message with no extensions.
    pub fn new(header: SadbHeader) -> Self {
        Self {
            header,
            exts: Vec::new(),
        }
    }

    /// Builder: append an extension.
    pub fn with(mut self, ext: Extension) -> Self {
        self.exts.push(ext);
        self
    }

    /// Parse one complete message. Rejects a length mismatch, zero or
    /// overrunning extension lengths, duplicate extension types (keysock
    /// `KGE_DUP`) and bodies that do not fit their type.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let pkt = SadbMsgPacket::new_checked(bytes)?;
        let header = SadbHeader {
            version: pkt.version(),
            msg_type: pkt.msg_type(),
            errno: pkt.errno(),
            satype: pkt.satype(),
            diagnostic: pkt.diagnostic(),
            seq: pkt.seq(),
            pid: pkt.pid(),
        };
        let mut exts: Vec<Extension> = Vec::new();
        for raw in RawExtIter::new(bytes) {
            let raw = raw?;
            if exts.iter().any(|e| e.ext_type().0 == raw.ext_type) {
                return Err(DecodeError::Duplicate {
                    ext: ExtName::Sadb(SadbExtType(raw.ext_type)),
                    offset: raw.offset,
                });
            }
            exts.push(Extension::parse(raw.bytes, raw.offset)?);
        }
        Ok(Self { header, exts })
    }

    /// Encoded length in bytes.
    pub fn buffer_len(&self) -> usize {
        self.exts
            .iter()
            .map(Extension::buffer_len)
            .fold(HEADER_LEN, usize::saturating_add)
    }

    /// Write the message into `buf`, which must be exactly
    /// [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        let len = self.buffer_len();
        let lw = words(len, "message")?;
        for e in &self.exts {
            e.check_emit()?;
        }
        if buf.len() != len {
            return Err(EmitError::TooLong {
                what: "output buffer size mismatch",
                len: buf.len(),
            });
        }
        let mut w = Writer::new(buf);
        self.header.emit(&mut w, lw);
        for e in &self.exts {
            e.emit(&mut w);
        }
        Ok(())
    }

    /// Encode into a fresh zeroizing buffer (ADD/UPDATE/GET replies carry
    /// keys, so every PF_KEY buffer is treated as secret).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, EmitError> {
        let mut buf = Zeroizing::new(vec![0u8; self.buffer_len()]);
        self.emit(&mut buf)?;
        Ok(buf)
    }

    /// The first extension of type `t`.
    pub fn ext(&self, t: SadbExtType) -> Option<&Extension> {
        self.exts.iter().find(|e| e.ext_type() == t)
    }

    /// The SA extension.
    pub fn sa(&self) -> Option<&super::ext::SaExt> {
        self.exts.iter().find_map(|e| match e {
            Extension::Sa(s) => Some(s),
            _ => None,
        })
    }

    /// An address extension.
    pub fn address(&self, kind: AddressKind) -> Option<&AddressExt> {
        self.exts.iter().find_map(|e| match e {
            Extension::Address(k, a) if *k == kind => Some(a),
            _ => None,
        })
    }

    /// A lifetime extension.
    pub fn lifetime(&self, kind: LifetimeKind) -> Option<&Lifetime> {
        self.exts.iter().find_map(|e| match e {
            Extension::Lifetime(k, l) if *k == kind => Some(l),
            _ => None,
        })
    }

    /// A key extension.
    pub fn key(&self, kind: KeyKind) -> Option<&KeyExt> {
        self.exts.iter().find_map(|e| match e {
            Extension::Key(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }

    /// The KM cookie: the extension, or one embedded in PROPOSAL/EPROP.
    pub fn km_cookie(&self) -> Option<super::ext::KmCookie> {
        self.exts.iter().find_map(|e| match e {
            Extension::KmCookie(k) => Some(*k),
            Extension::Proposal(p) => p.kmc,
            Extension::Eprop(p) => p.kmc,
            _ => None,
        })
    }

    /// The PAIR SPI.
    pub fn pair(&self) -> Option<u32> {
        self.exts.iter().find_map(|e| match e {
            Extension::Pair(s) => Some(*s),
            _ => None,
        })
    }

    /// A deep copy (keys copied into fresh zeroizing buffers).
    pub fn duplicate(&self) -> Self {
        Self {
            header: self.header,
            exts: self.exts.iter().map(Extension::duplicate).collect(),
        }
    }

    /// The error reply keysock sends for this request: header only, type
    /// kept (0 if out of range), errno and diagnostic set (reference §1.5).
    pub fn error_reply(header: &SadbHeader, errno: Errno, diag: SadbDiagnostic) -> Self {
        let mut h = *header;
        if h.msg_type.0 > SadbMsgType::SADB_MAX {
            h.msg_type = SadbMsgType::SADB_RESERVED;
        }
        h.errno = errno;
        h.diagnostic = diag;
        h.version = PF_KEY_V2;
        Self::new(h)
    }
}

/// Read a header from any byte slice of at least 16 bytes (the length field
/// is not checked). Used to echo seq/pid in error replies to garbage.
pub fn peek_header(bytes: &[u8]) -> Option<SadbHeader> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    let msg_type = SadbMsgType(r.u8()?);
    let errno = Errno(r.u8()?);
    let satype = SadbSaType(r.u8()?);
    r.u16le()?;
    let diagnostic = SadbDiagnostic(r.u16le()?);
    Some(SadbHeader {
        version,
        msg_type,
        errno,
        satype,
        diagnostic,
        seq: r.u32le()?,
        pid: r.u32le()?,
    })
}
