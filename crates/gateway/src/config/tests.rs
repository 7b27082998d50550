//! Config reading and validation: every diagnostic pinned to its exact
//! text and position, defaults as strongSwan's, and a file using every key.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ike::policy::proposal::parse_list;
use ike::policy::ts::parse_ts;
use ike::wire::ProtocolId;

use super::*;

/// A temp dir holding `ikegw.toml` (mode 0600) and whatever else a test puts there.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// Load `text` as ikegw.toml; diagnostics as strings with the temp dir
    /// replaced by `D`.
    fn load(&self, text: &str) -> Result<Config, Vec<String>> {
        let p = self.write("ikegw.toml", text, 0o600);
        Config::load(&p).map_err(|d| self.strings(&d))
    }

    fn strings(&self, diags: &[Diagnostic]) -> Vec<String> {
        let root = self.dir.path().display().to_string();
        diags
            .iter()
            .map(|d| d.to_string().replace(&root, "D"))
            .collect()
    }

    /// Issue a CA and a gateway certificate for `dns` into the dir:
    /// `ca.crt`, `gw.crt`, `gw.key` (0600). Returns nothing: paths are fixed.
    fn pki(&self, dns: &str) {
        use certs::issue::{generate_key, Ca, CertSpec, KeyAlgorithm, Profile, San};
        let now = 1_700_000_000;
        let ca_key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let ca = Ca::self_signed(
            &CertSpec::new("CN=Test CA", Profile::Ca { path_len: None }, now, 3650),
            ca_key,
        )
        .unwrap();
        let gw_key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spec = CertSpec::new(&format!("CN={dns}"), Profile::Gateway, now, 3650);
        spec.sans = vec![San::parse(&format!("DNS:{dns}")).unwrap()];
        let gw = ca.issue(&spec, &gw_key).unwrap();
        self.write("ca.crt", &ca.cert.to_pem(), 0o644);
        self.write("gw.crt", &gw.to_pem(), 0o644);
        self.write("gw.key", &gw_key.to_pkcs8_pem(), 0o600);
    }
}

/// A minimal valid PSK site-to-site connection, with `extra` appended.
fn psk(extra: &str) -> String {
    format!(
        r#"[connections.branch]
local_addrs = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]

[connections.branch.local]
auth = "psk"
id = "hq.example.com"

[connections.branch.remote]
auth = "psk"
id = "branch.example.com"

[connections.branch.children.lan]
local_ts = ["10.1.0.0/16"]
remote_ts = ["10.2.0.0/24"]

[secrets.ike.branch]
id = ["hq.example.com", "branch.example.com"]
secret = "0x00112233445566778899aabbccddeeff"
{extra}"#
    )
}

fn errors(text: &str) -> Vec<String> {
    match Dir::new().load(text) {
        Ok(_) => panic!("config was accepted"),
        Err(e) => e,
    }
}

#[test]
fn minimal_psk_config_loads_with_no_diagnostics() {
    let c = Dir::new().load(&psk("")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.connections.len(), 1);
}

#[test]
fn unknown_key_names_table_and_suggests_the_close_one() {
    let text = psk("").replace("remote_addrs = ", "remote_addr = ");
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:3:1: unknown key 'remote_addr' in connections.branch; did you mean 'remote_addrs'?"]
    );
}

#[test]
fn unknown_key_without_close_match_has_no_suggestion() {
    assert_eq!(
        errors(&psk("[daemon]\nzzzzzz = 1\n")),
        ["D/ikegw.toml:21:1: unknown key 'zzzzzz' in daemon"]
    );
}

#[test]
fn engine_socket_needs_the_userland_backend() {
    let e = errors(&psk(
        "[daemon]\nbackend = \"illumos\"\nengine_socket = \"/run/e.sock\"\n",
    ));
    assert_eq!(
        e,
        ["D/ikegw.toml:22:17: engine_socket names a userland engine process, but backend = \"illumos\" uses the kernel's PF_KEY socket; remove engine_socket or set backend = \"userland\""]
    );
    let ok = Dir::new()
        .load(&psk(
            "[daemon]\nbackend = \"userland\"\nengine_socket = \"/run/e.sock\"\n",
        ))
        .unwrap();
    assert_eq!(
        ok.daemon.engine_socket.as_deref(),
        Some(Path::new("/run/e.sock"))
    );
}

#[test]
fn swanctl_keys_ikegw_lacks_say_why() {
    let text = psk("").replace(
        "[connections.branch.local]",
        "[connections.branch.local]\naaa_id = \"x\"",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:6:1: key 'aaa_id' in connections.branch.local is not supported by ikegw: RADIUS (eap-radius) is not implemented"]
    );
}

#[test]
fn type_errors_point_at_the_value() {
    let text = psk("").replace(
        "remote_addrs = [\"198.51.100.2\"]",
        "remote_addrs = [\"198.51.100.2\"]\ndpd_delay = true",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:4:13: expected a duration (e.g. 30s, 4h, 1d) for 'dpd_delay' in connections.branch, found a boolean"]
    );
}

#[test]
fn bad_durations_and_keywords_are_reported() {
    let text = psk("").replace(
        "remote_ts = [\"10.2.0.0/24\"]",
        "remote_ts = [\"10.2.0.0/24\"]\nrekey_time = \"4w\"\nmode = \"tunel\"\nstart_action = 1",
    );
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:16:14: invalid duration '4w' for 'rekey_time' in connections.branch.children.lan; expected e.g. 30s, 5m, 4h or 1d",
            "D/ikegw.toml:17:8: invalid value 'tunel' for 'mode' in connections.branch.children.lan; did you mean 'tunnel'?",
            "D/ikegw.toml:18:16: expected one of none, trap, start for 'start_action' in connections.branch.children.lan, found an integer",
        ]
    );
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = psk("[pools.rw]\naddrs = \"10.3.0.5/24\"\ndns = [\"10.1.0.535\"]\n")
        .replace("version", "x")
        .replace("remote_addrs = ", "remote_addr = ")
        .replace("id = \"branch.example.com\"", "id = \"C=CH, XX=foo\"");
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:3:1: unknown key 'remote_addr' in connections.branch; did you mean 'remote_addrs'?",
            "D/ikegw.toml:11:6: invalid identity 'C=CH, XX=foo' in connections.branch.remote: malformed ID_DER_ASN1_DN identity: unknown attribute 'XX'",
            "D/ikegw.toml:21:9: invalid pool 'addrs' = '10.3.0.5/24' in pools.rw: host bits set after the prefix",
            "D/ikegw.toml:22:8: invalid IP address '10.1.0.535' in 'dns' in pools.rw",
        ]
    );
}

