//! MODP Diffie-Hellman groups 14, 15 and 16 (RFC 3526 §3–§5) for the KE
//! payload (RFC 7296 §3.4).
//!
//! These are the "native client" key exchanges: the IKEv2 clients built into
//! Windows and older Apple systems offer no elliptic curve by default. *ring*
//! has no finite-field Diffie-Hellman, so the arithmetic comes from
//! `crypto-bigint`: fixed-size `Uint`s in Montgomery form (`MontyForm`),
//! whose exponentiation uses a fixed window with constant-time table
//! lookups, so its timing depends on the exponent's bit length (public)
//! and not on its value. Fixed sizes keep every number on the stack and
//! let the compiler check the primes' lengths.
//!
//! The 768-, 1024- and 1536-bit groups (1, 2, 5) are deliberately absent:
//! RFC 8247 §2.4 says they must not or should not be used.
//!
//! Guarantees:
//! - The private exponent is [`ModpGroup::exponent_bits`] bits drawn from the
//!   caller's `Random`: at least twice the group's security strength, as NIST
//!   SP 800-56A Rev. 3 §5.6.1.1.1 asks for safe-prime groups (2048: 256 bits
//!   for 112-bit strength, 3072: 320 for 128, 4096: 384 for 152). It is
//!   never zero and always below q = (p-1)/2.
//! - Public values and g^ir are big-endian and left-padded with zeros to the
//!   length of the prime (RFC 7296 §3.4 for the KE data; §2.14 for g^ir, as
//!   strongSwan does).
//! - A peer's value must have exactly the prime's length and lie in
//!   [2, p-2] (RFC 7296 §3.4; for safe primes this range check is the whole
//!   validation, RFC 6989 §2.1); anything else is a typed, peer-blamed
//!   [`CryptoError`] before any exponentiation.
//! - The exponent and the shared value are wiped when dropped.

use std::sync::OnceLock;

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Limb, Odd, Uint, Word, U2048, U3072, U4096};
use zeroize::Zeroizing;

use super::{
    ActiveKeyExchange, CryptoError, KeMethod, KeRejection, KeyExchangeGroup, Random, SecretBytes,
    SharedSecret,
};

/// Every RFC 3526 group uses generator 2.
const GENERATOR: u8 = 2;

/// Draws of a private exponent before giving up: a draw is refused only when
/// it is zero, which happens with probability 2^-256 or less.
const KEYGEN_ATTEMPTS: usize = 4;

