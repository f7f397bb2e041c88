//! `[auth]`: the API keys.

use serde::{Deserialize, Serialize};

/// The shortest API key accepted.
pub const MIN_KEY_CHARS: usize = 16;

/// `[auth]`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The admin API key; empty: no authentication (then only a loopback `listen` is allowed).
    pub api_key: String,
    /// Keys that may only read, search and ask (for a team's chat clients).
    pub reader_keys: Vec<String>,
    /// Serve without a key on a non-loopback address (behind a proxy that authenticates).
    pub allow_unauthenticated: bool,
    /// How long a web UI session lasts.
    pub session_hours: u64,
    /// `Host` names served besides loopback addresses and `localhost` when there is no key
    /// (the names a reverse proxy forwards); guards against DNS rebinding.
    pub allowed_hosts: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            reader_keys: Vec::new(),
            allow_unauthenticated: false,
            session_hours: 24 * 7,
            allowed_hosts: Vec::new(),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "api_key",
                &if self.api_key.is_empty() { "" } else { "<set>" },
            )
            .field("reader_keys", &self.reader_keys.len())
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("session_hours", &self.session_hours)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.api_key.is_empty() && self.api_key.chars().count() < MIN_KEY_CHARS {
            return Err(format!(
                "auth.api_key must be at least {MIN_KEY_CHARS} characters (try `openssl rand -hex 32`)"
            ));
        }
        if !self.reader_keys.is_empty() && self.api_key.is_empty() {
            return Err("auth.reader_keys need an auth.api_key".into());
        }
        for key in &self.reader_keys {
            if key.chars().count() < MIN_KEY_CHARS {
                return Err(format!(
                    "auth.reader_keys: each key must be at least {MIN_KEY_CHARS} characters"
                ));
            }
            if *key == self.api_key {
                return Err("auth.reader_keys must not hold the admin key".into());
            }
        }
        if self.session_hours == 0 || self.session_hours > 24 * 365 {
            return Err("auth.session_hours must be between 1 and 8760".into());
        }
        Ok(())
    }
}
