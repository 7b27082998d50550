//! `ikegw profile`: ready-to-import client profiles for a remote-access
//! connection (#10).
//!
//! [`Profile::from_config`] gathers everything a client needs from the
//! server's validated [`Config`]: the address to dial and the server's
//! identity, the CA that issued the server certificate, the strongest IKE
//! and ESP suites the client kind can express ([`suite`]), DNS, split
//! routes and split DNS from the connection's pools, MOBIKE and DPD. The
//! renderers ([`apple`], [`sswan`], [`windows`], [`swanctl`], [`nm`]) are
//! pure functions of a [`Profile`] and the credentials, so their output can
//! be pinned in tests; [`run`] issues the client certificate, bundles it as
//! PKCS#12 where the client imports one, and writes the files.
//!
//! Certificate clients get a certificate (issued with `--ca`, or given
//! with `--cert`/`--key`); on a connection with `remote.auth =
//! eap-mschapv2`, `--user` names a password user of `[secrets.eap-NAME]`
//! instead ([`eap`]). PSK clients are refused with
//! [`ProfileError::ClientAuth`].

// A one-shot CLI path: errors are made once and printed, so their size
// costs nothing; boxing them would only obscure the types.
#![allow(clippy::result_large_err)]

// Renderers are pure functions, kept `pub(crate)` so tests can call them.
pub(crate) mod apple;
pub(crate) mod creds;
pub(crate) mod eap;
pub(crate) mod nm;
pub(crate) mod sswan;
pub(crate) mod suite;
pub(crate) mod swanctl;
pub(crate) mod windows;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use certs::issue::{Ca, KeyAlgorithm};
use certs::{Certificate, KeyType};
use clap::{Args as ClapArgs, ValueEnum};
use ike::wire::ProtocolId;
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{AddrSpec, AuthMethod, Config, Mode, Subnet, Ts};
use creds::{ClientCredentials, P12Password};
use suite::{ClientKind, Suite};

/// `ikegw profile` arguments.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The connection to make a client profile for (a `[connections.NAME]`).
    conn: String,
    /// The server's configuration file.
    #[arg(long, default_value = "/etc/ikegw/ikegw.toml")]
    config: PathBuf,
    /// The client's name: an e-mail address (ID_RFC822_ADDR) or a DNS name
    /// (ID_FQDN); it becomes the certificate's CN and SAN and the client's IKE identity.
    #[arg(long)]
    user: String,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// CA directory (ca.crt, ca.key) to issue the client certificate with,
    /// as for `ikegw pki issue`; it must be one of the connection's remote cacerts.
    /// Not needed for EAP users, except to name the CA of the server
    /// certificate when no configured file holds it.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Use this existing client certificate instead of issuing one (with --key).
    #[arg(long, requires = "key", conflicts_with = "ca")]
    cert: Option<PathBuf>,
    /// The private key of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Key type of an issued client certificate.
    #[arg(long = "type", value_enum, default_value = "ecdsa")]
    key_type: KeyTypeArg,
    /// Validity of an issued client certificate, in days.
    #[arg(long, default_value_t = 825)]
    days: u32,
    /// The address or DNS name clients dial (default: the connection's
    /// single local address).
    #[arg(long)]
    server: Option<String>,
    /// Read the PKCS#12 password from the first line of this file instead of
    /// generating one.
    #[arg(long)]
    p12_password_file: Option<PathBuf>,
    /// Output directory (created; existing files are never overwritten).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// Profile formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Apple configuration profile (iOS, iPadOS, macOS).
    Mobileconfig,
    /// strongSwan Android app profile (JSON).
    Sswan,
    /// PowerShell script for the Windows native client.
    Powershell,
    /// swanctl.conf plus credentials for a strongSwan client.
    Swanctl,
    /// NetworkManager keyfile for the strongswan plugin.
    Nm,
}