/// The 2048-bit MODP group's prime (RFC 3526 §3), 2^2048 - 2^1984 - 1 +
/// 2^64 * (floor(2^1918 * pi) + 124476).
const PRIME_2048: U2048 = U2048::from_be_hex(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
     020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
     4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
     EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
     98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
     9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
     E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
     3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// The 3072-bit MODP group's prime (RFC 3526 §4), 2^3072 - 2^3008 - 1 +
/// 2^64 * (floor(2^2942 * pi) + 1690314).
const PRIME_3072: U3072 = U3072::from_be_hex(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
     020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
     4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
     EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
     98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
     9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
     E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
     3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33\
     A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
     ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864\
     D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2\
     08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// The 4096-bit MODP group's prime (RFC 3526 §5), 2^4096 - 2^4032 - 1 +
/// 2^64 * (floor(2^3966 * pi) + 240904).
const PRIME_4096: U4096 = U4096::from_be_hex(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
     020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
     4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
     EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
     98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
     9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
     E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
     3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33\
     A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
     ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864\
     D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2\
     08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7\
     88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8\
     DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2\
     233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9\
     93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

/// A MODP group of RFC 3526 with generator 2, over `LIMBS`-limb integers.
pub struct ModpGroup<const LIMBS: usize> {
    id: KeMethod,
    prime: Uint<LIMBS>,
    exponent_bits: u32,
    /// Montgomery constants of the prime, computed on first use.
    params: OnceLock<MontyParams<LIMBS>>,
}

/// MODP_2048 (group 14, RFC 3526 §3): 256-byte KE data, 256-bit exponent.
pub static MODP_2048: ModpGroup<{ U2048::LIMBS }> =
    ModpGroup::new(KeMethod::MODP_2048, PRIME_2048, 256);
/// MODP_3072 (group 15, RFC 3526 §4): 384-byte KE data, 320-bit exponent.
pub static MODP_3072: ModpGroup<{ U3072::LIMBS }> =
    ModpGroup::new(KeMethod::MODP_3072, PRIME_3072, 320);
/// MODP_4096 (group 16, RFC 3526 §5): 512-byte KE data, 384-bit exponent.
pub static MODP_4096: ModpGroup<{ U4096::LIMBS }> =
    ModpGroup::new(KeMethod::MODP_4096, PRIME_4096, 384);

impl<const LIMBS: usize> ModpGroup<LIMBS> {
    const fn new(id: KeMethod, prime: Uint<LIMBS>, exponent_bits: u32) -> Self {
        Self {
            id,
            prime,
            exponent_bits,
            params: OnceLock::new(),
        }
    }

    /// Length in bits of the private exponents this group draws.
    pub fn exponent_bits(&self) -> u32 {
        self.exponent_bits
    }

    /// The prime p, big-endian, as long as the KE data (for tests and for
    /// checks that need p itself, such as p-1 being refused).
    pub fn prime_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; Uint::<LIMBS>::BYTES];
        write_be(&self.prime, &mut out);
        out
    }

    fn params(&self) -> Result<MontyParams<LIMBS>, CryptoError> {
        if let Some(p) = self.params.get() {
            return Ok(*p);
        }
        let odd = Option::<Odd<Uint<LIMBS>>>::from(Odd::new(self.prime))
            .ok_or(CryptoError::Backend("MODP prime is even"))?;
        // The prime is public, so the variable-time setup leaks nothing.
        Ok(*self.params.get_or_init(|| MontyParams::new_vartime(odd)))
    }

    /// Exponent length in whole bytes, as drawn from `Random`.
    fn exponent_len(&self) -> Result<usize, CryptoError> {
        let bytes = usize::try_from(self.exponent_bits / 8)
            .map_err(|_| CryptoError::Backend("MODP exponent length"))?;
        if bytes == 0 || bytes > Uint::<LIMBS>::BYTES || self.exponent_bits % 8 != 0 {
            return Err(CryptoError::Backend("MODP exponent length"));
        }
        Ok(bytes)
    }
}

/// Reads a big-endian integer of exactly `Uint::<LIMBS>::BYTES` bytes.
fn read_be<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    if bytes.len() != Uint::<LIMBS>::BYTES {
        return None;
    }
    let mut limbs = [Limb::ZERO; LIMBS];
    // Most significant limb first in the bytes, last in the limb array.
    for (limb, chunk) in limbs.iter_mut().rev().zip(bytes.chunks_exact(Limb::BYTES)) {
        *limb = Limb(Word::from_be_bytes(chunk.try_into().ok()?));
    }
    Some(Uint::new(limbs))
}

/// Writes `n` big-endian into `out`, which has `Uint::<LIMBS>::BYTES` bytes
/// (callers allocate it so; a shorter `out` gets only the low limbs).
fn write_be<const LIMBS: usize>(n: &Uint<LIMBS>, out: &mut [u8]) {
    for (limb, chunk) in n
        .as_limbs()
        .iter()
        .rev()
        .zip(out.chunks_exact_mut(Limb::BYTES))
    {
        chunk.copy_from_slice(&limb.0.to_be_bytes());
    }
}

impl<const LIMBS: usize> KeyExchangeGroup for ModpGroup<LIMBS> {
    fn id(&self) -> KeMethod {
        self.id
    }

    fn public_len(&self) -> usize {
        Uint::<LIMBS>::BYTES
    }

