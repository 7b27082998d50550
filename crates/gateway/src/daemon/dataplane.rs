//! The userland ESP data plane (backend `userland`, Linux, `ikegw run
//! --tun NAME`): packets from a TUN device are protected with
//! [`OutboundSa`] and sent as ESP-in-UDP (RFC 3948) from the NAT-T socket;
//! ESP arriving on that socket is opened by an [`InboundTable`] and written
//! to the TUN device.
//!
//! It is fed from the key engine's SADB, not from the IKE core: it is one
//! more PF_KEY client of the engine (promiscuous, so it sees every ADD and
//! DELETE), and fetches each new SA's keys with SADB_GET, the way a kernel
//! data plane reads its own SADB. The core and the data plane share
//! nothing but that message stream (STYLE §7).
//!
//! Without a raw ESP socket here, ESP always travels in UDP: configure
//! `encap = true` on connections that use this data plane (strongSwan's
//! kernel-libipsec does the same). Routes for the remote selectors are
//! added on the TUN device with `ip route` as outbound SAs appear.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use pfkey::esp::{
    EncryptionAlgorithm, EspKey, InboundSa, InboundTable, IntegrityAlgorithm, Mode, NatT,
    OutboundSa, Payload, SaParams, Spi,
};
use pfkey::registry::{
    Errno, SadbAalg, SadbEalg, SadbMsgType, SadbSaFlags, SadbSaState, SadbSaType,
};
use pfkey::wire::{AddressKind, KeyKind, SadbHeader, SadbMsg, MAX_MSG_LEN};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::kernel::MsgSocket;
use super::net::Sockets;

/// Room for one inner packet plus ESP/UDP overhead.
const BUF_LEN: usize = 65_535;

/// One ESP datagram received on the NAT-T socket.
pub(crate) struct EspIn {
    pub(crate) packet: Vec<u8>,
    pub(crate) from: SocketAddr,
}

/// Bytes and packets per SPI, read by `list-sas`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_spi: Mutex<HashMap<u32, (u64, u64)>>,
}

impl Counters {
    fn add(&self, spi: u32, bytes: usize) {
        if let Ok(mut m) = self.by_spi.lock() {
            let e = m.entry(spi).or_insert((0, 0));
            e.0 = e.0.saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
            e.1 = e.1.saturating_add(1);
        }
    }

    /// (bytes, packets) through the SA with this SPI.
    pub(crate) fn get(&self, spi: u32) -> (u64, u64) {
        self.by_spi
            .lock()
            .ok()
            .and_then(|m| m.get(&spi).copied())
            .unwrap_or((0, 0))
    }
}

struct Out {
    sa: OutboundSa,
    local_net: (IpAddr, u8),
    remote_net: (IpAddr, u8),
}