impl Format {
    /// Whose algorithm settings decide the pinned suites.
    pub(crate) fn client(self) -> ClientKind {
        match self {
            Self::Mobileconfig => ClientKind::Apple,
            Self::Powershell => ClientKind::Windows,
            Self::Sswan | Self::Swanctl | Self::Nm => ClientKind::StrongSwan,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyTypeArg {
    /// ECDSA P-256.
    Ecdsa,
    /// ECDSA P-384.
    Ecdsa384,
    /// Ed25519 (not importable on Apple or Windows).
    Ed25519,
}

/// Why a profile cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProfileError {
    /// The configuration does not load.
    #[error("{path}: invalid configuration ({count} errors; run `ikegw check`):\n{text}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Number of errors.
        count: usize,
        /// The diagnostics.
        text: String,
    },
    /// No such connection.
    #[error("no connection '{0}' in the configuration")]
    NoConnection(String),
    /// The clients of this connection do not authenticate with certificates.
    #[error("connection '{conn}': {why}; profiles are made for certificate and EAP-MSCHAPv2 clients only")]
    ClientAuth {
        /// Connection name.
        conn: String,
        /// What is wrong.
        why: String,
    },
    /// The connection is not a remote-access server.
    #[error("connection '{conn}': {why}")]
    NotRemoteAccess {
        /// Connection name.
        conn: String,
        /// What is missing.
        why: String,
    },
    /// `--user` is no EAP user of the secrets.
    #[error("no [secrets.eap-NAME] lists the EAP user '{0}' (with a UTF-8 password)")]
    NoEapUser(String),
    /// No address for clients to dial.
    #[error("connection '{0}': local_addrs has no single address clients can dial; pass --server ADDRESS")]
    NoServerAddress(String),
    /// The CA trust for the server certificate cannot be found.
    #[error("connection '{conn}': the server certificate's issuer '{issuer}' is {why}")]
    ServerCa {
        /// Connection name.
        conn: String,
        /// The issuer DN.
        issuer: String,
        /// What is wrong.
        why: String,
    },
    /// The CA given to issue with is not trusted by the connection.
    #[error("CA '{subject}' from {dir} is not among connection '{conn}' remote cacerts; clients it issues would be rejected")]
    UntrustedCa {
        /// Connection name.
        conn: String,
        /// CA directory.
        dir: PathBuf,
        /// CA subject.
        subject: String,
    },
    /// The given client certificate was not issued by a trusted CA.
    #[error("certificate '{subject}' was issued by '{issuer}', which is not among connection '{conn}' remote cacerts")]
    UntrustedClientCert {
        /// Connection name.
        conn: String,
        /// Cert subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// The client key type cannot be imported by this client.
    #[error("{client} cannot use {key} client keys; use --type ecdsa or ecdsa384")]
    KeyType {
        /// Client label.
        client: &'static str,
        /// Key type.
        key: KeyType,
    },
    /// No suite fits.
    #[error(transparent)]
    Suite(#[from] suite::NoCommonSuite),
    /// The user name is not usable as an identity.
    #[error("--user '{user}' is neither an e-mail address nor a DNS name")]
    BadUser {
        /// The name.
        user: String,
        /// Why.
        #[source]
        source: certs::IssueError,
    },
    /// Issuing failed.
    #[error("issuing the client certificate")]
    Issue(#[from] certs::IssueError),
    /// Loading a certificate or key failed.
    #[error("loading credentials")]
    Load(#[from] certs::LoadError),
    /// PKCS#12 encoding failed.
    #[error("building the PKCS#12 file: {0}")]
    Pkcs12(String),
    /// The password file is empty.
    #[error("{0}: empty PKCS#12 password")]
    EmptyPassword(PathBuf),
    /// The system RNG failed.
    #[error("the system random number generator failed")]
    Random,
    /// Writing output failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Plist serialisation failed.
    #[error("encoding the property list: {0}")]
    Plist(String),
}

/// Everything about the server side a client profile needs.
#[derive(Debug)]
pub(crate) struct Profile {
    /// The server connection's name.
    pub(crate) conn: String,
    /// The name the user sees (`ikegw rw (vpn.example.com)`).
    pub(crate) display_name: String,
    /// The address or DNS name to dial.
    pub(crate) server: String,
    /// The server's IKE port (RFC 7296 §2: 500 unless configured).
    pub(crate) server_port: u16,
    /// The server's IKE identity (IDr) as the client must expect it.
    pub(crate) server_id: String,
    /// The CA that issued the server certificate: the client's trust anchor.
    pub(crate) ca: Certificate,
    /// The CA's common name (Apple's ServerCertificateIssuerCommonName).
    pub(crate) ca_cn: String,
    /// The pinned IKE suite.
    pub(crate) ike: Suite,
    /// The pinned ESP suite.
    pub(crate) esp: Suite,
    /// The CHILD_SA's name on the server.
    pub(crate) child: String,
    /// IKE_SA lifetime the client should use (the server's rekey or
    /// reauth time, whichever is shorter and set), if any.
    pub(crate) ike_lifetime: Option<Duration>,
    /// CHILD_SA rekey time.
    pub(crate) child_lifetime: Option<Duration>,
    /// DNS servers the pools hand out (INTERNAL_IP4/6_DNS).
    pub(crate) dns: Vec<IpAddr>,
    /// Networks to route through the tunnel; empty means everything.
    pub(crate) split_include: Vec<Subnet>,
    /// Networks to keep out of the tunnel.
    pub(crate) split_exclude: Vec<Subnet>,
    /// Domains to resolve with `dns` (RFC 8598).
    pub(crate) split_dns: Vec<String>,
    /// RFC 4555 MOBIKE.
    pub(crate) mobike: bool,
    /// The server's DPD interval (zero: off).
    pub(crate) dpd_delay: Duration,
    /// Whether the server hands out virtual IPs (it has pools).
    pub(crate) virtual_ip: bool,
    /// The virtual IPs to ask for, one per address family the pools serve
    /// (`0.0.0.0`, `::`): asking for a family without a pool makes ikegw
    /// refuse the CHILD_SA (INTERNAL_ADDRESS_FAILURE).
    pub(crate) vip_requests: Vec<&'static str>,
}

impl Profile {
    /// Gather the profile for `conn_name` from a loaded config.
    pub(crate) fn from_config(
        config: &Config,
        conn_name: &str,
        server: Option<&str>,
        client: ClientKind,
    ) -> Result<Self, ProfileError> {
        Self::from_config_with_ca(config, conn_name, server, client, None)
    }

    /// Like [`from_config`](Self::from_config); `ca_hint` is the server
    /// certificate's CA when the configuration's files do not hold it
    /// (EAP users, `--ca`).
    pub(crate) fn from_config_with_ca(
        config: &Config,
        conn_name: &str,
        server: Option<&str>,
        client: ClientKind,
        ca_hint: Option<Certificate>,
    ) -> Result<Self, ProfileError> {
        let conn = config
            .connection(conn_name)
            .ok_or_else(|| ProfileError::NoConnection(conn_name.to_owned()))?;
        let name = conn.name.clone();
        let not_ra = |why: &str| ProfileError::NotRemoteAccess {
            conn: name.clone(),
            why: why.to_owned(),
        };
        let remote = conn
            .remote
            .first()
            .ok_or_else(|| not_ra("no remote round"))?;
        if conn.remote.len() > 1 {
            return Err(ProfileError::ClientAuth {
                conn: name,
                why: "clients must pass more than one authentication round".into(),
            });
        }
        let eap = remote.auth == AuthMethod::EapMschapv2;
        if remote.auth == AuthMethod::Psk {
            return Err(ProfileError::ClientAuth {
                conn: name,
                why: "remote auth is psk".into(),
            });
        }
        if !eap && remote.cacerts.is_empty() {
            return Err(ProfileError::ClientAuth {
                conn: name,
                why: "remote has no cacerts to issue client certificates under".into(),
            });
        }
        let local = conn.local.first().ok_or_else(|| not_ra("no local round"))?;
        if local.auth != AuthMethod::Pubkey {
            // Every client kind here authenticates the server by certificate
            // (the Android app always does; Apple and Windows do for
            // certificate profiles).
            return Err(not_ra(
                "local auth must be pubkey: clients verify the server's certificate",
            ));
        }
        let server_cert_path = local
            .certs
            .first()
            .ok_or_else(|| not_ra("local round has no certificate"))?;
        let server_cert = certs::load::certificate_from_file(server_cert_path)?;

        // EAP clients have no certificates, so the server's CA may sit in
        // its own chain file or another connection's cacerts instead.
        let mut ca_files = remote.cacerts.clone();
        if eap {
            ca_files.extend(local.certs.iter().cloned());
            for c in &config.connections {
                ca_files.extend(c.remote.iter().flat_map(|r| r.cacerts.iter().cloned()));
            }
        }
        let ca = match ca_hint {
            Some(ca) if ca.subject() == server_cert.issuer() => ca,
            _ => match find_ca(&name, &server_cert, &ca_files) {
                Err(ProfileError::ServerCa { conn, issuer, .. }) if eap => {
                    return Err(ProfileError::ServerCa {
                        conn,
                        issuer,
                        why: "in none of the configured certificate files; pass --ca DIR, the directory of the CA that issued it".into(),
                    })
                }
                other => other?,
            },
        };
        let ca_cn = common_name(ca.subject());
        let server = match server {
            Some(s) => s.to_owned(),
            None => single_addr(&conn.local_addrs)
                .ok_or_else(|| ProfileError::NoServerAddress(name.clone()))?,
        };
        let server_id = match &local.id_text {
            Some(id) => id.clone(),
            // Without an explicit id the server sends its certificate's
            // subject DN (RFC 7296 §3.5, as strongSwan does).
            None => server_cert.subject().to_owned(),
        };

        let child = conn
            .children
            .iter()
            .find(|c| c.mode == Mode::Tunnel)
            .ok_or_else(|| not_ra("no tunnel-mode child"))?;
        let ike = suite::choose(&name, "proposals", ProtocolId::IKE, &conn.proposals, client)?;
        let esp_key = format!("children.{}.esp_proposals", child.name);
        let esp = suite::choose(
            &name,
            &esp_key,
            ProtocolId::ESP,
            &child.esp_proposals,
            client,
        )?;

        let pools: Vec<_> = conn.pools.iter().filter_map(|p| config.pool(p)).collect();
        let dns = pools.iter().flat_map(|p| p.dns.iter().copied()).collect();
        let mut split_include: Vec<Subnet> = pools
            .iter()
            .flat_map(|p| p.split_include.iter().copied())
            .collect();
        if split_include.is_empty() {
            // Without pool attributes the child's local_ts is what the
            // server will narrow to; a default route there means full tunnel.
            split_include = child
                .local_ts
                .iter()
                .filter_map(|t| match t {
                    Ts::Fixed(ts) => ts_subnet(ts),
                    Ts::Dynamic => None,
                })
                .filter(|s| s.prefix != 0)
                .collect();
        }
        let split_exclude = pools
            .iter()
            .flat_map(|p| p.split_exclude.iter().copied())
            .collect();
        let split_dns = pools
            .iter()
            .flat_map(|p| p.split_dns.iter().cloned())
            .collect();

        let ike_lifetime = [conn.rekey_time, conn.reauth_time]
            .into_iter()
            .filter(|d| !d.is_zero())
            .min();
        let child_lifetime = Some(child.lifetime.rekey_time).filter(|d| !d.is_zero());
        Ok(Self {
            display_name: format!("ikegw {} ({server})", name),
            conn: name,
            server,
            server_port: conn.local_port,
            server_id,
            ca,
            ca_cn,
            ike,
            esp,
            child: child.name.clone(),
            ike_lifetime,
            child_lifetime,
            dns,
            split_include,
            split_exclude,
            split_dns,
            mobike: conn.mobike,
            dpd_delay: conn.dpd_delay,
            virtual_ip: !conn.pools.is_empty(),
            vip_requests: [("0.0.0.0", true), ("::", false)]
                .into_iter()
                .filter(|(_, v4)| pools.iter().any(|p| p.addrs.first.is_ipv4() == *v4))
                .map(|(a, _)| a)
                .collect(),
        })
    }
}

/// The remote cacert that issued the server certificate.
fn find_ca(
    conn: &str,
    server: &Certificate,
    cacerts: &[PathBuf],
) -> Result<Certificate, ProfileError> {
    for path in cacerts {
        for c in certs::load::certificates_from_file(path)? {
            if c.subject() == server.issuer() {
                return Ok(c);
            }
        }
    }
    Err(ProfileError::ServerCa {
        conn: conn.to_owned(),
        issuer: server.issuer().to_owned(),
        why: "not among the connection's remote cacerts, so the profile cannot carry it".into(),
    })
}

/// `CN=x` out of a DN string; the whole DN when it has no CN.
fn common_name(dn: &str) -> String {
    dn.split(',')
        .map(str::trim)
        .find_map(|rdn| rdn.strip_prefix("CN="))
        .unwrap_or(dn)
        .to_owned()
}

/// The one concrete local address or name, if there is exactly one.
fn single_addr(addrs: &[AddrSpec]) -> Option<String> {
    let mut it = addrs.iter().filter_map(|a| match a {
        AddrSpec::Addr(ip) => Some(ip.to_string()),
        AddrSpec::Host(h) => Some(h.clone()),
        _ => None,
    });
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// A traffic selector that is exactly one prefix (any port, any protocol).
fn ts_subnet(ts: &ike::wire::TrafficSelector) -> Option<Subnet> {
    let (start, end) = match *ts {
        ike::wire::TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start,
            end,
        } => (IpAddr::V4(start), IpAddr::V4(end)),
        ike::wire::TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start,
            end,
        } => (IpAddr::V6(start), IpAddr::V6(end)),
        _ => return None,
    };
    let (s, e) = (
        crate::config::ip_to_u128(start),
        crate::config::ip_to_u128(end),
    );
    let width: u32 = if start.is_ipv4() { 32 } else { 128 };
    let span = e.checked_sub(s)?.checked_add(1);
    let host_bits = match span {
        Some(n) if n.is_power_of_two() => n.trailing_zeros(),
        // The whole IPv6 space overflows u128 by one.
        None if width == 128 && s == 0 => 128,
        _ => return None,
    };
    if host_bits > width || (host_bits < 128 && s & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    let prefix = u8::try_from(width.checked_sub(host_bits)?).ok()?;
    Some(Subnet {
        addr: start,
        prefix,
    })
}

/// A subnet as `addr/prefix`.
pub(crate) fn cidr(s: &Subnet) -> String {
    format!("{}/{}", s.addr, s.prefix)
}

/// A random RFC 4122 version 4 UUID, upper-case as Apple writes them.
pub(crate) fn uuid_v4(rng: &dyn SecureRandom) -> Result<String, ProfileError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b).map_err(|_| ProfileError::Random)?;
    // RFC 4122 §4.4: version 4 in the high nibble of octet 6, variant 10 in octet 8.
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15] = b;
    let (b6, b8) = ((b6 & 0x0f) | 0x40, (b8 & 0x3f) | 0x80);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        hex::encode_upper([b0, b1, b2, b3]),
        hex::encode_upper([b4, b5]),
        hex::encode_upper([b6, b7]),
        hex::encode_upper([b8, b9]),
        hex::encode_upper([b10, b11, b12, b13, b14, b15])
    ))
}

