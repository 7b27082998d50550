//! Signature AUTH (RFC 7427 method 14, RFC 4754 methods 9/10, RFC 7296
//! method 1) through the `Signer` / `Verifier` seam.
//!
//! The keys and signatures below were made with Python `cryptography`
//! (OpenSSL), independently of *ring*: verifying them shows our AUTH-data
//! framing, AlgorithmIdentifier parsing and SubjectPublicKeyInfo decoding
//! interoperate; signing with our `RingSigner` and verifying shows the other
//! direction round-trips.

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use ike::crypto::{
    AuthMethod, CryptoError, HashAlgorithm, PublicKey, RingSigner, RingVerifier, SignatureScheme,
    Signer, Verifier,
};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 7427 §3 AUTH data: length byte, AlgorithmIdentifier, signature.
fn rfc7427(scheme: SignatureScheme, sig: &[u8]) -> Vec<u8> {
    let algid = scheme.algorithm_identifier();
    let mut d = vec![algid.len() as u8];
    d.extend_from_slice(&algid);
    d.extend_from_slice(sig);
    d
}

/// The message every signature below signs.
const MSG: &[u8] = b"RFC 7296 signed octets for an RSA test";

const RSA_PKCS8: &str = concat!(
    "308204bd020100300d06092a864886f70d0101010500048204a7308204a30201000282010100b108d4d28380cc9d29c5",
    "e7ef3b8b38bb93e04e643431ebd781196dbf0b2bc83e010b3aee2004710bd68764d51c2bec56dc814805ade7da758888",
    "57afb72e84831b99857bfa86e8ebd140435510c52bb1015c435fc2f3a75bb9986e0b73c95eecab4319657b431bf7d2b6",
    "96b5a5ee52a94da98f91c952117f7f5d97f4583f8414cfe484019b1685f4cf5a6d76839af8b1ff9065ba9021546e81a0",
    "230d2ad48f358d2f21043f94f0aa335b6f232774084fc55267139f789501b8b4c12b65bf92649ff1bfcf2a7adb94e3b7",
    "02944d584e8371476d0cdc0e51353f4648e5bab42d33200339f61f5b089e89c88a3d3b41d63f6b323ce52cd9a13d2dbc",
    "992653c93a1502030100010282010012172df04921db46e022ea1d873f25cffd3f79a341b62c3c7c63c5d434e7077256",
    "96f831a731ecff61afba3d10c0e848c405adff6e92f7bef4f1c1cc21f2edf59bd7674d90ff4243fec10b6060f35510a4",
    "6bf23291f06614b8757c214d76b16d8bdeb274ad50e145c4d185bb1036b759b7a6f115dbb5b8360824df4747d14dc4ca",
    "df267fdddde2f8e9f885599acac740d4f8e2d1563ac47fcf50b532610b077ac45a037eeabfdcc9fbdcf692ea02e10a8f",
    "254044cbe3671d8375cc89803f0fa9103f2c855379c1f94dcad729fa2ee461d18fa378046979e5756ff11fdc74dc1f3e",
    "bf5c9aaca5f9f8114ff97d4cfc4015bb3a4256118cfc12b9c91ef52b6e368d02818100ef4c198c79965f6236fb473763",
    "6f26149914fedaa447f474bb683ccadeb9eaa9b64a7aba539f265760866931ce8aed79d891d0190a94963bbd3d6c3510",
    "4e6384076be0aa81fa35388d7d9afb6fd0188fa12e951f775a7ce5a1e740855d5d65de6a0c5b5e2cb95a63f0b5ceb5da",
    "f70ff3438e9c59694d7bdbf123d9ab1112b35f02818100bd642f523769defb9ab99e458acea9fed4781f585ead1e9647",
    "6716cd81e92882abef792f44ce52082e6c7f15fbd6866316288c80c98efaf436be2a36ca8b99d4409809b53ab6cc8bd2",
    "9170e49dbcdd5afcba4561b848b5461f35ba229b778df3161e30d102787303d8f283f9ce8da11aada8fed64f1bda2978",
    "635b207f3f9b0b02818100a75908e4fc82f4e1b2a1b8043c3d96dc00d2760861ab1082322d8b96347cc0673f5c86c797",
    "834d44fdf401cd1b2c7d372105980a6b23ce8ca8a333f1481e09ea6366460ff8260ae229d1157991906e1cc413d7a5d1",
    "ca2e5e49037853cc1f6d064613ae320604f9f9ba74eac2b306e4d8b2fe20c946a3316377182339470f54f102818065d2",
    "ce4a52b69e0701f9d7e925a6d4e8c80cc93576b976df6f0632d14c8e319487a219b25b38de0bbe01e115cdaf59d33e1f",
    "90e2d0fb095b716f2e3d050aa72ae18b9c748e5ba77f69377ecdbb2cc689dba4be16bac0848d6dcc3205d73620e057bc",
    "e59c09cafe734c199ef118a736bda42e5ecc93fdb27e67566bb0fe19115f0281800c17fae0d8bda73a266969e345d963",
    "647a1fd898c36b6f2e58a10b80c209b5613b7023e5a3f01d3f53f767552824438856ba2f61085349873ec138027fd550",
    "903ef219a570cc4522ee21b25e57c6335bab1ad5c54395c60f6b6b7673d7bdaf53ffce8e4e8c4a545238e4646d9c9f51",
    "1db11bd289eea875bde0caf83987154556",
);

