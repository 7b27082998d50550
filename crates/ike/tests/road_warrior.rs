//! Road warriors against one gateway (RFC 7296 §2.19): configuration
//! payloads in IKE_AUTH, virtual IPs leased from an address provider,
//! selectors narrowed to them, INTERNAL_ADDRESS_FAILURE and
//! FAILED_CP_REQUIRED. A small lossless network of several `Endpoint`s on
//! a virtual clock, with seeded randomness; `pair.rs` covers lossy links.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ike::crypto::{ring_provider, HmacDrbg, SecretBytes};
use ike::io::{ChildSaInstall, Command, Event, IkeSaId, KernelRequest, Lifetimes, Mode, Path};
use ike::policy::proposal::parse_list;
use ike::policy::ts::{host, parse_ts};
use ike::sa::{
    AddressError, AddressProvider, ChildConfig, Endpoint, EndpointConfig, PeerAuth, PeerConfig,
    RemoteAccess,
};
use ike::wire::{Id, IdType, ProtocolId, TrafficSelector};

const GW_IP: &str = "198.51.100.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fqdn(s: &str) -> Id {
    Id {
        id_type: IdType::ID_FQDN,
        data: s.as_bytes().to_vec(),
    }
}

fn ts(s: &str) -> Vec<TrafficSelector> {
    s.split(',').map(|t| parse_ts(t).unwrap()).collect()
}

/// What the test pool did, for the assertions.
#[derive(Default)]
struct PoolLog {
    /// identity → address, sticky (the gateway pool's behaviour).
    leases: HashMap<String, IpAddr>,
    online: Vec<IpAddr>,
    released: Vec<(String, IpAddr)>,
}

/// An IPv4 pool keyed by identity: an identity gets its old address back;
/// leases are never taken from their owner, so a full pool is exhausted.
struct TestPool {
    name: &'static str,
    first: Ipv4Addr,
    size: u32,
    log: Arc<Mutex<PoolLog>>,
}

impl AddressProvider for TestPool {
    fn acquire(
        &mut self,
        identity: &str,
        pools: &[String],
        requested: IpAddr,
    ) -> Result<IpAddr, AddressError> {
        if !pools.iter().any(|p| p == self.name) {
            return Err(AddressError::NoPool(pools.join(",")));
        }
        if requested.is_ipv6() {
            return Err(AddressError::NoPool(format!("{} has no IPv6", self.name)));
        }
        let mut log = self.log.lock().unwrap();
        let addr = match log.leases.get(identity) {
            Some(a) => *a,
            None => {
                let free = (0..self.size)
                    .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(self.first) + i)))
                    .find(|a| !log.leases.values().any(|x| x == a));
                let Some(a) = free else {
                    return Err(AddressError::Exhausted(format!(
                        "{}: all {} addresses in use",
                        self.name, self.size
                    )));
                };
                log.leases.insert(identity.to_owned(), a);
                a
            }
        };
        log.online.push(addr);
        Ok(addr)
    }

    fn release(&mut self, identity: &str, addr: IpAddr) {
        let mut log = self.log.lock().unwrap();
        log.online.retain(|a| *a != addr);
        log.released.push((identity.to_owned(), addr));
    }
}

fn lifetimes() -> Lifetimes {
    Lifetimes {
        soft: Some(Duration::from_secs(3000)),
        hard: Some(Duration::from_secs(3600)),
    }
}

fn gateway_config(pools: &[&str]) -> PeerConfig {
    PeerConfig {
        eap_client: None,
        name: "rw".into(),
        local: format!("{GW_IP}:500").parse().unwrap(),
        remote: "0.0.0.0:500".parse().unwrap(),
        local_id: fqdn("gw.example"),
        remote_id: None,
        psk: Some(SecretBytes::from_slice(b"road warrior secret")),
        signer: None,
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth: PeerAuth::Psk,
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: vec![ChildConfig {
            name: "net".into(),
            esp_proposals: parse_list(ProtocolId::ESP, "aes256gcm16").unwrap(),
            local_ts: ts("10.2.0.0/16"),
            remote_ts: ts("0.0.0.0/0"),
            mode: Mode::Tunnel,
            lifetimes: lifetimes(),
        }],
        force_encap: false,
        dpd_delay: None,
        ike_rekey_time: None,
        remote_access: RemoteAccess {
            vips: Vec::new(),
            pools: pools.iter().map(|p| (*p).to_owned()).collect(),
            dns: vec![ip("10.2.0.53"), ip("2001:db8::53")],
            subnets: vec![(ip("10.2.0.0"), 16)],
            dns_domains: vec!["corp.example".into()],
        },
        credentials: None,
    }
}

