//! Key derivation and AUTH checked against strongSwan 5.9.8.
//!
//! The vector files (`tests/vectors/strongswan-psk*-keys.txt`, provenance in
//! `tests/vectors/README.md`) hold what strongSwan's charon logged for real
//! exchanges. Each test starts only from the inputs (nonces, SPIs, g^ir, PSK,
//! ID payloads, the first message) and derives everything else through
//! `ike::crypto`, comparing every intermediate value with strongSwan's.

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;
use std::path::PathBuf;

use ike::crypto::{
    derive_child_keymat, derive_ike_sa_keys, esp_key_lengths, psk_auth, rekey_skeyseed,
    ring_provider, signed_octets, skeyseed, verify_psk_auth, CryptoError, EncrId, IkeKeyLengths,
    IntegId, KeMethod, Prf, PrfId, SecretBytes, SharedSecret, SignedOctetsInput,
};

/// Parsed `name = hex` lines of one vector file.
struct Vectors {
    file: &'static str,
    values: HashMap<String, String>,
}

impl Vectors {
    fn load(file: &'static str) -> Self {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", file]
            .iter()
            .collect();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("vector file {} is missing: {e}", path.display()));
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{file}: malformed line {line:?}"));
            values.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        Self { file, values }
    }

    fn text(&self, name: &str) -> &str {
        self.values
            .get(name)
            .unwrap_or_else(|| panic!("{}: required value `{name}` is missing", self.file))
    }

    fn hex(&self, name: &str) -> Vec<u8> {
        hex::decode(self.text(name))
            .unwrap_or_else(|e| panic!("{}: `{name}` is not hex: {e}", self.file))
    }

    fn spi(&self, name: &str) -> [u8; 8] {
        self.hex(name)
            .try_into()
            .unwrap_or_else(|_| panic!("{}: `{name}` is not 8 bytes", self.file))
    }

    /// Asserts a derived secret equals the named value, naming both on failure.
    fn check(&self, name: &str, derived: &SecretBytes) {
        assert_eq!(
            hex::encode(derived.secret_bytes()),
            self.text(name),
            "{}: derived `{name}` differs from strongSwan's",
            self.file
        );
    }
}

fn prf(id: PrfId) -> &'static dyn Prf {
    ring_provider().prf(id).unwrap()
}

/// Derives SKEYSEED, all SK_*, the first CHILD_SA's KEYMAT and both AUTH
/// values from the inputs in `v`, checking each against strongSwan.
fn check_initial_exchange(
    v: &Vectors,
    prf: &dyn Prf,
    lengths: IkeKeyLengths,
    esp: (EncrId, u16, IntegId),
) {
    let ni = v.hex("ni");
    let nr = v.hex("nr");
    let g_ir = SharedSecret::from_slice(&v.hex("g_ir"));

    let seed = skeyseed(prf, &ni, &nr, &g_ir).unwrap();
    v.check("skeyseed", &seed);

    let keys = derive_ike_sa_keys(
        prf,
        &seed,
        &ni,
        &nr,
        &v.spi("spi_i"),
        &v.spi("spi_r"),
        lengths,
    )
    .unwrap();
    v.check("sk_d", &keys.sk_d);
    if lengths.integ_key > 0 {
        v.check("sk_ai", &keys.sk_ai);
        v.check("sk_ar", &keys.sk_ar);
    } else {
        assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
    }
    v.check("sk_ei", &keys.sk_ei);
    v.check("sk_er", &keys.sk_er);
    v.check("sk_pi", &keys.sk_pi);
    v.check("sk_pr", &keys.sk_pr);

    // First CHILD_SA, created in IKE_AUTH: KEYMAT = prf+(SK_d, Ni | Nr).
    let child_len = esp_key_lengths(esp.0, Some(esp.1), esp.2).unwrap();
    let child = derive_child_keymat(prf, &keys.sk_d, None, &ni, &nr, child_len).unwrap();
    v.check("child_encr_i", &child.encr_i);
    v.check("child_encr_r", &child.encr_r);
    if child_len.integ > 0 {
        v.check("child_integ_i", &child.integ_i);
        v.check("child_integ_r", &child.integ_r);
    }

    // AUTH (RFC 7296 §2.15). strongSwan logged the whole signed octets; the
    // first message is what precedes `nonce | prf(SK_p, ID')` in them.
    let psk = v.hex("psk");
    for (side, peer_nonce, sk_p) in [("i", &nr, &keys.sk_pi), ("r", &ni, &keys.sk_pr)] {
        let logged = v.hex(&format!("auth_octets_{side}"));
        let tail = peer_nonce.len() + prf.output_len();
        let real_message = &logged[..logged.len() - tail];
        let id = v.hex(&format!("id_{side}"));
        let octets = signed_octets(
            prf,
            &SignedOctetsInput {
                real_message,
                peer_nonce,
                sk_p,
                id_payload_body: &id,
            },
        )
        .unwrap();
        assert_eq!(
            hex::encode(&octets),
            hex::encode(&logged),
            "{}: signed octets of {side} differ",
            v.file
        );
        let auth = v.hex(&format!("auth_{side}"));
        assert_eq!(
            hex::encode(psk_auth(prf, &psk, &octets).unwrap()),
            hex::encode(&auth),
            "{}: PSK AUTH of {side} differs",
            v.file
        );
        verify_psk_auth(prf, &psk, &octets, &auth).unwrap();
        let mut forged = auth.clone();
        forged[0] ^= 1;
        assert_eq!(
            verify_psk_auth(prf, &psk, &octets, &forged),
            Err(CryptoError::AuthMismatch)
        );
    }
}

