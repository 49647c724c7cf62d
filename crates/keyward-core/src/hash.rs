//! argon2id with OWASP's parameters (m=19456 KiB, t=2, p=1). Only the PHC string is stored.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| Error::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a secret into a PHC string with a fresh random salt. CPU-heavy: call it off the async
/// runtime ([`hash_secret`] does).
pub fn hash_secret_blocking(secret: &[u8]) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(secret, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

/// True when `secret` matches the PHC string. The comparison inside argon2 is constant-time.
pub fn verify_secret_blocking(secret: &[u8], phc: &str) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| Error::Hashing(e.to_string()))?;
    // Verify with the parameters recorded in the PHC string, so keys hashed before a parameter
    // change still verify.
    match Argon2::default().verify_password(secret, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Hashing(e.to_string())),
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?
}

pub async fn hash_secret(secret: zeroize::Zeroizing<String>) -> Result<String> {
    blocking(move || hash_secret_blocking(secret.as_bytes())).await
}

pub async fn verify_secret(secret: zeroize::Zeroizing<String>, phc: String) -> Result<bool> {
    blocking(move || verify_secret_blocking(secret.as_bytes(), &phc)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash_secret_blocking(b"correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_secret_blocking(b"correct horse", &phc).expect("verify"));
        assert!(!verify_secret_blocking(b"correct horsf", &phc).expect("verify"));
    }

    #[test]
    fn the_same_secret_hashes_differently_each_time() {
        let a = hash_secret_blocking(b"same").expect("hash");
        let b = hash_secret_blocking(b"same").expect("hash");
        assert_ne!(a, b, "salts must differ");
    }
}