fn client_config(addr: &str, id: &str, vips: &[&str]) -> PeerConfig {
    PeerConfig {
        eap_client: None,
        name: id.into(),
        local: format!("{addr}:500").parse().unwrap(),
        remote: format!("{GW_IP}:500").parse().unwrap(),
        local_id: fqdn(id),
        remote_id: Some(fqdn("gw.example")),
        psk: Some(SecretBytes::from_slice(b"road warrior secret")),
        signer: None,
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth: PeerAuth::Psk,
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: vec![ChildConfig {
            name: "net".into(),
            esp_proposals: parse_list(ProtocolId::ESP, "aes256gcm16").unwrap(),
            // Without a virtual IP the client would propose its own address.
            local_ts: vec![host(ip(addr))],
            remote_ts: ts("10.2.0.0/16"),
            mode: Mode::Tunnel,
            lifetimes: lifetimes(),
        }],
        force_encap: false,
        dpd_delay: None,
        ike_rekey_time: None,
        remote_access: RemoteAccess {
            vips: vips.iter().map(|v| ip(v)).collect(),
            ..RemoteAccess::default()
        },
        credentials: None,
    }
}

struct Node {
    addr: IpAddr,
    ep: Endpoint,
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
}

impl Node {
    fn installs(&self) -> Vec<&ChildSaInstall> {
        self.kernel
            .iter()
            .filter_map(|k| match k {
                KernelRequest::Install(i) => Some(&**i),
                KernelRequest::Delete { .. } => None,
            })
            .collect()
    }

    fn vip_events(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::VirtualIp { .. }))
            .collect()
    }

    fn child_failed(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildFailed { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect()
    }

    fn ended(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { reason, .. } | Event::Deleted { reason, .. } => {
                    Some(reason.as_str())
                }
                _ => None,
            })
            .collect()
    }

    fn established(&self) -> Vec<IkeSaId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Established { ike_sa, .. } => Some(*ike_sa),
                _ => None,
            })
            .collect()
    }
}

/// Node 0 is the gateway; the others are clients.
struct Net {
    nodes: Vec<Node>,
    now: Instant,
    seed: u64,
}

impl Net {
    fn new(gw: PeerConfig, provider: Option<Box<dyn AddressProvider>>) -> Self {
        let mut cfg = EndpointConfig::new(vec![Arc::new(gw)], ring_provider());
        cfg.address_provider = provider;
        Self::with_gateway(cfg)
    }

    fn with_gateway(cfg: EndpointConfig) -> Self {
        let now = Instant::now();
        let mut net = Self {
            nodes: Vec::new(),
            now,
            seed: 7,
        };
        net.add(ip(GW_IP), cfg);
        net
    }

