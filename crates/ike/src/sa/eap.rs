//! EAP inside IKE_AUTH (RFC 7296 §2.16) with EAP-MSCHAPv2
//! (draft-kamath-pppext-eap-mschapv2, RFC 2759) as its one method.
//!
//! This layer frames and checks EAP packets (RFC 3748 §4) and runs the two
//! sides of the conversation as small state machines: [`EapServer`] for a
//! responder that authenticates a user against an [`EapUsers`] store, and
//! [`EapClient`] for an initiator with [`EapCredentials`]. They work on EAP
//! packet bytes only; `exchange::auth` moves those bytes in EAP payloads
//! and turns the resulting MSK into the AUTH payloads of §2.16.
//!
//! Guarantees: every length and identifier from the peer is checked before
//! use and a bad packet is a typed [`EapError`], never a panic; password
//! hashes and the MSK live in zeroizing types; no I/O, no clock, and
//! randomness only through the [`Random`] passed in.

use std::fmt;

use crate::crypto::mschapv2::{self, NtHash, CHALLENGE_LEN, NT_RESPONSE_LEN};
use crate::crypto::{ct_eq, Random, SecretBytes};
use crate::error::{AuthFailure, Error};

/// EAP codes (RFC 3748 §4).
const CODE_REQUEST: u8 = 1;
const CODE_RESPONSE: u8 = 2;
const CODE_SUCCESS: u8 = 3;
const CODE_FAILURE: u8 = 4;

/// EAP method types (RFC 3748 §5, IANA "EAP Method Types").
const TYPE_IDENTITY: u8 = 1;
const TYPE_NAK: u8 = 3;
const TYPE_MSCHAPV2: u8 = 26;

/// MS-CHAPv2 OpCodes (draft-kamath-pppext-eap-mschapv2 §2).
const OP_CHALLENGE: u8 = 1;
const OP_RESPONSE: u8 = 2;
const OP_SUCCESS: u8 = 3;
const OP_FAILURE: u8 = 4;

/// Value-Size of a Response: peer challenge, 8 reserved octets,
/// NT-Response and a flags octet (RFC 2759 §4).
const RESPONSE_VALUE_LEN: usize = 49;

/// The name we put in our Challenge (RFC 2759 §4 Name field).
const SERVER_NAME: &[u8] = b"ikegw";

/// EAP requests the server sends in one IKE SA at most, and requests a
/// client answers: the MSCHAPv2 conversation needs three (Identity,
/// Challenge, Success), so a peer looping on Naks or restarts is cut off.
/// A wrong password is not retried inside the SA (no MS-CHAPv2 "R=1"
/// round): each guess costs the peer a fresh IKE_SA_INIT.
pub const MAX_EAP_ROUNDS: u8 = 6;

/// Why EAP authentication failed. Raised as
/// [`AuthFailure::Eap`], which answers AUTHENTICATION_FAILED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EapError {
    /// The packet could not be decoded (RFC 3748 §4, draft-kamath §2).
    #[error("malformed EAP packet: {field}: {reason}")]
    Malformed {
        /// The field at fault.
        field: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A well-formed packet this side does not expect now.
    #[error("unexpected EAP packet: got {got}, expected {expected}")]
    Unexpected {
        /// What arrived (code, type, opcode).
        got: String,
        /// What the conversation was waiting for.
        expected: &'static str,
    },
    /// A response whose identifier is not the outstanding request's
    /// (RFC 3748 §4.1).
    #[error("EAP response identifier {got} does not match request {expected}")]
    Identifier {
        /// Received.
        got: u8,
        /// Sent.
        expected: u8,
    },
    /// The peer refused EAP-MSCHAPv2 with a Nak (RFC 3748 §5.3.1).
    #[error("peer refused EAP-MSCHAPv2 (Nak, desired types {0:?})")]
    Nak(Vec<u8>),
    /// The user store has no such user.
    #[error("EAP-MSCHAPv2: unknown user '{0}'")]
    UnknownUser(String),
    /// The NT-Response does not match the stored password.
    #[error("EAP-MSCHAPv2: wrong password for user '{0}'")]
    WrongPassword(String),
    /// The EAP identity is empty or not UTF-8.
    #[error("EAP identity is empty or not UTF-8")]
    BadIdentity,
    /// Client: the server's authenticator response does not prove it
    /// knows our password (RFC 2759 §5).
    #[error("EAP-MSCHAPv2: server's authenticator response does not verify")]
    BadAuthenticatorResponse,
    /// Client: the server refused us with an MS-CHAPv2 Failure.
    #[error("EAP-MSCHAPv2 failure from the server: {0}")]
    ServerFailure(String),
    /// Client: the server sent EAP-Failure (RFC 3748 §4.2).
    #[error("server sent EAP-Failure")]
    Failure,
    /// Client: EAP-Success before the server proved itself.
    #[error("EAP-Success before the MS-CHAPv2 exchange completed")]
    EarlySuccess,
    /// Server: the peer answered our Success or Failure with a Failure.
    #[error("peer aborted EAP-MSCHAPv2 (Failure response)")]
    PeerAborted,
    /// More rounds than [`MAX_EAP_ROUNDS`].
    #[error("EAP did not finish within {0} rounds")]
    TooManyRounds(u8),
}