#[test]
fn aead_ike_sa_keys_child_keys_and_psk_auth_match_strongswan() {
    let v = Vectors::load("strongswan-psk-keys.txt");
    assert_eq!(
        v.text("ike_proposal"),
        "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
    );
    assert_eq!(v.text("esp_proposal"), "AES_GCM_16_256");
    let provider = ring_provider();
    let suite = provider
        .ike_suite(
            EncrId::AES_GCM_16,
            Some(256),
            PrfId::PRF_HMAC_SHA2_384,
            None,
            KeMethod::CURVE_25519,
        )
        .unwrap();
    let lengths = suite.key_lengths();
    assert_eq!(
        lengths,
        IkeKeyLengths {
            prf_key: 48,
            integ_key: 0,
            encr_key: 36
        }
    );
    check_initial_exchange(
        &v,
        suite.prf,
        lengths,
        (EncrId::AES_GCM_16, 256, IntegId::AUTH_NONE),
    );
}

#[test]
fn cbc_ike_sa_keys_child_keys_and_psk_auth_match_strongswan() {
    let v = Vectors::load("strongswan-psk-cbc-keys.txt");
    assert_eq!(
        v.text("ike_proposal"),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    assert_eq!(v.text("esp_proposal"), "AES_CBC_128/HMAC_SHA2_256_128");
    // AES-CBC and MODP-2048 are not in the ring provider (a later crate adds
    // them), but key derivation only needs the lengths: AES-256 key, the
    // HMAC-SHA2-256-128 key, the PRF key (RFC 7296 §2.14, RFC 4868 §2.1).
    let integ = ring_provider()
        .integ(IntegId::AUTH_HMAC_SHA2_256_128)
        .unwrap();
    let lengths = IkeKeyLengths {
        prf_key: 32,
        integ_key: integ.key_len(),
        encr_key: 32,
    };
    check_initial_exchange(
        &v,
        prf(PrfId::PRF_HMAC_SHA2_256),
        lengths,
        (EncrId::AES_CBC, 128, IntegId::AUTH_HMAC_SHA2_256_128),
    );
}

#[test]
fn ike_sa_rekey_keys_match_strongswan() {
    let v = Vectors::load("strongswan-psk-rekey-keys.txt");
    assert_eq!(
        v.text("ike_proposal"),
        "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
    );
    // The rekey's sk_d_old must be the original SA's sk_d.
    let first = Vectors::load("strongswan-psk-keys.txt");
    assert_eq!(v.text("sk_d_old"), first.text("sk_d"));

    let prf = prf(PrfId::PRF_HMAC_SHA2_384);
    let ni = v.hex("ni");
    let nr = v.hex("nr");
    let sk_d_old = SecretBytes::new(v.hex("sk_d_old"));
    let g_ir = SharedSecret::from_slice(&v.hex("g_ir_new"));
    let seed = rekey_skeyseed(prf, &sk_d_old, &g_ir, &ni, &nr).unwrap();
    v.check("skeyseed", &seed);
    let lengths = IkeKeyLengths {
        prf_key: 48,
        integ_key: 0,
        encr_key: 36,
    };
    let keys = derive_ike_sa_keys(
        prf,
        &seed,
        &ni,
        &nr,
        &v.spi("spi_i"),
        &v.spi("spi_r"),
        lengths,
    )
    .unwrap();
    v.check("sk_d", &keys.sk_d);
    v.check("sk_ei", &keys.sk_ei);
    v.check("sk_er", &keys.sk_er);
    v.check("sk_pi", &keys.sk_pi);
    v.check("sk_pr", &keys.sk_pr);
}

// ------------------------------------------------ real strongSwan messages --

/// IKE messages (UDP payloads on ports 500/4500, non-ESP marker removed) of a
/// classic little-endian pcap with Ethernet + IPv4 framing, in capture order.
fn ike_messages(pcap: &str) -> Vec<Vec<u8>> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", pcap]
        .iter()
        .collect();
    let d = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &d[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "{pcap}: classic LE pcap"
    );
    assert_eq!(
        u32::from_le_bytes(d[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &d[off + 16..off + 16 + incl];
        off += 16 + incl;
        // Ethernet II carrying IPv4 / UDP.
        if frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let udp = &frame[14 + ihl..];
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        let mut payload = &udp[8..ulen];
        if sport == 4500 || dport == 4500 {
            // RFC 3948 §2.2: IKE on 4500 starts with a zero non-ESP marker;
            // anything else is ESP.
            match payload.strip_prefix(&[0, 0, 0, 0]) {
                Some(ike) => payload = ike,
                None => continue,
            }
        } else if sport != 500 && dport != 500 {
            continue;
        }
        out.push(payload.to_vec());
    }
    out
}

/// Header fields used below (RFC 7296 §3.1).
struct Hdr {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    first_payload: u8,
    exchange: u8,
    from_original_initiator: bool,
}

fn hdr(m: &[u8]) -> Hdr {
    Hdr {
        spi_i: m[0..8].try_into().unwrap(),
        spi_r: m[8..16].try_into().unwrap(),
        first_payload: m[16],
        exchange: m[18],
        from_original_initiator: m[19] & 0x08 != 0,
    }
}

const SK: u8 = 46;

/// Every encrypted message strongSwan exchanged in the AEAD run opens with
/// our AES-GCM-16-256 SK ciphers built from the derived keys: the two
/// IKE_AUTH messages, the CHILD_SA rekey and the IKE_SA rekey exchange under
/// the first IKE SA's keys, and everything after under the rekeyed SA's keys.
#[test]
fn strongswan_aead_messages_open_with_derived_keys() {
    use ike::crypto::{open_sk, SkKeys};

    let provider = ring_provider();
    let alg = provider.cipher(EncrId::AES_GCM_16, Some(256)).unwrap();
    let prf = prf(PrfId::PRF_HMAC_SHA2_384);
    let lengths = IkeKeyLengths {
        prf_key: 48,
        integ_key: 0,
        encr_key: 36,
    };

    // First IKE SA.
    let v = Vectors::load("strongswan-psk-keys.txt");
    let (ni, nr) = (v.hex("ni"), v.hex("nr"));
    let seed = skeyseed(prf, &ni, &nr, &SharedSecret::from_slice(&v.hex("g_ir"))).unwrap();
    let first_spis = (v.spi("spi_i"), v.spi("spi_r"));
    let first =
        derive_ike_sa_keys(prf, &seed, &ni, &nr, &first_spis.0, &first_spis.1, lengths).unwrap();
    // Rekeyed IKE SA (RFC 7296 §2.18).
    let r = Vectors::load("strongswan-psk-rekey-keys.txt");
    let (rni, rnr) = (r.hex("ni"), r.hex("nr"));
    let rseed = rekey_skeyseed(
        prf,
        &first.sk_d,
        &SharedSecret::from_slice(&r.hex("g_ir_new")),
        &rni,
        &rnr,
    )
    .unwrap();
    let second_spis = (r.spi("spi_i"), r.spi("spi_r"));
    let second = derive_ike_sa_keys(
        prf,
        &rseed,
        &rni,
        &rnr,
        &second_spis.0,
        &second_spis.1,
        lengths,
    )
    .unwrap();
    // As the initiator sees it: outbound = SK_ei.
    let first_keys = SkKeys::new(alg, None, &first, true).unwrap();
    let second_keys = SkKeys::new(alg, None, &second, true).unwrap();

    let mut opened = [0usize; 2];
    let mut exchanges = Vec::new();
    for mut m in ike_messages("strongswan-psk-init-auth.pcap") {
        let h = hdr(&m);
        if h.first_payload != SK {
            continue;
        }
        let (keys, which) = if (h.spi_i, h.spi_r) == first_spis {
            (&first_keys, 0)
        } else if (h.spi_i, h.spi_r) == second_spis {
            (&second_keys, 1)
        } else {
            panic!("message with unknown SPIs");
        };
        let cipher = if h.from_original_initiator {
            keys.outbound()
        } else {
            keys.inbound()
        };
        let inner_type = m[28];
        let range = open_sk(cipher, &mut m, 32)
            .unwrap_or_else(|e| panic!("exchange {} did not open: {e}", h.exchange));
        // The decrypted payload chain is well formed: each generic header's
        // length stays within the plaintext and the chain ends exactly.
        let inner = &m[range];
        let mut next = inner_type;
        let mut pos = 0;
        while next != 0 {
            let len = usize::from(u16::from_be_bytes([inner[pos + 2], inner[pos + 3]]));
            assert!(len >= 4 && pos + len <= inner.len());
            next = inner[pos];
            pos += len;
        }
        assert_eq!(pos, inner.len(), "inner payload chain fills the plaintext");
        opened[which] += 1;
        exchanges.push(h.exchange);
    }
    // README: IKE_AUTH ×2, CREATE_CHILD_SA ×4, INFORMATIONAL ×8 encrypted.
    assert_eq!(exchanges.iter().filter(|&&e| e == 35).count(), 2);
    assert_eq!(exchanges.iter().filter(|&&e| e == 36).count(), 4);
    assert_eq!(exchanges.iter().filter(|&&e| e == 37).count(), 8);
    assert!(
        opened[0] > 0 && opened[1] > 0,
        "both SAs' keys used: {opened:?}"
    );
}

/// In the AES-CBC run, the ICV of every encrypted message (RFC 7296 §3.14:
/// HMAC-SHA2-256-128 over the whole message but the ICV) checks with the
/// derived SK_ai / SK_ar. Decryption would need AES-CBC, which *ring* lacks.
#[test]
fn strongswan_cbc_message_icvs_check_with_derived_integrity_keys() {
    let v = Vectors::load("strongswan-psk-cbc-keys.txt");
    let integ = ring_provider()
        .integ(IntegId::AUTH_HMAC_SHA2_256_128)
        .unwrap();
    let (sk_ai, sk_ar) = (v.hex("sk_ai"), v.hex("sk_ar"));
    let mut checked = 0;
    for m in ike_messages("strongswan-psk-cbc.pcap") {
        let h = hdr(&m);
        if h.first_payload != SK {
            continue;
        }
        let key = if h.from_original_initiator {
            &sk_ai
        } else {
            &sk_ar
        };
        let (data, icv) = m.split_at(m.len() - integ.icv_len());
        integ.verify(key, &[data], icv).unwrap();
        // And the other direction's key does not verify it.
        let other = if h.from_original_initiator {
            &sk_ar
        } else {
            &sk_ai
        };
        assert_eq!(
            integ.verify(other, &[data], icv),
            Err(CryptoError::IntegrityCheckFailed)
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "IKE_AUTH ×2 and INFORMATIONAL ×2");
}