    fn add(&mut self, addr: IpAddr, cfg: EndpointConfig) -> usize {
        self.seed += 1;
        let ep = Endpoint::new(cfg, Box::new(HmacDrbg::from_u64(self.seed)), self.now).unwrap();
        self.nodes.push(Node {
            addr,
            ep,
            events: Vec::new(),
            kernel: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn add_client(&mut self, cfg: PeerConfig) -> usize {
        self.add_client_with(cfg, false)
    }

    /// A client whose endpoint carries one family per CHILD_SA, or not.
    fn add_client_with(&mut self, cfg: PeerConfig, one_family: bool) -> usize {
        let addr = cfg.local.ip();
        let mut ep = EndpointConfig::new(vec![Arc::new(cfg)], ring_provider());
        ep.one_family_per_child = one_family;
        self.add(addr, ep)
    }

    /// Delivers datagrams until the network is quiet (no loss, no delay).
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = Vec::new();
            for n in &mut self.nodes {
                while let Some(k) = n.ep.poll_kernel() {
                    n.kernel.push(k);
                }
                while let Some(e) = n.ep.poll_event() {
                    n.events.push(e);
                }
                while let Some(t) = n.ep.poll_transmit() {
                    moved.push(t);
                }
            }
            if moved.is_empty() {
                return;
            }
            self.now += Duration::from_millis(5);
            for t in moved {
                let to = self.nodes.iter_mut().find(|n| n.addr == t.path.remote.ip());
                if let Some(n) = to {
                    let path = Path {
                        local: t.path.remote,
                        remote: t.path.local,
                    };
                    n.ep.handle_datagram(self.now, path, &t.bytes);
                }
            }
        }
        panic!("network never went quiet");
    }

    fn connect(&mut self, client: usize) -> IkeSaId {
        let id = self.nodes[client]
            .ep
            .handle_command(self.now, Command::Initiate { peer: 0, child: 0 })
            .unwrap();
        self.settle();
        id
    }

    fn terminate(&mut self, client: usize, id: IkeSaId) {
        self.nodes[client]
            .ep
            .handle_command(self.now, Command::Terminate { ike_sa: id })
            .unwrap();
        self.settle();
    }

    /// The client lost its state: a fresh endpoint with the same
    /// configuration (its first IKE SA carries INITIAL_CONTACT).
    fn restart(&mut self, client: usize, cfg: PeerConfig) {
        self.seed += 1;
        self.nodes[client].ep = Endpoint::new(
            EndpointConfig::new(vec![Arc::new(cfg)], ring_provider()),
            Box::new(HmacDrbg::from_u64(self.seed)),
            self.now,
        )
        .unwrap();
        self.nodes[client].events.clear();
        self.nodes[client].kernel.clear();
    }

    fn gw(&self) -> &Node {
        &self.nodes[0]
    }
}

fn pool(size: u32) -> (Box<dyn AddressProvider>, Arc<Mutex<PoolLog>>) {
    let log = Arc::new(Mutex::new(PoolLog::default()));
    let p = TestPool {
        name: "rw",
        first: Ipv4Addr::new(10, 3, 0, 1),
        size,
        log: log.clone(),
    };
    (Box::new(p), log)
}

#[test]
fn road_warrior_gets_address_and_dns_and_selectors_are_narrowed_to_it() {
    let (p, log) = pool(10);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let c = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    let id = net.connect(c);
    let client = &net.nodes[c];
    assert_eq!(client.established(), vec![id]);
    assert_eq!(
        client.vip_events(),
        vec![&Event::VirtualIp {
            ike_sa: id,
            ours: true,
            addrs: vec![ip("10.3.0.1")],
            // Only the IPv4 server: we asked for an IPv4 address.
            dns: vec![ip("10.2.0.53")],
            subnets: vec![(ip("10.2.0.0"), 16)],
            dns_domains: vec!["corp.example".into()],
        }]
    );
    assert_eq!(client.ep.virtual_ips(id), &[ip("10.3.0.1")]);
    let ci = client.installs();
    assert_eq!(ci.len(), 1);
    assert_eq!(ci[0].local_ts, vec![host(ip("10.3.0.1"))]);
    assert_eq!(ci[0].remote_ts, ts("10.2.0.0/16"));

    let gw = net.gw();
    let gid = gw.established()[0];
    assert_eq!(gw.ep.leased_ips(gid), &[ip("10.3.0.1")]);
    assert!(matches!(
        gw.vip_events()[..],
        [Event::VirtualIp { ours: false, addrs, .. }] if addrs == &[ip("10.3.0.1")]
    ));
    let gi = gw.installs();
    assert_eq!(gi.len(), 1);
    assert_eq!(gi[0].remote_ts, vec![host(ip("10.3.0.1"))]);
    assert_eq!(gi[0].local_ts, ts("10.2.0.0/16"));
    assert_eq!(gi[0].inbound.spi, ci[0].outbound.spi);
    assert_eq!(
        log.lock().unwrap().leases.get("alice.example"),
        Some(&ip("10.3.0.1"))
    );

    // A further CHILD_SA keeps using the virtual IP on both sides.
    net.nodes[c]
        .ep
        .handle_command(
            net.now,
            Command::CreateChild {
                ike_sa: id,
                child: 0,
            },
        )
        .unwrap();
    net.settle();
    let ci = net.nodes[c].installs();
    assert_eq!(ci.len(), 2);
    assert_eq!(ci[1].local_ts, vec![host(ip("10.3.0.1"))]);
    let gi = net.gw().installs();
    assert_eq!(gi[1].remote_ts, vec![host(ip("10.3.0.1"))]);
}

#[test]
fn two_clients_get_different_addresses() {
    let (p, _log) = pool(10);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    let b = net.add_client(client_config("192.0.2.11", "bob.example", &["0.0.0.0"]));
    let ia = net.connect(a);
    let ib = net.connect(b);
    let va = net.nodes[a].ep.virtual_ips(ia).to_vec();
    let vb = net.nodes[b].ep.virtual_ips(ib).to_vec();
    assert_eq!(va.len(), 1);
    assert_eq!(vb.len(), 1);
    assert_ne!(va, vb);
    let gi = net.gw().installs();
    assert_eq!(gi.len(), 2);
    assert_eq!(gi[0].remote_ts, vec![host(va[0])]);
    assert_eq!(gi[1].remote_ts, vec![host(vb[0])]);
}

#[test]
fn same_identity_gets_its_address_back_after_reconnecting() {
    let (p, log) = pool(10);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    let b = net.add_client(client_config("192.0.2.11", "bob.example", &["0.0.0.0"]));
    let ia = net.connect(a);
    let first = net.nodes[a].ep.virtual_ips(ia).to_vec();
    net.terminate(a, ia);
    assert_eq!(net.gw().ep.ike_sa_count(), 0);
    // The gateway gave the address back once the IKE SA was gone.
    assert_eq!(
        log.lock().unwrap().released,
        vec![("alice.example".to_owned(), first[0])]
    );
    assert!(log.lock().unwrap().online.is_empty());
    // Someone else connects meanwhile and does not get alice's address.
    let ib = net.connect(b);
    assert_ne!(net.nodes[b].ep.virtual_ips(ib), first.as_slice());
    // Alice reconnects (a fresh IKE SA from the same endpoint).
    let ia2 = net.connect(a);
    assert_ne!(ia2, ia);
    assert_eq!(net.nodes[a].ep.virtual_ips(ia2), first.as_slice());
    assert_eq!(log.lock().unwrap().online.len(), 2);
}

#[test]
fn exhausted_pool_answers_internal_address_failure_and_the_client_fails() {
    let (p, log) = pool(1);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    let b = net.add_client(client_config("192.0.2.11", "bob.example", &["0.0.0.0"]));
    let ia = net.connect(a);
    assert_eq!(net.nodes[a].ep.virtual_ips(ia), &[ip("10.3.0.1")]);
    let ib = net.connect(b);
    let bob = &net.nodes[b];
    assert!(bob.established().is_empty());
    assert!(bob.installs().is_empty());
    assert!(bob.vip_events().is_empty());
    assert_eq!(
        bob.ended(),
        vec!["no virtual IP: responder assigned none and sent INTERNAL_ADDRESS_FAILURE"],
        "{:?}",
        bob.events
    );
    assert!(!bob.ep.is_established(ib));
    let gw = net.gw();
    assert_eq!(
        gw.child_failed(),
        vec!["no virtual IP: address pool exhausted: rw: all 1 addresses in use (pools rw, for bob.example)"]
    );
    // Bob deleted the IKE SA the gateway had established; alice is untouched.
    assert_eq!(gw.ended(), vec!["deleted by peer"]);
    assert_eq!(gw.ep.ike_sa_count(), 1);
    assert_eq!(gw.installs().len(), 1);
    let log = log.lock().unwrap();
    assert!(log.released.is_empty());
    assert_eq!(log.online, vec![ip("10.3.0.1")]);
}

#[test]
fn address_request_without_a_pool_gets_internal_address_failure() {
    let mut net = Net::new(gateway_config(&[]), None);
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    net.connect(a);
    assert_eq!(
        net.gw().child_failed(),
        vec!["no virtual IP: connection 'rw' has no address pool"]
    );
    let ended = net.nodes[a].ended();
    assert_eq!(ended.len(), 1);
    assert!(ended[0].contains("INTERNAL_ADDRESS_FAILURE"), "{ended:?}");
    assert_eq!(net.gw().ep.ike_sa_count(), 0);
}

#[test]
fn pool_without_a_provider_gets_internal_address_failure() {
    let mut net = Net::new(gateway_config(&["rw"]), None);
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    net.connect(a);
    assert_eq!(
        net.gw().child_failed(),
        vec!["no virtual IP: no address provider is configured"]
    );
    assert!(net.nodes[a].ended()[0].contains("INTERNAL_ADDRESS_FAILURE"));
}

#[test]
fn ipv6_request_the_pool_cannot_serve_releases_the_ipv4_lease() {
    let (p, log) = pool(4);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config(
        "192.0.2.10",
        "alice.example",
        &["0.0.0.0", "::"],
    ));
    net.connect(a);
    let failed = net.gw().child_failed();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("has no IPv6"), "{failed:?}");
    let log = log.lock().unwrap();
    assert!(log.online.is_empty());
    assert_eq!(
        log.released,
        vec![("alice.example".to_owned(), ip("10.3.0.1"))]
    );
}

