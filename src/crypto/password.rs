//! Web passwords, stored as scrypt PHC strings (`$scrypt$ln=15,r=8,p=3$<salt>$<hash>`).
//!
//! Both functions are blocking and memory-hungry: run them through
//! [`KdfPool::run`](super::KdfPool::run). The PHC string only verifies a password; the key
//! that opens the account's web list key comes from a separate scrypt derivation with its own
//! salt, so nothing stored derives it.

use rand::rngs::OsRng;
use scrypt::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use scrypt::{Params, Scrypt};

use super::{CryptoError, KdfParams};

/// Hashes `password` with scrypt at the given cost and a fresh random salt.
pub fn hash_password(password: &str, log_n: u8, r: u32, p: u32) -> Result<String, CryptoError> {
    KdfParams::check(log_n, r, p).map_err(|_| CryptoError::KdfParams)?;
    let params = Params::new(log_n, r, p, 32).map_err(|_| CryptoError::KdfParams)?;
    let salt = SaltString::generate(&mut OsRng);
    Scrypt
        .hash_password_customized(password.as_bytes(), None, None, params, &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| CryptoError::KdfParams)
}

/// Whether `password` matches the PHC string `phc` (the hash compared in constant time).
///
/// A string whose cost lies outside [`KdfParams::check`]'s allow-list is refused before any
/// work, so a tampered record cannot make the server spend unbounded memory.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CryptoError> {
    let hash = PasswordHash::new(phc).map_err(|_| CryptoError::Encoding("password hash".into()))?;
    let params = Params::try_from(&hash).map_err(|_| CryptoError::KdfParams)?;
    KdfParams::check(params.log_n(), params.r(), params.p()).map_err(|_| CryptoError::KdfParams)?;
    Ok(Scrypt.verify_password(password.as_bytes(), &hash).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phc_string_verifies_its_password_only() {
        let phc = hash_password("correct horse battery", 10, 8, 1).expect("hash");
        assert!(phc.starts_with("$scrypt$ln=10,r=8,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse battery", &phc).expect("verify"));
        assert!(!verify_password("correct horse batterY", &phc).expect("verify"));
        // A fresh salt each time.
        assert_ne!(
            phc,
            hash_password("correct horse battery", 10, 8, 1).expect("hash")
        );
    }

    #[test]
    fn stored_costs_outside_the_allow_list_are_refused_before_any_work() {
        let phc = hash_password("correct horse battery", 10, 8, 1).expect("hash");
        let greedy = phc.replace("ln=10", "ln=30");
        assert!(matches!(
            verify_password("correct horse battery", &greedy),
            Err(CryptoError::KdfParams)
        ));
        assert!(verify_password("x", "not a phc string").is_err());
    }
}