const RSA_SPKI: &str = concat!(
    "30820122300d06092a864886f70d01010105000382010f003082010a0282010100b108d4d28380cc9d29c5e7ef3b8b38",
    "bb93e04e643431ebd781196dbf0b2bc83e010b3aee2004710bd68764d51c2bec56dc814805ade7da75888857afb72e84",
    "831b99857bfa86e8ebd140435510c52bb1015c435fc2f3a75bb9986e0b73c95eecab4319657b431bf7d2b696b5a5ee52",
    "a94da98f91c952117f7f5d97f4583f8414cfe484019b1685f4cf5a6d76839af8b1ff9065ba9021546e81a0230d2ad48f",
    "358d2f21043f94f0aa335b6f232774084fc55267139f789501b8b4c12b65bf92649ff1bfcf2a7adb94e3b702944d584e",
    "8371476d0cdc0e51353f4648e5bab42d33200339f61f5b089e89c88a3d3b41d63f6b323ce52cd9a13d2dbc992653c93a",
    "150203010001",
);

const RSA_SIG_PSS_SHA256: &str = concat!(
    "4a9a0101d52237d92fcf15ac2bfe9a8659d467e3a124c49deaf6a1c0fb4114b56850bcce0e253176e91e6a10ddd21a62",
    "69e44831ca7d1e5e2955f5dfe8019a8dab632eae6da6124607055c35f885dacb1f6e5a2babe30d2ac7aa7bc29ad11cc1",
    "557268dbb334fa74fcfdc973273492521b49f739975aa24378b35ff33eff72ae6ad09367d106c37f67edd60ce775bf64",
    "5f8aa2730e37e9aaaaae5a6b31a1232086de70c7523ad5a8b70094abeceea669ecfe61b5fac39ca6f6cd8d7a0b3b077f",
    "13b060496fcac673a116900eb679583567ab0913880ffa7d3d3d662247c5332e26399246bb6c25b30365a90458111e66",
    "bd73337235fe066f85c3d1b27589ed5d",
);

const RSA_SIG_PSS_SHA384: &str = concat!(
    "287c65a4d89d3e732cb37f2de684a2b9e7cd634859987db628de2c2e4c0ecc472ae77622e269d8bd285aebbc5e2be756",
    "62b8e1baa82d3c02827bd5a3ca20e5859d359ad5f53cb70ece8867135bbaaca5cae530b947cbb44213f12d3e21e38ca7",
    "28d7c7c51b46a1f06305157b83c4816450fd6d8eb923e9c1e5651b66e40f3af739cd0eeadb613a5973376b05af8bf469",
    "6a831d7072d7fc5b2d8d6141c9cbce92e674801a34cc18a3a691df50fc5fd59a050ca82d4e53cd3c74ef27e30aeb53ff",
    "2b52ddd9b2bfcede823c48287b22e7647bce2e1cbac3111be6a0451987ff3d18bf7681ed18d310690ea0dd15f13e5ac4",
    "e9ad7fe1cd51f77e0c9c8401dba58a4d",
);