impl From<EapError> for Error {
    fn from(e: EapError) -> Self {
        AuthFailure::Eap(e).into()
    }
}

fn malformed(field: &'static str, reason: &'static str) -> EapError {
    EapError::Malformed { field, reason }
}

/// The users a responder accepts with EAP-MSCHAPv2 (the daemon's secrets
/// section). Called from inside the core, so it must not block.
pub trait EapUsers: Send + Sync {
    /// The NT hash of `user`'s password, `None` for an unknown user.
    fn nt_hash(&self, user: &str) -> Option<NtHash>;

    /// A digest of every user and password, for
    /// [`PeerConfig::same_settings`](super::PeerConfig::same_settings):
    /// equal digests mean the same users. `None` (the default) compares
    /// stores by identity instead.
    fn fingerprint(&self) -> Option<[u8; 32]> {
        None
    }
}

impl fmt::Debug for dyn EapUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EapUsers")
    }
}

/// Which EAP identity the responder authenticates (strongSwan `eap_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EapIdentity {
    /// Always ask with EAP-Identity (RFC 3748 §5.1; swanctl
    /// `eap_id = %any`).
    Ask,
    /// Use the IKE identity (IDi) when it names a user (FQDN, RFC 822
    /// address or KEY_ID); ask with EAP-Identity otherwise (an IP address
    /// or DN is no user name). swanctl's default without `eap_id`.
    FromIke,
}

/// Responder settings of [`PeerAuth::EapMschapv2`](super::PeerAuth).
#[derive(Clone)]
pub struct EapServerConfig {
    /// The user store.
    pub users: std::sync::Arc<dyn EapUsers>,
    /// Where the user name comes from.
    pub identity: EapIdentity,
}

impl fmt::Debug for EapServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EapServerConfig")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// An initiator's EAP-MSCHAPv2 user name and password (kept as its NT
/// hash, RFC 2759 §8.3). No `Clone`; `Debug` shows the user only.
pub struct EapCredentials {
    user: String,
    hash: NtHash,
}

impl EapCredentials {
    /// `user` as the server knows it (`DOMAIN\user` allowed), `password`
    /// in clear; only its NT hash is kept.
    pub fn new(user: impl Into<String>, password: &str) -> Self {
        Self {
            user: user.into(),
            hash: NtHash::from_password(password),
        }
    }

    /// The user name (not secret).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether two credentials are the same user and password.
    pub fn same_as(&self, other: &Self) -> bool {
        self.user == other.user && ct_eq(self.hash.secret_bytes(), other.hash.secret_bytes())
    }
}

impl fmt::Debug for EapCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EapCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------- codec

/// One EAP packet (RFC 3748 §4), borrowed from the EAP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    pub(crate) code: u8,
    pub(crate) id: u8,
    /// Type and type data; `None` for Success and Failure.
    pub(crate) method: Option<(u8, &'a [u8])>,
}

impl<'a> Packet<'a> {
    /// Parses one packet, checking the Length field against the bytes.
    /// Octets beyond Length are lower-layer padding and ignored (RFC 3748
    /// §4.1).
    pub(crate) fn parse(b: &'a [u8]) -> Result<Self, EapError> {
        let (&[code, id, l0, l1], rest) = b
            .split_first_chunk::<4>()
            .ok_or(malformed("header", "shorter than 4 octets"))?;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let body_len = len
            .checked_sub(4)
            .ok_or(malformed("length", "below the 4-octet header"))?;
        let body = rest
            .get(..body_len)
            .ok_or(malformed("length", "exceeds the EAP payload"))?;
        let method = match code {
            CODE_REQUEST | CODE_RESPONSE => {
                let (&t, data) = body
                    .split_first()
                    .ok_or(malformed("type", "request or response without a type"))?;
                Some((t, data))
            }
            CODE_SUCCESS | CODE_FAILURE => {
                if !body.is_empty() {
                    return Err(malformed("length", "Success or Failure with data"));
                }
                None
            }
            _ => return Err(malformed("code", "not 1 to 4")),
        };
        Ok(Self { code, id, method })
    }