#[test]
fn client_without_configuration_request_gets_failed_cp_required() {
    let (p, log) = pool(4);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &[]));
    let id = net.connect(a);
    // The IKE SA stands (RFC 7296 §3.10.1); only the CHILD_SA is refused.
    assert!(net.nodes[a].ep.is_established(id));
    assert_eq!(
        net.nodes[a].child_failed(),
        vec!["peer sent FAILED_CP_REQUIRED"]
    );
    assert_eq!(
        net.gw().child_failed(),
        vec!["peer sent no configuration request, but this connection assigns virtual IPs"]
    );
    assert!(net.gw().installs().is_empty());
    assert!(log.lock().unwrap().leases.is_empty());
}

#[test]
fn site_to_site_peer_sends_no_configuration_payload() {
    // No vips, no pools: the selectors stay the configured ones.
    let mut net = Net::new(gateway_config(&[]), None);
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &[]));
    let id = net.connect(a);
    assert!(net.nodes[a].ep.is_established(id));
    assert!(net.nodes[a].vip_events().is_empty());
    assert!(net.gw().vip_events().is_empty());
    let gi = net.gw().installs();
    assert_eq!(gi[0].remote_ts, vec![host(ip("192.0.2.10"))]);
}

#[test]
fn restarted_client_keeps_its_address_and_the_stale_sa_does_not_free_it() {
    let (p, log) = pool(10);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let cfg = || client_config("192.0.2.10", "alice.example", &["0.0.0.0"]);
    let a = net.add_client(cfg());
    let first = net.connect(a);
    let vip = net.nodes[a].ep.virtual_ips(first).to_vec();
    net.restart(a, cfg());
    let second = net.connect(a);
    assert_eq!(net.nodes[a].ep.virtual_ips(second), vip.as_slice());
    // INITIAL_CONTACT closed the stale SA on the gateway (RFC 7296 §2.4)...
    assert_eq!(net.gw().ep.ike_sa_count(), 1);
    assert_eq!(
        net.gw().ended(),
        vec!["replaced: peer sent INITIAL_CONTACT"]
    );
    // ...without handing the address the new SA uses back to the pool.
    let log = log.lock().unwrap();
    assert!(log.released.is_empty(), "{:?}", log.released);
    assert!(log.online.contains(&vip[0]));
}

