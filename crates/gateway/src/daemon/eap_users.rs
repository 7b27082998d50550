//! The EAP-MSCHAPv2 user store the IKE core asks when a road warrior
//! authenticates with `remote.auth = "eap-mschapv2"` (RFC 7296 §2.16):
//! built from the `[secrets.eap-NAME]` sections.
//!
//! Only NT hashes (MD4 of the UTF-16LE password, RFC 2759 §8.3) are kept,
//! computed once when the configuration is loaded; the passwords stay in
//! the configuration's zeroizing buffers. Lookups never block.

use std::collections::HashMap;
use std::sync::Arc;

use ike::crypto::mschapv2::NtHash;
use ike::sa::{EapIdentity, EapServerConfig, EapUsers};
use zeroize::Zeroizing;

use crate::config::{AuthRound, EapSecret};

/// User name → NT hash, from the secrets sections.
pub(crate) struct ConfigEapUsers {
    users: HashMap<String, Zeroizing<[u8; 16]>>,
    /// SHA-256 over the sorted (user, NT hash) pairs: a reload with other
    /// users or passwords changes the connection, so the core drops its
    /// SAs rather than keeping a store in which a removed user still works.
    fingerprint: [u8; 32],
}

impl ConfigEapUsers {
    /// Every `id` of every EAP secret; a name listed twice keeps its first
    /// password (the configuration check reports the duplicate).
    pub(crate) fn new(secrets: &[EapSecret]) -> Self {
        let mut users = HashMap::new();
        for s in secrets {
            // Validated as UTF-8 when the configuration was read; a
            // secret that is not is skipped rather than hashed wrongly.
            let Ok(password) = std::str::from_utf8(s.secret.expose_secret()) else {
                continue;
            };
            let hash = NtHash::from_password(password);
            for id in &s.ids {
                users
                    .entry(id.clone())
                    .or_insert_with(|| Zeroizing::new(*hash.secret_bytes()));
            }
        }
        let mut sorted: Vec<_> = users.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (user, hash) in sorted {
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            ctx.update(&u64::try_from(user.len()).unwrap_or(u64::MAX).to_be_bytes());
            ctx.update(user.as_bytes());
            ctx.update(hash.as_slice());
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        Self { users, fingerprint }
    }

    /// How many users there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }
}

impl EapUsers for ConfigEapUsers {
    fn nt_hash(&self, user: &str) -> Option<NtHash> {
        self.users.get(user).map(|h| NtHash::from_bytes(**h))
    }

    fn fingerprint(&self) -> Option<[u8; 32]> {
        Some(self.fingerprint)
    }
}

/// The core's settings for a remote round with `auth = eap-mschapv2`:
/// `eap_id = %any` asks with EAP-Identity, otherwise the IKE identity
/// names the user when it is a name (strongSwan's `eap_id` semantics).
pub(crate) fn server_config(secrets: &[EapSecret], round: &AuthRound) -> EapServerConfig {
    EapServerConfig {
        users: Arc::new(ConfigEapUsers::new(secrets)),
        identity: if round.eap_id.is_some() {
            EapIdentity::Ask
        } else {
            EapIdentity::FromIke
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Psk;

    fn secret(name: &str, ids: &[&str], password: &str) -> EapSecret {
        EapSecret {
            name: name.into(),
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            secret: Psk::from_bytes(password.as_bytes()),
        }
    }

    #[test]
    fn users_map_to_the_nt_hash_of_their_password() {
        let u = ConfigEapUsers::new(&[
            secret("eap-alice", &["alice"], "clientPass"),
            secret("eap-shared", &["bob", "carol"], "pw"),
            secret("eap-alice2", &["alice"], "other"),
        ]);
        assert_eq!(u.len(), 3);
        // RFC 2759 §9.2: NtPasswordHash("clientPass").
        assert_eq!(
            hex::encode(u.nt_hash("alice").unwrap().secret_bytes()),
            "44ebba8d5312b8d611474411f56989ae"
        );
        assert_eq!(
            u.nt_hash("bob").unwrap().secret_bytes(),
            u.nt_hash("carol").unwrap().secret_bytes()
        );
        assert!(u.nt_hash("Alice").is_none());
        assert!(u.nt_hash("mallory").is_none());
    }

    #[test]
    fn fingerprint_changes_with_users_and_passwords_only() {
        let fp = |s: &[EapSecret]| ConfigEapUsers::new(s).fingerprint().unwrap();
        let a = fp(&[secret("x", &["alice", "bob"], "pw")]);
        // Same users, other sections and order: same store.
        let b = fp(&[secret("y", &["bob"], "pw"), secret("z", &["alice"], "pw")]);
        assert_eq!(a, b);
        assert_ne!(a, fp(&[secret("x", &["alice", "bob"], "pw2")]));
        assert_ne!(a, fp(&[secret("x", &["alice"], "pw")]));
    }
}