    /// Encodes the packet.
    pub(crate) fn emit(&self) -> Result<Vec<u8>, EapError> {
        let data_len = match self.method {
            Some((_, d)) => d.len().checked_add(1),
            None => Some(0),
        };
        let len = data_len
            .and_then(|n| n.checked_add(4))
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(malformed("length", "packet longer than 65535 octets"))?;
        let mut v = Vec::with_capacity(usize::from(len));
        v.extend_from_slice(&[self.code, self.id]);
        v.extend_from_slice(&len.to_be_bytes());
        if let Some((t, d)) = self.method {
            v.push(t);
            v.extend_from_slice(d);
        }
        Ok(v)
    }

    fn describe(&self) -> String {
        let code = match self.code {
            CODE_REQUEST => "Request",
            CODE_RESPONSE => "Response",
            CODE_SUCCESS => "Success",
            CODE_FAILURE => "Failure",
            _ => "?",
        };
        match self.method {
            Some((TYPE_MSCHAPV2, d)) => match d.first() {
                Some(op) => format!("{code}/MSCHAPv2 opcode {op}"),
                None => format!("{code}/MSCHAPv2"),
            },
            Some((t, _)) => format!("{code}/type {t}"),
            None => code.to_owned(),
        }
    }
}

/// An MS-CHAPv2 packet inside an EAP type-26 body (draft-kamath §2):
/// OpCode, MS-CHAPv2-ID, MS-Length (from OpCode to the end), data. A
/// peer's Success and Failure responses carry the OpCode only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MsChap<'a> {
    pub(crate) op: u8,
    /// MS-CHAPv2-ID and data; `None` for a bare OpCode.
    pub(crate) rest: Option<(u8, &'a [u8])>,
}

impl<'a> MsChap<'a> {
    pub(crate) fn parse(b: &'a [u8]) -> Result<Self, EapError> {
        let (&op, after) = b
            .split_first()
            .ok_or(malformed("MSCHAPv2 OpCode", "absent"))?;
        if after.is_empty() {
            return Ok(Self { op, rest: None });
        }
        let (&[ms_id, l0, l1], data) = after
            .split_first_chunk::<3>()
            .ok_or(malformed("MSCHAPv2 header", "truncated"))?;
        // MS-Length should equal the EAP length less 5; Windows and
        // strongSwan agree, but it carries no information we need, so a
        // value that does not fit the packet is the only one rejected.
        let ms_len = usize::from(u16::from_be_bytes([l0, l1]));
        if ms_len > b.len() {
            return Err(malformed("MS-Length", "exceeds the packet"));
        }
        Ok(Self {
            op,
            rest: Some((ms_id, data)),
        })
    }

    /// The type data of an EAP packet carrying this MS-CHAPv2 packet.
    pub(crate) fn emit(op: u8, ms_id: u8, data: &[u8]) -> Result<Vec<u8>, EapError> {
        let ms_len = data
            .len()
            .checked_add(4)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(malformed("MS-Length", "packet too long"))?;
        let mut v = Vec::with_capacity(usize::from(ms_len));
        v.extend_from_slice(&[op, ms_id]);
        v.extend_from_slice(&ms_len.to_be_bytes());
        v.extend_from_slice(data);
        Ok(v)
    }
}

fn request(id: u8, t: u8, data: &[u8]) -> Result<Vec<u8>, EapError> {
    Packet {
        code: CODE_REQUEST,
        id,
        method: Some((t, data)),
    }
    .emit()
}

fn response(id: u8, t: u8, data: &[u8]) -> Result<Vec<u8>, EapError> {
    Packet {
        code: CODE_RESPONSE,
        id,
        method: Some((t, data)),
    }
    .emit()
}

/// EAP-Success or EAP-Failure with identifier `id` (RFC 3748 §4.2).
pub(crate) fn outcome(success: bool, id: u8) -> Vec<u8> {
    let code = if success { CODE_SUCCESS } else { CODE_FAILURE };
    vec![code, id, 0, 4]
}

fn parse_hex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| {
            let t = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(t, 16).ok()
        })
        .collect()
}

/// Text for logs: printable ASCII only, at most 64 characters.
fn printable(b: &[u8]) -> String {
    b.iter()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || *c == b' ' {
                char::from(*c)
            } else {
                '?'
            }
        })
        .collect()
}

fn random_array<const N: usize>(rng: &dyn Random) -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    rng.fill(&mut b)?;
    Ok(b)
}

// --------------------------------------------------------------- server

/// What the server sends next.
pub(crate) enum ServerStep {
    /// Another EAP request.
    Request(Vec<u8>),
    /// EAP-Success: the user is authenticated; AUTH with the MSK follows.
    Success(Vec<u8>),
}

