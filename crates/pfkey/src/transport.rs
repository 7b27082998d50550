//! The one seam between PF_KEY users and a backend: something that sends
//! and receives whole PF_KEY messages. The illumos kernel socket
//! ([`crate::sys::PfKeySocket`]) and the userland engine's SOCK_SEQPACKET
//! socket ([`SeqpacketTransport`]) both implement it, and [`PfKeyClient`]
//! adds request/reply matching on top.

use std::collections::VecDeque;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::build;
use crate::registry::{Errno, SadbMsgType, SadbSaType};
use crate::wire::{Alg, Extension, SadbMsg, SupportedKind, MAX_MSG_LEN};
use crate::Error;

/// A socket that speaks PF_KEY: one message per send, one per recv.
pub trait Transport {
    /// Write one complete message.
    fn send(&mut self, msg: &[u8]) -> Result<(), Error>;
    /// Read one complete message (zeroizing: replies may carry keys).
    fn recv(&mut self) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// Read one datagram-like message from a socket into a zeroizing buffer.
pub(crate) fn recv_socket(
    sock: &socket2::Socket,
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    match crate::engine::server::recv_msg(sock, buf)? {
        Some(n) => Ok(Zeroizing::new(buf.get(..n).unwrap_or(&[]).to_vec())),
        None => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "PF_KEY peer closed the socket",
        ))),
    }
}

/// A Unix `SOCK_SEQPACKET` connection to the userland engine.
pub struct SeqpacketTransport {
    sock: socket2::Socket,
    buf: Zeroizing<Vec<u8>>,
}

impl SeqpacketTransport {
    /// Wrap a connected socket; `timeout` bounds each `recv`.
    pub fn new(sock: socket2::Socket, timeout: Option<Duration>) -> Result<Self, Error> {
        sock.set_read_timeout(timeout)?;
        Ok(Self {
            sock,
            buf: Zeroizing::new(vec![0; MAX_MSG_LEN]),
        })
    }

    /// Connect to an engine listening at `path`.
    pub fn connect(path: &std::path::Path, timeout: Option<Duration>) -> Result<Self, Error> {
        Self::new(crate::engine::server::connect_path(path)?, timeout)
    }
}

impl Transport for SeqpacketTransport {
    fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.sock.send(msg)?;
        Ok(())
    }
    fn recv(&mut self) -> Result<Zeroizing<Vec<u8>>, Error> {
        recv_socket(&self.sock, &mut self.buf)
    }
}

/// Request/reply on top of a [`Transport`]: own seq numbers (bit 31 clear,
/// so they never collide with kernel ACQUIRE seqs), replies matched on
/// (seq, pid) and type; everything else is queued as a notification
/// (other processes' broadcasts, ACQUIRE, EXPIRE).
pub struct PfKeyClient<T: Transport> {
    transport: T,
    pid: u32,
    seq: u32,
    notifications: VecDeque<SadbMsg>,
    /// Give up after this many unrelated messages while awaiting a reply.
    pub max_unrelated: usize,
}

/// The algorithms a REGISTER reply advertised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supported {
    /// SUPPORTED_AUTH entries.
    pub auth: Vec<Alg>,
    /// SUPPORTED_ENCRYPT entries.
    pub encrypt: Vec<Alg>,
}

impl<T: Transport> PfKeyClient<T> {
    /// A client using `pid` in every request.
    pub fn new(transport: T, pid: u32) -> Self {
        Self {
            transport,
            pid,
            seq: 0,
            notifications: VecDeque::new(),
            max_unrelated: 1024,
        }
    }