    /// Draws the exponent as exactly `exponent_bits / 8` bytes from `rng`
    /// in one call, read big-endian (so a known-answer test can inject a
    /// fixed exponent through a fixed `Random`).
    fn start(&self, rng: &dyn Random) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let params = self.params()?;
        let len = Uint::<LIMBS>::BYTES;
        let exp_len = self.exponent_len()?;
        let mut buf = Zeroizing::new(vec![0u8; len]);
        let start = len
            .checked_sub(exp_len)
            .ok_or(CryptoError::Backend("MODP exponent length"))?;
        let mut drawn = false;
        for _ in 0..KEYGEN_ATTEMPTS {
            let tail = buf
                .get_mut(start..)
                .ok_or(CryptoError::Backend("MODP exponent length"))?;
            rng.fill(tail)?;
            // x = 0 would give the public value 1; x < 2^exponent_bits < q
            // holds by construction.
            if tail.iter().any(|&b| b != 0) {
                drawn = true;
                break;
            }
        }
        if !drawn {
            return Err(CryptoError::Backend("MODP key generation"));
        }
        let x =
            Zeroizing::new(read_be::<LIMBS>(&buf).ok_or(CryptoError::Backend("MODP exponent"))?);
        let g = MontyForm::new(&Uint::from_u8(GENERATOR), params);
        let y = g.pow_bounded_exp(&*x, self.exponent_bits).retrieve();
        let mut public = vec![0u8; len];
        write_be(&y, &mut public);
        Ok(Box::new(ModpActiveKx {
            id: self.id,
            params,
            exponent_bits: self.exponent_bits,
            x,
            public,
        }))
    }
}

/// Our half of a MODP exchange: the exponent and g^x mod p.
struct ModpActiveKx<const LIMBS: usize> {
    id: KeMethod,
    params: MontyParams<LIMBS>,
    exponent_bits: u32,
    x: Zeroizing<Uint<LIMBS>>,
    public: Vec<u8>,
}

impl<const LIMBS: usize> ActiveKeyExchange for ModpActiveKx<LIMBS> {
    fn group(&self) -> KeMethod {
        self.id
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        let len = Uint::<LIMBS>::BYTES;
        // RFC 7296 §3.4: the value is padded to the prime's length, so any
        // other length is malformed.
        let y = read_be::<LIMBS>(peer_public).ok_or(CryptoError::KePublicValueLength {
            group: self.id.0,
            expected: len,
            actual: peer_public.len(),
        })?;
        let p = self.params.modulus().get();
        let p_minus_1 = p.wrapping_sub(&Uint::ONE);
        // RFC 6989 §2.1 / SP 800-56A §5.6.2.3.2 partial check: 1 < y < p-1.
        // 0, 1 and p-1 would force g^ir into {0, 1, ±1}; values >= p are not
        // in the group's encoding at all.
        if y <= Uint::ONE || y >= p_minus_1 {
            return Err(CryptoError::KePublicValueInvalid {
                group: self.id.0,
                reason: KeRejection::OutOfRange,
            });
        }
        let base = Zeroizing::new(MontyForm::new(&y, self.params));
        let z = Zeroizing::new(
            base.pow_bounded_exp(&*self.x, self.exponent_bits)
                .retrieve(),
        );
        // With a safe prime and y in [2, p-2], y has order q or 2q and
        // 0 < x < q, so z = 1 cannot happen; refuse it anyway rather than
        // hand out a predictable g^ir.
        if *z == Uint::ONE {
            return Err(CryptoError::KePublicValueInvalid {
                group: self.id.0,
                reason: KeRejection::OutOfRange,
            });
        }
        let mut out = SecretBytes::zeroed(len);
        write_be(&z, out.secret_bytes_mut());
        Ok(SharedSecret::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_have_their_nominal_size_and_the_rfc_3526_frame() {
        for (bytes, bits) in [
            (MODP_2048.prime_bytes(), 2048),
            (MODP_3072.prime_bytes(), 3072),
            (MODP_4096.prime_bytes(), 4096),
        ] {
            assert_eq!(bytes.len() * 8, bits);
            // Top and bottom 64 bits are all ones (RFC 3526 construction).
            assert!(bytes[..8].iter().all(|&b| b == 0xff));
            assert!(bytes[bytes.len() - 8..].iter().all(|&b| b == 0xff));
            // The first bits after the top 64 are those of pi (0xC90FDAA2...).
            assert_eq!(&bytes[8..12], &[0xc9, 0x0f, 0xda, 0xa2]);
        }
    }

    #[test]
    fn big_endian_round_trip() {
        let mut bytes = vec![0u8; U2048::BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap();
        }
        let n = read_be::<{ U2048::LIMBS }>(&bytes).unwrap();
        let mut out = vec![0u8; U2048::BYTES];
        write_be(&n, &mut out);
        assert_eq!(out, bytes);
        assert!(read_be::<{ U2048::LIMBS }>(&bytes[1..]).is_none());
    }
}