enum ServerStage {
    /// EAP-Identity request outstanding.
    Identity,
    /// Challenge outstanding for this user.
    Challenge {
        user: String,
        challenge: [u8; CHALLENGE_LEN],
    },
    /// MS-CHAPv2 Success request outstanding; the MSK is ready.
    SuccessSent { user: String, msk: SecretBytes },
    /// EAP-Success sent (or failed): nothing more to process.
    Done,
}

/// The responder's side of EAP-MSCHAPv2.
pub(crate) struct EapServer {
    stage: ServerStage,
    /// Identifier of the outstanding request (RFC 3748 §4.1).
    id: u8,
    rounds: u8,
    /// Set once the conversation succeeded.
    result: Option<(String, SecretBytes)>,
}

impl EapServer {
    /// Starts with EAP-Identity when `user` is `None`, else with an
    /// MS-CHAPv2 Challenge for `user`. Returns the first request.
    pub(crate) fn start(rng: &dyn Random, user: Option<String>) -> Result<(Self, Vec<u8>), Error> {
        // A random first identifier, so stale responses of an earlier
        // conversation do not match (RFC 3748 §4.1).
        let [id] = random_array::<1>(rng)?;
        let mut s = Self {
            stage: ServerStage::Done,
            id,
            rounds: 1,
            result: None,
        };
        let req = match user {
            None => {
                s.stage = ServerStage::Identity;
                request(id, TYPE_IDENTITY, &[])?
            }
            Some(user) => s.challenge(rng, user)?,
        };
        Ok((s, req))
    }

    fn challenge(&mut self, rng: &dyn Random, user: String) -> Result<Vec<u8>, Error> {
        let challenge = random_array::<CHALLENGE_LEN>(rng)?;
        let mut data = Vec::with_capacity(CHALLENGE_LEN.saturating_add(1 + SERVER_NAME.len()));
        data.push(u8::try_from(CHALLENGE_LEN).unwrap_or(16));
        data.extend_from_slice(&challenge);
        data.extend_from_slice(SERVER_NAME);
        let req = request(
            self.id,
            TYPE_MSCHAPV2,
            &MsChap::emit(OP_CHALLENGE, self.id, &data)?,
        )?;
        self.stage = ServerStage::Challenge { user, challenge };
        Ok(req)
    }

    fn next_id(&mut self) -> Result<u8, EapError> {
        self.rounds = self.rounds.saturating_add(1);
        if self.rounds > MAX_EAP_ROUNDS {
            return Err(EapError::TooManyRounds(MAX_EAP_ROUNDS));
        }
        self.id = self.id.wrapping_add(1);
        Ok(self.id)
    }

    /// The identifier for an EAP-Failure answering the current request.
    pub(crate) fn failure_id(&self) -> u8 {
        self.id.wrapping_add(1)
    }

    /// The authenticated user and the MSK, after [`ServerStep::Success`].
    pub(crate) fn take_result(&mut self) -> Option<(String, SecretBytes)> {
        self.result.take()
    }

    /// Processes the peer's EAP response. Any error ends the conversation:
    /// the caller answers with EAP-Failure.
    pub(crate) fn handle(
        &mut self,
        users: &dyn EapUsers,
        rng: &dyn Random,
        bytes: &[u8],
    ) -> Result<ServerStep, Error> {
        let pkt = Packet::parse(bytes)?;
        if pkt.code != CODE_RESPONSE {
            return Err(EapError::Unexpected {
                got: pkt.describe(),
                expected: "an EAP Response",
            }
            .into());
        }
        if pkt.id != self.id {
            return Err(EapError::Identifier {
                got: pkt.id,
                expected: self.id,
            }
            .into());
        }
        let Some((t, data)) = pkt.method else {
            return Err(malformed("type", "absent").into());
        };
        if t == TYPE_NAK {
            return Err(EapError::Nak(data.to_vec()).into());
        }
        match (std::mem::replace(&mut self.stage, ServerStage::Done), t) {
            (ServerStage::Identity, TYPE_IDENTITY) => {
                let user = std::str::from_utf8(data)
                    .ok()
                    .filter(|u| !u.is_empty())
                    .ok_or(EapError::BadIdentity)?
                    .to_owned();
                self.next_id()?;
                Ok(ServerStep::Request(self.challenge(rng, user)?))
            }
            (ServerStage::Challenge { user, challenge }, TYPE_MSCHAPV2) => {
                self.check_response(users, &user, &challenge, data)
            }
            (ServerStage::SuccessSent { user, msk }, TYPE_MSCHAPV2) => {
                let m = MsChap::parse(data)?;
                match m.op {
                    OP_SUCCESS => {
                        let id = self.next_id()?;
                        self.result = Some((user, msk));
                        Ok(ServerStep::Success(outcome(true, id)))
                    }
                    OP_FAILURE => Err(EapError::PeerAborted.into()),
                    _ => Err(EapError::Unexpected {
                        got: pkt.describe(),
                        expected: "an MS-CHAPv2 Success response",
                    }
                    .into()),
                }
            }
            (stage, _) => {
                let expected = match stage {
                    ServerStage::Identity => "an EAP-Identity response",
                    ServerStage::Challenge { .. } => "an MS-CHAPv2 Response",
                    ServerStage::SuccessSent { .. } => "an MS-CHAPv2 Success response",
                    ServerStage::Done => "nothing",
                };
                Err(EapError::Unexpected {
                    got: pkt.describe(),
                    expected,
                }
                .into())
            }
        }
    }

