//! `pfkey-espd`: a standalone userland IPsec gateway for tests and benches.
//!
//! It runs the key engine ([`pfkey::engine::server::Server`]), installs a
//! tunnel-mode policy over PF_POLICY and a pair of UDP-encapsulated ESP SAs
//! over PF_KEY (inbound by GETSPI + UPDATE, outbound by ADD, or, with
//! `--acquire`, only once the engine's ACQUIRE for the first packet arrives,
//! as a key manager would), and moves packets between a TUN device and
//! UDP/4500 with [`pfkey::dataplane::runner::DataPlaneRunner`].
//!
//! Standard input takes `stats` (one line of counters on stdout) and `quit`.
//! Linux only.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("pfkey-espd needs Linux TUN");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = linux::run() {
        eprintln!("pfkey-espd: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::io::BufRead as _;
    use std::net::{IpAddr, SocketAddr, UdpSocket};
    use std::time::Duration;

    use pfkey::build::{self, addr, SaSpec};
    use pfkey::dataplane::runner::DataPlaneRunner;
    use pfkey::dataplane::{DataPlane, DataPlaneConfig, Link, ServerEngine};
    use pfkey::engine::server::Server;
    use pfkey::engine::{EngineConfig, Tunnel};
    use pfkey::registry::{
        spd_rule_flag, SadbAalg, SadbEalg, SadbMsgType, SadbSaFlags, SadbSaType, SpdId, SpdMsgType,
    };
    use pfkey::transport::{PfKeyClient, SeqpacketTransport};
    use pfkey::wire::{ActionAlt, AddressExt, KeyExt, PolicyRule, SockAddr, SpdMsg, SpiRange};

    type Res<T> = Result<T, Box<dyn std::error::Error>>;

    const TUNNEL: &str = "ip.tun0";
    const NAT_T: u16 = 4500;

    struct Args(HashMap<String, String>);

    impl Args {
        fn parse() -> Res<Self> {
            let mut m = HashMap::new();
            let mut it = std::env::args().skip(1);
            while let Some(k) = it.next() {
                let k = k
                    .strip_prefix("--")
                    .ok_or_else(|| format!("unexpected argument {k}"))?
                    .to_string();
                if k == "acquire" {
                    m.insert(k, String::new());
                    continue;
                }
                let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
                m.insert(k, v);
            }
            Ok(Self(m))
        }
        fn get(&self, k: &str) -> Res<&str> {
            self.0
                .get(k)
                .map(String::as_str)
                .ok_or_else(|| format!("missing --{k}").into())
        }
        fn ip(&self, k: &str) -> Res<IpAddr> {
            Ok(self.get(k)?.parse()?)
        }
        fn net(&self, k: &str) -> Res<(IpAddr, u8)> {
            let s = self.get(k)?;
            let (a, l) = s.split_once('/').ok_or("prefix needs /len")?;
            Ok((a.parse()?, l.parse()?))
        }
        fn spi(&self, k: &str) -> Res<u32> {
            Ok(u32::from_str_radix(
                self.get(k)?.trim_start_matches("0x"),
                16,
            )?)
        }
        fn hex(&self, k: &str) -> Res<zeroize::Zeroizing<Vec<u8>>> {
            let s = self.get(k)?;
            let mut v = zeroize::Zeroizing::new(Vec::with_capacity(s.len() / 2));
            let b = s.as_bytes();
            for pair in b.chunks(2) {
                let t = std::str::from_utf8(pair)?;
                v.push(u8::from_str_radix(t, 16)?);
            }
            Ok(v)
        }
    }

    fn ext(ip: IpAddr, port: u16, proto: u8, prefixlen: u8) -> AddressExt {
        AddressExt {
            proto,
            prefixlen,
            addr: SockAddr::from_socket(SocketAddr::new(ip, port)),
        }
    }

    struct SaPlan {
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        inner_src: (IpAddr, u8),
        inner_dst: (IpAddr, u8),
        encr: zeroize::Zeroizing<Vec<u8>>,
        auth: Option<zeroize::Zeroizing<Vec<u8>>>,
        cbc: bool,
    }

    fn spec(p: &SaPlan) -> Res<SaSpec> {
        let ealg = if p.cbc {
            SadbEalg::SADB_EALG_AES
        } else {
            SadbEalg::SADB_EALG_AES_GCM_16
        };
        let mut s = SaSpec::esp(p.spi, ealg, ext(p.src, 0, 4, 0), ext(p.dst, 0, 4, 0));
        s.replay = 64;
        s.flags = SadbSaFlags(
            SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC.0
                | SadbSaFlags::SADB_X_SAFLAGS_NATT_REM.0
                | SadbSaFlags::SADB_X_SAFLAGS_TUNNEL.0,
        );
        s.inner = Some((
            ext(p.inner_src.0, 0, 0, p.inner_src.1),
            ext(p.inner_dst.0, 0, 0, p.inner_dst.1),
        ));
        // No NAT between the namespaces: the NAT-T extensions carry only
        // the UDP ports (the kernel refuses a local address there, and an
        // unspecified one is fine for tunnel-mode SAs).
        let any = IpAddr::from([0u8; 4]);
        s.natt_loc = Some(addr(SockAddr::from_socket(SocketAddr::new(any, NAT_T))));
        s.natt_rem = Some(addr(SockAddr::from_socket(SocketAddr::new(any, NAT_T))));
        s.encr_key = Some(KeyExt::from_material(&p.encr)?);
        if let Some(a) = &p.auth {
            s.auth = SadbAalg::SADB_AALG_SHA256HMAC;
            s.auth_key = Some(KeyExt::from_material(a)?);
        }
        Ok(s)
    }

    pub(crate) fn run() -> Res<()> {
        let a = Args::parse()?;
        let local = a.ip("local")?;
        let remote = a.ip("remote")?;
        let lnet = a.net("local-net")?;
        let rnet = a.net("remote-net")?;
        let cbc = match a.get("alg")? {
            "gcm128" => false,
            "cbc-sha256" => true,
            other => return Err(format!("unknown --alg {other}").into()),
        };
        let acquire_mode = a.0.contains_key("acquire");
        let inbound = SaPlan {
            spi: a.spi("spi-in")?,
            src: remote,
            dst: local,
            inner_src: rnet,
            inner_dst: lnet,
            encr: a.hex("key-in")?,
            auth: if cbc { Some(a.hex("auth-in")?) } else { None },
            cbc,
        };
        let outbound = SaPlan {
            spi: a.spi("spi-out")?,
            src: local,
            dst: remote,
            inner_src: lnet,
            inner_dst: rnet,
            encr: a.hex("key-out")?,
            auth: if cbc { Some(a.hex("auth-out")?) } else { None },
            cbc,
        };

        let server = Server::start(EngineConfig {
            local_addrs: vec![local],
            ..EngineConfig::default()
        });
        let dp_handle = server.data_plane();
        dp_handle.configure_tunnel(Tunnel {
            name: TUNNEL.into(),
            local,
            remote,
        });

        // PF_POLICY: `{tunnel ip.tun0 negotiate tunnel laddr L raddr R}
        // ipsec {encr_algs …}` in both directions.
        let pol = server.connect_policy()?;
        let encr_id = if cbc { 12 } else { 20 };
        let rule = PolicyRule {
            priority: 0x004f_ffff,
            flags: spd_rule_flag::SPD_RULE_FLAG_INBOUND
                | spd_rule_flag::SPD_RULE_FLAG_OUTBOUND
                | spd_rule_flag::SPD_RULE_FLAG_TUNNEL,
            tun_name: Some(TUNNEL.into()),
            local: Some(lnet),
            remote: Some(rnet),
            actions: vec![ActionAlt::esp(encr_id, None, cbc.then_some(5))],
            ..PolicyRule::default()
        };
        let m = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 1, 1)?;
        pol.send(&m.to_bytes()?)?;
        let mut rb = vec![0u8; 4096];
        let n = RecvExt::read_msg(&pol, &mut rb)?;
        let rep = SpdMsg::parse(rb.get(..n).ok_or("short reply")?)?;
        if rep.header.errno != pfkey::registry::Errno::OK {
            return Err(format!("SPD_ADDRULE: errno {:?}", rep.header.errno).into());
        }

        // PF_KEY: REGISTER (so ACQUIREs reach us), then the SAs.
        let pid = std::process::id();
        let t = SeqpacketTransport::new(server.connect()?, Some(Duration::from_secs(5)))?;
        let mut km = PfKeyClient::new(t, pid);
        km.register(SadbSaType::SADB_SATYPE_ESP)?;
        let seq = km.next_seq();
        let g = build::getspi(
            SadbSaType::SADB_SATYPE_ESP,
            ext(remote, 0, 0, 0),
            ext(local, 0, 0, 0),
            SpiRange {
                min: inbound.spi,
                max: inbound.spi,
            },
            seq,
            pid,
        );
        km.request(&g)?;
        let seq = km.next_seq();
        km.request_bytes(
            &build::update(spec(&inbound)?, seq, pid)?,
            SadbMsgType::SADB_UPDATE,
            seq,
        )?;
        if !acquire_mode {
            let seq = km.next_seq();
            km.request_bytes(
                &build::add(spec(&outbound)?, seq, pid)?,
                SadbMsgType::SADB_ADD,
                seq,
            )?;
        }

        let tun = pfkey::tun::Tun::open(a.get("tun")?)?;
        if let Ok(mtu) = a.get("mtu") {
            tun.set_mtu(mtu.parse()?)?;
        }
        tun.set_up()?;
        let udp = UdpSocket::bind(SocketAddr::new(local, NAT_T))?;
        let cfg = DataPlaneConfig {
            links: vec![Link {
                name: TUNNEL.into(),
                remote_nets: vec![rnet],
            }],
            icmp_source: Some(lnet.0),
            ..DataPlaneConfig::default()
        };
        let runner =
            DataPlaneRunner::start(DataPlane::new(cfg, ServerEngine::new(dp_handle)), tun, udp)?;

        if acquire_mode {
            // The key manager's half: answer the first ACQUIRE with the ADD
            // of the outbound SA, carrying the ACQUIRE's seq.
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let m = match km.recv_any() {
                        Ok(m) => m,
                        Err(pfkey::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e.to_string()),
                    };
                    if m.header.msg_type == SadbMsgType::SADB_ACQUIRE && m.header.errno.0 == 0 {
                        let seq = m.header.seq;
                        let bytes =
                            build::add(spec(&outbound).map_err(|e| e.to_string())?, seq, pid)
                                .map_err(|e| e.to_string())?;
                        km.request_bytes(&bytes, SadbMsgType::SADB_ADD, seq)
                            .map_err(|e| e.to_string())?;
                        println!("acquired seq={seq:#x}");
                        return Ok(());
                    }
                }
            });
        }

        println!("ready");
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            match line.trim() {
                "stats" => {
                    let s = runner.stats();
                    let (mut out_pk, mut out_b, mut in_pk, mut in_b, mut drops) = (0, 0, 0, 0, 0);
                    for c in runner.sa_counters() {
                        match c.direction {
                            pfkey::engine::Direction::Outbound => {
                                out_pk += c.traffic.packets;
                                out_b += c.traffic.bytes;
                            }
                            pfkey::engine::Direction::Inbound => {
                                in_pk += c.traffic.packets;
                                in_b += c.traffic.bytes;
                                drops += c.drops.total();
                            }
                        }
                    }
                    println!(
                        "stats tun={} esp_sent={} esp_received={} delivered={} acquires={} queued={} released={} sas_built={} too_big={} keepalives={} out_packets={out_pk} out_bytes={out_b} in_packets={in_pk} in_bytes={in_b} in_drops={drops}",
                        s.tun_packets, s.esp_sent, s.esp_received, s.delivered, s.acquires,
                        s.queued, s.released, s.sas_built, s.too_big, s.keepalives
                    );
                }
                "quit" => break,
                _ => println!("error unknown command"),
            }
        }
        runner.stop();
        server.stop();
        Ok(())
    }

    /// One SOCK_SEQPACKET message through `std::io::Read` (socket2's own
    /// `recv` wants uninitialised buffers).
    trait RecvExt {
        fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    }
    impl RecvExt for socket2::Socket {
        fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            use std::io::Read as _;
            let mut s = self;
            s.read(buf)
        }
    }
}
