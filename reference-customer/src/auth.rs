//! The customer's check of a signed request (customer-api.md, "Signing"): known access id,
//! timestamp inside the window, fresh nonce, right signature. The signature arithmetic itself
//! is `pushagent_proto::signing`, shared with the agent.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use pushagent_proto::customer::{HEADER_ACCESS_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use pushagent_proto::signing;

/// How long a nonce is remembered (customer-api.md: "a nonce seen in the last 10 minutes").
pub const NONCE_MEMORY: Duration = Duration::from_secs(600);
pub const MIN_NONCE_LEN: usize = 16;
/// How often forgotten nonces are swept out.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A secret key: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which of the customer's two APIs an access id speaks (customer-api.md profile 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The JSON reference profile, always signed.
    Json,
    /// One CSV line per record, the access id in the `access_id` header; HMAC signing only
    /// when `signed` (the first in-house agent sent none).
    Line { signed: bool },
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Json => "json",
            Profile::Line { .. } => "line",
        }
    }
}

/// One access id, its secret key and the profile it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_id: String,
    pub secret: Secret,
    pub profile: Profile,
}

impl Credential {
    /// An access id of the JSON reference profile.
    pub fn json(access_id: impl Into<String>, secret: impl Into<String>) -> Credential {
        Credential { access_id: access_id.into(), secret: Secret::new(secret), profile: Profile::Json }
    }

    /// An access id of the line profile.
    pub fn line(access_id: impl Into<String>, secret: impl Into<String>, signed: bool) -> Credential {
        Credential {
            access_id: access_id.into(),
            secret: Secret::new(secret),
            profile: Profile::Line { signed },
        }
    }
}

/// Why a request's signing is refused (HTTP 401, code 40101); the message goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("unknown access id")]
    UnknownAccessId,
    #[error("access id {access_id} speaks the {speaks} profile, not the {used} one")]
    WrongProfile { access_id: String, speaks: &'static str, used: &'static str },
    #[error("X-Timestamp must be unix seconds")]
    BadTimestamp,
    #[error("timestamp {timestamp} is {skew_secs} s from the server clock (allowed {window_secs} s)")]
    StaleTimestamp { timestamp: i64, skew_secs: u64, window_secs: u64 },
    #[error("X-Nonce must be at least {MIN_NONCE_LEN} hex characters")]
    BadNonce,
    #[error("nonce already used in the last 10 minutes")]
    ReplayedNonce,
    #[error("wrong signature")]
    BadSignature,
}

/// What a request presents for the check; header values as received (None = absent).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string (without `?`), as it came on the request line.
    pub raw_query: Option<&'a str>,
    pub access_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

pub struct Verifier {
    credentials: HashMap<String, Credential>,
    /// 0 = no timestamp check (tests that drive a simulated clock).
    window_secs: u64,
    nonces: Mutex<NonceBook>,
}

impl Verifier {
    pub fn new(credentials: &[Credential], window_secs: u64) -> Verifier {
        let credentials = credentials.iter().map(|c| (c.access_id.clone(), c.clone())).collect();
        Verifier { credentials, window_secs, nonces: Mutex::new(NonceBook::default()) }
    }

    /// The profile of a known access id.
    pub fn profile(&self, access_id: &str) -> Option<Profile> {
        self.credentials.get(access_id).map(|c| c.profile)
    }

    /// Check a request at server time `now_unix` (wall clock, for the timestamp) and `now`
    /// (monotonic, for the nonce memory). A nonce is remembered only once the signature holds,
    /// so garbage requests cannot burn a client's nonces.
    pub fn check(&self, request: &SignedRequest<'_>, now_unix: i64, now: Instant) -> Result<(), Refusal> {
        let access_id = request.access_id.ok_or(Refusal::MissingHeader(HEADER_ACCESS_ID))?;
        let timestamp = request.timestamp.ok_or(Refusal::MissingHeader(HEADER_TIMESTAMP))?;
        let nonce = request.nonce.ok_or(Refusal::MissingHeader(HEADER_NONCE))?;
        let signature = request.signature.ok_or(Refusal::MissingHeader(HEADER_SIGNATURE))?;
        let secret = &self.credentials.get(access_id).ok_or(Refusal::UnknownAccessId)?.secret;
        let timestamp: i64 = timestamp.trim().parse().map_err(|_| Refusal::BadTimestamp)?;
        let skew_secs = now_unix.abs_diff(timestamp);
        if self.window_secs > 0 && skew_secs > self.window_secs {
            return Err(Refusal::StaleTimestamp { timestamp, skew_secs, window_secs: self.window_secs });
        }
        if nonce.len() < MIN_NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Refusal::BadNonce);
        }
        let pairs = query_pairs(request.raw_query);
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let to_sign = signing::string_to_sign(
            request.method,
            request.path,
            &signing::canonical_query(&borrowed),
            timestamp,
            nonce,
            request.body,
        );
        if !signing::verify(secret.expose(), &to_sign, signature.trim()) {
            return Err(Refusal::BadSignature);
        }
        let mut nonces = self.nonces.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if nonces.remember(access_id, nonce, now) {
            Ok(())
        } else {
            Err(Refusal::ReplayedNonce)
        }
    }
}

