//! Request signing of the customer API:
//! `X-Signature = hex(HMAC-SHA256(secret, METHOD\nPATH\nCANONICAL_QUERY\nTIMESTAMP\nNONCE\nhex(SHA256(body))))`.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but RFC 3986 unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~").
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode one query component (RFC 3986 unreserved characters stay as they are).
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

/// Query parameters sorted by name (then value), `name=value` joined by `&`, encoded.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode_component(k), encode_component(v))).collect();
    sorted.sort();
    sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

pub fn string_to_sign(
    method: &str,
    path: &str,
    canonical_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!("{method}\n{path}\n{canonical_query}\n{timestamp}\n{nonce}\n{}", sha256_hex(body))
}

/// Lower-case hex HMAC-SHA256 of the string to sign.
pub fn sign(secret: &[u8], string_to_sign: &str) -> String {
    to_hex(&mac(secret, string_to_sign).finalize().into_bytes())
}

/// Constant-time check of a presented signature.
pub fn verify(secret: &[u8], string_to_sign: &str, signature_hex: &str) -> bool {
    match from_hex(signature_hex) {
        Some(bytes) => mac(secret, string_to_sign).verify_slice(&bytes).is_ok(),
        None => false,
    }
}

fn mac(secret: &[u8], string_to_sign: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(string_to_sign.as_bytes());
    m
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"SK-test-secret";

    #[test]
    fn vector_1_post_report() {
        let body = br#"{"records":[]}"#;
        assert_eq!(body.len(), 14);
        assert_eq!(sha256_hex(body), "1b8b4c0b6f6ad1d32565952720bc004eeb1f188f62045e4d5525ae2af8c78432");
        let sts = string_to_sign("POST", "/api/v1/flux/report", "", 1764000000, "0123456789abcdef", body);
        let sig = sign(SECRET, &sts);
        assert_eq!(sig, "3f9970c43e1fcbbefcd694c5ecd6bd13fce91f0aa84508054f52781a42e64c1b");
        assert!(verify(SECRET, &sts, &sig));
        assert!(!verify(b"other", &sts, &sig));
        assert!(!verify(SECRET, &sts, "zz"));
    }

    #[test]
    fn vector_2_get_query() {
        let q = canonical_query(&[("mac", "aa:bb:cc:dd:ee:ff"), ("flux_dat", "20261124")]);
        assert_eq!(q, "flux_dat=20261124&mac=aa%3Abb%3Acc%3Add%3Aee%3Aff");
        let sts = string_to_sign("GET", "/api/v1/flux/query", &q, 1764000000, "0123456789abcdef", b"");
        assert_eq!(sign(SECRET, &sts), "a807718d49649abc15ad74e780c1db698a44e440e9e52339cc69bbddd3457544");
    }

    #[test]
    fn unreserved_characters_stay() {
        assert_eq!(encode_component("a-b.c_d~e f/g"), "a-b.c_d~e%20f%2Fg");
    }
}