#[test]
fn toml_syntax_errors_have_positions() {
    assert_eq!(
        errors("a = \n[connections\n"),
        [
            "D/ikegw.toml:1:5: TOML syntax: string values must be quoted, expected literal string",
            "D/ikegw.toml:2:13: TOML syntax: unclosed table, expected `]`",
        ]
    );
}

#[test]
fn ikev1_is_refused() {
    let text = psk("").replace("local_addrs", "version = 1\nlocal_addrs");
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:2:11: IKEv1 is not supported ('version' in connections.branch); use 2 or 0"]
    );
}

#[test]
fn proposal_errors_come_from_the_ike_parser() {
    let text = psk("").replace(
        "remote_ts = [\"10.2.0.0/24\"]",
        "remote_ts = [\"10.2.0.0/24\"]\nesp_proposals = \"aes256gcm16-prfsha256\"",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:16:17: 'prfsha256' is not allowed in an ESP proposal in proposal 'aes256gcm16-prfsha256' ('esp_proposals' in connections.branch.children.lan)"]
    );
    let text = psk("").replace(
        "local_addrs",
        "proposals = [\"aes256gcm16-prfsha384-x2551\"]\nlocal_addrs",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("D/ikegw.toml:2:14: unknown algorithm 'x2551' in proposal 'aes256gcm16-prfsha384-x2551'"),
        "{e:?}"
    );
}

#[test]
fn unreachable_proposal_is_a_warning() {
    let text = psk("").replace(
        "local_addrs",
        "proposals = [\"aes256gcm16-prfsha384-x25519-ecp256\", \"aes256gcm16-prfsha384-x25519\"]\nlocal_addrs",
    );
    let d = Dir::new();
    let c = d.load(&text).unwrap();
    assert_eq!(
        d.strings(&c.warnings),
        ["D/ikegw.toml:2:53: warning: unreachable proposal 'AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519' in 'proposals' in connections.branch: the earlier proposal 'AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519/ECP_256' accepts everything it does"]
    );
}

#[test]
fn invalid_addresses_and_selectors_are_reported() {
    let text = psk("")
        .replace(
            "[\"198.51.100.2\"]",
            "[\"10.0.0.300\", \"gw..example.com\", \"192.0.2.9-192.0.2.1\"]",
        )
        .replace("[\"10.1.0.0/16\"]", "[\"10.1.0.300/16\"]");
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:3:17: invalid address '10.0.0.300' in 'remote_addrs' in connections.branch: not an IP address",
            "D/ikegw.toml:3:31: invalid address 'gw..example.com' in 'remote_addrs' in connections.branch: neither an IP address, a subnet, a range nor a DNS name",
            "D/ikegw.toml:3:50: invalid address '192.0.2.9-192.0.2.1' in 'remote_addrs' in connections.branch: range starts after it ends",
            "D/ikegw.toml:14:13: invalid traffic selector '10.1.0.300/16' in 'local_ts' in connections.branch.children.lan: bad address",
        ]
    );
}

#[test]
fn missing_psk_secret_names_the_identities_to_add() {
    let text = psk("").replace(
        "id = [\"hq.example.com\", \"branch.example.com\"]",
        "id = \"other.example.com\"",
    );
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:6:8: no secret for auth = psk in connections.branch.local; add a [secrets.ike.NAME] whose 'id' lists 'hq.example.com' or 'branch.example.com'",
        ]
    );
}

#[test]
fn psk_secret_matches_either_identity_or_none() {
    // One identity is enough, as in swanctl.
    let one = psk("").replace(
        "id = [\"hq.example.com\", \"branch.example.com\"]",
        "id = \"BRANCH.example.com\"",
    );
    assert!(Dir::new().load(&one).is_ok());
    // No id: the secret is for everyone.
    let any = psk("").replace("id = [\"hq.example.com\", \"branch.example.com\"]\n", "");
    assert!(Dir::new().load(&any).is_ok());
}

#[test]
fn pubkey_rounds_need_certificates() {
    let text = psk("")
        .replace(
            "auth = \"psk\"\nid = \"hq.example.com\"",
            "auth = \"pubkey\"\nid = \"hq.example.com\"",
        )
        .replace(
            "auth = \"psk\"\nid = \"branch",
            "auth = \"pubkey\"\nid = \"branch",
        );
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:6:8: auth = pubkey in connections.branch.local needs 'certs' (our certificate)",
            "D/ikegw.toml:10:8: auth = pubkey in connections.branch.remote needs 'cacerts' (or pinned 'certs') to verify the peer",
        ]
    );
}

fn cert_config(id: &str, key: bool) -> String {
    let key = if key {
        "[secrets.private.gw]\nfile = \"gw.key\"\n"
    } else {
        ""
    };
    format!(
        r#"[connections.c]
remote_addrs = ["%any"]

[connections.c.local]
auth = "pubkey"
certs = ["gw.crt"]
id = "{id}"

[connections.c.remote]
auth = "pubkey"
cacerts = ["ca.crt"]

{key}"#
    )
}

#[test]
fn certificate_round_loads_cert_key_and_checks_identity() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let c = d.load(&cert_config("vpn.example.com", true)).unwrap();
    assert!(c.warnings.is_empty());
    assert_eq!(c.secrets.private.len(), 1);
    let r = &c.connections[0].local[0];
    assert_eq!(r.certs, [d.path("gw.crt")]);
    assert_eq!(c.connections[0].remote[0].cacerts, [d.path("ca.crt")]);
}

