//! MS-CHAPv2 computations (RFC 2759 §8) and the MPPE key derivation
//! (RFC 3079 §3) that gives EAP-MSCHAPv2 its MSK.
//!
//! Pure functions over byte arrays: no EAP framing here (that is
//! `sa::eap`), no I/O, no randomness (challenges come in as arguments).
//! Every intermediate that depends on the password is zeroized on drop.
//!
//! MD4 (the NT password hash) comes from RustCrypto `md4` and single DES
//! (the challenge response) from RustCrypto `des`, since ring has neither;
//! SHA-1 comes from ring.

use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::SecretBytes;

/// Length of the authenticator and peer challenges (RFC 2759 §4, §5).
pub const CHALLENGE_LEN: usize = 16;
/// Length of the NT-Response (RFC 2759 §8.1).
pub const NT_RESPONSE_LEN: usize = 24;
/// Length of the EAP-MSCHAPv2 MSK as strongSwan and Windows build it:
/// MasterReceiveKey, MasterSendKey, then 32 zero octets.
pub const MSK_LEN: usize = 64;

/// The signing and key-derivation constants of RFC 2759 §8.7 and
/// RFC 3079 §3.4 (protocol constants, spelled as ASCII).
const MAGIC_SERVER_SIGNING: &[u8] = b"Magic server to client signing constant";
const MAGIC_PAD: &[u8] = b"Pad to make it do more than one iteration";
const MAGIC_MASTER: &[u8] = b"This is the MPPE Master Key";
/// The client's send key, the server's receive key (RFC 3079 §3.4 Magic2).
const MAGIC_CLIENT_SEND: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// The client's receive key, the server's send key (RFC 3079 §3.4 Magic3).
const MAGIC_CLIENT_RECEIVE: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// SHSpad1 / SHSpad2 of RFC 3079 §3.4: 40 octets each.
const SHS_PAD1: [u8; 40] = [0; 40];
const SHS_PAD2: [u8; 40] = [0xf2; 40];

/// The NT password hash: MD4 over the UTF-16LE password (RFC 2759 §8.3).
///
/// What the user store keeps instead of the password. Zeroized on drop,
/// no `Clone`, and `Debug` prints only the length.
#[derive(ZeroizeOnDrop)]
pub struct NtHash([u8; 16]);

impl NtHash {
    /// Hashes a password given as text (RFC 2759 §8.3 `NtPasswordHash`).
    /// Characters outside the BMP become UTF-16 surrogate pairs, as
    /// Windows encodes them.
    pub fn from_password(password: &str) -> Self {
        let mut unicode = Zeroizing::new(Vec::with_capacity(password.len().saturating_mul(2)));
        for unit in password.encode_utf16() {
            unicode.extend_from_slice(&unit.to_le_bytes());
        }
        Self::from_bytes(md4_16(&unicode))
    }

    /// An NT hash stored as such (strongSwan's `NTLM` secrets).
    pub fn from_bytes(hash: [u8; 16]) -> Self {
        Self(hash)
    }

    /// The 16 hash octets.
    pub fn secret_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// `HashNtPasswordHash` (RFC 2759 §8.4): MD4 of the NT hash.
    fn hash_hash(&self) -> Zeroizing<[u8; 16]> {
        Zeroizing::new(md4_16(&self.0))
    }
}

impl std::fmt::Debug for NtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret len=16>")
    }
}

fn md4_16(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Md4::digest(data));
    out
}