/// Nonces seen per access id, with when (monotonic) they were first seen.
#[derive(Default)]
struct NonceBook {
    seen: HashMap<(String, String), Instant>,
    last_prune: Option<Instant>,
}

impl NonceBook {
    /// True when the nonce is fresh (and now remembered), false when it was seen within
    /// NONCE_MEMORY.
    fn remember(&mut self, access_id: &str, nonce: &str, now: Instant) -> bool {
        if self.last_prune.is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY) {
            self.seen.retain(|_, seen_at| now.saturating_duration_since(*seen_at) < NONCE_MEMORY);
            self.last_prune = Some(now);
        }
        let key = (access_id.to_owned(), nonce.to_owned());
        match self.seen.get(&key) {
            Some(seen_at) if now.saturating_duration_since(*seen_at) < NONCE_MEMORY => false,
            _ => {
                self.seen.insert(key, now);
                true
            }
        }
    }
}

/// The query's parameters, percent-decoded, in their order. `+` is kept as is: the spec
/// encodes with RFC 3986, where `+` is not a space.
pub fn query_pairs(raw_query: Option<&str>) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    raw_query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1764000000;

    fn verifier(window_secs: u64) -> Verifier {
        Verifier::new(&[Credential::json("AK-test", "SK-test-secret")], window_secs)
    }

    /// customer-api.md vector 2, as a server receives it.
    fn vector_2() -> SignedRequest<'static> {
        SignedRequest {
            method: "GET",
            path: "/api/v1/flux/query",
            raw_query: Some("mac=aa%3Abb%3Acc%3Add%3Aee%3Aff&flux_dat=20261124"),
            access_id: Some("AK-test"),
            timestamp: Some("1764000000"),
            nonce: Some("0123456789abcdef"),
            signature: Some("a807718d49649abc15ad74e780c1db698a44e440e9e52339cc69bbddd3457544"),
            body: b"",
        }
    }

    #[test]
    fn spec_vector_passes_once_then_its_nonce_is_a_replay() {
        let v = verifier(300);
        let t0 = Instant::now();
        assert_eq!(v.check(&vector_2(), NOW, t0), Ok(()));
        assert_eq!(v.check(&vector_2(), NOW, t0 + Duration::from_secs(599)), Err(Refusal::ReplayedNonce));
        // Past the memory the nonce is forgotten (the timestamp window guards that case).
        assert_eq!(v.check(&vector_2(), NOW, t0 + NONCE_MEMORY + PRUNE_EVERY), Ok(()));
    }

    #[test]
    fn unencoded_colons_in_the_query_sign_the_same() {
        let request =
            SignedRequest { raw_query: Some("flux_dat=20261124&mac=aa:bb:cc:dd:ee:ff"), ..vector_2() };
        assert_eq!(verifier(300).check(&request, NOW, Instant::now()), Ok(()));
    }

    #[test]
    fn each_refusal_says_why() {
        let v = verifier(300);
        let now = Instant::now();
        let check = |request: SignedRequest<'_>, now_unix: i64| v.check(&request, now_unix, now);
        assert_eq!(
            check(SignedRequest { access_id: None, ..vector_2() }, NOW),
            Err(Refusal::MissingHeader("X-Access-Id"))
        );
        assert_eq!(
            check(SignedRequest { access_id: Some("AK-other"), ..vector_2() }, NOW),
            Err(Refusal::UnknownAccessId)
        );
        assert_eq!(
            check(SignedRequest { timestamp: Some("soon"), ..vector_2() }, NOW),
            Err(Refusal::BadTimestamp)
        );
        assert!(matches!(check(vector_2(), NOW + 301), Err(Refusal::StaleTimestamp { skew_secs: 301, .. })));
        assert_eq!(
            check(SignedRequest { nonce: Some("0123456789abcde"), ..vector_2() }, NOW),
            Err(Refusal::BadNonce)
        );
        assert_eq!(
            check(SignedRequest { nonce: Some("0123456789abcdeg"), ..vector_2() }, NOW),
            Err(Refusal::BadNonce)
        );
        assert_eq!(check(SignedRequest { body: b"x", ..vector_2() }, NOW), Err(Refusal::BadSignature));
        assert_eq!(check(SignedRequest { method: "POST", ..vector_2() }, NOW), Err(Refusal::BadSignature));
        // None of the refused requests used up the nonce.
        assert_eq!(check(vector_2(), NOW + 300), Ok(()));
    }

    #[test]
    fn window_zero_accepts_any_timestamp() {
        assert_eq!(verifier(0).check(&vector_2(), NOW + 86_400 * 365, Instant::now()), Ok(()));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let credential = Credential::json("AK-test", "SK-test-secret");
        let printed = format!("{credential:?}");
        assert!(!printed.contains("SK-test-secret"), "{printed}");
        assert!(printed.contains("AK-test"));
    }
}