#[test]
fn certificate_round_without_its_private_key_is_refused() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let e = d.load(&cert_config("vpn.example.com", false)).unwrap_err();
    assert_eq!(
        e,
        ["D/ikegw.toml:6:9: no private key in [secrets.private] matches the certificate 'CN=vpn.example.com' of connections.c.local; add [secrets.private.NAME] file = \"...\""]
    );
}

#[test]
fn identity_missing_from_certificate_is_refused() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let e = d.load(&cert_config("other.example.com", true)).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "D/ikegw.toml:7:6: 'id' in connections.c.local is not in its certificate: "
        ),
        "{e:?}"
    );
}

#[test]
fn private_key_readable_by_others_is_refused_with_the_fix() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    std::fs::set_permissions(d.path("gw.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = d.load(&cert_config("vpn.example.com", true)).unwrap_err();
    assert_eq!(
        e,
        ["D/ikegw.toml:14:8: private key D/gw.key is readable by group or others (mode 0644); run: chmod 600 D/gw.key"]
    );
}

#[test]
fn missing_private_key_file_is_reported() {
    let e = errors(&psk("[secrets.private.k]\nfile = \"nope.pem\"\n"));
    assert_eq!(
        e,
        ["D/ikegw.toml:21:8: cannot read private key D/nope.pem: No such file or directory (os error 2)"]
    );
}

#[test]
fn secrets_file_must_be_private_and_its_errors_point_into_it() {
    let d = Dir::new();
    let main = psk("")
        .split("[secrets.ike.branch]")
        .next()
        .unwrap()
        .to_owned()
        + "[secrets]\ninclude = \"secrets.toml\"\n";
    let secrets = "[secrets.ike.branch]\nsecret = \"0x00112233445566778899aabbccddeeff\"\n";
    d.write("secrets.toml", secrets, 0o640);
    assert_eq!(
        d.load(&main).unwrap_err(),
        ["D/ikegw.toml:18:11: secrets file D/secrets.toml is readable by group or others (mode 0640); run: chmod 600 D/secrets.toml"]
    );
    d.write("secrets.toml", secrets, 0o600);
    let c = d.load(&main).unwrap();
    assert_eq!(c.secrets.ike.len(), 1);
    assert!(!c.secrets.inline);
    d.write(
        "secrets.toml",
        "[secrets.ike.branch]\nsecrte = \"x\"\n",
        0o600,
    );
    assert_eq!(
        d.load(&main).unwrap_err(),
        [
            "D/secrets.toml:1:1: secrets.ike.branch has no 'secret'",
            "D/secrets.toml:2:1: unknown key 'secrte' in secrets.ike.branch; did you mean 'secret'?",
        ]
    );
}

#[test]
fn readable_main_file_with_secrets_gets_a_warning() {
    let d = Dir::new();
    let p = d.write("ikegw.toml", &psk(""), 0o644);
    let c = Config::load(&p).unwrap();
    assert_eq!(
        d.strings(&c.warnings),
        ["D/ikegw.toml: warning: holds secrets but is readable by group or others (mode 0644); run: chmod 600 D/ikegw.toml, or move [secrets] into a file named by secrets.include"]
    );
}

#[test]
fn short_psk_gets_a_warning() {
    let d = Dir::new();
    let c = d
        .load(&psk("").replace("0x00112233445566778899aabbccddeeff", "short"))
        .unwrap();
    assert_eq!(
        d.strings(&c.warnings),
        ["D/ikegw.toml:19:10: warning: 'secret' in secrets.ike.branch is only 5 bytes; use at least 16 random bytes (RFC 7296 §2.15)"]
    );
}

#[test]
fn overlapping_selectors_of_different_connections_are_refused() {
    let other = r#"
[connections.second]
remote_addrs = ["203.0.113.9"]
[connections.second.local]
auth = "psk"
id = "hq.example.com"
[connections.second.remote]
auth = "psk"
[connections.second.children.net]
local_ts = ["10.1.2.0/24"]
remote_ts = ["10.2.0.128/25"]
"#;
    assert_eq!(
        errors(&psk(other)),
        ["D/ikegw.toml:29:12: traffic selectors of connections.second.children.net overlap those of connections.branch.children.lan (10.1.2.0/24 === 10.2.0.128/25)"]
    );
    // Disjoint remote side: fine. A pass child may overlap on purpose.
    assert!(Dir::new()
        .load(&psk(&other.replace("10.2.0.128/25", "10.9.0.0/24")))
        .is_ok());
    assert!(Dir::new()
        .load(&psk(&format!("{other}mode = \"pass\"\n")))
        .is_ok());
}

#[test]
fn pools_must_exist_and_not_overlap() {
    let text = psk(
        "[pools.rw4]\naddrs = \"10.3.0.0/24\"\n[pools.more]\naddrs = \"10.3.0.200-10.3.1.10\"\n",
    )
    .replace("local_addrs", "pools = [\"rw\"]\nlocal_addrs");
    assert_eq!(
        errors(&text),
        [
            "D/ikegw.toml:2:9: pool 'rw' used by connections.branch is not defined; did you mean 'rw4'?",
            "D/ikegw.toml:24:9: pool 'more' (10.3.0.200-10.3.1.10) overlaps pool 'rw4' (10.3.0.0/24); an address could be leased twice",
        ]
    );
}

#[test]
fn rounds_are_ordered_by_number_and_duplicates_refused() {
    let text = psk("").replace("[connections.branch.local]", "[connections.branch.local-2]\nauth = \"psk\"\nid = \"hq.example.com\"\n[connections.branch.local]");
    let c = Dir::new().load(&text).unwrap();
    let rounds: Vec<u32> = c.connections[0].local.iter().map(|r| r.round).collect();
    assert_eq!(rounds, [1, 2]);
    let text = psk("").replace(
        "[connections.branch.local]",
        "[connections.branch.local-1]\nauth = \"psk\"\n[connections.branch.local]",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:7:21: duplicate local authentication round 1 in connections.branch"]
    );
}

#[test]
fn connection_without_rounds_is_refused() {
    assert_eq!(
        errors("[connections.x]\nremote_addrs = [\"%any\"]\n"),
        [
            "D/ikegw.toml:1:1: connections.x has no [connections.x.local] authentication round",
            "D/ikegw.toml:1:1: connections.x has no [connections.x.remote] authentication round",
        ]
    );
}

#[test]
fn child_lifetimes_must_be_ordered() {
    let text = psk("").replace(
        "remote_ts = [\"10.2.0.0/24\"]",
        "remote_ts = [\"10.2.0.0/24\"]\nlife_time = \"30m\"",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:16:13: 'life_time' in connections.branch.children.lan (30m) must be longer than rekey_time (1h)"]
    );
    let text = psk("").replace(
        "remote_ts = [\"10.2.0.0/24\"]",
        "remote_ts = [\"10.2.0.0/24\"]\nrand_time = \"10m\"",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:16:13: 'rand_time' in connections.branch.children.lan (10m) must be shorter than life_time - rekey_time (6m)"]
    );
}

#[test]
fn retransmission_keys_take_numbers_and_refuse_out_of_range_values() {
    let c = Dir::new()
        .load(&format!(
            "[daemon]\nretransmit_timeout = \"2s\"\nretransmit_base = 1.5\nretransmit_tries = 0\n{}",
            psk("")
        ))
        .unwrap();
    let d = &c.daemon;
    assert_eq!(d.retransmit_timeout, Duration::from_secs(2));
    assert_eq!((d.retransmit_base, d.retransmit_tries), (1.5, 0));
    let bad = errors(&format!(
        "[daemon]\nretransmit_timeout = 0.0\nretransmit_base = 0.5\nretransmit_tries = 101\n{}",
        psk("")
    ));
    assert_eq!(
        bad,
        [
            "D/ikegw.toml:2:22: 'retransmit_timeout' in daemon must be between 0.01 and 3600 seconds",
            "D/ikegw.toml:3:19: 'retransmit_base' in daemon must be between 1.0 and 10.0",
            "D/ikegw.toml:4:20: 'retransmit_tries' in daemon must be between 0 and 100",
        ]
    );
    let bad = errors(&format!(
        "[daemon]\nretransmit_base = \"fast\"\n{}",
        psk("")
    ));
    assert_eq!(
        bad,
        ["D/ikegw.toml:2:19: expected a number for 'retransmit_base' in daemon, found a string"]
    );
}

#[test]
fn keep_alive_takes_seconds_or_a_duration_within_range() {
    let c = Dir::new()
        .load(&format!("[daemon]\nkeep_alive = 5\n{}", psk("")))
        .unwrap();
    assert_eq!(c.daemon.keep_alive, Duration::from_secs(5));
    assert_eq!(
        errors(&format!("[daemon]\nkeep_alive = 0\n{}", psk(""))),
        ["D/ikegw.toml:2:14: 'keep_alive' in daemon must be between 1 and 3600 seconds (NAT-T keepalives cannot be turned off)"]
    );
}

#[test]
fn defaults_are_strongswans() {
    let c = Dir::new().load(&psk("")).unwrap();
    let d = &c.daemon;
    assert_eq!(d.backend, Backend::Illumos);
    assert_eq!((d.port, d.port_nat_t), (500, 4500));
    assert_eq!(d.retransmit_timeout, Duration::from_secs(4));
    assert_eq!(d.keep_alive, Duration::from_secs(20));
    assert_eq!((d.cookie_threshold, d.init_limit_half_open), (10, 1000));
    assert_eq!((d.retransmit_base, d.retransmit_tries), (1.8, 5));
    let conn = &c.connections[0];
    assert_eq!(conn.version, 0);
    assert_eq!(conn.rekey_time, Duration::from_secs(4 * 3600));
    assert_eq!(conn.reauth_time, Duration::ZERO);
    // over_time = 10% of rekey_time, rand_time = over_time.
    assert_eq!(conn.over_time, Duration::from_secs(1440));
    assert_eq!(conn.rand_time, Duration::from_secs(1440));
    assert_eq!(conn.dpd_delay, Duration::ZERO);
    assert!(conn.mobike && conn.send_certreq && !conn.encap);
    assert_eq!(conn.fragmentation, Fragmentation::Yes);
    assert_eq!(conn.send_cert, SendCert::IfAsked);
    assert_eq!(conn.unique, Unique::No);
    assert_eq!(conn.keyingtries, 1);
    assert_eq!((conn.local_port, conn.remote_port), (500, 500));
    assert_eq!(
        conn.proposals,
        parse_list(ProtocolId::IKE, "default").unwrap()
    );
    let ch = &conn.children[0];
    assert_eq!(
        ch.esp_proposals,
        parse_list(ProtocolId::ESP, "default").unwrap()
    );
    assert_eq!(ch.mode, Mode::Tunnel);
    assert_eq!(
        (ch.start_action, ch.close_action, ch.dpd_action),
        (Action::None, Action::None, DpdAction::Clear)
    );
    // life = 110% of rekey, rand = life - rekey.
    assert_eq!(ch.lifetime.rekey_time, Duration::from_secs(3600));
    assert_eq!(ch.lifetime.life_time, Duration::from_secs(3960));
    assert_eq!(ch.lifetime.rand_time, Duration::from_secs(360));
    assert_eq!((ch.lifetime.rekey_bytes, ch.lifetime.life_bytes), (0, 0));
    assert!(ch.policies && !ch.hostaccess);
}

const EVERY_KEY: &str = r#"
[daemon]
backend = "userland"
control_socket = "run/ctl.sock"
engine_socket = "/run/engine.sock"
state_dir = "/var/db/ikegw"
log_format = "json"
log_level = "ike=debug"
listen = ["192.0.2.1", "2001:db8::1"]
port = 1500
port_nat_t = 14500
retransmit_timeout = 2.5
keep_alive = "30s"
cookie_threshold = 0
init_limit_half_open = 50
retransmit_base = 2
retransmit_tries = 3
rsa_pss = true

[connections.all]
version = 2
local_addrs = "192.0.2.1, 2001:db8::1"
remote_addrs = ["%any4", "%any6", "vpn.example.net", "198.51.100.0/24", "203.0.113.1-203.0.113.9", "%any"]
local_port = 4500
remote_port = 4501
proposals = "aes128gcm16-prfsha256-ecp256"
vips = ["0.0.0.0", "::"]
pools = ["p4", "p6"]
dpd_delay = 30
rekey_time = "2h"
reauth_time = "1d"
over_time = "10m"
rand_time = "5m"
mobike = "no"
fragmentation = "force"
send_certreq = false
send_cert = "always"
encap = true
unique = "replace"
keyingtries = 0

[connections.all.local]
round = 1
auth = "psk"
id = "@#0a0b0c"
certs = []
revocation = "strict"

[connections.all.remote-1]
auth = "psk"
id = "C=CH, O=Example, CN=peer"
revocation = "ifuri"

[connections.all.children.c]
local_ts = ["dynamic", "10.0.0.0/8[tcp/443]"]
remote_ts = "10.9.0.1-10.9.0.5, ::/0"
esp_proposals = ["aes256-sha256-modp2048-esn"]
mode = "transport"
start_action = "start"
close_action = "trap"
dpd_action = "hold"
rekey_time = "20m"
life_time = "30m"
rand_time = "2m"
rekey_bytes = "1m"
life_bytes = 2000000
rand_bytes = "1k"
rekey_packets = 1000
life_packets = "2k"
rand_packets = 10
inactivity = "5m"
updown = "/usr/lib/ikegw/updown"
hostaccess = "yes"
policies = false
priority = 7
reqid = 42

[secrets.ike.s]
id = "@#0a0b0c"
id-2 = "peer@example.com"
secret = "a plain secret string"

[pools.p4]
addrs = "10.3.0.0/30"
dns = ["10.1.0.53"]
nbns = "10.1.0.54"
subnet = ["10.1.0.0/16"]
split_include = ["10.1.0.0/16", "10.5.0.0/16"]
split_exclude = ["10.1.99.0/24"]
split_dns = ["corp.example.com"]

[pools.p6]
addrs = "fd00::/126"
"#;

/// [`EVERY_KEY`] plus the provisioning example's `[site]`, which
/// `ikegw check` validates through the provisioning code.
fn every_key_with_site() -> String {
    format!(
        "{EVERY_KEY}\n{}",
        include_str!("../../../../examples/home-datacentre.toml")
    )
}

#[test]
fn a_config_using_every_key_parses_to_the_expected_values() {
    let d = Dir::new();
    let c = d.load(&every_key_with_site()).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", d.strings(&c.warnings));
    let dm = &c.daemon;
    assert_eq!(
        *dm,
        Daemon {
            backend: Backend::Userland,
            control_socket: d.path("run/ctl.sock"),
            engine_socket: Some(PathBuf::from("/run/engine.sock")),
            state_dir: PathBuf::from("/var/db/ikegw"),
            log_format: LogFormat::Json,
            log_level: "ike=debug".into(),
            listen: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            port: 1500,
            port_nat_t: 14500,
            retransmit_timeout: Duration::from_millis(2500),
            keep_alive: Duration::from_secs(30),
            cookie_threshold: 0,
            init_limit_half_open: 50,
            retransmit_base: 2.0,
            retransmit_tries: 3,
            rsa_pss: true,
        }
    );
    let conn = c.connection("all").unwrap();
    assert_eq!(conn.version, 2);
    assert_eq!(
        conn.local_addrs,
        [
            AddrSpec::Addr("192.0.2.1".parse().unwrap()),
            AddrSpec::Addr("2001:db8::1".parse().unwrap())
        ]
    );
    let v4 = |s: &str| IpAddr::V4(s.parse::<Ipv4Addr>().unwrap());
    assert_eq!(
        conn.remote_addrs,
        [
            AddrSpec::Any4,
            AddrSpec::Any6,
            AddrSpec::Host("vpn.example.net".into()),
            AddrSpec::Range(IpRange {
                first: v4("198.51.100.0"),
                last: v4("198.51.100.255")
            }),
            AddrSpec::Range(IpRange {
                first: v4("203.0.113.1"),
                last: v4("203.0.113.9")
            }),
            AddrSpec::Any,
        ]
    );
    assert_eq!((conn.local_port, conn.remote_port), (4500, 4501));
    assert_eq!(
        conn.proposals,
        parse_list(ProtocolId::IKE, "aes128gcm16-prfsha256-ecp256").unwrap()
    );
    assert_eq!(conn.vips, [v4("0.0.0.0"), "::".parse().unwrap()]);
    assert_eq!(conn.pools, ["p4", "p6"]);
    assert_eq!(conn.dpd_delay, Duration::from_secs(30));
    assert_eq!(conn.rekey_time, Duration::from_secs(7200));
    assert_eq!(conn.reauth_time, Duration::from_secs(86_400));
    assert_eq!(conn.over_time, Duration::from_secs(600));
    assert_eq!(conn.rand_time, Duration::from_secs(300));
    assert!(!conn.mobike && !conn.send_certreq && conn.encap);
    assert_eq!(conn.fragmentation, Fragmentation::Force);
    assert_eq!(conn.send_cert, SendCert::Always);
    assert_eq!(conn.unique, Unique::Replace);
    assert_eq!(conn.keyingtries, 0);
    let (l, r) = (&conn.local[0], &conn.remote[0]);
    assert_eq!(
        (l.round, l.auth, l.revocation),
        (1, AuthMethod::Psk, Revocation::Strict)
    );
    assert_eq!(l.id, Some(certs::IkeId::KeyId(vec![10, 11, 12])));
    assert!(l.certs.is_empty());
    assert_eq!(
        (r.round, r.auth, r.revocation),
        (1, AuthMethod::Psk, Revocation::IfUri)
    );
    assert_eq!(
        r.id,
        Some(certs::IkeId::parse("C=CH, O=Example, CN=peer").unwrap())
    );
    let ch = &conn.children[0];
    assert_eq!(ch.name, "c");
    assert_eq!(
        ch.local_ts,
        [
            Ts::Dynamic,
            Ts::Fixed(parse_ts("10.0.0.0/8[tcp/443]").unwrap())
        ]
    );
    assert_eq!(
        ch.remote_ts,
        [
            Ts::Fixed(parse_ts("10.9.0.1-10.9.0.5").unwrap()),
            Ts::Fixed(parse_ts("::/0").unwrap())
        ]
    );
    assert_eq!(
        ch.esp_proposals,
        parse_list(ProtocolId::ESP, "aes256-sha256-modp2048-esn").unwrap()
    );
    assert_eq!(ch.mode, Mode::Transport);
    assert_eq!(
        (ch.start_action, ch.close_action, ch.dpd_action),
        (Action::Start, Action::Trap, DpdAction::Trap)
    );
    assert_eq!(
        ch.lifetime,
        ChildLifetime {
            rekey_time: Duration::from_secs(1200),
            life_time: Duration::from_secs(1800),
            rand_time: Duration::from_secs(120),
            rekey_bytes: 1 << 20,
            life_bytes: 2_000_000,
            rand_bytes: 1024,
            rekey_packets: 1000,
            life_packets: 2048,
            rand_packets: 10,
        }
    );
    assert_eq!(ch.inactivity, Duration::from_secs(300));
    assert_eq!(ch.updown, Some(PathBuf::from("/usr/lib/ikegw/updown")));
    assert!(ch.hostaccess && !ch.policies);
    assert_eq!((ch.priority, ch.reqid), (7, 42));
    let s = &c.secrets.ike[0];
    assert_eq!(s.name, "s");
    assert_eq!(
        s.ids,
        [
            certs::IkeId::KeyId(vec![10, 11, 12]),
            certs::IkeId::Rfc822("peer@example.com".into())
        ]
    );
    assert_eq!(s.secret.expose_secret(), b"a plain secret string");
    let p4 = c.pool("p4").unwrap();
    assert_eq!(
        *p4,
        PoolConfig {
            name: "p4".into(),
            addrs: IpRange {
                first: v4("10.3.0.1"),
                last: v4("10.3.0.2")
            },
            addrs_text: "10.3.0.0/30".into(),
            dns: vec![v4("10.1.0.53")],
            nbns: vec![v4("10.1.0.54")],
            subnet: vec![Subnet {
                addr: v4("10.1.0.0"),
                prefix: 16
            }],
            split_include: vec![
                Subnet {
                    addr: v4("10.1.0.0"),
                    prefix: 16
                },
                Subnet {
                    addr: v4("10.5.0.0"),
                    prefix: 16
                }
            ],
            split_exclude: vec![Subnet {
                addr: v4("10.1.99.0"),
                prefix: 24
            }],
            split_dns: vec!["corp.example.com".into()],
        }
    );
    // IPv6 CIDR pools leave out only the subnet-router anycast address.
    let p6 = c.pool("p6").unwrap();
    assert_eq!(
        (p6.addrs.first.to_string(), p6.addrs.last.to_string()),
        ("fd00::1".into(), "fd00::3".into())
    );
    assert_eq!(
        c.site
            .as_ref()
            .and_then(|s| s.get("name"))
            .and_then(toml::Value::as_str),
        Some("home")
    );
}

#[test]
fn show_redacts_secrets_and_reads_back() {
    let d = Dir::new();
    let c = d.load(EVERY_KEY).unwrap();
    let out = show::render(&c);
    assert!(!out.contains("a plain secret string"));
    assert!(out.contains("secret = \"<redacted, 21 bytes>\""), "{out}");
    // What --show prints (minus the redacted secret) is itself a valid
    // config with the same meaning.
    // Proposals print in strongSwan's display notation (AES_GCM_16_128/...),
    // which is for reading, not for the parser; [site] is only mentioned.
    let keep = |l: &&str| {
        !l.is_empty()
            && !l.starts_with("proposals")
            && !l.starts_with("esp_proposals")
            && !l.starts_with("# [site]")
    };
    let back: String = out
        .replace("\"<redacted, 21 bytes>\"", "\"a plain secret string\"")
        .lines()
        .filter(keep)
        .map(|l| format!("{l}\n"))
        .collect();
    let c2 = d.load(&back).unwrap_or_else(|e| panic!("{e:?}\n{back}"));
    let again = show::render(&c2);
    assert_eq!(
        again.lines().filter(keep).collect::<Vec<_>>(),
        out.lines().filter(keep).collect::<Vec<_>>()
    );
}

#[test]
fn unreadable_file_is_one_diagnostic() {
    let e = Config::load(Path::new("/nonexistent/ikegw.toml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].to_string(),
        "/nonexistent/ikegw.toml: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn a_table_that_failed_is_not_reported_again_as_missing() {
    // The pool's own error only; not also "pool 'rw' is not defined".
    let text = psk("[pools.rw]\naddrs = \"10.3.0.0/33\"\n")
        .replace("local_addrs", "pools = [\"rw\"]\nlocal_addrs");
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:22:9: invalid pool 'addrs' = '10.3.0.0/33' in pools.rw: prefix length too long"]
    );
    // The secret's own error only; not also "no secret for auth = psk".
    let text = psk("").replace(
        "secret = \"0x00112233445566778899aabbccddeeff\"",
        "secret = \"0xzz\"",
    );
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:19:10: invalid 'secret' in secrets.ike.branch: bad hex after 0x"]
    );
}

#[test]
fn psk_debug_shows_only_the_length() {
    let c = Dir::new().load(&psk("")).unwrap();
    let dbg = format!("{:?}", c.secrets);
    assert!(dbg.contains("<secret len=16>"), "{dbg}");
    assert!(!dbg.contains("0x0011") && !dbg.contains("17, 34"), "{dbg}");
}

#[test]
fn pools_convert_to_lease_store_specs() {
    let c = Dir::new().load(EVERY_KEY).unwrap();
    let specs: Vec<crate::pool::PoolSpec> = c.pools.iter().map(PoolConfig::spec).collect();
    let (mut store, _) = crate::pool::PoolStore::open(&Dir::new().path("leases"), &specs).unwrap();
    // 10.3.0.0/30 leases exactly .1 and .2.
    assert_eq!(
        store.acquire(&["p4"], "a", None).unwrap().to_string(),
        "10.3.0.1"
    );
    assert_eq!(
        store.acquire(&["p4"], "b", None).unwrap().to_string(),
        "10.3.0.2"
    );
    assert!(store.acquire(&["p4"], "c", None).is_err());
}

#[test]
fn site_problems_are_reported_with_the_rest() {
    // [site] belongs to `ikegw provision`; its problems still fail the check.
    let e = errors(&psk("[site]\nname = \"lab\"\n"));
    assert_eq!(e, ["D/ikegw.toml:20:1: in [site]: missing field `wan`"]);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn load_text(text: String) -> Result<Config, Vec<Diagnostic>> {
        Config::from_str(Path::new("/nonexistent-dir/ikegw.toml"), text)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary text never panics; a rejection always says where.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            if let Err(diags) = load_text(text) {
                prop_assert!(!diags.is_empty());
            }
        }

        /// Small edits of a valid file (the way typos happen) never panic,
        /// and every error carries a position inside the file.
        #[test]
        fn edited_valid_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), "[ -~\n]{0,3}"), 1..4)
        ) {
            let mut text = EVERY_KEY.to_owned();
            for (at, insert) in edits {
                let mut cut = at.index(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let end = (cut + insert.len().min(2)).min(text.len());
                let end = if text.is_char_boundary(end) { end } else { cut };
                text.replace_range(cut..end, &insert);
            }
            let lines = text.lines().count().max(1);
            if let Err(diags) = load_text(text) {
                prop_assert!(!diags.is_empty());
                for d in diags {
                    prop_assert!(d.line <= lines + 1, "{d} is past the end ({lines} lines)");
                }
            }
        }
    }
}