#[test]
fn ike_rekey_moves_the_lease_and_it_is_released_once() {
    let (p, log) = pool(10);
    let mut net = Net::new(gateway_config(&["rw"]), Some(p));
    let a = net.add_client(client_config("192.0.2.10", "alice.example", &["0.0.0.0"]));
    let old = net.connect(a);
    let vip = net.nodes[a].ep.virtual_ips(old).to_vec();
    net.nodes[a]
        .ep
        .handle_command(net.now, Command::RekeyIke { ike_sa: old })
        .unwrap();
    net.settle();
    let new = net.nodes[a]
        .events
        .iter()
        .find_map(|e| match e {
            Event::IkeRekeyed { new, .. } => Some(*new),
            _ => None,
        })
        .unwrap();
    assert_eq!(net.nodes[a].ep.virtual_ips(new), vip.as_slice());
    let gw_new = net
        .gw()
        .events
        .iter()
        .find_map(|e| match e {
            Event::IkeRekeyed { new, .. } => Some(*new),
            _ => None,
        })
        .unwrap();
    assert_eq!(net.gw().ep.leased_ips(gw_new), vip.as_slice());
    assert_eq!(net.gw().ep.ike_sa_count(), 1);
    assert!(log.lock().unwrap().released.is_empty());
    // A further CHILD_SA on the rekeyed SA still uses the virtual IP.
    net.nodes[a]
        .ep
        .handle_command(
            net.now,
            Command::CreateChild {
                ike_sa: new,
                child: 0,
            },
        )
        .unwrap();
    net.settle();
    let gi = net.gw().installs();
    assert_eq!(gi.last().unwrap().remote_ts, vec![host(vip[0])]);
    net.terminate(a, new);
    assert_eq!(net.gw().ep.ike_sa_count(), 0);
    assert_eq!(
        log.lock().unwrap().released,
        vec![("alice.example".to_owned(), vip[0])]
    );
}

