//! Secrets the service hands out or checks: random tokens (stored only as SHA-256), and
//! argon2 password hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// A new random token: `prefix` + 64 hex digits (256 bits).
pub fn new_token(prefix: &str) -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A valid hash of nothing anyone knows, to verify against when the user does not exist.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no such user: this password is never accepted").unwrap_or_default())
}

/// `verify_password` with the algorithm's memory (~19 MiB for the default parameters) in
/// `blocks`, which the caller keeps and reuses: a login costs no allocation of its own, so a
/// flood of them leaves no freed-but-kept heap behind (the allocator kept every 19 MiB block
/// of a concurrent flood: 200 logins left the service at 791 MiB).
pub fn verify_password_in(password: &str, stored_hash: &str, blocks: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored_hash) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else { return false };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&hash) else { return false };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else { return false };
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), argon2::Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut blocks[..params.block_count()])
        .is_ok()
        // Output's equality is constant-time.
        && argon2::password_hash::Output::new(&computed).is_ok_and(|computed| computed == expected)
}

pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn the_reused_memory_verifier_agrees_with_the_library() {
        let hash = hash_password("correct horse").unwrap();
        let mut blocks = Vec::new();
        for _ in 0..2 {
            assert!(verify_password_in("correct horse", &hash, &mut blocks));
            assert!(!verify_password_in("wrong", &hash, &mut blocks));
        }
        assert!(!verify_password_in("correct horse", "not a hash", &mut blocks));
        assert!(verify_password_in(
            "no such user: this password is never accepted",
            dummy_hash(),
            &mut blocks
        ));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token("pa_").unwrap();
        assert_ne!(a, new_token("pa_").unwrap());
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