#[test]
fn secrets_accept_swanctl_hex_base64_and_plain() {
    let with = |secret: &str| psk("").replace("0x00112233445566778899aabbccddeeff", secret);
    let c = Dir::new()
        .load(&with("0sABEiM0RVZneImaq7zN3u/w=="))
        .unwrap();
    assert_eq!(
        c.secrets.ike[0].secret.expose_secret(),
        [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff
        ]
    );
    assert_eq!(
        errors(&with("0sAB!=")),
        ["D/ikegw.toml:19:10: invalid 'secret' in secrets.ike.branch: bad base64 after 0s"]
    );
    // A single leftover character cannot encode a byte.
    assert_eq!(
        errors(&with("0sABEiM")),
        ["D/ikegw.toml:19:10: invalid 'secret' in secrets.ike.branch: bad base64 after 0s"]
    );
    let c = Dir::new()
        .load(&with("0sc2VjcmV0LXNlY3JldC1zZWNyZXQ="))
        .unwrap();
    assert_eq!(
        c.secrets.ike[0].secret.expose_secret(),
        b"secret-secret-secret"
    );
}

#[test]
fn signature_constraints_in_auth_are_read_as_swanctl_writes_them() {
    use super::{SigHash, SigKey};
    let d = Dir::new();
    d.pki("vpn.example.com");
    let text = cert_config("vpn.example.com", true)
        .replace(
            "certs = [\"gw.crt\"]",
            "auth = \"ike:rsa/pss-sha384-ecdsa-sha256\"\ncerts = [\"gw.crt\"]",
        )
        .replacen("auth = \"pubkey\"\n", "", 1)
        .replace(
            "auth = \"pubkey\"\ncacerts",
            "auth = \"rsa-2048-sha256-ecdsa-384\"\ncacerts",
        );
    let c = d.load(&text).unwrap();
    assert!(!c.daemon.rsa_pss, "strongSwan's default is PKCS#1 v1.5");
    let local = &c.connections[0].local[0].signature;
    assert_eq!(local.keys, [(SigKey::RsaPss, 0), (SigKey::Ecdsa, 0)]);
    assert_eq!(local.hashes, [SigHash::Sha384, SigHash::Sha256]);
    assert_eq!(local.to_auth(), "rsa/pss-ecdsa-sha384-sha256");
    let remote = &c.connections[0].remote[0].signature;
    assert_eq!(remote.keys, [(SigKey::Rsa, 2048), (SigKey::Ecdsa, 384)]);
    assert_eq!(remote.hashes, [SigHash::Sha256]);
    // A plain pubkey constrains nothing.
    let plain = d.load(&cert_config("vpn.example.com", true)).unwrap();
    assert!(plain.connections[0].local[0].signature.is_empty());
    // `[daemon] rsa_pss` is strongswan.conf's charon.rsa_pss.
    let c = d
        .load(&format!(
            "[daemon]\nrsa_pss = \"yes\"\n{}",
            cert_config("vpn.example.com", true)
        ))
        .unwrap();
    assert!(c.daemon.rsa_pss);
}

