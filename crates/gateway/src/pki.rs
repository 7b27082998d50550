//! `ikegw pki`: make a CA, issue gateway and client certificates, revoke
//! them, and inspect or verify certificates, on top of the `certs` crate.
//!
//! The command line is the only place that reads the clock: every `certs`
//! call gets the time passed in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use certs::issue::{self, Ca, CertSpec, KeyAlgorithm, Profile, San};
use certs::{IkeId, KeyPurpose, PrivateKey, TrustStore, ValidationOptions};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `ikegw pki`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create a self-signed CA: DIR/ca.crt and DIR/ca.key (mode 0600).
    Ca(CaArgs),
    /// Issue a gateway or client certificate, or an intermediate CA
    /// (--profile ca), signed by a CA directory or --cacert/--cakey.
    Issue(IssueArgs),
    /// Print a summary of certificates or CRLs in a PEM or DER file.
    Show {
        /// Certificate or CRL file.
        file: PathBuf,
    },
    /// Revoke certificates: write DIR/ca.crl, keeping earlier revocations.
    Crl(CrlArgs),
    /// Validate a certificate against a CA, print the chain or why it fails.
    Verify(VerifyArgs),
}

/// Key types for `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyTypeArg {
    /// ECDSA P-256.
    Ecdsa,
    /// ECDSA P-384.
    Ecdsa384,
    /// Ed25519.
    Ed25519,
    /// RSA (needs --key: ring cannot generate RSA keys).
    Rsa,
}

impl KeyTypeArg {
    const fn algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Ecdsa => KeyAlgorithm::EcdsaP256,
            Self::Ecdsa384 => KeyAlgorithm::EcdsaP384,
            Self::Ed25519 => KeyAlgorithm::Ed25519,
            Self::Rsa => KeyAlgorithm::Rsa,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// serverAuth + ipsecIKE, digitalSignature, SANs for the gateway's name/address.
    Gateway,
    /// clientAuth + ipsecIKE, digitalSignature.
    Client,
    /// An intermediate CA: OUT/ca.crt, OUT/ca.key and OUT/ca-chain.crt, a
    /// CA directory that can issue in turn.
    Ca,
}

#[derive(Debug, ClapArgs)]
struct CaArgs {
    /// Common name of the CA (or a full DN such as "C=CH, O=Example, CN=VPN CA").
    #[arg(long)]
    cn: String,
    /// Output directory (created if missing).
    #[arg(long, default_value = "ca")]
    out: PathBuf,
    /// Key type.
    #[arg(long = "type", value_enum, default_value = "ecdsa")]
    key_type: KeyTypeArg,
    /// Use this existing private key instead of generating one (required for rsa).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    days: u32,
    /// pathLenConstraint for the CA.
    #[arg(long)]
    pathlen: Option<u8>,
}

#[derive(Debug, ClapArgs)]
struct IssueArgs {
    /// CA directory holding ca.crt and ca.key (and ca-chain.crt for an
    /// intermediate CA made here).
    #[arg(long, required_unless_present = "cacert", conflicts_with_all = ["cacert", "cakey"])]
    ca: Option<PathBuf>,
    /// Issuing CA certificate file (as strongSwan's `pki --issue --cacert`);
    /// CA certificates after the first one are its own chain.
    #[arg(long, requires = "cakey")]
    cacert: Option<PathBuf>,
    /// Private key of --cacert.
    #[arg(long, requires = "cacert")]
    cakey: Option<PathBuf>,
    /// Common name (or a full DN).
    #[arg(long)]
    cn: String,
    /// subjectAltNames: DNS:name, IP:address, EMAIL:user@host (comma separated
    /// or repeated). A gateway without any gets one derived from --cn.
    #[arg(long, value_delimiter = ',')]
    san: Vec<String>,
    /// Key type.
    #[arg(long = "type", value_enum, default_value = "ecdsa")]
    key_type: KeyTypeArg,
    /// Use this existing private key instead of generating one (required for rsa).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Certificate profile.
    #[arg(long, value_enum, default_value = "gateway")]
    profile: ProfileArg,
    /// Output directory (for --profile ca: the new CA directory).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 825)]
    days: u32,
    /// pathLenConstraint of an intermediate CA (--profile ca); by default
    /// the largest the issuer allows (none below an unconstrained CA).
    #[arg(long)]
    pathlen: Option<u8>,
}