    /// Our pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next sequence number (1..2^31).
    pub fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq % 0x7fff_ffff).saturating_add(1);
        self.seq
    }

    /// Continue numbering after `last` (e.g. to resume a sequence).
    pub fn set_last_seq(&mut self, last: u32) {
        self.seq = last & 0x7fff_ffff;
    }

    /// A queued notification, if any.
    pub fn poll_notification(&mut self) -> Option<SadbMsg> {
        self.notifications.pop_front()
    }

    /// Read one message from the transport (blocking), bypassing matching.
    pub fn recv_any(&mut self) -> Result<SadbMsg, Error> {
        if let Some(m) = self.notifications.pop_front() {
            return Ok(m);
        }
        let b = self.transport.recv()?;
        Ok(SadbMsg::parse(&b)?)
    }

    /// Send encoded bytes and wait for the reply to (`msg_type`, `seq`).
    /// A reply with errno ≠ 0 becomes [`Error::Kernel`].
    pub fn request_bytes(
        &mut self,
        bytes: &[u8],
        msg_type: SadbMsgType,
        seq: u32,
    ) -> Result<SadbMsg, Error> {
        self.transport.send(bytes)?;
        self.await_reply(msg_type, seq)
    }

    /// Encode `m` and wait for its reply.
    pub fn request(&mut self, m: &SadbMsg) -> Result<SadbMsg, Error> {
        let bytes = m.to_bytes()?;
        self.request_bytes(&bytes, m.header.msg_type, m.header.seq)
    }

    fn await_reply(&mut self, msg_type: SadbMsgType, seq: u32) -> Result<SadbMsg, Error> {
        let mut waited = 0usize;
        loop {
            let b = self.transport.recv()?;
            let m = SadbMsg::parse(&b)?;
            let is_error_reply = m.header.seq == seq
                && m.header.pid == self.pid
                && m.header.errno != Errno::OK
                && (m.header.msg_type == msg_type
                    || m.header.msg_type == SadbMsgType::SADB_RESERVED);
            if build::is_reply_to(&m.header, msg_type, seq, self.pid) || is_error_reply {
                if m.header.errno != Errno::OK {
                    return Err(Error::Kernel {
                        msg_type,
                        errno: m.header.errno,
                        diagnostic: m.header.diagnostic,
                    });
                }
                return Ok(m);
            }
            self.notifications.push_back(m);
            waited = waited.saturating_add(1);
            if waited > self.max_unrelated {
                return Err(Error::NoReply {
                    msg_type,
                    seq,
                    waited,
                });
            }
        }
    }

    /// REGISTER for `satype`; returns the advertised algorithms (§7.1).
    pub fn register(&mut self, satype: SadbSaType) -> Result<Supported, Error> {
        let seq = self.next_seq();
        let r = self.request(&build::register(satype, seq, self.pid))?;
        let mut s = Supported::default();
        for e in r.exts {
            match e {
                Extension::Supported(SupportedKind::Auth, v) => s.auth = v,
                Extension::Supported(SupportedKind::Encrypt, v) => s.encrypt = v,
                _ => {}
            }
        }
        Ok(s)
    }

    /// FLUSH all SAs of `satype` (§7.9).
    pub fn flush(&mut self, satype: SadbSaType) -> Result<(), Error> {
        let seq = self.next_seq();
        self.request(&build::flush(satype, seq, self.pid))
            .map(|_| ())
    }

    /// DUMP: every record until the seq-0 terminator (§2.3 DUMP).
    pub fn dump(&mut self, satype: SadbSaType) -> Result<Vec<SadbMsg>, Error> {
        let seq = self.next_seq();
        let bytes = build::dump(satype, seq, self.pid).to_bytes()?;
        self.transport.send(&bytes)?;
        let mut out = Vec::new();
        let mut waited = 0usize;
        loop {
            let b = self.transport.recv()?;
            let m = SadbMsg::parse(&b)?;
            let h = m.header;
            let ours = h.msg_type == SadbMsgType::SADB_DUMP && h.pid == self.pid;
            if ours && h.seq == 0 {
                if h.errno != Errno::OK {
                    return Err(Error::Kernel {
                        msg_type: SadbMsgType::SADB_DUMP,
                        errno: h.errno,
                        diagnostic: h.diagnostic,
                    });
                }
                return Ok(out);
            }
            if ours && h.seq == seq {
                if h.errno != Errno::OK {
                    return Err(Error::Kernel {
                        msg_type: SadbMsgType::SADB_DUMP,
                        errno: h.errno,
                        diagnostic: h.diagnostic,
                    });
                }
                out.push(m);
                continue;
            }
            self.notifications.push_back(m);
            waited = waited.saturating_add(1);
            if waited > self.max_unrelated {
                return Err(Error::NoReply {
                    msg_type: SadbMsgType::SADB_DUMP,
                    seq,
                    waited,
                });
            }
        }
    }

    /// DUMP, then DELETE every SA whose KM cookie proto is `ours`
    /// (reconciliation after a restart, §7.9). Returns the SPIs deleted.
    pub fn reconcile(
        &mut self,
        satype: SadbSaType,
        ours: crate::registry::SadbKmp,
    ) -> Result<Vec<u32>, Error> {
        let records = self.dump(satype)?;
        let mut deleted = Vec::new();
        for r in records {
            let mine = r.km_cookie().is_some_and(|k| k.proto == ours);
            let (Some(sa), Some(dst)) = (
                r.sa().copied(),
                r.address(crate::wire::AddressKind::Dst).cloned(),
            ) else {
                continue;
            };
            if !mine {
                continue;
            }
            let src = r.address(crate::wire::AddressKind::Src).cloned();
            let seq = self.next_seq();
            let del = build::sa_op(
                SadbMsgType::SADB_DELETE,
                r.header.satype,
                sa.spi,
                sa.flags,
                src,
                dst,
                seq,
                self.pid,
            );
            match self.request(&del) {
                Ok(_) => deleted.push(sa.spi),
                // Already gone (its pair partner's expiry, another process).
                Err(Error::Kernel {
                    errno: Errno::ESRCH,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// The transport, for callers that need the raw socket.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}