#[test]
fn signature_constraints_we_cannot_honour_are_refused() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let with = |auth: &str| {
        cert_config("vpn.example.com", true).replacen(
            "auth = \"pubkey\"",
            &format!("auth = \"{auth}\""),
            1,
        )
    };
    assert_eq!(
        d.load(&with("rsa/pss-sha1")).unwrap_err(),
        ["D/ikegw.toml:5:8: auth 'rsa/pss-sha1' in connections.c.local: sha1 signatures are not supported; use sha256, sha384 or sha512"]
    );
    assert_eq!(
        d.load(&with("2048-rsa")).unwrap_err(),
        ["D/ikegw.toml:5:8: invalid value '2048-rsa' for 'auth' in connections.c.local; expected one of psk, pubkey, eap-mschapv2"]
    );
    // The test certificate's key is ECDSA P-256.
    assert_eq!(
        d.load(&with("rsa/pss")).unwrap_err(),
        ["D/ikegw.toml:5:8: auth = \"rsa/pss\" names no key type that fits our ECDSA P-256 key in connections.c.local"]
    );
    assert_eq!(
        d.load(&with("rsa-sha256-bliss")).unwrap_err(),
        ["D/ikegw.toml:5:8: auth 'rsa-sha256-bliss' in connections.c.local: unknown signature constraint 'bliss'; use pubkey, rsa, rsa/pss, ecdsa or ed25519, optionally with a key size and sha256, sha384, sha512"]
    );
}