const RSA_SIG_PSS_SHA512: &str = concat!(
    "0653d59a6751875ff54748c760229118db9232d12faa8834d7a0ed6e7e489b81ddf3182883211d4e36bc0516096f1a44",
    "d56a0b617c8b43bedb00d4599687aab1bc1925dc3cd46d158b354327fb2dd4a562a4d2336e45cff34df2f57c59a7ac86",
    "194ecf297c6796e33cb34d2b56672baa74e2580a80468f6109e3c4e162ed2e6ccc848cd880aae0d61abdb66521d4b251",
    "70107d6232025d81976aceb126c4c80251cb17b0f1792c1efabde7ebfa5707d77535e2d536fcdbcff201b7626e91af33",
    "0a4ae3cfd3152eb240145ac14f1c551260b0337acbbb2bfd41744d4294a474f5ee1df137b38fd68f32199f61474045f0",
    "6b2f3a4c10651933ac416c76f1e9ccdc",
);

const RSA_SIG_PKCS1_SHA256: &str = concat!(
    "78d27117dacf8c40f1fe35055695a025d40c6e8990ced071f370986a21311f8fae72217e54f926d367a10b6ed6a5633e",
    "8c26f882c73cb2b9e74b8e79d30b66f76d6007edbcde4c37864ccb2c0b86d9967ad1b72b0f9fdc2b61db288ea60ce1ba",
    "4c13911c2f0b8f04399a528796973e4af7994659f475de6a593c22751990002b021311b23c08bb790b4e31a48983cf21",
    "d779cae6621e98d4ba9c8180fcbb652d02a8a1a1b7a4e5102c5fb06f623e9f84b6774e4264efebd3050140ce177e9813",
    "aafc8bb1be3b93e6b01585d5a09bcf72f2033dfd0c3a4afeec643478dc4639267e90e4c7afc5aa8e987060c259bdb725",
    "13391629105e794dbf2e9a07cf353751",
);

const RSA_SIG_PKCS1_SHA384: &str = concat!(
    "13e6e72d5debb741ecba60d156d0a846499e5cbceab60291e5a163315361c9b2e99f05d2ad3a9e0b964c2d856ba352d0",
    "e513ab5d45c1463b9bb67cd44e675abf9716b05d73411e372efe8032eee206c8168935c4bbb49993462a0b1d2c6b72a1",
    "71ff224d94506b30cfc7b4c058fc2d8251744eefa5d31d3f409c4c9a51edb7b27dbcc57fbf9ee9e7e94b7e23b1eb8ac7",
    "2844176cabb1cf055b2075f507d7109630fd97987394627c0cc6ffd3b402fa201ed77ddcc99e5d42f2af8603754187c2",
    "755f4c69f85db0adfb0a28d66f86be5f6c776d2c14c3a28f87d4b7d72f55f2c69c9fe3ea68892bbca5f024ccd64243fa",
    "f9c17fc356348efad4b5173fb0ea746b",
);

const RSA_SIG_PKCS1_SHA512: &str = concat!(
    "1a6abc60218783968ae4b586392de7a747d04bfa9a74f43c9afbaf18ec8b8fe012c6355fb9496caa635890d7bea0ad82",
    "c0a738e86f82b7861cd5f1b0a12294da973a8e21f08f0725bef37d3d4845f639a168e2cb4cf00a25543312c9afd3cba4",
    "b9aca57c98d3074f17fcdb4ec10a987d418c9274b07d096b16cc1c078a8b43abcf25580bd1f6f17977c40fda173fdf78",
    "de83eb42969cffd95d2d56aa7301b4f0f1b34d6f2ec4d1eed11f1875ee87510580193b5026c8845534bf8f400ddf5a5e",
    "cc57a3ccf3e132c5391ac992e6ca65588dd2c49528c6ca7fd0d0215bfe097a2247070e69b39af515c9bdbdd8ff069137",
    "2ff843b7284d9c8cf8423f9dd20e0ec7",
);