#[derive(Debug, ClapArgs)]
struct CrlArgs {
    /// CA directory holding ca.crt and ca.key; the CRL goes to ca.crl there.
    #[arg(long)]
    ca: PathBuf,
    /// Serial numbers in hex (colons allowed) or certificate files to revoke.
    #[arg(long, value_delimiter = ',')]
    revoke: Vec<String>,
    /// Days until nextUpdate.
    #[arg(long, default_value_t = 30)]
    days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EkuArg {
    /// serverAuth or ipsecIKE.
    Server,
    /// clientAuth or ipsecIKE.
    Client,
    /// No EKU check.
    Any,
}

#[derive(Debug, ClapArgs)]
struct VerifyArgs {
    /// Trusted CA certificate file(s).
    #[arg(long, required = true)]
    ca: Vec<PathBuf>,
    /// Intermediate CA certificate file(s), as the peer would send them.
    #[arg(long)]
    intermediate: Vec<PathBuf>,
    /// CRL file(s).
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// IKE identity the certificate must carry (FQDN, user@host, IP, or DN).
    #[arg(long)]
    id: Option<String>,
    /// Role to check extendedKeyUsage for.
    #[arg(long, value_enum, default_value = "server")]
    eku: EkuArg,
    /// Certificate to verify (PEM may include intermediates after it).
    cert: PathBuf,
}

/// Run `ikegw pki`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let now = unix_now();
    match &args.command {
        PkiCommand::Ca(a) => {
            print!("{}", make_ca(a, now)?);
            Ok(ExitCode::SUCCESS)
        }
        PkiCommand::Issue(a) => {
            print!("{}", issue_cert(a, now)?);
            Ok(ExitCode::SUCCESS)
        }
        PkiCommand::Show { file } => {
            print!("{}", show(file, now)?);
            Ok(ExitCode::SUCCESS)
        }
        PkiCommand::Crl(a) => {
            print!("{}", make_crl(a, now)?);
            Ok(ExitCode::SUCCESS)
        }
        PkiCommand::Verify(a) => match verify(a, now)? {
            Ok(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(text) => {
                eprintln!("ikegw: {text}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn subject_of(cn: &str) -> String {
    if cn.contains('=') {
        cn.to_owned()
    } else {
        format!("CN={cn}")
    }
}

fn obtain_key(key: Option<&Path>, key_type: KeyTypeArg) -> Result<(PrivateKey, bool)> {
    match key {
        Some(path) => Ok((PrivateKey::load(path)?, false)),
        None => Ok((issue::generate_key(key_type.algorithm())?, true)),
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(())
}

fn make_ca(a: &CaArgs, now: i64) -> Result<String> {
    let (key, generated) = obtain_key(a.key.as_deref(), a.key_type)?;
    let spec = CertSpec::new(
        &subject_of(&a.cn),
        Profile::Ca {
            path_len: a.pathlen,
        },
        now,
        a.days,
    );
    let ca = Ca::self_signed(&spec, key)?;
    create_dir(&a.out)?;
    let cert_path = a.out.join(issue::CA_CERT_FILE);
    let key_path = a.out.join(issue::CA_KEY_FILE);
    if generated {
        issue::write_private_key(&key_path, &ca.key)?;
    } else if let Some(src) = &a.key {
        // Keep the CA directory self-contained: copy the key in, still 0600.
        issue::write_private_key(&key_path, &PrivateKey::load(src)?)?;
    }
    issue::write_public(&cert_path, &ca.cert.to_pem())?;
    Ok(format!(
        "CA '{}' ({}), valid {} days\n  certificate: {}\n  private key: {} (mode 0600)\n",
        ca.cert.subject(),
        ca.key.key_type(),
        a.days,
        cert_path.display(),
        key_path.display()
    ))
}

/// A file name from a common name: keep letters, digits, `.`, `-`, `_`, `@`.
fn file_stem(cn: &str) -> String {
    let cn = cn
        .rsplit("CN=")
        .next()
        .unwrap_or(cn)
        .split(',')
        .next()
        .unwrap_or(cn)
        .trim();
    let s: String = cn
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "cert".to_owned()
    } else {
        s
    }
}

/// File name, inside a CA directory, of the CA certificate followed by the
/// intermediate CAs above it (not the root): what an end entity issued
/// there must send after its own certificate (RFC 7296 §3.6).
const CA_CHAIN_FILE: &str = "ca-chain.crt";

/// The issuing CA of `ikegw pki issue`, and the intermediate CAs between it
/// and its root, the issuing CA first (empty when it is the root).
fn load_issuer(a: &IssueArgs) -> Result<(Ca, Vec<certs::Certificate>)> {
    let (ca, chain_file) = match (&a.ca, &a.cacert, &a.cakey) {
        (Some(dir), _, _) => {
            let ca = Ca::load(dir)?;
            let chain = dir.join(CA_CHAIN_FILE);
            (ca, chain.exists().then_some(chain))
        }
        (None, Some(cert), Some(key)) => {
            let list = certs::load::certificates_from_file(cert)?;
            let Some(first) = list.first() else {
                return Err(format!("{}: no certificate", cert.display()).into());
            };
            let ca = Ca::new(first.clone(), PrivateKey::load(key)?)?;
            (ca, Some(cert.clone()))
        }
        _ => return Err("give --ca DIR, or --cacert FILE with --cakey FILE".into()),
    };
    ca.check_can_issue()?;
    let mut inters = match chain_file {
        Some(p) => certs::load::certificates_from_file(&p)?,
        None => Vec::new(),
    };
    // The issuing CA goes first; a root is never sent (the peer must
    // already trust it, RFC 7296 §3.6).
    inters.retain(|c| !c.is_self_issued() && c.der() != ca.cert.der());
    if !ca.cert.is_self_issued() {
        inters.insert(0, ca.cert.clone());
    }
    Ok((ca, inters))
}

fn pem_chain(list: &[&certs::Certificate]) -> String {
    list.iter().map(|c| c.to_pem()).collect()
}

fn issue_cert(a: &IssueArgs, now: i64) -> Result<String> {
    let (ca, above) = load_issuer(a)?;
    let mut sans = a
        .san
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| San::parse(s))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut note = String::new();
    if sans.is_empty() && a.profile != ProfileArg::Ca {
        // iOS, macOS and Windows match the server address or remote ID against
        // the SANs, never the CN; derive one rather than issue a useless cert.
        let cn = file_stem(&a.cn);
        if let Ok(derived) = San::parse(&cn) {
            note = format!("  note: no --san given, added {derived:?} from the common name\n");
            sans.push(derived);
        }
    }
    let profile = match a.profile {
        ProfileArg::Gateway => Profile::Gateway,
        ProfileArg::Client => Profile::Client,
        ProfileArg::Ca => Profile::Ca {
            path_len: a.pathlen,
        },
    };
    if a.pathlen.is_some() && a.profile != ProfileArg::Ca {
        return Err("--pathlen applies to --profile ca only".into());
    }
    let mut spec = CertSpec::new(&subject_of(&a.cn), profile, now, a.days);
    spec.sans = sans;
    let (key, generated) = obtain_key(a.key.as_deref(), a.key_type)?;
    if a.profile == ProfileArg::Ca {
        return issue_intermediate(a, &ca, &above, &spec, &key);
    }
    let cert = ca.issue(&spec, &key)?;
    create_dir(&a.out)?;
    let stem = file_stem(&a.cn);
    let cert_path = a.out.join(format!("{stem}.crt"));
    issue::write_public(&cert_path, &cert.to_pem())?;
    let key_line = if generated {
        let key_path = a.out.join(format!("{stem}.key"));
        issue::write_private_key(&key_path, &key)?;
        format!("  private key: {} (mode 0600)\n", key_path.display())
    } else {
        String::new()
    };
    // Below an intermediate, the peer needs the intermediates too: one
    // file with the certificate first is what `local.certs` takes.
    let chain_line = if above.is_empty() {
        String::new()
    } else {
        let chain_path = a.out.join(format!("{stem}-chain.crt"));
        let list: Vec<&certs::Certificate> = std::iter::once(&cert).chain(&above).collect();
        issue::write_public(&chain_path, &pem_chain(&list))?;
        format!(
            "  chain:       {} (the certificate and {} intermediate CA(s); use it in local.certs)\n",
            chain_path.display(),
            above.len()
        )
    };
    Ok(format!(
        "issued '{}' (serial {}) by '{}'\n  certificate: {}\n{key_line}{chain_line}{note}",
        cert.subject(),
        cert.serial_hex(),
        ca.cert.subject(),
        cert_path.display()
    ))
}

/// `--profile ca`: an intermediate CA in a CA directory of its own, with
/// `ca-chain.crt` so that what it issues can carry the whole chain.
fn issue_intermediate(
    a: &IssueArgs,
    ca: &Ca,
    above: &[certs::Certificate],
    spec: &CertSpec,
    key: &PrivateKey,
) -> Result<String> {
    let cert = ca.issue_intermediate(spec, key)?;
    create_dir(&a.out)?;
    let cert_path = a.out.join(issue::CA_CERT_FILE);
    let key_path = a.out.join(issue::CA_KEY_FILE);
    let chain_path = a.out.join(CA_CHAIN_FILE);
    // A generated key, or a copy of --key as `pki ca --key` keeps one: the
    // CA directory is self-contained either way (mode 0600).
    issue::write_private_key(&key_path, key)?;
    issue::write_public(&cert_path, &cert.to_pem())?;
    let list: Vec<&certs::Certificate> = std::iter::once(&cert).chain(above).collect();
    issue::write_public(&chain_path, &pem_chain(&list))?;
    let path_len = match cert.basic_constraints() {
        Some((true, Some(n))) => format!("pathLen {n}"),
        _ => "no pathLen".to_owned(),
    };
    Ok(format!(
        "intermediate CA '{}' ({}, {path_len}) issued by '{}', valid {} days\n  \
         certificate: {}\n  private key: {} (mode 0600)\n  chain:       {} (issue with --ca {})\n",
        cert.subject(),
        key.key_type(),
        ca.cert.subject(),
        a.days,
        cert_path.display(),
        key_path.display(),
        chain_path.display(),
        a.out.display()
    ))
}

fn validity_note(not_before: i64, not_after: i64, now: i64) -> String {
    if now < not_before {
        format!(
            "not yet valid for another {}",
            certs::fmt::duration(not_before - now)
        )
    } else if now > not_after {
        format!("expired {} ago", certs::fmt::duration(now - not_after))
    } else {
        format!("expires in {}", certs::fmt::duration(not_after - now))
    }
}

fn show(path: &Path, now: i64) -> Result<String> {
    use std::fmt::Write;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let what = path.display().to_string();
    let mut out = String::new();
    match certs::load::certificates_from_bytes(&bytes, &what) {
        Ok(list) => {
            for (i, c) in list.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let (nb, na) = c.validity();
                let sans: Vec<_> = c
                    .subject_alt_names()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let key = c
                    .public_key()
                    .map(|k| k.key_type().to_string())
                    .unwrap_or_else(|e| e.to_string());
                let _ = writeln!(out, "subject:     {}", c.subject());
                let _ = writeln!(out, "issuer:      {}", c.issuer());
                let _ = writeln!(out, "serial:      {}", c.serial_hex());
                let _ = writeln!(out, "not before:  {}", certs::fmt::utc(nb));
                let _ = writeln!(
                    out,
                    "not after:   {} ({})",
                    certs::fmt::utc(na),
                    validity_note(nb, na, now)
                );
                if !sans.is_empty() {
                    let _ = writeln!(out, "altNames:    {}", sans.join(", "));
                }
                match c.basic_constraints() {
                    Some((true, Some(n))) => {
                        let _ = writeln!(out, "CA:          yes, pathLen {n}");
                    }
                    Some((true, None)) => {
                        let _ = writeln!(out, "CA:          yes");
                    }
                    _ => {}
                }
                if let Some(ku) = c.key_usage() {
                    let _ = writeln!(out, "keyUsage:    {}", ku.join(", "));
                }
                if let Some(eku) = c.extended_key_usage() {
                    let _ = writeln!(out, "extKeyUsage: {}", eku.join(", "));
                }
                // Key identifiers link a certificate to its issuer (RFC 5280
                // §4.2.1.1): a chain is whole when each AKI is the SKI above.
                if let Some(ski) = c.subject_key_identifier() {
                    let _ = writeln!(out, "subjkeyId:   {}", certs::fmt::hex_colon(&ski));
                }
                if let Some(aki) = c.authority_key_identifier() {
                    let _ = writeln!(out, "authkeyId:   {}", certs::fmt::hex_colon(&aki));
                }
                let _ = writeln!(out, "public key:  {key}");
                let _ = writeln!(
                    out,
                    "SPKI SHA-1:  {} (CERTREQ hash)",
                    certs::fmt::hex_colon(&c.spki_sha1())
                );
                let _ = writeln!(
                    out,
                    "SHA-256:     {}",
                    certs::fmt::hex_colon(&c.fingerprint_sha256())
                );
            }
        }
        Err(cert_err) => {
            let crls = certs::load::crls_from_bytes(&bytes, &what).map_err(|_| cert_err)?;
            for crl in crls {
                let (this, next) = crl.updates();
                let _ = writeln!(out, "CRL issuer:  {}", crl.issuer());
                let _ = writeln!(out, "thisUpdate:  {}", certs::fmt::utc(this));
                if let Some(next) = next {
                    let state = if next < now {
                        format!("stale for {}", certs::fmt::duration(now - next))
                    } else {
                        format!("in {}", certs::fmt::duration(next - now))
                    };
                    let _ = writeln!(out, "nextUpdate:  {} ({state})", certs::fmt::utc(next));
                }
                for (serial, at) in crl.revoked() {
                    let _ = writeln!(out, "revoked:     {serial} on {}", certs::fmt::utc(at));
                }
            }
        }
    }
    Ok(out)
}

/// Parse a serial as hex, with or without colons.
fn parse_serial(s: &str) -> Result<Vec<u8>> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    let bytes = hex::decode(&hex).map_err(|_| certs::IssueError::BadSerial(s.to_owned()))?;
    if bytes.is_empty() || bytes.len() > 20 {
        return Err(certs::IssueError::BadSerial(s.to_owned()).into());
    }
    Ok(bytes)
}

fn make_crl(a: &CrlArgs, now: i64) -> Result<String> {
    let ca = Ca::load(&a.ca)?;
    let crl_path = a.ca.join(issue::CA_CRL_FILE);
    // Keep what the previous CRL revoked, and count its number up.
    let mut revoked: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut number = 1u64;
    if crl_path.exists() {
        for old in certs::load::crls_from_file(&crl_path)? {
            number = number.saturating_add(1);
            for (serial, at) in old.revoked() {
                let s = parse_serial(&serial)?;
                if !revoked.iter().any(|(r, _)| *r == s) {
                    revoked.push((s, at));
                }
            }
        }
    }
    let mut added = Vec::new();
    for item in &a.revoke {
        let p = Path::new(item);
        let serial = if p.exists() {
            let c = certs::load::certificate_from_file(p)?;
            if c.issuer() != ca.cert.subject() {
                return Err(format!(
                    "{item}: issued by '{}', not by this CA '{}'",
                    c.issuer(),
                    ca.cert.subject()
                )
                .into());
            }
            let raw = c.serial();
            match raw.as_slice() {
                [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
                _ => raw,
            }
        } else {
            parse_serial(item)?
        };
        if !revoked.iter().any(|(r, _)| *r == serial) {
            added.push(certs::fmt::hex_colon(&serial));
            revoked.push((serial, now));
        }
    }
    let crl = ca.issue_crl(&revoked, number, now, a.days)?;
    issue::replace_public(&crl_path, &crl.to_pem())?;
    Ok(format!(
        "CRL #{number} from '{}': {} revoked ({} new: {}), next update in {} days\n  {}\n",
        ca.cert.subject(),
        revoked.len(),
        added.len(),
        if added.is_empty() {
            "none".to_owned()
        } else {
            added.join(", ")
        },
        a.days,
        crl_path.display()
    ))
}

/// Outer `Err` for files we cannot read; inner `Err` for a rejected certificate.
fn verify(a: &VerifyArgs, now: i64) -> Result<std::result::Result<String, String>> {
    let mut store = TrustStore::new();
    for path in &a.ca {
        for c in certs::load::certificates_from_file(path)? {
            store.add_anchor(c);
        }
    }
    for path in &a.crl {
        for crl in certs::load::crls_from_file(path)? {
            store.add_crl(crl);
        }
    }
    let mut peer = certs::load::certificates_from_file(&a.cert)?;
    for path in &a.intermediate {
        peer.extend(certs::load::certificates_from_file(path)?);
    }
    let Some((ee, inters)) = peer.split_first() else {
        return Err(format!("{}: no certificate", a.cert.display()).into());
    };
    let purpose = match a.eku {
        EkuArg::Server => KeyPurpose::Server,
        EkuArg::Client => KeyPurpose::Client,
        EkuArg::Any => KeyPurpose::Any,
    };
    let chain = match certs::validate(
        ee,
        inters,
        &store,
        &ValidationOptions::at_unix(now, purpose),
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut out = String::from("chain OK:\n");
    for (i, c) in chain.certs().iter().enumerate() {
        let (nb, na) = c.validity();
        let role = if i == 0 {
            "end entity"
        } else if i + 1 == chain.certs().len() {
            "trust anchor"
        } else {
            "intermediate"
        };
        out.push_str(&format!(
            "  {i}: {} [{role}, {}]\n",
            c.subject(),
            validity_note(nb, na, now)
        ));
    }
    if let Some(id) = &a.id {
        let id = IkeId::parse(id)?;
        if let Err(e) = id.matches(ee) {
            return Ok(Err(e.to_string()));
        }
        out.push_str(&format!("identity '{id}' matches\n"));
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_478_400; // 2026-11-24 00:00:00 UTC

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ikegw-pki-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn ca_args(dir: &Path, key_type: KeyTypeArg) -> CaArgs {
        CaArgs {
            cn: "Test CA".into(),
            out: dir.to_owned(),
            key_type,
            key: None,
            days: 3650,
            pathlen: None,
        }
    }

    /// Parse a command line the way `ikegw pki ...` would.
    fn cli(args: &[&str]) -> PkiCommand {
        #[derive(Debug, clap::Parser)]
        struct TestCli {
            #[command(subcommand)]
            cmd: PkiCommand,
        }
        let argv = std::iter::once("pki").chain(args.iter().copied());
        <TestCli as clap::Parser>::try_parse_from(argv).unwrap().cmd
    }

    fn issue_args(ca: &Path, out: &Path, cn: &str, san: &[&str], profile: ProfileArg) -> IssueArgs {
        let profile = match profile {
            ProfileArg::Gateway => "gateway",
            ProfileArg::Client => "client",
            ProfileArg::Ca => "ca",
        };
        let (ca, out) = (ca.display().to_string(), out.display().to_string());
        let mut argv = vec![
            "issue",
            "--ca",
            &ca,
            "--cn",
            cn,
            "--profile",
            profile,
            "--out",
            &out,
        ];
        for s in san {
            argv.extend(["--san", s]);
        }
        match cli(&argv) {
            PkiCommand::Issue(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn verify_args(ca: &Path, cert: &Path, id: Option<&str>, eku: EkuArg) -> VerifyArgs {
        VerifyArgs {
            ca: vec![ca.join("ca.crt")],
            intermediate: vec![],
            crl: vec![ca.join("ca.crl")]
                .into_iter()
                .filter(|p| p.exists())
                .collect(),
            id: id.map(str::to_owned),
            eku,
            cert: cert.to_owned(),
        }
    }

    #[test]
    fn ca_issue_show_verify_revoke_round_trip() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("roundtrip");
        let ca_dir = dir.join("ca");
        for kt in [KeyTypeArg::Ecdsa384, KeyTypeArg::Ed25519] {
            let _ = std::fs::remove_dir_all(&dir);
            let out = make_ca(&ca_args(&ca_dir, kt), NOW).unwrap();
            assert!(out.starts_with("CA 'CN=Test CA'"), "{out}");
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&ca_dir.join("ca.key")), 0o600);
            assert_eq!(mode(&ca_dir.join("ca.crt")), 0o644);

            let out = issue_cert(
                &issue_args(
                    &ca_dir,
                    &dir,
                    "gw.example",
                    &["DNS:gw.example,IP:192.0.2.1"],
                    ProfileArg::Gateway,
                ),
                NOW,
            )
            .unwrap();
            assert!(out.starts_with("issued 'CN=gw.example'"), "{out}");
            let gw = dir.join("gw.example.crt");
            assert_eq!(mode(&dir.join("gw.example.key")), 0o600);

            let shown = show(&gw, NOW).unwrap();
            assert!(
                shown.contains("altNames:    DNS:gw.example, IP:192.0.2.1\n"),
                "{shown}"
            );
            assert!(shown.contains("(expires in 825 days)"), "{shown}");
            assert!(
                shown.contains("extKeyUsage: serverAuth, ipsecIKE\n"),
                "{shown}"
            );
            assert!(shown.contains("keyUsage:    digitalSignature\n"), "{shown}");
            assert!(shown.contains("public key:  ECDSA P-256\n"), "{shown}");
            let ca_cert = certs::load::certificate_from_file(&ca_dir.join("ca.crt")).unwrap();
            let spki = certs::fmt::hex_colon(&ca_cert.spki_sha1());
            assert!(show(&ca_dir.join("ca.crt"), NOW)
                .unwrap()
                .contains(&format!("SPKI SHA-1:  {spki} (CERTREQ hash)")));

            let ok = verify(
                &verify_args(&ca_dir, &gw, Some("gw.example"), EkuArg::Server),
                NOW,
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                ok,
                "chain OK:\n  0: CN=gw.example [end entity, expires in 825 days]\n  \
                 1: CN=Test CA [trust anchor, expires in 3650 days]\nidentity 'gw.example' matches\n"
            );
            assert_eq!(
                verify(
                    &verify_args(&ca_dir, &gw, Some("vpn.example"), EkuArg::Server),
                    NOW
                )
                .unwrap()
                .unwrap_err(),
                "peer certificate CN=gw.example rejected: ID 'vpn.example' not in subjectAltName \
                 [DNS:gw.example, IP:192.0.2.1]"
            );
            let later = NOW + 900 * 86_400;
            assert_eq!(
                verify(&verify_args(&ca_dir, &gw, None, EkuArg::Server), later).unwrap().unwrap_err(),
                "certificate 'CN=gw.example' expired 75 days ago (notAfter 2029-02-26 00:00:00 UTC)"
            );

            let crl_out = make_crl(
                &CrlArgs {
                    ca: ca_dir.clone(),
                    revoke: vec![gw.display().to_string()],
                    days: 7,
                },
                NOW,
            )
            .unwrap();
            assert!(
                crl_out.starts_with("CRL #1 from 'CN=Test CA': 1 revoked (1 new"),
                "{crl_out}"
            );
            let err = verify(&verify_args(&ca_dir, &gw, None, EkuArg::Server), NOW + 60)
                .unwrap()
                .unwrap_err();
            assert!(
                err.starts_with("certificate 'CN=gw.example' revoked on 2026-11-24 00:00:00 UTC"),
                "{err}"
            );
            // A second run keeps the first revocation and adds a serial.
            let crl_out = make_crl(
                &CrlArgs {
                    ca: ca_dir.clone(),
                    revoke: vec!["0a:1b".into()],
                    days: 7,
                },
                NOW,
            )
            .unwrap();
            assert!(
                crl_out.starts_with("CRL #2 from 'CN=Test CA': 2 revoked (1 new: 0a:1b)"),
                "{crl_out}"
            );
            let shown = show(&ca_dir.join("ca.crl"), NOW).unwrap();
            assert!(
                shown.contains("revoked:     0a:1b on 2026-11-24 00:00:00 UTC\n"),
                "{shown}"
            );
            assert!(
                shown.contains("nextUpdate:  2026-12-01 00:00:00 UTC (in 7 days)\n"),
                "{shown}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn intermediate_ca_issues_end_entities_whose_chain_verifies() {
        let dir = tmp("inter");
        let root = dir.join("root");
        make_ca(&ca_args(&root, KeyTypeArg::Ecdsa), NOW).unwrap();
        let inter = dir.join("inter");
        let mut a = issue_args(
            &root,
            &inter,
            "C=XX, O=Example, CN=Example Intermediate CA",
            &[],
            ProfileArg::Ca,
        );
        a.pathlen = Some(0);
        let out = issue_cert(&a, NOW).unwrap();
        assert!(
            out.starts_with(
                "intermediate CA 'C=XX, O=Example, CN=Example Intermediate CA' (ECDSA P-256, pathLen 0) \
                 issued by 'CN=Test CA', valid 825 days\n"
            ),
            "{out}"
        );
        let shown = show(&inter.join("ca.crt"), NOW).unwrap();
        assert!(shown.contains("CA:          yes, pathLen 0\n"), "{shown}");
        assert!(
            shown.contains("keyUsage:    digitalSignature, keyCertSign, cRLSign\n"),
            "{shown}"
        );
        assert!(
            !shown.contains("altNames"),
            "a CA gets no derived SAN: {shown}"
        );
        let root_cert = certs::load::certificate_from_file(&root.join("ca.crt")).unwrap();
        let root_ski = certs::fmt::hex_colon(&root_cert.subject_key_identifier().unwrap());
        assert!(
            shown.contains(&format!("authkeyId:   {root_ski}\n")),
            "{shown}"
        );
        // The intermediate directory issues in turn, and hands out the chain.
        let out = issue_cert(
            &issue_args(
                &inter,
                &dir,
                "gw.example",
                &["DNS:gw.example"],
                ProfileArg::Gateway,
            ),
            NOW,
        )
        .unwrap();
        assert!(
            out.contains("by 'C=XX, O=Example, CN=Example Intermediate CA'"),
            "{out}"
        );
        assert!(
            out.contains("gw.example-chain.crt (the certificate and 1 intermediate CA(s); use it in local.certs)"),
            "{out}"
        );
        let chain = certs::load::certificates_from_file(&dir.join("gw.example-chain.crt")).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            chain[0].authority_key_identifier(),
            chain[1].subject_key_identifier()
        );
        // Our validator accepts the chain file as a peer would send it…
        let ok = verify(
            &verify_args(
                &root,
                &dir.join("gw.example-chain.crt"),
                Some("gw.example"),
                EkuArg::Server,
            ),
            NOW,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            ok,
            "chain OK:\n  0: CN=gw.example [end entity, expires in 825 days]\n  \
             1: C=XX, O=Example, CN=Example Intermediate CA [intermediate, expires in 825 days]\n  \
             2: CN=Test CA [trust anchor, expires in 3650 days]\nidentity 'gw.example' matches\n"
        );
        // …and without the intermediate says what is missing.
        let err = verify(
            &verify_args(&root, &dir.join("gw.example.crt"), None, EkuArg::Server),
            NOW,
        )
        .unwrap()
        .unwrap_err();
        assert!(
            err.contains("'C=XX, O=Example, CN=Example Intermediate CA'"),
            "{err}"
        );
        // pathLen 0: no CA below the intermediate.
        let err = issue_cert(
            &issue_args(&inter, &dir.join("sub"), "Sub CA", &[], ProfileArg::Ca),
            NOW,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "CA 'C=XX, O=Example, CN=Example Intermediate CA' has pathLenConstraint 0: \
             it may issue end entities only, not another CA"
        );
        // An end entity cannot be used as an issuer.
        let err = issue_cert(
            &match cli(&[
                "issue",
                "--cacert",
                &dir.join("gw.example.crt").display().to_string(),
                "--cakey",
                &dir.join("gw.example.key").display().to_string(),
                "--cn",
                "x.example",
                "--out",
                &dir.join("x").display().to_string(),
            ]) {
                PkiCommand::Issue(a) => a,
                other => panic!("{other:?}"),
            },
            NOW,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "'CN=gw.example' cannot issue certificates: basicConstraints cA is not set"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cacert_and_cakey_work_as_in_strongswan_pki() {
        let dir = tmp("cacert");
        let root = dir.join("root");
        make_ca(&ca_args(&root, KeyTypeArg::Ed25519), NOW).unwrap();
        let (cacert, cakey) = (
            root.join("ca.crt").display().to_string(),
            root.join("ca.key").display().to_string(),
        );
        let inter = dir.join("inter").display().to_string();
        let a = match cli(&[
            "issue",
            "--cacert",
            &cacert,
            "--cakey",
            &cakey,
            "--profile",
            "ca",
            "--cn",
            "Inter",
            "--pathlen",
            "1",
            "--type",
            "ed25519",
            "--out",
            &inter,
        ]) {
            PkiCommand::Issue(a) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!((a.pathlen, a.profile), (Some(1), ProfileArg::Ca));
        let out = issue_cert(&a, NOW).unwrap();
        assert!(out.contains("(Ed25519, pathLen 1)"), "{out}");
        let c = certs::load::certificate_from_file(&dir.join("inter/ca.crt")).unwrap();
        assert_eq!(c.basic_constraints(), Some((true, Some(1))));
        // --pathlen belongs to CAs; --ca excludes --cacert.
        let mut a = issue_args(&root, &dir, "gw", &[], ProfileArg::Gateway);
        a.pathlen = Some(1);
        assert_eq!(
            issue_cert(&a, NOW).unwrap_err().to_string(),
            "--pathlen applies to --profile ca only"
        );
        #[derive(Debug, clap::Parser)]
        struct TestCli {
            #[command(subcommand)]
            cmd: PkiCommand,
        }
        assert!(<TestCli as clap::Parser>::try_parse_from([
            "pki", "issue", "--ca", "d", "--cacert", "c", "--cakey", "k", "--cn", "x"
        ])
        .is_err());
        assert!(<TestCli as clap::Parser>::try_parse_from([
            "pki", "issue", "--cacert", "c", "--cn", "x"
        ])
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn client_profile_and_derived_san() {
        let dir = tmp("client");
        let ca_dir = dir.join("ca");
        make_ca(&ca_args(&ca_dir, KeyTypeArg::Ecdsa), NOW).unwrap();
        let out = issue_cert(
            &issue_args(&ca_dir, &dir, "alice@example.org", &[], ProfileArg::Client),
            NOW,
        )
        .unwrap();
        assert!(
            out.contains("note: no --san given, added Email(\"alice@example.org\")"),
            "{out}"
        );
        let cert = dir.join("alice@example.org.crt");
        verify(
            &verify_args(&ca_dir, &cert, Some("alice@example.org"), EkuArg::Client),
            NOW,
        )
        .unwrap()
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rsa_without_key_explains_and_existing_files_are_kept() {
        let dir = tmp("rsa");
        let err = make_ca(&ca_args(&dir, KeyTypeArg::Rsa), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot generate RSA keys"), "{err}");
        make_ca(&ca_args(&dir, KeyTypeArg::Ecdsa), NOW).unwrap();
        let err = make_ca(&ca_args(&dir, KeyTypeArg::Ecdsa), NOW)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("ca.key already exists; refusing to overwrite it"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rsa_ca_from_an_existing_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("rsakey");
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/tests/data/sw-ee-rsa.key");
        let key = dir.join("rsa.key");
        std::fs::copy(&src, &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut a = ca_args(&dir.join("ca"), KeyTypeArg::Rsa);
        a.key = Some(key.clone());
        let err = make_ca(&a, NOW).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "private key {p} is readable by group or others (mode 0644); run `chmod 600 {p}`",
                p = key.display()
            )
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(make_ca(&a, NOW).unwrap().contains("(RSA 2048)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn command_line_syntax_of_the_issue_is_accepted() {
        match cli(&[
            "ca", "--cn", "VPN CA", "--type", "ecdsa384", "--days", "10", "--out", "d",
        ]) {
            PkiCommand::Ca(a) => {
                assert_eq!(
                    (a.key_type, a.days, a.out),
                    (KeyTypeArg::Ecdsa384, 10, PathBuf::from("d"))
                );
            }
            other => panic!("{other:?}"),
        }
        match cli(&[
            "issue",
            "--ca",
            "d",
            "--cn",
            "gw",
            "--san",
            "DNS:a,IP:1.2.3.4,EMAIL:x@y",
            "--type",
            "ed25519",
        ]) {
            PkiCommand::Issue(a) => {
                assert_eq!(a.san, ["DNS:a", "IP:1.2.3.4", "EMAIL:x@y"]);
                assert_eq!(
                    (a.key_type, a.profile),
                    (KeyTypeArg::Ed25519, ProfileArg::Gateway)
                );
            }
            other => panic!("{other:?}"),
        }
        match cli(&[
            "crl", "--ca", "d", "--revoke", "0a:1b", "--revoke", "gw.crt",
        ]) {
            PkiCommand::Crl(a) => assert_eq!(a.revoke, ["0a:1b", "gw.crt"]),
            other => panic!("{other:?}"),
        }
        match cli(&[
            "verify",
            "--ca",
            "ca.crt",
            "--intermediate",
            "i.crt",
            "gw.crt",
            "--id",
            "gw",
            "--eku",
            "client",
        ]) {
            PkiCommand::Verify(a) => {
                assert_eq!(
                    (a.cert, a.eku, a.id.as_deref()),
                    (PathBuf::from("gw.crt"), EkuArg::Client, Some("gw"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(cli(&["show", "f.pem"]), PkiCommand::Show { .. }));
    }

    #[test]
    fn serials_parse_as_hex() {
        assert_eq!(parse_serial("0a:1b").unwrap(), vec![0x0a, 0x1b]);
        assert_eq!(parse_serial("a1b").unwrap(), vec![0x0a, 0x1b]);
        assert!(parse_serial("xyz").is_err());
        assert!(parse_serial(&"00".repeat(21)).is_err());
    }
}