/// A certificate gateway whose road warriors use EAP-MSCHAPv2, with
/// `remote` and `secrets` as given.
fn eap_config(remote: &str, secrets: &str) -> String {
    format!(
        r#"[connections.c]
remote_addrs = ["%any"]

[connections.c.local]
auth = "pubkey"
certs = ["gw.crt"]
id = "vpn.example.com"

[connections.c.remote]
{remote}

[secrets.private.gw]
file = "gw.key"
{secrets}"#
    )
}

const ALICE: &str = "\n[secrets.eap-alice]\nid = \"alice\"\nsecret = \"correct horse\"\n";

#[test]
fn eap_mschapv2_round_and_eap_secrets_load() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let text = eap_config(
        "auth = \"eap-mschapv2\"\neap_id = \"%any\"",
        &format!(
            "{ALICE}\n[secrets.eap-staff]\nid = [\"bob\", \"carol\"]\nsecret = \"0x626f62\"\n"
        ),
    );
    let c = d.load(&text).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let r = &c.connections[0].remote[0];
    assert_eq!(r.auth, AuthMethod::EapMschapv2);
    assert_eq!(r.eap_id.as_deref(), Some("%any"));
    let users: Vec<(&str, &[String], usize)> = c
        .secrets
        .eap
        .iter()
        .map(|s| (s.name.as_str(), s.ids.as_slice(), s.secret.len()))
        .collect();
    assert_eq!(
        users,
        [
            ("eap-alice", &["alice".to_owned()][..], 13),
            ("eap-staff", &["bob".to_owned(), "carol".to_owned()][..], 3),
        ]
    );
    // Shown redacted, in the file's own layout.
    let shown = show::render(&c);
    assert!(
        shown.contains("auth = \"eap-mschapv2\"\neap_id = \"%any\""),
        "{shown}"
    );
    assert!(
        shown.contains("[secrets.eap-alice]\nid = [\"alice\"]\nsecret = \"<redacted, 13 bytes>\"")
    );
    assert!(!shown.contains("correct horse"));
    // Without eap_id the IKE identity names the user.
    let c = d
        .load(&eap_config("auth = \"eap-mschapv2\"", ALICE))
        .unwrap();
    assert_eq!(c.connections[0].remote[0].eap_id, None);
}