const RSA_SIG_PKCS1_SHA1: &str = concat!(
    "00f8d7bf2c13931b6a4d45cadc3e0118d8c8552f149d9390e3795341f292e7f5add57c2fc99ee823f510de6c13941625",
    "7c8e21a20971a47d8f647799bb7a73b057983c2e1d7bce0cd40c31c7578c9d88ca5c38044940fb8a1f81dd8ae046a9c4",
    "8a6fb8512c847856eb4b7a3f1da17ce9e4f993cab825805bdce84c020c68c7971741db1c5a3056c2b970773eb8711e4b",
    "22e00a62874eacc35e638fe5f8657e4756edaf54219f8194343c287a5d6735e1ab082d13c8f51b478bc002366aba7249",
    "9d5652bdca3ae09273f617b5a42fa44c1eebcb2ec54dbb9777a178ff72ab317393bb0423a320ce14bf88b4e7fddc3950",
    "1022a0885260a439059cf98c83f1d013",
);

const P256_PKCS8: &str = concat!(
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420ab5f2f2b25ad8b06423bd787",
    "7fe052b52fdf58accfedee3cb16493472d0530a7a144034200042b702049a44485245e0f8bf84cb31a1ae4bb804cb37e",
    "41023be8f80c24ed7ee15007f83451bbceb8100bbc9a1ee042016c7246416bd5af27c8a319e09c660933",
);

const P256_SPKI: &str = concat!(
    "3059301306072a8648ce3d020106082a8648ce3d030107034200042b702049a44485245e0f8bf84cb31a1ae4bb804cb3",
    "7e41023be8f80c24ed7ee15007f83451bbceb8100bbc9a1ee042016c7246416bd5af27c8a319e09c660933",
);

const P256_SIG_DER: &str = concat!(
    "3045022100ec8bdaa3a769a510591dc12a6a0e37432f7a3da800de04badd8e9c57f784f90902202b806495a2b01143b4",
    "88cb5a0ec9dbaa12a7cf962b7b5bbe618fe7a88106399b",
);

const P256_SIG_FIXED: &str = concat!(
    "ec8bdaa3a769a510591dc12a6a0e37432f7a3da800de04badd8e9c57f784f9092b806495a2b01143b488cb5a0ec9dbaa",
    "12a7cf962b7b5bbe618fe7a88106399b",
);

const P384_PKCS8: &str = concat!(
    "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b0201010430bdbb3b7d48bc1b31423774df9e",
    "92e602a8bfc7abbd7d0c2fbae261ccc9681994e2d4025e5dc0507867fb84db3dd288b7a164036200042efa113af9a42a",
    "2d5b31a9c7b416c833de3a87624b8ef6f6bf5aa5b37ca5fd02fbdcf3646b9067704ee877d2e3cd89bca0a6ce9a9507de",
    "8e5a27a7186578c78ee91ac10a6944277856d0164da93027ed5469285fc13bd5c85ff4032ea45ef48e",
);

const P384_SPKI: &str = concat!(
    "3076301006072a8648ce3d020106052b81040022036200042efa113af9a42a2d5b31a9c7b416c833de3a87624b8ef6f6",
    "bf5aa5b37ca5fd02fbdcf3646b9067704ee877d2e3cd89bca0a6ce9a9507de8e5a27a7186578c78ee91ac10a69442778",
    "56d0164da93027ed5469285fc13bd5c85ff4032ea45ef48e",
);

const P384_SIG_DER: &str = concat!(
    "3066023100fa8a5a689fda02d2524ea0894a122770bfa5b6211fd24d5e62dc184a3a7cdc0cf5d7827918c1bca37d447f",
    "f23c40e848023100c2615b3c9e7e5ad8872cc1b31599a5a74e8c792554f24a45c4f273ae3a9b96fafbbbda569b91a04c",
    "c9513ad05102e2e0",
);