    /// Checks an MS-CHAPv2 Response (RFC 2759 §4, §8.1) and answers with
    /// the Success request carrying the authenticator response (§5).
    fn check_response(
        &mut self,
        users: &dyn EapUsers,
        user: &str,
        challenge: &[u8; CHALLENGE_LEN],
        data: &[u8],
    ) -> Result<ServerStep, Error> {
        let m = MsChap::parse(data)?;
        if m.op == OP_FAILURE {
            return Err(EapError::PeerAborted.into());
        }
        if m.op != OP_RESPONSE {
            return Err(EapError::Unexpected {
                got: format!("MSCHAPv2 opcode {}", m.op),
                expected: "an MS-CHAPv2 Response",
            }
            .into());
        }
        let (_, body) = m.rest.ok_or(malformed("MSCHAPv2 Response", "no data"))?;
        let (&value_size, rest) = body
            .split_first()
            .ok_or(malformed("Value-Size", "absent"))?;
        if usize::from(value_size) != RESPONSE_VALUE_LEN {
            return Err(malformed("Value-Size", "not 49").into());
        }
        let (value, name) = rest
            .split_at_checked(RESPONSE_VALUE_LEN)
            .ok_or(malformed("Response", "shorter than its Value-Size"))?;
        let peer_challenge: [u8; CHALLENGE_LEN] = value
            .get(..CHALLENGE_LEN)
            .and_then(|c| c.try_into().ok())
            .ok_or(malformed("Peer-Challenge", "truncated"))?;
        let nt_response: [u8; NT_RESPONSE_LEN] = value
            .get(24..48)
            .and_then(|c| c.try_into().ok())
            .ok_or(malformed("NT-Response", "truncated"))?;
        // No enumeration: an unknown user and a wrong password look the
        // same to the peer (EAP-Failure); only our log tells them apart.
        let hash = users
            .nt_hash(user)
            .ok_or_else(|| EapError::UnknownUser(printable(user.as_bytes())))?;
        let hashed_name = mschapv2::user_name_for_hash(name);
        let expected =
            mschapv2::generate_nt_response(challenge, &peer_challenge, hashed_name, &hash);
        if !ct_eq(&expected, &nt_response) {
            return Err(EapError::WrongPassword(printable(user.as_bytes())).into());
        }
        let auth = mschapv2::authenticator_response(
            &hash,
            &nt_response,
            &peer_challenge,
            challenge,
            hashed_name,
        );
        let msk = mschapv2::msk(&hash, &nt_response);
        let mut text = mschapv2::authenticator_response_string(&auth).into_bytes();
        text.extend_from_slice(b" M=Welcome");
        let ms_id = self.id;
        let id = self.next_id()?;
        let req = request(id, TYPE_MSCHAPV2, &MsChap::emit(OP_SUCCESS, ms_id, &text)?)?;
        self.stage = ServerStage::SuccessSent {
            user: user.to_owned(),
            msk,
        };
        Ok(ServerStep::Request(req))
    }
}

// --------------------------------------------------------------- client

/// What the client does next.
pub(crate) enum ClientStep {
    /// Answer with this EAP response.
    Respond(Vec<u8>),
    /// EAP-Success received: authenticate with this MSK.
    Done(SecretBytes),
}

enum ClientStage {
    /// Waiting for Identity or Challenge requests.
    Start,
    /// Response sent; waiting for the server's Success request.
    Responded {
        expected: [u8; 20],
        msk: SecretBytes,
    },
    /// Server proved itself; waiting for EAP-Success.
    Verified {
        msk: SecretBytes,
    },
    Done,
}

/// The initiator's side of EAP-MSCHAPv2.
pub(crate) struct EapClient {
    stage: ClientStage,
    rounds: u8,
}

impl EapClient {
    pub(crate) fn new() -> Self {
        Self {
            stage: ClientStage::Start,
            rounds: 0,
        }
    }

