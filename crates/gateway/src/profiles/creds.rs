//! The client's credentials: a certificate issued by the connection's CA
//! (or one given), its key, and the PKCS#12 bundle that carries both.
//!
//! The PKCS#12 password is generated here (or read from a file), handed to
//! the caller once to print, and otherwise kept in zeroizing memory; it is
//! never logged.

use std::path::Path;

use certs::issue::{self, Ca, CertSpec, KeyAlgorithm, Profile, San};
use certs::{Certificate, PrivateKey};
use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::ProfileError;

/// Letters and digits without look-alikes (0/O, 1/l/I), so a password read
/// off a terminal can be typed on a phone.
const PASSWORD_ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// 20 symbols of a 56-letter alphabet: about 116 bits.
const PASSWORD_LEN: usize = 20;

/// A PKCS#12 password; no `Debug`, `Clone` or `Display` (STYLE.md §6).
pub(crate) struct P12Password(Zeroizing<String>);

impl P12Password {
    /// A fresh random password.
    pub(crate) fn generate() -> Result<Self, ProfileError> {
        let rng = SystemRandom::new();
        let mut out = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
        let n = PASSWORD_ALPHABET.len();
        // Rejection sampling keeps every symbol equally likely.
        let limit = 256 - 256 % n;
        while out.len() < PASSWORD_LEN {
            let mut b = [0u8; 1];
            rng.fill(&mut b).map_err(|_| ProfileError::Random)?;
            let v = usize::from(b[0]);
            if v < limit {
                if let Some(&c) = PASSWORD_ALPHABET.get(v % n) {
                    out.push(char::from(c));
                }
            }
        }
        Ok(Self(out))
    }

    /// The first line of `path`.
    pub(crate) fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| ProfileError::Io {
            path: path.to_path_buf(),
            source: e,
        })?);
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(ProfileError::EmptyPassword(path.to_path_buf()));
        }
        Ok(Self(Zeroizing::new(line.to_owned())))
    }

    /// The password text. Named so that every use can be grepped.
    pub(crate) fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// The client's identity and key material.
pub(crate) struct ClientCredentials {
    /// The client certificate.
    pub(crate) cert: Certificate,
    /// Its private key.
    pub(crate) key: PrivateKey,
    /// The IKE identity the client sends (IDi): the e-mail or DNS SAN.
    pub(crate) id: String,
}

/// The SAN and IKE identity for a user name: an e-mail address becomes an
/// rfc822Name (ID_RFC822_ADDR), anything else a dNSName (ID_FQDN). Apple
/// and Windows clients match identities against SANs, never the CN.
pub(crate) fn san_for_user(user: &str) -> Result<San, ProfileError> {
    let text = if user.contains('@') {
        format!("EMAIL:{user}")
    } else {
        format!("DNS:{user}")
    };
    San::parse(&text).map_err(|e| ProfileError::BadUser {
        user: user.to_owned(),
        source: e,
    })
}

/// Issue a client certificate (profile `client`) for `user` with a fresh key.
pub(crate) fn issue_client(
    ca: &Ca,
    user: &str,
    key_alg: KeyAlgorithm,
    now: i64,
    days: u32,
) -> Result<ClientCredentials, ProfileError> {
    let mut spec = CertSpec::new(&format!("CN={user}"), Profile::Client, now, days);
    spec.sans = vec![san_for_user(user)?];
    let key = issue::generate_key(key_alg)?;
    let cert = ca.issue(&spec, &key)?;
    Ok(ClientCredentials {
        cert,
        key,
        id: user.to_owned(),
    })
}

/// How the PKCS#12 file is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P12Encryption {
    /// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, MAC HMAC-SHA256
    /// (RFC 8018; what Windows 10 1709+ and OpenSSL 3 write by default).
    Modern,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA1 MAC (RFC 7292
    /// Appendix C). Weak, but the only scheme older iOS/macOS and Android
    /// KeyChain importers read; the file is protected mostly by the
    /// password's strength and by never being published.
    Legacy,
}

/// Iteration count for both the key derivation and the MAC: OpenSSL's
/// default (PKCS12_DEFAULT_ITER).
const P12_ITERATIONS: u32 = 2048;

/// Bundle key, client certificate and CA certificate into a PKCS#12 file.
pub(crate) fn pkcs12(
    creds: &ClientCredentials,
    ca: &Certificate,
    password: &P12Password,
    enc: P12Encryption,
) -> Result<Zeroizing<Vec<u8>>, ProfileError> {
    let bad = |e: p12_keystore::error::Error| ProfileError::Pkcs12(e.to_string());
    let key = p12_keystore::PrivateKey::from_der(creds.key.secret_bytes()).map_err(bad)?;
    let leaf = p12_keystore::Certificate::from_der(creds.cert.der()).map_err(bad)?;
    let root = p12_keystore::Certificate::from_der(ca.der()).map_err(bad)?;
    // localKeyId ties the key bag to its certificate bag (RFC 7292 §4.2);
    // the SPKI hash is what OpenSSL-made files use in spirit: stable and unique.
    let chain = PrivateKeyChain::new(creds.cert.spki_sha1().to_vec(), key, [leaf, root]);
    let mut store = KeyStore::new();
    store.add_entry(&creds.id, KeyStoreEntry::PrivateKeyChain(chain));
    let (alg, mac) = match enc {
        P12Encryption::Modern => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        P12Encryption::Legacy => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    };
    let der = store
        .writer(password.expose_secret())
        .encryption_algorithm(alg)
        .encryption_iterations(P12_ITERATIONS)
        .mac_algorithm(mac)
        .mac_iterations(P12_ITERATIONS)
        .write()
        .map_err(bad)?;
    Ok(Zeroizing::new(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_use_the_alphabet_and_differ() {
        let a = P12Password::generate().unwrap();
        let b = P12Password::generate().unwrap();
        assert_eq!(a.expose_secret().len(), PASSWORD_LEN);
        assert!(a
            .expose_secret()
            .bytes()
            .all(|c| PASSWORD_ALPHABET.contains(&c)));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn user_names_map_to_email_or_dns_sans() {
        assert_eq!(
            san_for_user("alice@example.com").unwrap(),
            San::Email("alice@example.com".into())
        );
        assert_eq!(
            san_for_user("laptop7.example.com").unwrap(),
            San::Dns("laptop7.example.com".into())
        );
    }
}