const P384_SIG_FIXED: &str = concat!(
    "fa8a5a689fda02d2524ea0894a122770bfa5b6211fd24d5e62dc184a3a7cdc0cf5d7827918c1bca37d447ff23c40e848",
    "c2615b3c9e7e5ad8872cc1b31599a5a74e8c792554f24a45c4f273ae3a9b96fafbbbda569b91a04cc9513ad05102e2e0",
);

const ED25519_PKCS8: &str = "302e020100300506032b6570042204209d26e0ed770e9913216a9011a9b940a0598b315f3d526922f44837b2a6c7558f";

const ED25519_SPKI: &str =
    "302a300506032b6570032100a2ae4791f0d680d803e9da0666f39d73f03b7976018fd829c5f5e6f929a5823d";

const ED25519_SIG: &str = concat!(
    "3ecfadc0f60120e552166d8932f02c343d868cac58eacb174da5be588f9ab452234d1a2e4e75a944dafa300f1864708a",
    "5a480428f2f535ec362b88b150035a07",
);

/// RFC 7427 Appendix A (and RFC 8420 §2 for Ed25519): the exact DER we send.
#[test]
fn algorithm_identifiers_match_rfc7427_appendix_a() {
    use SignatureScheme as S;
    let fixed = [
        (S::EcdsaSha256, "300a06082a8648ce3d040302"),
        (S::EcdsaSha384, "300a06082a8648ce3d040303"),
        (S::EcdsaSha512, "300a06082a8648ce3d040304"),
        (S::Ed25519, "300506032b6570"),
        (S::RsaPkcs1Sha256, "300d06092a864886f70d01010b0500"),
        (S::RsaPkcs1Sha384, "300d06092a864886f70d01010c0500"),
        (S::RsaPkcs1Sha512, "300d06092a864886f70d01010d0500"),
        // RSASSA-PSS-params with explicit SHA-256, MGF1-SHA-256, salt 32
        // (checked with `openssl asn1parse`).
        (
            S::RsaPssSha256,
            "304106092a864886f70d01010a3034a00f300d06096086480165030402010500\
             a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
        ),
    ];
    for (scheme, der) in fixed {
        assert_eq!(
            hex::encode(scheme.algorithm_identifier()),
            der,
            "{scheme:?}"
        );
    }
    for scheme in SignatureScheme::ALL {
        let der = scheme.algorithm_identifier();
        assert_eq!(SignatureScheme::from_algorithm_identifier(&der), Ok(scheme));
    }
    // PKCS#1 v1.5 identifiers without the NULL are accepted too (RFC 4055 §2.1).
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&h("300b06092a864886f70d01010b")),
        Ok(S::RsaPkcs1Sha256)
    );
    // PSS with default (SHA-1) parameters is refused, not misread.
    assert!(matches!(
        SignatureScheme::from_algorithm_identifier(&h("300f06092a864886f70d01010a3002")),
        Err(CryptoError::UnsupportedSignature(_) | CryptoError::AuthDataMalformed(_))
    ));
    assert_eq!(S::Ed25519.hash_algorithm(), HashAlgorithm::IDENTITY);
    assert_eq!(S::RsaPssSha384.hash_algorithm(), HashAlgorithm::SHA2_384);
}

