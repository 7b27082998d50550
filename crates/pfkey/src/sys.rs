//! The illumos kernel backend: PF_KEY and PF_POLICY sockets.
//!
//! The numbers are illumos's own (sys/socket.h, pfkeyv2.h, pfpolicy.h) and
//! are used literally, so this module compiles and its logic is tested on
//! every OS; only *opening* a socket is refused off illumos, before any
//! system call, because the same numbers mean something else elsewhere
//! (27 is AF_NFC on Linux). socket2 provides every call needed, so there is
//! no `unsafe` here.

use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use zeroize::Zeroizing;

use crate::transport::{recv_socket, Transport};
use crate::wire::MAX_MSG_LEN;
use crate::Error;

/// illumos `PF_KEY` / `AF_KEY`.
pub const PF_KEY: i32 = 27;
/// illumos `PF_POLICY` / `AF_POLICY`.
pub const PF_POLICY: i32 = 29;
/// illumos `SOCK_RAW` (Linux: 3).
pub const SOCK_RAW: i32 = 4;
/// `PF_KEY_V2`, the protocol argument.
pub const PF_KEY_V2: i32 = 2;
/// `PF_POLICY_V1`, the protocol argument.
pub const PF_POLICY_V1: i32 = 1;
/// `keysock_max_buf`: the largest SO_RCVBUF keysock accepts (§1.1).
pub const KEYSOCK_MAX_BUF: usize = 262_144;

/// True when built for illumos (runtime check; the code is compiled
/// everywhere).
pub const fn on_illumos() -> bool {
    cfg!(target_os = "illumos") || cfg!(target_os = "solaris")
}

/// The (domain, type, protocol) triple for `socket(2)`.
pub fn pfkey_socket_args() -> (i32, i32, i32) {
    (PF_KEY, SOCK_RAW, PF_KEY_V2)
}

/// The (domain, type, protocol) triple for PF_POLICY.
pub fn pfpolicy_socket_args() -> (i32, i32, i32) {
    (PF_POLICY, SOCK_RAW, PF_POLICY_V1)
}

fn open(args: (i32, i32, i32), what: &'static str) -> Result<Socket, Error> {
    if !on_illumos() {
        return Err(Error::Unsupported(what));
    }
    let s = Socket::new(
        Domain::from(args.0),
        Type::from(args.1),
        Some(Protocol::from(args.2)),
    )?;
    s.set_cloexec(true)?;
    Ok(s)
}

/// An illumos PF_KEY socket (`socket(27, 4, 2)`).
pub struct PfKeySocket {
    sock: Socket,
    buf: Zeroizing<Vec<u8>>,
}

impl PfKeySocket {
    /// Open the socket and raise SO_RCVBUF to `keysock_max_buf`: broadcasts
    /// that do not fit a full receive queue are silently dropped (§1.1).
    pub fn open(timeout: Option<Duration>) -> Result<Self, Error> {
        let sock = open(
            pfkey_socket_args(),
            "PF_KEY (socket(27, SOCK_RAW=4, PF_KEY_V2)) exists only on illumos; use the userland engine elsewhere",
        )?;
        sock.set_recv_buffer_size(KEYSOCK_MAX_BUF)?;
        sock.set_read_timeout(timeout)?;
        Ok(Self {
            sock,
            buf: Zeroizing::new(vec![0; MAX_MSG_LEN]),
        })
    }
}

impl Transport for PfKeySocket {
    fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        // One complete message per write: keysock answers EMSGSIZE to a
        // short write and never reassembles.
        let n = self.sock.send(msg)?;
        if n != msg.len() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "short write on PF_KEY socket",
            )));
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<Zeroizing<Vec<u8>>, Error> {
        recv_socket(&self.sock, &mut self.buf)
    }
}

/// An illumos PF_POLICY socket (`socket(29, 4, 1)`); replies go only to
/// the sender, so no matching beyond seq is needed.
pub struct PfPolicySocket {
    sock: Socket,
    buf: Zeroizing<Vec<u8>>,
}

impl PfPolicySocket {
    /// Open the socket.
    pub fn open(timeout: Option<Duration>) -> Result<Self, Error> {
        let sock = open(
            pfpolicy_socket_args(),
            "PF_POLICY (socket(29, SOCK_RAW=4, PF_POLICY_V1)) exists only on illumos",
        )?;
        sock.set_read_timeout(timeout)?;
        Ok(Self {
            sock,
            buf: Zeroizing::new(vec![0; MAX_MSG_LEN]),
        })
    }

    /// Wrap an already-connected socket (e.g. the engine's policy socket).
    pub fn from_socket(sock: Socket, timeout: Option<Duration>) -> Result<Self, Error> {
        sock.set_read_timeout(timeout)?;
        Ok(Self {
            sock,
            buf: Zeroizing::new(vec![0; MAX_MSG_LEN]),
        })
    }

    /// Send a PF_POLICY message and collect replies until one with our
    /// seq arrives (for DUMP: until the trailer RULESET record).
    pub fn request(&mut self, m: &crate::wire::SpdMsg) -> Result<Vec<crate::wire::SpdMsg>, Error> {
        use crate::registry::{SpdExtType, SpdMsgType};
        let bytes = m.to_bytes()?;
        self.sock.send(&bytes)?;
        let mut out = Vec::new();
        loop {
            let b = recv_socket(&self.sock, &mut self.buf)?;
            let r = crate::wire::SpdMsg::parse(&b)?;
            if r.header.seq != m.header.seq {
                continue;
            }
            if r.header.errno.0 != 0 {
                return Err(Error::Policy {
                    msg_type: m.header.msg_type,
                    errno: r.header.errno,
                    diagnostic: r.header.diagnostic,
                });
            }
            let is_dump = m.header.msg_type == SpdMsgType::SPD_DUMP;
            let ruleset = r.ext(SpdExtType::SPD_EXT_RULESET).is_some();
            out.push(r);
            // DUMP: header RULESET, records, trailer RULESET.
            if !is_dump || (ruleset && out.len() > 1) {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_numbers_are_illumos_ones() {
        assert_eq!(pfkey_socket_args(), (27, 4, 2));
        assert_eq!(pfpolicy_socket_args(), (29, 4, 1));
    }

    #[test]
    fn opening_off_illumos_fails_clearly() {
        if on_illumos() {
            return;
        }
        let Err(e) = PfKeySocket::open(None) else {
            panic!("PF_KEY must not open off illumos")
        };
        assert!(e.to_string().contains("only on illumos"), "{e}");
        assert!(PfPolicySocket::open(None).is_err());
    }
}