// One address family per CHILD_SA (EndpointConfig::one_family_per_child):
// what a PF_KEY tunnel-mode SA can carry.

/// A site-to-site pair, both sides dual-stack; `gw_one`/`site_one` say
/// which endpoints carry one family per CHILD_SA.
fn dual_stack_sites(gw_one: bool, site_one: bool) -> (Net, usize) {
    let mut gw = gateway_config(&[]);
    gw.children[0].local_ts = ts("10.2.0.0/16,fd00:2::/64");
    gw.children[0].remote_ts = ts("10.1.0.0/16,fd00:1::/64");
    let mut cfg = EndpointConfig::new(vec![Arc::new(gw)], ring_provider());
    cfg.one_family_per_child = gw_one;
    let mut net = Net::with_gateway(cfg);
    let mut site = client_config("203.0.113.5", "site.example", &[]);
    site.children[0].local_ts = ts("10.1.0.0/16,fd00:1::/64");
    site.children[0].remote_ts = ts("10.2.0.0/16,fd00:2::/64");
    let c = net.add_client_with(site, site_one);
    (net, c)
}

/// Each install's (local, remote) selectors.
fn installed_ts(n: &Node) -> Vec<(Vec<TrafficSelector>, Vec<TrafficSelector>)> {
    n.installs()
        .iter()
        .map(|i| (i.local_ts.clone(), i.remote_ts.clone()))
        .collect()
}

#[test]
fn one_family_per_child_splits_a_dual_stack_child_into_two_child_sas() {
    let (mut net, c) = dual_stack_sites(true, true);
    net.connect(c);
    // IKE_AUTH carries IPv4 (the first local selector's family); IPv6
    // follows by CREATE_CHILD_SA from the initiator only, so there is no
    // second pair from the responder.
    let v4 = (ts("10.1.0.0/16"), ts("10.2.0.0/16"));
    let v6 = (ts("fd00:1::/64"), ts("fd00:2::/64"));
    assert_eq!(installed_ts(&net.nodes[c]), vec![v4.clone(), v6.clone()]);
    assert_eq!(installed_ts(net.gw()), vec![(v4.1, v4.0), (v6.1, v6.0)]);
    for n in [&net.nodes[c], net.gw()] {
        assert!(n.child_failed().is_empty(), "{:?}", n.child_failed());
        assert!(n.installs().iter().all(|i| i.child == 0));
    }
}

#[test]
fn a_one_family_initiator_splits_for_a_responder_that_would_take_both() {
    let (mut net, c) = dual_stack_sites(false, true);
    net.connect(c);
    assert_eq!(net.nodes[c].installs().len(), 2);
    assert_eq!(net.gw().installs().len(), 2);
    for (l, r) in installed_ts(net.gw()) {
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(r.len(), 1, "{r:?}");
    }
}

#[test]
fn a_one_family_responder_narrows_a_dual_stack_proposal_and_asks_for_the_other_family() {
    // The initiator (as strongSwan) proposes both families at once.
    let (mut net, c) = dual_stack_sites(true, false);
    net.connect(c);
    let site = installed_ts(&net.nodes[c]);
    assert_eq!(
        site,
        vec![
            (ts("10.1.0.0/16"), ts("10.2.0.0/16")),
            (ts("fd00:1::/64"), ts("fd00:2::/64")),
        ]
    );
    assert_eq!(net.gw().installs().len(), 2);
    assert!(net.nodes[c].child_failed().is_empty());
    assert!(net.gw().child_failed().is_empty());
}

#[test]
fn without_one_family_per_child_a_dual_stack_child_is_one_child_sa() {
    let (mut net, c) = dual_stack_sites(false, false);
    net.connect(c);
    assert_eq!(
        installed_ts(&net.nodes[c]),
        vec![(ts("10.1.0.0/16,fd00:1::/64"), ts("10.2.0.0/16,fd00:2::/64"))]
    );
}

