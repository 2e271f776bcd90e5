//! Stage keys: `sha256:<hex>` of the canonical JSON of everything that determines a stage's
//! output (its format version, the instance fields it reads, the model id, the prompt
//! version, its parameters, the keys of the artifacts it reads). Runtime knobs (concurrency,
//! limits, progress) are never part of a key.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// A stage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StageKey(pub String);

impl StageKey {
    /// The key of a serializable description. Struct fields serialize in declaration order
    /// and maps in insertion order, so equal descriptions give equal keys.
    pub fn of<T: Serialize + ?Sized>(description: &T) -> StageKey {
        let json = serde_json::to_vec(description).unwrap_or_default();
        StageKey(format!("sha256:{}", hex::encode(Sha256::digest(&json))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sha256` hex of a text (for prompt, patch and test identities).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct D<'a> {
        stage: &'a str,
        temperature: f64,
        upstream: Vec<StageKey>,
    }

    #[test]
    fn keys_are_stable_and_sensitive() {
        let a = StageKey::of(&D {
            stage: "repair",
            temperature: 1.0,
            upstream: vec![StageKey("sha256:x".into())],
        });
        let b = StageKey::of(&D {
            stage: "repair",
            temperature: 1.0,
            upstream: vec![StageKey("sha256:x".into())],
        });
        let c = StageKey::of(&D {
            stage: "repair",
            temperature: 0.8,
            upstream: vec![StageKey("sha256:x".into())],
        });
        let d = StageKey::of(&D {
            stage: "repair",
            temperature: 1.0,
            upstream: vec![StageKey("sha256:y".into())],
        });
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(a.as_str().starts_with("sha256:") && a.as_str().len() == 7 + 64);
        // Pinned: a change here silently invalidates every run directory.
        assert_eq!(
            StageKey::of(&serde_json::json!({"a": 1})).as_str(),
            "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