fn in_net(ip: IpAddr, net: (IpAddr, u8)) -> bool {
    match (ip, net.0) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = u32::from(net.1.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(net.1.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Source and destination of an IP packet (RFC 791 §3.1, RFC 8200 §3).
fn ip_addrs(p: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match p.first()? >> 4 {
        4 => {
            let s: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        6 => {
            let s: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        _ => None,
    }
}

/// An address prefix: (network, length).
type Net = (IpAddr, u8);

/// What an SADB_GET reply tells the data plane: ESP parameters, whether
/// the SA is outbound, and its inner (source, destination) selectors.
type Learned = (SaParams, bool, Option<(Net, Net)>);

/// Builds the ESP parameters of one SA from an SADB_GET reply.
fn params(m: &SadbMsg) -> Result<Learned, String> {
    let sa = m.sa().ok_or("GET reply without SA extension")?;
    let src = m
        .address(AddressKind::Src)
        .and_then(|a| a.addr.ip())
        .ok_or("GET reply without source")?;
    let dst = m
        .address(AddressKind::Dst)
        .and_then(|a| a.addr.ip())
        .ok_or("GET reply without destination")?;
    let outbound = sa.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND);
    let ekey = m
        .key(KeyKind::Encrypt)
        .ok_or("GET reply without encryption key")?;
    // Output convention: bits = key only, reserved = salt bits.
    let key_bits = usize::from(ekey.bits);
    let total = key_bits
        .checked_add(usize::from(ekey.reserved))
        .ok_or("key length")?
        .div_ceil(8);
    let material = ekey.secret_bytes().get(..total).ok_or("short key")?;
    let encryption = match (sa.encrypt, key_bits) {
        (SadbEalg::SADB_EALG_AES_GCM_16, 128) => EncryptionAlgorithm::AesGcm16_128,
        (SadbEalg::SADB_EALG_AES_GCM_16, 256) => EncryptionAlgorithm::AesGcm16_256,
        (SadbEalg::SADB_EALG_AES, 128) => EncryptionAlgorithm::AesCbc128,
        (SadbEalg::SADB_EALG_AES, 256) => EncryptionAlgorithm::AesCbc256,
        (e, b) => return Err(format!("the userland data plane has no {e}/{b} bits")),
    };
    let integrity = match sa.auth {
        SadbAalg::SADB_AALG_NONE => None,
        a => {
            let alg = match a {
                SadbAalg::SADB_AALG_SHA1HMAC => IntegrityAlgorithm::HmacSha1_96,
                SadbAalg::SADB_AALG_SHA256HMAC => IntegrityAlgorithm::HmacSha256_128,
                SadbAalg::SADB_AALG_SHA384HMAC => IntegrityAlgorithm::HmacSha384_192,
                SadbAalg::SADB_AALG_SHA512HMAC => IntegrityAlgorithm::HmacSha512_256,
                other => return Err(format!("the userland data plane has no {other}")),
            };
            let k = m.key(KeyKind::Auth).ok_or("GET reply without auth key")?;
            Some((alg, EspKey::from_slice(k.material())))
        }
    };
    let port = |k: AddressKind| m.address(k).map(|a| a.addr.port());
    let nat_t = match (port(AddressKind::NattLoc), port(AddressKind::NattRem)) {
        (Some(l), Some(r)) => Some(NatT {
            local_port: l,
            remote_port: r,
        }),
        _ => None,
    };
    let (local, remote) = if outbound { (src, dst) } else { (dst, src) };
    let tunnel = sa.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL);
    let inner = match (
        m.address(AddressKind::InnerSrc),
        m.address(AddressKind::InnerDst),
    ) {
        (Some(s), Some(d)) => match (s.addr.ip(), d.addr.ip()) {
            (Some(si), Some(di)) => Some(((si, s.prefixlen), (di, d.prefixlen))),
            _ => None,
        },
        _ => None,
    };
    Ok((
        SaParams {
            spi: Spi(sa.spi),
            encryption,
            encryption_key: EspKey::new(Zeroizing::new(material.to_vec())),
            integrity,
            mode: if tunnel {
                Mode::Tunnel
            } else {
                Mode::Transport
            },
            local,
            remote,
            nat_t,
            replay_window: u32::from(sa.replay),
            esn: false,
        },
        outbound,
        inner,
    ))
}

/// The running data plane.
pub(crate) struct DataPlane {
    pfkey: Arc<MsgSocket>,
    socks: Arc<Sockets>,
    tun: Arc<pfkey::tun::Tun>,
    counters: Arc<Counters>,
    outbound: BTreeMap<u32, Out>,
    inbound: InboundTable,
    pid: u32,
    seq: u32,
    rng: ring::rand::SystemRandom,
    natt_port: u16,
}

impl DataPlane {
    /// Opens the TUN device `tun_name` and subscribes to the engine.
    pub(crate) fn new(
        pfkey: MsgSocket,
        socks: Arc<Sockets>,
        tun_name: &str,
        natt_port: u16,
        counters: Arc<Counters>,
    ) -> std::io::Result<Self> {
        let tun = pfkey::tun::Tun::open(tun_name)?;
        tun.set_mtu(1400)?;
        tun.set_up()?;
        info!("data plane on TUN {}", tun.name());
        Ok(Self {
            pfkey: Arc::new(pfkey),
            socks,
            tun: Arc::new(tun),
            counters,
            outbound: BTreeMap::new(),
            inbound: InboundTable::new(),
            // Not our process id: the driver's PF_KEY client uses that, and
            // replies are matched on (seq, pid).
            pid: std::process::id() | 0x4000_0000,
            seq: 0,
            rng: ring::rand::SystemRandom::new(),
            natt_port,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq % 0x7fff_ffff).saturating_add(1);
        self.seq
    }

    /// Runs until `shutdown` turns true.
    pub(crate) async fn run(
        mut self,
        mut esp_rx: mpsc::Receiver<EspIn>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let seq = self.next_seq();
        let promisc = SadbMsg::new(SadbHeader::new(
            SadbMsgType::SADB_X_PROMISC,
            SadbSaType(1),
            seq,
            self.pid,
        ));
        match promisc.to_bytes() {
            Ok(b) => {
                if let Err(e) = self.pfkey.send(&b).await {
                    warn!("data plane: PF_KEY: {e}");
                    return;
                }
            }
            Err(e) => {
                warn!("data plane: {e}");
                return;
            }
        }
        // TUN reads block: a thread feeds them in.
        let (tun_tx, mut tun_rx) = mpsc::channel::<Vec<u8>>(256);
        let tun = self.tun.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; BUF_LEN];
            while let Ok(n) = tun.recv(&mut buf) {
                let p = buf.get(..n).unwrap_or(&[]).to_vec();
                if tun_tx.blocking_send(p).is_err() {
                    return;
                }
            }
        });
        let pf = self.pfkey.clone();
        let mut kbuf = Zeroizing::new(vec![0u8; MAX_MSG_LEN]);
        let mut out = vec![0u8; BUF_LEN];
        loop {
            tokio::select! {
                r = pf.recv(&mut kbuf) => match r {
                    Ok(n) => {
                        let m = kbuf.get(..n).map(SadbMsg::parse);
                        if let Some(Ok(m)) = m {
                            self.on_pfkey(m).await;
                        }
                    }
                    Err(e) => {
                        warn!("data plane: PF_KEY: {e}");
                        break;
                    }
                },
                Some(p) = tun_rx.recv() => self.outbound_packet(&p, &mut out).await,
                Some(e) = esp_rx.recv() => self.inbound_packet(&e, &mut out),
                _ = shutdown.changed() => break,
            }
        }
        for o in self.outbound.values() {
            route(false, o.remote_net, self.tun.name());
        }
    }

    async fn on_pfkey(&mut self, m: SadbMsg) {
        let h = m.header;
        let spi = m.sa().map(|s| s.spi);
        match h.msg_type {
            SadbMsgType::SADB_ADD | SadbMsgType::SADB_UPDATE if h.errno == Errno::OK => {
                let (Some(sa), Some(dst)) = (m.sa().copied(), m.address(AddressKind::Dst)) else {
                    return;
                };
                if sa.state != SadbSaState::SADB_SASTATE_MATURE {
                    return;
                }
                let seq = self.next_seq();
                let get = pfkey::build::sa_op(
                    SadbMsgType::SADB_GET,
                    SadbSaType::SADB_SATYPE_ESP,
                    sa.spi,
                    sa.flags,
                    m.address(AddressKind::Src).cloned(),
                    dst.clone(),
                    seq,
                    self.pid,
                );
                if let Ok(b) = get.to_bytes() {
                    if let Err(e) = self.pfkey.send(&b).await {
                        warn!("data plane: GET {:08x}: {e}", sa.spi);
                    }
                }
            }
            SadbMsgType::SADB_GET if h.pid == self.pid => {
                if h.errno != Errno::OK {
                    warn!("data plane: GET failed: {}", h.errno);
                    return;
                }
                self.learn(&m);
            }
            SadbMsgType::SADB_DELETE if h.errno == Errno::OK => {
                if let Some(spi) = spi {
                    self.forget(spi);
                }
            }
            SadbMsgType::SADB_EXPIRE if m.lifetime(pfkey::wire::LifetimeKind::Hard).is_some() => {
                if let Some(spi) = spi {
                    self.forget(spi);
                }
            }
            _ => {}
        }
    }

    fn learn(&mut self, m: &SadbMsg) {
        let (p, outbound, inner) = match params(m) {
            Ok(x) => x,
            Err(e) => {
                warn!("data plane cannot use an SA: {e}");
                return;
            }
        };
        let spi = p.spi.0;
        if outbound {
            let Some((local_net, remote_net)) = inner else {
                warn!("data plane: outbound SA {spi:08x} has no inner selectors; not used");
                return;
            };
            let mut p = p;
            if p.nat_t.is_none() {
                // No raw ESP socket: encapsulate anyway (module doc).
                p.nat_t = Some(NatT {
                    local_port: self.natt_port,
                    remote_port: self.natt_port,
                });
            }
            match OutboundSa::new(p, &self.rng) {
                Ok(sa) => {
                    route(true, remote_net, self.tun.name());
                    info!(
                        "data plane: outbound SA {spi:08x} for {}/{} -> {}/{}",
                        local_net.0, local_net.1, remote_net.0, remote_net.1
                    );
                    self.outbound.insert(
                        spi,
                        Out {
                            sa,
                            local_net,
                            remote_net,
                        },
                    );
                }
                Err(e) => warn!("data plane: outbound SA {spi:08x}: {e}"),
            }
        } else {
            match InboundSa::new(p) {
                Ok(sa) => {
                    info!("data plane: inbound SA {spi:08x}");
                    self.inbound.insert(sa);
                }
                Err(e) => warn!("data plane: inbound SA {spi:08x}: {e}"),
            }
        }
    }

    fn forget(&mut self, spi: u32) {
        if let Some(o) = self.outbound.remove(&spi) {
            // Another SA may still cover the same net (rekey overlap).
            if !self.outbound.values().any(|x| x.remote_net == o.remote_net) {
                route(false, o.remote_net, self.tun.name());
            }
            debug!("data plane: outbound SA {spi:08x} removed");
        }
        if self.inbound.remove(Spi(spi)).is_some() {
            debug!("data plane: inbound SA {spi:08x} removed");
        }
    }

    async fn outbound_packet(&mut self, p: &[u8], out: &mut [u8]) {
        let Some((src, dst)) = ip_addrs(p) else {
            return;
        };
        // Newest SA first: after a rekey the successor has the larger key
        // in insertion order only by chance, so pick any that matches.
        let Some((spi, o)) = self
            .outbound
            .iter_mut()
            .rev()
            .find(|(_, o)| in_net(dst, o.remote_net) && in_net(src, o.local_net))
        else {
            return;
        };
        let spi = *spi;
        let to = o.sa.remote_endpoint();
        let local = o.sa.local();
        let len = match o.sa.encapsulate(p, out) {
            Ok(b) => b.len(),
            Err(e) => {
                debug!("data plane: encapsulate: {e}");
                return;
            }
        };
        let Some(to) = to else { return };
        let Some(sock) = self.socks.natt_for(local) else {
            return;
        };
        if let Some(bytes) = out.get(..len) {
            match sock.send(bytes, to, local).await {
                Ok(()) => self.counters.add(spi, p.len()),
                Err(e) => debug!("data plane: send to {to}: {e}"),
            }
        }
    }

    fn inbound_packet(&mut self, e: &EspIn, out: &mut [u8]) {
        match self.inbound.decapsulate(Some(e.from), &e.packet, out) {
            Ok((spi, d)) => {
                let pkt: &[u8] = match d.payload {
                    Payload::Ipv4(b) | Payload::Ipv6(b) => b,
                    Payload::Dummy => return,
                };
                self.counters.add(spi.0, pkt.len());
                if let Err(err) = self.tun.send(pkt) {
                    debug!("data plane: TUN write: {err}");
                }
            }
            Err(err) => debug!(from = %e.from, "data plane: ESP dropped: {err}"),
        }
    }
}

/// `ip route replace|del NET dev TUN`.
fn route(add: bool, net: (IpAddr, u8), dev: &str) {
    let verb = if add { "replace" } else { "del" };
    let cidr = format!("{}/{}", net.0, net.1);
    match std::process::Command::new("ip")
        .args(["route", verb, &cidr, "dev", dev])
        .status()
    {
        Ok(s) if s.success() => info!("route {verb} {cidr} dev {dev}"),
        Ok(s) => warn!("ip route {verb} {cidr} dev {dev} failed ({s})"),
        Err(e) => warn!("cannot run ip route: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_addresses_of_their_family_only() {
        let net = ("10.1.0.0".parse().unwrap(), 16);
        assert!(in_net("10.1.200.3".parse().unwrap(), net));
        assert!(!in_net("10.2.0.1".parse().unwrap(), net));
        assert!(!in_net("::1".parse().unwrap(), net));
        assert!(in_net(
            "1.2.3.4".parse().unwrap(),
            ("0.0.0.0".parse().unwrap(), 0)
        ));
        assert!(in_net(
            "2001:db8::5".parse().unwrap(),
            ("2001:db8::".parse().unwrap(), 32)
        ));
    }

    #[test]
    fn ip_header_addresses_are_read_and_junk_is_refused() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 1, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 2, 0, 1]);
        assert_eq!(
            ip_addrs(&v4),
            Some(("10.1.0.1".parse().unwrap(), "10.2.0.1".parse().unwrap()))
        );
        assert_eq!(ip_addrs(&v4[..10]), None);
        assert_eq!(ip_addrs(&[0x55; 40]), None);
        assert_eq!(ip_addrs(&[]), None);
    }
}
