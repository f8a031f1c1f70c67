//! argon2id hashing, off the async workers and bounded to the core count,
//! so a burst of signins neither stalls other requests nor allocates
//! argon2's memory hundreds of times at once.

use std::sync::Arc;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::{
    domain::Password,
    error::{Error, Result},
};

#[derive(Clone)]
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when an email is unknown, so that "no such user"
    /// takes as long as "wrong password".
    decoy: Arc<String>,
}

impl Hasher {
    pub(crate) fn new() -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let decoy = hash_now("decoy password for unknown accounts")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(cores)),
            decoy: Arc::new(decoy),
        })
    }

    pub(crate) async fn hash(&self, password: &Password) -> Result<String> {
        let password = password.expose().to_owned();
        self.run(move || hash_now(&password)).await?
    }

    /// Checks `password` against `hash`; with no hash, checks the decoy and
    /// answers false, taking the same time.
    pub(crate) async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let password = password.trim().to_owned();
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.decoy.as_str().to_owned(), str::to_owned);
        let matches = self
            .run(move || {
                Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("password hashing task: {e}")))
    }
}

fn hash_now(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let h = Hasher::new().unwrap();
        let hash = h
            .hash(&Password::parse("right password").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify("right password", Some(&hash)).await.unwrap());
        assert!(h.verify("  right password ", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong password", Some(&hash)).await.unwrap());
        assert!(!h.verify("right password", None).await.unwrap());
    }
}