/// Signatures made by OpenSSL verify under method 14 (and methods 9/10/1).
#[test]
fn openssl_signatures_verify() {
    use SignatureScheme as S;
    let rsa = RingVerifier::from_spki_der(&h(RSA_SPKI)).unwrap();
    for (scheme, sig) in [
        (S::RsaPssSha256, RSA_SIG_PSS_SHA256),
        (S::RsaPssSha384, RSA_SIG_PSS_SHA384),
        (S::RsaPssSha512, RSA_SIG_PSS_SHA512),
        (S::RsaPkcs1Sha256, RSA_SIG_PKCS1_SHA256),
        (S::RsaPkcs1Sha384, RSA_SIG_PKCS1_SHA384),
        (S::RsaPkcs1Sha512, RSA_SIG_PKCS1_SHA512),
    ] {
        rsa.verify(
            AuthMethod::DIGITAL_SIGNATURE,
            &rfc7427(scheme, &h(sig)),
            MSG,
        )
        .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
        // The same signature under the wrong message fails.
        assert_eq!(
            rsa.verify(
                AuthMethod::DIGITAL_SIGNATURE,
                &rfc7427(scheme, &h(sig)),
                b"other"
            ),
            Err(CryptoError::SignatureInvalid)
        );
    }
    // Method 1: PKCS#1 v1.5 with SHA-1, bare signature (RFC 7296 §3.8).
    rsa.verify(
        AuthMethod::RSA_DIGITAL_SIGNATURE,
        &h(RSA_SIG_PKCS1_SHA1),
        MSG,
    )
    .unwrap();

    let p256 = RingVerifier::from_spki_der(&h(P256_SPKI)).unwrap();
    p256.verify(
        AuthMethod::DIGITAL_SIGNATURE,
        &rfc7427(S::EcdsaSha256, &h(P256_SIG_DER)),
        MSG,
    )
    .unwrap();
    // RFC 4754: r | s, no DER.
    p256.verify(AuthMethod::ECDSA_SHA256_P256, &h(P256_SIG_FIXED), MSG)
        .unwrap();
    let p384 = RingVerifier::from_spki_der(&h(P384_SPKI)).unwrap();
    p384.verify(
        AuthMethod::DIGITAL_SIGNATURE,
        &rfc7427(S::EcdsaSha384, &h(P384_SIG_DER)),
        MSG,
    )
    .unwrap();
    p384.verify(AuthMethod::ECDSA_SHA384_P384, &h(P384_SIG_FIXED), MSG)
        .unwrap();
    let ed = RingVerifier::from_spki_der(&h(ED25519_SPKI)).unwrap();
    ed.verify(
        AuthMethod::DIGITAL_SIGNATURE,
        &rfc7427(S::Ed25519, &h(ED25519_SIG)),
        MSG,
    )
    .unwrap();
}

#[test]
fn our_signatures_verify_for_every_scheme_and_method() {
    use SignatureScheme as S;
    let cases = [
        (RSA_PKCS8, RSA_SPKI, S::RsaPssSha256),
        (RSA_PKCS8, RSA_SPKI, S::RsaPssSha384),
        (RSA_PKCS8, RSA_SPKI, S::RsaPssSha512),
        (RSA_PKCS8, RSA_SPKI, S::RsaPkcs1Sha256),
        (RSA_PKCS8, RSA_SPKI, S::RsaPkcs1Sha384),
        (RSA_PKCS8, RSA_SPKI, S::RsaPkcs1Sha512),
        (P256_PKCS8, P256_SPKI, S::EcdsaSha256),
        (P384_PKCS8, P384_SPKI, S::EcdsaSha384),
        (ED25519_PKCS8, ED25519_SPKI, S::Ed25519),
    ];
    for (pkcs8, spki, scheme) in cases {
        let signer = RingSigner::new(&h(pkcs8), scheme).unwrap();
        assert_eq!(signer.auth_method(), AuthMethod::DIGITAL_SIGNATURE);
        let auth = signer.sign(MSG).unwrap();
        assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
        let algid = scheme.algorithm_identifier();
        assert_eq!(usize::from(auth.data[0]), algid.len());
        assert_eq!(&auth.data[1..1 + algid.len()], &algid[..]);
        let verifier = RingVerifier::from_spki_der(&h(spki)).unwrap();
        assert_eq!(
            signer.public_key(),
            PublicKey::from_spki_der(&h(spki)).unwrap()
        );
        verifier
            .verify(AuthMethod::DIGITAL_SIGNATURE, &auth.data, MSG)
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
        let mut bad = auth.data.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            verifier.verify(AuthMethod::DIGITAL_SIGNATURE, &bad, MSG),
            Err(CryptoError::SignatureInvalid),
            "{scheme:?}"
        );
    }
    for (pkcs8, spki, method, len) in [
        (P256_PKCS8, P256_SPKI, AuthMethod::ECDSA_SHA256_P256, 64),
        (P384_PKCS8, P384_SPKI, AuthMethod::ECDSA_SHA384_P384, 96),
    ] {
        let signer = RingSigner::new_rfc4754(&h(pkcs8), method).unwrap();
        let auth = signer.sign(MSG).unwrap();
        assert_eq!((auth.method, auth.data.len()), (method, len));
        RingVerifier::from_spki_der(&h(spki))
            .unwrap()
            .verify(method, &auth.data, MSG)
            .unwrap();
    }
}