#[test]
fn a_single_family_child_gets_no_second_child_sa() {
    let mut gw = gateway_config(&[]);
    gw.children[0].remote_ts = ts("10.1.0.0/16,fd00:1::/64");
    let mut cfg = EndpointConfig::new(vec![Arc::new(gw)], ring_provider());
    cfg.one_family_per_child = true;
    let mut net = Net::with_gateway(cfg);
    let mut site = client_config("203.0.113.5", "site.example", &[]);
    site.children[0].local_ts = ts("10.1.0.0/16,fd00:1::/64");
    let c = net.add_client_with(site, true);
    net.connect(c);
    // Our side is IPv4 only: IPv6 has nothing to pair with.
    assert_eq!(
        installed_ts(&net.nodes[c]),
        vec![(ts("10.1.0.0/16"), ts("10.2.0.0/16"))]
    );
    assert_eq!(net.gw().installs().len(), 1);
}

/// Leases 10.9.0.N and fd00:9::N, N counting up per request.
struct DualPool(u8);

impl AddressProvider for DualPool {
    fn acquire(
        &mut self,
        _identity: &str,
        _pools: &[String],
        requested: IpAddr,
    ) -> Result<IpAddr, AddressError> {
        self.0 += 1;
        Ok(if requested.is_ipv4() {
            IpAddr::V4(Ipv4Addr::new(10, 9, 0, self.0))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0xfd00,
                9,
                0,
                0,
                0,
                0,
                0,
                u16::from(self.0),
            ))
        })
    }

    fn release(&mut self, _identity: &str, _addr: IpAddr) {}
}

#[test]
fn a_dual_stack_road_warrior_gets_one_child_sa_per_virtual_ip_family() {
    let mut gw = gateway_config(&["dual"]);
    gw.children[0].local_ts = ts("0.0.0.0/0,::/0");
    gw.children[0].remote_ts = ts("0.0.0.0/0,::/0");
    let mut cfg = EndpointConfig::new(vec![Arc::new(gw)], ring_provider());
    cfg.address_provider = Some(Box::new(DualPool(0)));
    cfg.one_family_per_child = true;
    let mut net = Net::with_gateway(cfg);
    // The client (as strongSwan) asks for both families in one CHILD_SA.
    let mut client = client_config("203.0.113.7", "rw.example", &["0.0.0.0", "::"]);
    client.children[0].remote_ts = ts("0.0.0.0/0,::/0");
    let c = net.add_client(client);
    net.connect(c);
    assert_eq!(
        installed_ts(net.gw()),
        vec![
            (ts("0.0.0.0/0"), ts("10.9.0.1/32")),
            (ts("::/0"), ts("fd00:9::2/128")),
        ]
    );
    assert_eq!(
        installed_ts(&net.nodes[c]),
        vec![
            (ts("10.9.0.1/32"), ts("0.0.0.0/0")),
            (ts("fd00:9::2/128"), ts("::/0")),
        ]
    );
    assert!(
        net.gw().child_failed().is_empty(),
        "{:?}",
        net.gw().child_failed()
    );
}

#[test]
fn a_child_asked_for_again_gets_the_family_the_peer_deleted() {
    let (mut net, c) = dual_stack_sites(true, true);
    let site_sa = net.connect(c);
    let gw_sa = net.gw().established()[0];
    let v6 = net
        .gw()
        .installs()
        .iter()
        .find(|i| i.local_ts == ts("fd00:2::/64"))
        .map(|i| i.inbound.spi)
        .unwrap();
    // The gateway deletes the IPv6 CHILD_SA; the site keeps IPv4 only.
    net.nodes[0]
        .ep
        .handle_command(
            net.now,
            Command::TerminateChild {
                ike_sa: gw_sa,
                inbound_spi: v6,
            },
        )
        .unwrap();
    net.settle();
    assert!(net.nodes[c].ep.child_family_missing(site_sa, 0));
    net.nodes[c]
        .ep
        .handle_command(
            net.now,
            Command::CreateChild {
                ike_sa: site_sa,
                child: 0,
            },
        )
        .unwrap();
    net.settle();
    // The third install at the site is IPv6 again, not a second IPv4.
    let site = installed_ts(&net.nodes[c]);
    assert_eq!(site.len(), 3, "{site:?}");
    assert_eq!(site[2], (ts("fd00:1::/64"), ts("fd00:2::/64")));
    assert!(!net.nodes[c].ep.child_family_missing(site_sa, 0));
}