fn sha1(parts: &[&[u8]]) -> Zeroizing<[u8; 20]> {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = Zeroizing::new([0u8; 20]);
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The user name as it enters the challenge hash: without a leading
/// `DOMAIN\` part (RFC 2759 §8.2; Windows sends `DOMAIN\user`).
pub fn user_name_for_hash(name: &[u8]) -> &[u8] {
    match name.iter().position(|b| *b == b'\\') {
        Some(i) => name.get(i.saturating_add(1)..).unwrap_or_default(),
        None => name,
    }
}

/// `ChallengeHash` (RFC 2759 §8.2): the first 8 octets of
/// SHA-1(PeerChallenge | AuthenticatorChallenge | UserName). `user_name`
/// is taken as given; strip the domain with [`user_name_for_hash`].
pub fn challenge_hash(
    peer_challenge: &[u8; CHALLENGE_LEN],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
) -> [u8; 8] {
    let d = sha1(&[peer_challenge, authenticator_challenge, user_name]);
    let mut out = [0u8; 8];
    out.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    out
}

/// Spreads 7 key octets over 8 DES key octets, 7 bits each (RFC 2759 §8.6
/// `DesEncrypt` takes a 7-octet key). The low bit of each octet is DES's
/// parity bit, which the cipher ignores, so it is left zero.
fn des_key(k: &[u8; 7]) -> Zeroizing<[u8; 8]> {
    let bits = Zeroizing::new(k.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
    let mut out = Zeroizing::new([0u8; 8]);
    for (i, o) in out.iter_mut().enumerate() {
        // Bits 55..49 of the 56-bit key go to octet 0, and so on.
        let shift = 49u32.saturating_sub(7u32.saturating_mul(u32::try_from(i).unwrap_or(0)));
        let seven = (*bits >> shift) & 0x7f;
        *o = u8::try_from(seven << 1).unwrap_or(0);
    }
    out
}

fn des_encrypt(key7: &[u8; 7], clear: &[u8; 8]) -> [u8; 8] {
    let key = des_key(key7);
    let cipher = des::Des::new(&(*key).into());
    let mut block = (*clear).into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// `ChallengeResponse` (RFC 2759 §8.5): the challenge DES-encrypted under
/// the three 7-octet thirds of the zero-padded 21-octet NT hash.
pub fn challenge_response(challenge: &[u8; 8], hash: &NtHash) -> [u8; NT_RESPONSE_LEN] {
    let mut z = Zeroizing::new([0u8; 21]);
    if let Some(head) = z.get_mut(..16) {
        head.copy_from_slice(&hash.0);
    }
    let mut out = [0u8; NT_RESPONSE_LEN];
    for (third, chunk) in z.chunks_exact(7).zip(out.chunks_exact_mut(8)) {
        let mut k = Zeroizing::new([0u8; 7]);
        k.copy_from_slice(third);
        chunk.copy_from_slice(&des_encrypt(&k, challenge));
    }
    out
}

/// `GenerateNTResponse` (RFC 2759 §8.1). `user_name` as in
/// [`challenge_hash`].
pub fn generate_nt_response(
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
    hash: &NtHash,
) -> [u8; NT_RESPONSE_LEN] {
    let c = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    challenge_response(&c, hash)
}

/// `GenerateAuthenticatorResponse` (RFC 2759 §8.7): the 20 octets the
/// server proves its knowledge of the password with.
pub fn authenticator_response(
    hash: &NtHash,
    nt_response: &[u8; NT_RESPONSE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
) -> [u8; 20] {
    let hh = hash.hash_hash();
    let digest = sha1(&[hh.as_slice(), nt_response, MAGIC_SERVER_SIGNING]);
    let c = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let d = sha1(&[digest.as_slice(), &c, MAGIC_PAD]);
    *d
}

/// The authenticator response as it travels: `S=` and 40 upper-case hex
/// digits (RFC 2759 §5).
pub fn authenticator_response_string(r: &[u8; 20]) -> String {
    let mut s = String::with_capacity(42);
    s.push_str("S=");
    for b in r {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// `GetMasterKey` (RFC 3079 §3.4): 16 octets of
/// SHA-1(PasswordHashHash | NT-Response | Magic1).
pub fn master_key(hash: &NtHash, nt_response: &[u8; NT_RESPONSE_LEN]) -> SecretBytes {
    let hh = hash.hash_hash();
    let d = sha1(&[hh.as_slice(), nt_response, MAGIC_MASTER]);
    SecretBytes::from_slice(d.get(..16).unwrap_or_default())
}

/// `GetAsymetricStartKey` (RFC 3079 §3.4) for 128-bit keys: the send key
/// (`send`) or receive key of the `server` or client side.
pub fn asymmetric_start_key(master_key: &SecretBytes, send: bool, server: bool) -> SecretBytes {
    // The client's send key is the server's receive key (RFC 3079 §3.4).
    let magic = if send == server {
        MAGIC_CLIENT_RECEIVE
    } else {
        MAGIC_CLIENT_SEND
    };
    let d = sha1(&[master_key.secret_bytes(), &SHS_PAD1, magic, &SHS_PAD2]);
    SecretBytes::from_slice(d.get(..16).unwrap_or_default())
}

/// The 64-octet MSK of EAP-MSCHAPv2, identical on both sides: the
/// server's MasterReceiveKey, its MasterSendKey, and 32 zero octets.
/// This is the layout strongSwan and Windows use (the one that
/// interoperates for IKEv2 AUTH, RFC 7296 §2.16).
pub fn msk(hash: &NtHash, nt_response: &[u8; NT_RESPONSE_LEN]) -> SecretBytes {
    let mk = master_key(hash, nt_response);
    let receive = asymmetric_start_key(&mk, false, true);
    let send = asymmetric_start_key(&mk, true, true);
    let mut out = SecretBytes::zeroed(MSK_LEN);
    let buf = out.secret_bytes_mut();
    if let Some(r) = buf.get_mut(..16) {
        r.copy_from_slice(receive.secret_bytes());
    }
    if let Some(s) = buf.get_mut(16..32) {
        s.copy_from_slice(send.secret_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    // RFC 2759 §9.2 and RFC 3079 §3.5.3: user "User", password
    // "clientPass".
    const AUTH_CHALLENGE: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
    const PEER_CHALLENGE: &str = "21402324255E262A28295F2B3A337C7E";

    fn challenges() -> ([u8; 16], [u8; 16]) {
        (
            h(AUTH_CHALLENGE).try_into().unwrap(),
            h(PEER_CHALLENGE).try_into().unwrap(),
        )
    }

    #[test]
    fn rfc2759_nt_password_hash() {
        let nt = NtHash::from_password("clientPass");
        assert_eq!(
            nt.secret_bytes().to_vec(),
            h("44EBBA8D5312B8D611474411F56989AE")
        );
        assert_eq!(
            nt.hash_hash().to_vec(),
            h("41C00C584BD2D91C4017A2A12FA59F3F")
        );
    }

    #[test]
    fn rfc2759_challenge_hash_and_nt_response() {
        let (ac, pc) = challenges();
        assert_eq!(
            challenge_hash(&pc, &ac, b"User").to_vec(),
            h("D02E4386BCE91226")
        );
        let nt = NtHash::from_password("clientPass");
        let r = generate_nt_response(&ac, &pc, b"User", &nt);
        assert_eq!(
            r.to_vec(),
            h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
    }

    #[test]
    fn rfc2759_authenticator_response() {
        let (ac, pc) = challenges();
        let nt = NtHash::from_password("clientPass");
        let r = generate_nt_response(&ac, &pc, b"User", &nt);
        let a = authenticator_response(&nt, &r, &pc, &ac, b"User");
        assert_eq!(
            authenticator_response_string(&a),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
    }

    #[test]
    fn rfc3079_master_and_send_key() {
        let (ac, pc) = challenges();
        let nt = NtHash::from_password("clientPass");
        let r = generate_nt_response(&ac, &pc, b"User", &nt);
        let mk = master_key(&nt, &r);
        assert_eq!(
            mk.secret_bytes().to_vec(),
            h("FDECE3717A8C838CB388E527AE3CDD31")
        );
        // RFC 3079 §3.5.3 derives the server's send key (IsSend, IsServer).
        let send = asymmetric_start_key(&mk, true, true);
        assert_eq!(
            send.secret_bytes().to_vec(),
            h("8B7CDC149B993A1BA118CB153F56DCCB")
        );
        // The client's receive key is the same key.
        let client_rx = asymmetric_start_key(&mk, false, false);
        assert_eq!(client_rx.secret_bytes(), send.secret_bytes());
    }

    #[test]
    fn msk_is_receive_then_send_then_zeros() {
        let (ac, pc) = challenges();
        let nt = NtHash::from_password("clientPass");
        let r = generate_nt_response(&ac, &pc, b"User", &nt);
        let m = msk(&nt, &r);
        assert_eq!(m.len(), MSK_LEN);
        let mk = master_key(&nt, &r);
        let rx = asymmetric_start_key(&mk, false, true);
        assert_eq!(&m.secret_bytes()[..16], rx.secret_bytes());
        assert_eq!(
            m.secret_bytes()[16..32].to_vec(),
            h("8B7CDC149B993A1BA118CB153F56DCCB")
        );
        assert_eq!(&m.secret_bytes()[32..], &[0u8; 32]);
    }

    #[test]
    fn domain_is_stripped_from_the_hashed_user_name() {
        assert_eq!(user_name_for_hash(b"CORP\\User"), b"User");
        assert_eq!(user_name_for_hash(b"User"), b"User");
        assert_eq!(user_name_for_hash(b"CORP\\"), b"");
    }

    #[test]
    fn nt_hash_debug_hides_the_value() {
        assert_eq!(
            format!("{:?}", NtHash::from_password("x")),
            "<secret len=16>"
        );
    }
}