    /// Processes one EAP packet from the server.
    pub(crate) fn handle(
        &mut self,
        creds: &EapCredentials,
        rng: &dyn Random,
        bytes: &[u8],
    ) -> Result<ClientStep, Error> {
        self.rounds = self.rounds.saturating_add(1);
        if self.rounds > MAX_EAP_ROUNDS {
            return Err(EapError::TooManyRounds(MAX_EAP_ROUNDS).into());
        }
        let pkt = Packet::parse(bytes)?;
        match (pkt.code, pkt.method) {
            (CODE_FAILURE, _) => return Err(EapError::Failure.into()),
            (CODE_SUCCESS, _) => {
                return match std::mem::replace(&mut self.stage, ClientStage::Done) {
                    ClientStage::Verified { msk } => Ok(ClientStep::Done(msk)),
                    _ => Err(EapError::EarlySuccess.into()),
                };
            }
            (CODE_REQUEST, Some((TYPE_IDENTITY, _))) => {
                return Ok(ClientStep::Respond(response(
                    pkt.id,
                    TYPE_IDENTITY,
                    creds.user.as_bytes(),
                )?));
            }
            (CODE_REQUEST, Some((TYPE_MSCHAPV2, data))) => {
                return self.mschapv2(creds, rng, pkt.id, data);
            }
            (CODE_REQUEST, Some((_, _))) => {
                // Another method: propose ours (RFC 3748 §5.3.1 legacy Nak).
                return Ok(ClientStep::Respond(response(
                    pkt.id,
                    TYPE_NAK,
                    &[TYPE_MSCHAPV2],
                )?));
            }
            _ => {}
        }
        Err(EapError::Unexpected {
            got: pkt.describe(),
            expected: "an EAP Request, Success or Failure",
        }
        .into())
    }