/// One output file.
pub(crate) struct OutFile {
    /// Path relative to the output directory.
    pub(crate) name: PathBuf,
    /// Contents (zeroized: some carry keys).
    pub(crate) bytes: zeroize::Zeroizing<Vec<u8>>,
    /// Unix mode: 0600 for anything with a key or PKCS#12 inside.
    pub(crate) mode: u32,
}

impl OutFile {
    pub(crate) fn public(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            bytes: zeroize::Zeroizing::new(bytes),
            mode: 0o644,
        }
    }

    pub(crate) fn private(name: impl Into<PathBuf>, bytes: zeroize::Zeroizing<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            bytes,
            mode: 0o600,
        }
    }
}

/// A file-name-safe form of `s`.
pub(crate) fn file_stem(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Everything rendered for one format.
pub(crate) struct Rendered {
    /// The files.
    pub(crate) files: Vec<OutFile>,
    /// Whether the output holds a PKCS#12 whose password must be shown.
    pub(crate) uses_p12: bool,
}

/// Render `format` for `profile` and the client's credentials. `out_dir`
/// is where the files will live (the NetworkManager keyfile needs
/// absolute paths); `rng` makes UUIDs.
pub(crate) fn render(
    format: Format,
    profile: &Profile,
    creds: &ClientCredentials,
    password: &P12Password,
    out_dir: &Path,
    rng: &dyn SecureRandom,
) -> Result<Rendered, ProfileError> {
    let key_type = creds.key.key_type();
    let ok_key = !matches!(key_type, KeyType::Ed25519);
    if !ok_key
        && matches!(
            format,
            Format::Mobileconfig | Format::Powershell | Format::Sswan
        )
    {
        return Err(ProfileError::KeyType {
            client: format.client().label(),
            key: key_type,
        });
    }
    let stem = file_stem(&creds.id);
    Ok(match format {
        Format::Mobileconfig => {
            let p12 = creds::pkcs12(creds, &profile.ca, password, creds::P12Encryption::Legacy)?;
            let uuids = apple::Uuids::generate(rng)?;
            let doc = apple::render(profile, creds, &p12, &uuids)?;
            Rendered {
                files: vec![OutFile::private(
                    format!("{stem}.mobileconfig"),
                    zeroize::Zeroizing::new(doc),
                )],
                uses_p12: true,
            }
        }
        Format::Sswan => {
            let p12 = creds::pkcs12(creds, &profile.ca, password, creds::P12Encryption::Legacy)?;
            let doc = sswan::render(profile, creds, &p12, &uuid_v4(rng)?.to_lowercase());
            Rendered {
                files: vec![OutFile::private(format!("{stem}.sswan"), doc)],
                uses_p12: true,
            }
        }
        Format::Powershell => {
            let p12 = creds::pkcs12(creds, &profile.ca, password, creds::P12Encryption::Modern)?;
            let p12_name = format!("{stem}.p12");
            let script = windows::render(profile, &p12_name, "ca.crt");
            Rendered {
                files: vec![
                    OutFile::public(format!("{stem}.ps1"), script.into_bytes()),
                    OutFile::private(p12_name, p12),
                    OutFile::public("ca.crt", profile.ca.to_pem().into_bytes()),
                ],
                uses_p12: true,
            }
        }
        Format::Swanctl => Rendered {
            files: swanctl::render(profile, creds),
            uses_p12: false,
        },
        Format::Nm => Rendered {
            files: nm::render(profile, creds, out_dir, &uuid_v4(rng)?.to_lowercase()),
            uses_p12: false,
        },
    })
}

/// `ikegw profile`.
pub(crate) fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::load(&args.config).map_err(|diags| {
        let mut text = String::new();
        for d in &diags {
            let _ = writeln!(text, "{d}");
        }
        ProfileError::Config {
            path: args.config.clone(),
            count: diags.len(),
            text,
        }
    })?;
    let client = args.format.client();
    let conn = config
        .connection(&args.conn)
        .ok_or_else(|| ProfileError::NoConnection(args.conn.clone()))?;
    if conn
        .remote
        .first()
        .is_some_and(|r| r.auth == AuthMethod::EapMschapv2)
    {
        return run_eap(args, &config, client);
    }
    let profile = Profile::from_config(&config, &args.conn, args.server.as_deref(), client)?;
    let cacerts = conn
        .remote
        .first()
        .map(|r| r.cacerts.as_slice())
        .unwrap_or(&[]);

    let creds = match (&args.ca, &args.cert, &args.key) {
        (_, Some(cert), Some(key)) => {
            let cert = certs::load::certificate_from_file(cert)?;
            let key = certs::PrivateKey::load(key)?;
            if !trusted(cacerts, cert.issuer())? {
                return Err(ProfileError::UntrustedClientCert {
                    conn: args.conn.clone(),
                    subject: cert.subject().to_owned(),
                    issuer: cert.issuer().to_owned(),
                }
                .into());
            }
            ClientCredentials {
                cert,
                key,
                id: args.user.clone(),
            }
        }
        (Some(dir), _, _) => {
            let ca = Ca::load(dir)?;
            if !trusted(cacerts, ca.cert.subject())? {
                return Err(ProfileError::UntrustedCa {
                    conn: args.conn.clone(),
                    dir: dir.clone(),
                    subject: ca.cert.subject().to_owned(),
                }
                .into());
            }
            let alg = match args.key_type {
                KeyTypeArg::Ecdsa => KeyAlgorithm::EcdsaP256,
                KeyTypeArg::Ecdsa384 => KeyAlgorithm::EcdsaP384,
                KeyTypeArg::Ed25519 => KeyAlgorithm::Ed25519,
            };
            creds::issue_client(&ca, &args.user, alg, unix_now(), args.days)?
        }
        _ => {
            return Err(ProfileError::ClientAuth {
                conn: args.conn.clone(),
                why: "neither --ca nor --cert/--key given".into(),
            }
            .into())
        }
    };
    let password = match &args.p12_password_file {
        Some(p) => P12Password::from_file(p)?,
        None => P12Password::generate()?,
    };
    std::fs::create_dir_all(&args.out).map_err(|e| ProfileError::Io {
        path: args.out.clone(),
        source: e,
    })?;
    let out_dir = std::fs::canonicalize(&args.out).map_err(|e| ProfileError::Io {
        path: args.out.clone(),
        source: e,
    })?;
    let rendered = render(
        args.format,
        &profile,
        &creds,
        &password,
        &out_dir,
        &SystemRandom::new(),
    )?;
    let mut written = Vec::new();
    for f in &rendered.files {
        let path = out_dir.join(&f.name);
        write_new(&path, &f.bytes, f.mode)?;
        written.push(path);
    }
    println!(
        "profile for '{}' on connection '{}' ({}):\n  IKE {}\n  ESP {}",
        creds.id,
        profile.conn,
        client.label(),
        profile.ike,
        profile.esp
    );
    for p in &written {
        println!("  wrote {}", p.display());
    }
    if rendered.uses_p12 {
        // Shown once, on stdout only: never logged, never stored by us.
        println!(
            "PKCS#12 password (shown only now; the client asks for it on import): {}",
            password.expose_secret()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ikegw profile` for a password user of an EAP-MSCHAPv2 connection.
fn run_eap(
    args: &Args,
    config: &Config,
    client: ClientKind,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let user = eap::EapUser::from_config(config, &args.user)?;
    let ca_hint = match &args.ca {
        Some(dir) => Some(certs::load::certificate_from_file(&dir.join("ca.crt"))?),
        None => None,
    };
    let profile =
        Profile::from_config_with_ca(config, &args.conn, args.server.as_deref(), client, ca_hint)?;
    std::fs::create_dir_all(&args.out).map_err(|e| ProfileError::Io {
        path: args.out.clone(),
        source: e,
    })?;
    let out_dir = std::fs::canonicalize(&args.out).map_err(|e| ProfileError::Io {
        path: args.out.clone(),
        source: e,
    })?;
    let rendered = eap::render(args.format, &profile, &user, &out_dir, &SystemRandom::new())?;
    let mut written = Vec::new();
    for f in &rendered.files {
        let path = out_dir.join(&f.name);
        write_new(&path, &f.bytes, f.mode)?;
        written.push(path);
    }
    println!(
        "profile for EAP user '{}' on connection '{}' ({}):\n  IKE {}\n  ESP {}",
        user.user,
        profile.conn,
        client.label(),
        profile.ike,
        profile.esp
    );
    for p in &written {
        println!("  wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether some cert in `cacerts` has subject `dn`.
fn trusted(cacerts: &[PathBuf], dn: &str) -> Result<bool, ProfileError> {
    for path in cacerts {
        if certs::load::certificates_from_file(path)?
            .iter()
            .any(|c| c.subject() == dn)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Create `path` with `mode`, refusing to overwrite.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ProfileError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |e| ProfileError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_is_taken_from_the_dn() {
        assert_eq!(
            common_name("CN=Example VPN CA, O=Example"),
            "Example VPN CA"
        );
        assert_eq!(common_name("O=Example, CN=x"), "x");
        assert_eq!(common_name("O=NoCn"), "O=NoCn");
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4(&SystemRandom::new()).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "A" | "B"), "{u}");
    }
}