#[test]
fn mismatched_keys_methods_and_malformed_auth_data_are_typed_errors() {
    use SignatureScheme as S;
    // A key that does not fit the scheme is refused when building the signer.
    assert!(matches!(
        RingSigner::new(&h(P256_PKCS8), S::EcdsaSha384),
        Err(CryptoError::PrivateKeyRejected(_))
    ));
    assert!(matches!(
        RingSigner::new(&h(ED25519_PKCS8), S::RsaPssSha256),
        Err(CryptoError::PrivateKeyRejected(_))
    ));
    assert!(matches!(
        RingSigner::new_rfc4754(&h(P256_PKCS8), AuthMethod::SHARED_KEY_MIC),
        Err(CryptoError::PrivateKeyRejected(_))
    ));

    let p256 = RingVerifier::from_spki_der(&h(P256_SPKI)).unwrap();
    // An RSA scheme claimed for an EC key.
    assert!(matches!(
        p256.verify(
            AuthMethod::DIGITAL_SIGNATURE,
            &rfc7427(S::RsaPssSha256, &[0u8; 256]),
            MSG
        ),
        Err(CryptoError::UnsupportedSignature(_))
    ));
    // Method 10 (P-384) with a P-256 key; method 1 with an EC key; PSK method.
    for m in [
        AuthMethod::ECDSA_SHA384_P384,
        AuthMethod::RSA_DIGITAL_SIGNATURE,
        AuthMethod::SHARED_KEY_MIC,
        AuthMethod::ECDSA_SHA512_P521,
    ] {
        assert!(matches!(
            p256.verify(m, &h(P256_SIG_FIXED), MSG),
            Err(CryptoError::UnsupportedSignature(_))
        ));
    }
    // Empty AUTH data, and a length byte past the end.
    for data in [vec![], vec![0x40, 0x30, 0x00]] {
        assert!(matches!(
            p256.verify(AuthMethod::DIGITAL_SIGNATURE, &data, MSG),
            Err(CryptoError::AuthDataMalformed(_))
        ));
    }
    // SubjectPublicKeyInfo junk.
    for spki in [&b""[..], &[0x30, 0x00], &h(P256_SPKI)[..40]] {
        assert!(matches!(
            PublicKey::from_spki_der(spki),
            Err(CryptoError::PublicKeyRejected(_))
        ));
    }
}

proptest! {
    /// Arbitrary peer bytes never panic the AUTH decoders.
    #[test]
    fn arbitrary_auth_data_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SignatureScheme::from_algorithm_identifier(&data);
        let _ = PublicKey::from_spki_der(&data);
        let v = RingVerifier::from_spki_der(&h(ED25519_SPKI)).unwrap();
        prop_assert!(v.verify(AuthMethod::DIGITAL_SIGNATURE, &data, MSG).is_err());
        prop_assert!(v.verify(AuthMethod::ECDSA_SHA256_P256, &data, MSG).is_err());
    }

    /// Any AlgorithmIdentifier we emit, followed by junk, still frames right.
    #[test]
    fn truncated_or_extended_algids_are_rejected(cut in 0usize..70, extra in any::<u8>()) {
        for scheme in SignatureScheme::ALL {
            let der = scheme.algorithm_identifier();
            if cut < der.len() {
                prop_assert!(SignatureScheme::from_algorithm_identifier(&der[..cut]).is_err());
            }
            let mut longer = der.clone();
            longer.push(extra);
            prop_assert!(SignatureScheme::from_algorithm_identifier(&longer).is_err());
        }
    }
}
