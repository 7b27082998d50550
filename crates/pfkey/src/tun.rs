//! Linux TUN device: the data plane's door to the local IP stack.
//!
//! Layer: a thin, blocking (or non-blocking on request) file wrapper; it
//! reads and writes whole IP packets with no packet-information prefix
//! (`IFF_NO_PI`), so what [`Tun::recv`] yields goes straight to
//! [`crate::esp::OutboundSa::encapsulate`]. Addresses and routes are the
//! caller's business (`ip addr`, netlink); MTU and the up flag can be set
//! here. The device lives as long as the `Tun` (non-persistent).
//!
//! This is one of the few modules allowed `unsafe` (STYLE §9): the
//! `ioctl`s and `fcntl`s below, each with its SAFETY argument.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Clone device of the TUN/TAP driver (Linux `Documentation/networking/tuntap.rst`).
const CLONE_DEVICE: &str = "/dev/net/tun";

/// An open TUN interface.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

/// An `ifreq` with `name` copied in; fails for names that do not fit
/// `IFNAMSIZ` with its terminating NUL or contain NUL.
fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be under 16 bytes without NUL",
        ));
    }
    // SAFETY: `ifreq` is a plain C struct (a name array and a union of
    // integers, sockaddrs and pointers); all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    Ok(req)
}

fn name_of(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .map(|c| c.to_ne_bytes()[0])
        .take_while(|b| *b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A throwaway datagram socket: interface ioctls need some socket in the
/// same network namespace.
fn control_socket() -> io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
}

impl Tun {
    /// Creates (or attaches to) the TUN interface `name`; an empty name lets
    /// the kernel pick `tunN`. Needs CAP_NET_ADMIN. The interface is
    /// created in the network namespace of the calling thread.
    pub fn open(name: &str) -> io::Result<Self> {
        let mut req = ifreq_for(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(CLONE_DEVICE)?;
        // IFF_TUN | IFF_NO_PI fits a c_short (0x1001).
        let flags = libc::c_short::try_from(libc::IFF_TUN | libc::IFF_NO_PI)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        req.ifr_ifru.ifru_flags = flags;
        // SAFETY: the fd is open for the duration of the call, and
        // TUNSETIFF reads and writes exactly one `ifreq`, which `req` is and
        // which outlives the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            file,
            name: name_of(&req),
        })
    }

    /// The interface name the kernel gave.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one IP packet; `buf` should hold the MTU. A short `buf`
    /// truncates the packet (the driver's behaviour).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one IP packet (IPv4 or IPv6, no prefix) into the stack.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }

    /// Switches `O_NONBLOCK`, for use with poll/epoll or tokio's `AsyncFd`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: F_GETFL on an open fd takes no pointer argument.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: F_SETFL on an open fd with an integer argument.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for a packet to read (poll(2) on the fd);
    /// `Ok(false)` on timeout. With [`Self::set_nonblocking`] this lets a
    /// plain thread notice a stop request without tokio.
    pub fn wait_readable(&self, timeout: std::time::Duration) -> io::Result<bool> {
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid `pollfd` that outlives the call, count 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        match rc {
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// Sets the interface MTU (SIOCSIFMTU). Use the inner MTU of the SA
    /// ([`crate::esp::mtu::inner_mtu`]) so the stack sizes packets right.
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let mut req = ifreq_for(&self.name)?;
        req.ifr_ifru.ifru_mtu =
            libc::c_int::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let sock = control_socket()?;
        // SAFETY: valid socket fd; SIOCSIFMTU reads one `ifreq`, alive for
        // the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads the interface MTU (SIOCGIFMTU).
    pub fn mtu(&self) -> io::Result<u32> {
        let mut req = ifreq_for(&self.name)?;
        let sock = control_socket()?;
        // SAFETY: valid socket fd; SIOCGIFMTU writes into the `ifreq` we
        // own for the duration of the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: after SIOCGIFMTU the kernel has set the `ifru_mtu` member;
        // every bit pattern is a valid c_int.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        u32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// Sets IFF_UP (SIOCGIFFLAGS then SIOCSIFFLAGS), keeping other flags.
    pub fn set_up(&self) -> io::Result<()> {
        let mut req = ifreq_for(&self.name)?;
        let sock = control_socket()?;
        // SAFETY: valid socket fd; SIOCGIFFLAGS writes the flags into our
        // `ifreq`.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let up = libc::c_short::try_from(libc::IFF_UP)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: SIOCGIFFLAGS filled `ifru_flags`; any c_short is valid.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | up;
        // SAFETY: valid socket fd; SIOCSIFFLAGS reads our `ifreq`.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_do_not_fit() {
        assert!(ifreq_for("0123456789abcdef").is_err());
        assert!(ifreq_for("a\0b").is_err());
        let r = ifreq_for("esp0").unwrap();
        assert_eq!(name_of(&r), "esp0");
    }
}
