//! Profiles for password users: connections whose remote round is
//! `auth = eap-mschapv2` (RFC 7296 §2.16). The user name given with
//! `--user` must be an `id` of a `[secrets.eap-NAME]`; its password goes
//! into the formats that can carry one (swanctl, mobileconfig, nm) and is
//! asked for by the others (the strongSwan app, Windows).

use std::path::Path;

use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::{
    apple, file_stem, nm, sswan, swanctl, uuid_v4, windows, Format, OutFile, Profile, ProfileError,
    Rendered,
};
use crate::config::Config;

/// An EAP-MSCHAPv2 user and password from the server's secrets.
pub(crate) struct EapUser {
    /// The user name (the client's EAP identity and IKE identity).
    pub(crate) user: String,
    /// The password.
    pub(crate) password: Zeroizing<String>,
}

impl std::fmt::Debug for EapUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EapUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl EapUser {
    /// The `[secrets.eap-NAME]` entry listing `user` among its ids.
    pub(crate) fn from_config(config: &Config, user: &str) -> Result<Self, ProfileError> {
        let secret = config
            .secrets
            .eap
            .iter()
            .find(|s| s.ids.iter().any(|i| i == user))
            .ok_or_else(|| ProfileError::NoEapUser(user.to_owned()))?;
        let password = std::str::from_utf8(secret.secret.expose_secret())
            .map_err(|_| ProfileError::NoEapUser(user.to_owned()))?;
        Ok(Self {
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        })
    }
}

/// Render `format` for an EAP user.
pub(crate) fn render(
    format: Format,
    profile: &Profile,
    user: &EapUser,
    out_dir: &Path,
    rng: &dyn SecureRandom,
) -> Result<Rendered, ProfileError> {
    let stem = file_stem(&user.user);
    let files = match format {
        Format::Mobileconfig => {
            let uuids = apple::Uuids::generate(rng)?;
            let doc = apple::render_eap(profile, &user.user, &user.password, &uuids)?;
            vec![OutFile::private(
                format!("{stem}.mobileconfig"),
                Zeroizing::new(doc),
            )]
        }
        Format::Sswan => vec![OutFile::public(
            format!("{stem}.sswan"),
            sswan::render_eap(profile, user, &uuid_v4(rng)?.to_lowercase()).to_vec(),
        )],
        Format::Powershell => vec![
            OutFile::public(
                format!("{stem}.ps1"),
                windows::render_eap(profile, &user.user, "ca.crt").into_bytes(),
            ),
            OutFile::public("ca.crt", profile.ca.to_pem().into_bytes()),
        ],
        Format::Swanctl => swanctl::render_eap(profile, user),
        Format::Nm => nm::render_eap(profile, user, out_dir, &uuid_v4(rng)?.to_lowercase()),
    };
    Ok(Rendered {
        files,
        uses_p12: false,
    })
}