    fn mschapv2(
        &mut self,
        creds: &EapCredentials,
        rng: &dyn Random,
        id: u8,
        data: &[u8],
    ) -> Result<ClientStep, Error> {
        let m = MsChap::parse(data)?;
        let (ms_id, body) = m.rest.unwrap_or((0, &[]));
        match (m.op, std::mem::replace(&mut self.stage, ClientStage::Done)) {
            (OP_CHALLENGE, ClientStage::Start) => {
                let (&size, rest) = body
                    .split_first()
                    .ok_or(malformed("Value-Size", "absent"))?;
                if usize::from(size) != CHALLENGE_LEN {
                    return Err(malformed("Value-Size", "challenge is not 16 octets").into());
                }
                let challenge: [u8; CHALLENGE_LEN] = rest
                    .get(..CHALLENGE_LEN)
                    .and_then(|c| c.try_into().ok())
                    .ok_or(malformed("Challenge", "truncated"))?;
                let peer_challenge = random_array::<CHALLENGE_LEN>(rng)?;
                let name = creds.user.as_bytes();
                let hashed = mschapv2::user_name_for_hash(name);
                let nt = mschapv2::generate_nt_response(
                    &challenge,
                    &peer_challenge,
                    hashed,
                    &creds.hash,
                );
                let expected = mschapv2::authenticator_response(
                    &creds.hash,
                    &nt,
                    &peer_challenge,
                    &challenge,
                    hashed,
                );
                let msk = mschapv2::msk(&creds.hash, &nt);
                let mut v = Vec::with_capacity(RESPONSE_VALUE_LEN.saturating_add(1 + name.len()));
                v.push(u8::try_from(RESPONSE_VALUE_LEN).unwrap_or(49));
                v.extend_from_slice(&peer_challenge);
                v.extend_from_slice(&[0; 8]);
                v.extend_from_slice(&nt);
                v.push(0);
                v.extend_from_slice(name);
                self.stage = ClientStage::Responded { expected, msk };
                Ok(ClientStep::Respond(response(
                    id,
                    TYPE_MSCHAPV2,
                    &MsChap::emit(OP_RESPONSE, ms_id, &v)?,
                )?))
            }
            (OP_SUCCESS, ClientStage::Responded { expected, msk }) => {
                // "S=" and 40 hex digits, then optionally " M=<message>".
                let s = body
                    .strip_prefix(b"S=")
                    .and_then(|s| s.get(..40))
                    .and_then(parse_hex)
                    .ok_or(malformed("Success", "no S=<40 hex digits>"))?;
                if !ct_eq(&s, &expected) {
                    return Err(EapError::BadAuthenticatorResponse.into());
                }
                self.stage = ClientStage::Verified { msk };
                // The Success response is the OpCode alone (draft-kamath §2).
                Ok(ClientStep::Respond(response(
                    id,
                    TYPE_MSCHAPV2,
                    &[OP_SUCCESS],
                )?))
            }
            (OP_FAILURE, _) => Err(EapError::ServerFailure(printable(body)).into()),
            (op, _) => Err(EapError::Unexpected {
                got: format!("MSCHAPv2 opcode {op}"),
                expected: "the next MS-CHAPv2 request",
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HmacDrbg;
    use std::collections::HashMap;

    struct Users(HashMap<String, String>);

    impl EapUsers for Users {
        fn nt_hash(&self, user: &str) -> Option<NtHash> {
            self.0.get(user).map(|p| NtHash::from_password(p))
        }
    }

    fn users() -> Users {
        Users(HashMap::from([("alice".to_owned(), "s3cret".to_owned())]))
    }

    fn rng(seed: u8) -> HmacDrbg {
        HmacDrbg::instantiate(&[seed; 32], b"nonce", b"eap")
    }

    fn run(creds: &EapCredentials, ask: bool) -> Result<(String, SecretBytes, SecretBytes), Error> {
        let (r1, r2) = (rng(1), rng(2));
        let user = (!ask).then(|| creds.user().to_owned());
        let (mut srv, mut req) = EapServer::start(&r1, user)?;
        let mut cli = EapClient::new();
        loop {
            match cli.handle(creds, &r2, &req)? {
                ClientStep::Respond(resp) => match srv.handle(&users(), &r1, &resp)? {
                    ServerStep::Request(r) => req = r,
                    ServerStep::Success(s) => {
                        let (u, m) = srv.take_result().unwrap();
                        let ClientStep::Done(cm) = cli.handle(creds, &r2, &s)? else {
                            panic!("client did not finish on EAP-Success");
                        };
                        return Ok((u, m, cm));
                    }
                },
                ClientStep::Done(_) => panic!("done before EAP-Success"),
            }
        }
    }

    #[test]
    fn both_sides_agree_on_user_and_msk() {
        for ask in [true, false] {
            let (u, m, cm) = run(&EapCredentials::new("alice", "s3cret"), ask).unwrap();
            assert_eq!(u, "alice");
            assert_eq!(m.len(), 64);
            assert_eq!(m.secret_bytes(), cm.secret_bytes());
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_are_told_apart_in_the_error() {
        let e = run(&EapCredentials::new("alice", "guess"), true)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "authentication failed: EAP-MSCHAPv2: wrong password for user 'alice'"
        );
        let e = run(&EapCredentials::new("mallory", "x"), true)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "authentication failed: EAP-MSCHAPv2: unknown user 'mallory'"
        );
        assert_eq!(
            e.notify(),
            Some(crate::wire::NotifyType::AUTHENTICATION_FAILED)
        );
    }

    #[test]
    fn parse_rejects_bad_lengths_and_codes() {
        assert_eq!(
            Packet::parse(&[1, 0, 0]).unwrap_err(),
            malformed("header", "shorter than 4 octets")
        );
        assert_eq!(
            Packet::parse(&[1, 0, 0, 3]).unwrap_err(),
            malformed("length", "below the 4-octet header")
        );
        assert_eq!(
            Packet::parse(&[1, 0, 0, 9, 1]).unwrap_err(),
            malformed("length", "exceeds the EAP payload")
        );
        assert_eq!(
            Packet::parse(&[1, 0, 0, 4]).unwrap_err(),
            malformed("type", "request or response without a type")
        );
        assert_eq!(
            Packet::parse(&[3, 0, 0, 5, 1]).unwrap_err(),
            malformed("length", "Success or Failure with data")
        );
        assert_eq!(
            Packet::parse(&[9, 0, 0, 4]).unwrap_err(),
            malformed("code", "not 1 to 4")
        );
        // Padding beyond Length is ignored (RFC 3748 §4.1).
        let p = Packet::parse(&[3, 7, 0, 4, 0xff]).unwrap();
        assert_eq!((p.code, p.id, p.method), (3, 7, None));
    }

    #[test]
    fn packets_round_trip() {
        let bytes = request(
            5,
            TYPE_MSCHAPV2,
            &MsChap::emit(OP_CHALLENGE, 5, b"xy").unwrap(),
        )
        .unwrap();
        assert_eq!(bytes, [1, 5, 0, 11, 26, 1, 5, 0, 6, b'x', b'y']);
        let p = Packet::parse(&bytes).unwrap();
        assert_eq!(p.emit().unwrap(), bytes);
        let (t, d) = p.method.unwrap();
        assert_eq!(t, TYPE_MSCHAPV2);
        let m = MsChap::parse(d).unwrap();
        assert_eq!((m.op, m.rest), (OP_CHALLENGE, Some((5, &b"xy"[..]))));
        assert_eq!(outcome(false, 9), [4, 9, 0, 4]);
    }

    #[test]
    fn server_rejects_wrong_identifier_nak_and_short_response() {
        let r = rng(3);
        let (mut srv, req) = EapServer::start(&r, Some("alice".into())).unwrap();
        let id = req[1];
        let wrong = response(id.wrapping_add(1), TYPE_MSCHAPV2, &[OP_RESPONSE]).unwrap();
        assert!(matches!(
            srv.handle(&users(), &r, &wrong),
            Err(Error::AuthFailed(AuthFailure::Eap(
                EapError::Identifier { .. }
            )))
        ));
        let (mut srv, _) = EapServer::start(&r, Some("alice".into())).unwrap();
        let nak = response(srv.id, TYPE_NAK, &[4]).unwrap();
        assert_eq!(
            srv.handle(&users(), &r, &nak).err().unwrap().to_string(),
            "authentication failed: peer refused EAP-MSCHAPv2 (Nak, desired types [4])"
        );
        let (mut srv, _) = EapServer::start(&r, Some("alice".into())).unwrap();
        let short = response(
            srv.id,
            TYPE_MSCHAPV2,
            &MsChap::emit(OP_RESPONSE, srv.id, &[49, 1, 2]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            srv.handle(&users(), &r, &short).err().unwrap().to_string(),
            "authentication failed: malformed EAP packet: Response: shorter than its Value-Size"
        );
    }

    #[test]
    fn client_rejects_forged_authenticator_response_and_early_success() {
        let (r1, r2) = (rng(4), rng(5));
        let creds = EapCredentials::new("alice", "s3cret");
        let (mut srv, req) = EapServer::start(&r1, Some("alice".into())).unwrap();
        let mut cli = EapClient::new();
        let ClientStep::Respond(resp) = cli.handle(&creds, &r2, &req).unwrap() else {
            panic!()
        };
        let ServerStep::Request(mut ok) = srv.handle(&users(), &r1, &resp).unwrap() else {
            panic!()
        };
        // Flip one hex digit of S=.
        let pos = ok.iter().position(|b| *b == b'S').unwrap() + 2;
        ok[pos] = if ok[pos] == b'0' { b'1' } else { b'0' };
        assert!(matches!(
            cli.handle(&creds, &r2, &ok),
            Err(Error::AuthFailed(AuthFailure::Eap(
                EapError::BadAuthenticatorResponse
            )))
        ));
        let mut fresh = EapClient::new();
        assert!(matches!(
            fresh.handle(&creds, &r2, &outcome(true, 1)),
            Err(Error::AuthFailed(AuthFailure::Eap(EapError::EarlySuccess)))
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let r = rng(6);
        let creds = EapCredentials::new("alice", "s3cret");
        let mut seed = 0x1234_5678u32;
        for n in 0..2000usize {
            let len = n % 70;
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b.push(seed.to_be_bytes()[1]);
            }
            if let (Some(l), true) = (b.get_mut(2..4), len >= 4) {
                // Often make the Length field right, to get past it.
                if n % 2 == 0 {
                    l.copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
                }
            }
            let (mut srv, _) = EapServer::start(&r, None).unwrap();
            let _ = srv.handle(&users(), &r, &b);
            let _ = EapClient::new().handle(&creds, &r, &b);
        }
    }

    #[test]
    fn a_server_that_never_finishes_is_cut_off() {
        let r = rng(7);
        let creds = EapCredentials::new("alice", "s3cret");
        let mut cli = EapClient::new();
        let identity = request(1, TYPE_IDENTITY, &[]).unwrap();
        for _ in 0..MAX_EAP_ROUNDS {
            assert!(matches!(
                cli.handle(&creds, &r, &identity),
                Ok(ClientStep::Respond(_))
            ));
        }
        assert_eq!(
            cli.handle(&creds, &r, &identity).err().unwrap().to_string(),
            "authentication failed: EAP did not finish within 6 rounds"
        );
    }

    #[test]
    fn client_naks_other_methods_and_reports_server_failure() {
        let r = rng(8);
        let creds = EapCredentials::new("alice", "s3cret");
        let md5 = request(3, 4, &[16; 17]).unwrap();
        let ClientStep::Respond(nak) = EapClient::new().handle(&creds, &r, &md5).unwrap() else {
            panic!()
        };
        assert_eq!(nak, [CODE_RESPONSE, 3, 0, 6, TYPE_NAK, TYPE_MSCHAPV2]);
        let fail = request(
            4,
            TYPE_MSCHAPV2,
            &MsChap::emit(OP_FAILURE, 4, b"E=691 R=0 M=bad\x01").unwrap(),
        )
        .unwrap();
        assert_eq!(
            EapClient::new()
                .handle(&creds, &r, &fail)
                .err()
                .unwrap()
                .to_string(),
            "authentication failed: EAP-MSCHAPv2 failure from the server: E=691 R=0 M=bad?"
        );
    }

    #[test]
    fn debug_of_credentials_hides_the_password() {
        let c = EapCredentials::new("alice", "s3cret");
        let d = format!("{c:?}");
        assert!(d.contains("alice") && !d.contains("s3cret"));
    }
}