#[test]
fn eap_configuration_errors_are_pinned() {
    let d = Dir::new();
    d.pki("vpn.example.com");
    let e = |remote: &str, secrets: &str| d.load(&eap_config(remote, secrets)).unwrap_err();
    assert_eq!(
        e("auth = \"eap-mschapv2\"", ""),
        ["D/ikegw.toml:10:8: no EAP users for auth = eap-mschapv2 in connections.c.remote; add a [secrets.eap-NAME] with 'id' (the user) and 'secret' (the password)"]
    );
    assert_eq!(
        e("auth = \"eap-mschapv2\"\neap_id = \"alice\"", ALICE),
        ["D/ikegw.toml:11:10: eap_id 'alice' in connections.c.remote: only %any (ask with EAP-Identity) is supported; leave it out to take the user from the IKE identity"]
    );
    assert_eq!(
        e(
            "auth = \"pubkey\"\ncacerts = [\"ca.crt\"]\neap_id = \"%any\"",
            ALICE
        ),
        ["D/ikegw.toml:12:10: 'eap_id' in connections.c.remote needs auth = eap-mschapv2"]
    );
    assert_eq!(
        e("auth = \"eap-md5\"", ALICE),
        ["D/ikegw.toml:10:8: auth 'eap-md5' in connections.c.remote is not supported by ikegw; use psk, pubkey or (remote) eap-mschapv2"]
    );
    assert_eq!(
        e(
            "auth = \"eap-mschapv2\"",
            "\n[secrets.eap-x]\nsecret = \"pw\"\n"
        ),
        ["D/ikegw.toml:15:1: secrets.eap-x has no 'id' (the EAP user name)"]
    );
    assert_eq!(
        e(
            "auth = \"eap-mschapv2\"",
            &format!("{ALICE}\n[secrets.eap-again]\nid = \"alice\"\nsecret = \"x\"\n")
        ),
        ["D/ikegw.toml:20:6: EAP user 'alice' in secrets.eap-again is already in secrets.eap-alice"]
    );
    assert_eq!(
        e(
            "auth = \"eap-mschapv2\"",
            &format!("{ALICE}\n[secrets.ntlm]\nid = \"a\"\n")
        ),
        ["D/ikegw.toml:19:10: key 'ntlm' in secrets is not supported by ikegw: NT hashes are not read; put the password in a [secrets.eap-NAME]"]
    );
    assert_eq!(
        e(
            "auth = \"eap-mschapv2\"",
            "\n[secrets.eap-x]\nid = \"a\"\nsecret = \"two\\nlines\"\n"
        ),
        ["D/ikegw.toml:17:10: 'secret' in secrets.eap-x has control characters, which client profiles cannot carry"]
    );
    // ikegw is never the EAP client, and the gateway must sign.
    let text = eap_config("auth = \"eap-mschapv2\"", ALICE).replacen(
        "auth = \"pubkey\"",
        "auth = \"eap-mschapv2\"",
        1,
    );
    assert_eq!(
        d.load(&text).unwrap_err(),
        ["D/ikegw.toml:5:8: auth = eap-mschapv2 in connections.c.local: ikegw is an EAP server only; use it in the remote round"]
    );
    let text = psk("").replace(
        "[connections.branch.remote]\nauth = \"psk\"",
        "[connections.branch.remote]\nauth = \"eap-mschapv2\"",
    ) + ALICE;
    assert_eq!(
        errors(&text),
        ["D/ikegw.toml:10:8: auth = eap-mschapv2 in connections.branch.remote needs our round to be auth = pubkey: the gateway proves itself with its certificate (RFC 7296 §2.16)"]
    );
}
