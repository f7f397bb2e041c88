//! API authentication with one API key (`[auth] api_key`, `RAGD_API_KEY`).
//!
//! With a key set, every request needs credentials except `/healthz`, the web UI's files
//! (`/`, `/ui/*`) and the sign-in endpoints (`/api/v1/auth`, `/api/v1/auth/login`,
//! `/api/v1/auth/logout`). Credentials are either
//!
//! - `Authorization: Bearer <api key>`: API clients, the CLI with `--url`, OpenAI clients of
//!   `/v1`; or
//! - the session cookie the web UI gets by posting the key to `/api/v1/auth/login`.
//!
//! The cookie holds no state on the server:
//!
//! ```text
//! ragd_session = <expiry, unix seconds> "." hex(HMAC-SHA256(SHA-256(api key), "ragd-session:" <expiry>))
//! ```
//!
//! It is `HttpOnly` and `SameSite=Strict` (no cross-site request carries it). Changing the key
//! ends every session. Keys are compared in constant time, as SHA-256 digests.
//!
//! Without a key, `ragd serve` refuses a non-loopback `listen` address unless
//! `auth.allow_unauthenticated` says so ([`check_exposure`]).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "ragd_session";
/// The shortest API key accepted.
pub const MIN_KEY_CHARS: usize = 16;
/// Paths open without credentials (besides the web UI's files).
const OPEN_PATHS: &[&str] = &[
    "/",
    "/healthz",
    "/api/v1/auth",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
];
/// A failed sign-in waits this long before it is answered, to slow guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(300);

/// `[auth]`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The API key; empty: no authentication (then only a loopback `listen` is allowed).
    pub api_key: String,
    /// Serve without a key on a non-loopback address (behind a proxy that authenticates).
    pub allow_unauthenticated: bool,
    /// How long a web UI session lasts.
    pub session_hours: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            allow_unauthenticated: false,
            session_hours: 24 * 7,
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
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("session_hours", &self.session_hours)
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
        if self.session_hours == 0 || self.session_hours > 24 * 365 {
            return Err("auth.session_hours must be between 1 and 8760".into());
        }
        Ok(())
    }

    /// The guard the middleware checks requests with; `None` when no key is set.
    pub fn guard(&self) -> Option<Guard> {
        (!self.api_key.is_empty()).then(|| Guard {
            key_digest: Sha256::digest(self.api_key.as_bytes()).into(),
            session: Duration::from_secs(self.session_hours * 3600),
        })
    }
}

/// Refuses to serve without a key on an address other machines can reach.
pub fn check_exposure(listen: &str, auth: &AuthConfig) -> Result<(), String> {
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        return Err(format!("listen must be ADDR:PORT, got {listen:?}"));
    };
    if addr.ip().is_loopback() || !auth.api_key.is_empty() || auth.allow_unauthenticated {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {listen} without an api key: set RAGD_API_KEY (auth.api_key), \
         or auth.allow_unauthenticated = true when a proxy in front authenticates"
    ))
}

/// What a request is checked against.
#[derive(Clone)]
pub struct Guard {
    key_digest: [u8; 32],
    session: Duration,
}

impl Guard {
    /// Whether `key` is the API key (constant time).
    pub fn is_key(&self, key: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        digest.ct_eq(&self.key_digest).into()
    }

    fn mac(&self, expires: u64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key_digest).expect("hmac takes any key");
        mac.update(format!("ragd-session:{expires}").as_bytes());
        mac
    }

    /// A session token that expires at `expires` (unix seconds).
    pub fn session_token(&self, expires: u64) -> String {
        format!(
            "{expires}.{}",
            hex::encode(self.mac(expires).finalize().into_bytes())
        )
    }

    /// Whether `token` was made by [`Guard::session_token`] with this key and has not expired
    /// at `now` (unix seconds).
    pub fn valid_session(&self, token: &str, now: u64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(tag)) = (expires.parse::<u64>(), hex::decode(tag)) else {
            return false;
        };
        if expires <= now || expires > now + self.session.as_secs() {
            return false;
        }
        self.mac(expires).verify_slice(&tag).is_ok()
    }

    /// Whether the request carries valid credentials.
    pub fn allows(&self, headers: &HeaderMap, now: u64) -> bool {
        if let Some(key) = bearer(headers) {
            return self.is_key(key);
        }
        cookie(headers, COOKIE).is_some_and(|token| self.valid_session(token, now))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a path needs credentials: everything but [`OPEN_PATHS`] and the UI's files.
pub fn is_protected(path: &str) -> bool {
    !(OPEN_PATHS.contains(&path) || path.starts_with("/ui/"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The middleware: answers 401 to a protected request without valid credentials.
pub async fn require(guard: Option<Guard>, req: Request, next: Next) -> Response {
    match guard {
        Some(g) if is_protected(req.uri().path()) && !g.allows(req.headers(), now_secs()) => {
            let mut resp = ApiError::Unauthorized.into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ragd\""),
            );
            resp
        }
        _ => next.run(req).await,
    }
}

/// `/auth`, `/auth/login`, `/auth/logout` (under `/api/v1`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth", get(status))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
}

/// `{"required": bool, "authenticated": bool}`: whether the UI must sign in.
async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<serde_json::Value> {
    let guard = state.config.auth.guard();
    let authenticated = guard
        .as_ref()
        .is_none_or(|g| g.allows(&headers, now_secs()));
    Json(json!({"required": guard.is_some(), "authenticated": authenticated}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    api_key: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let Some(guard) = state.config.auth.guard() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if !guard.is_key(&body.api_key) {
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        tracing::warn!("failed sign-in");
        return Err(ApiError::Unauthorized);
    }
    let max_age = guard.session.as_secs();
    let token = guard.session_token(now_secs() + max_age);
    let cookie = session_cookie(&token, max_age, forwarded_https(&headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn logout(headers: HeaderMap) -> Response {
    let cookie = session_cookie("", 0, forwarded_https(&headers));
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}

/// Behind a TLS-terminating proxy the cookie is marked `Secure`.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(token: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        AuthConfig {
            api_key: "0123456789abcdef-key".into(),
            ..AuthConfig::default()
        }
        .guard()
        .unwrap()
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_key_is_checked() {
        let g = guard();
        let ok = headers(&[(header::AUTHORIZATION, "Bearer 0123456789abcdef-key")]);
        assert!(g.allows(&ok, 0));
        let lower = headers(&[(header::AUTHORIZATION, "bearer 0123456789abcdef-key")]);
        assert!(g.allows(&lower, 0));
        for bad in [
            "Bearer 0123456789abcdef-kez",
            "Bearer ",
            "Basic 0123456789abcdef-key",
            "0123456789abcdef-key",
        ] {
            assert!(
                !g.allows(&headers(&[(header::AUTHORIZATION, bad)]), 0),
                "{bad}"
            );
        }
        assert!(!g.allows(&HeaderMap::new(), 0));
    }

    #[test]
    fn session_tokens_expire_and_cannot_be_forged() {
        let g = guard();
        let now = 1_800_000_000;
        let token = g.session_token(now + 3600);
        assert!(g.valid_session(&token, now));
        assert!(!g.valid_session(&token, now + 3600), "expired");
        // A later expiry with the old tag, a changed tag, garbage.
        let (_, tag) = token.split_once('.').unwrap();
        assert!(!g.valid_session(&format!("{}.{tag}", now + 7200), now));
        let mut flipped = token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert!(!g.valid_session(&flipped, now));
        for junk in ["", ".", "abc", "1.zz", &format!("{}.", now + 10)] {
            assert!(!g.valid_session(junk, now), "{junk}");
        }
        // Beyond the session length: not made by this server.
        let far = g.session_token(now + g.session.as_secs() + 10);
        assert!(!g.valid_session(&far, now));
        // Another key's token.
        let other = AuthConfig {
            api_key: "another-key-0123456789".into(),
            ..AuthConfig::default()
        }
        .guard()
        .unwrap();
        assert!(!g.valid_session(&other.session_token(now + 3600), now));
        // As a cookie among others.
        let h = headers(&[(header::COOKIE, &format!("a=b; {COOKIE}={token}; c=d"))]);
        assert!(g.allows(&h, now));
    }

    #[test]
    fn open_and_protected_paths() {
        for open in ["/", "/healthz", "/ui/app.js", "/api/v1/auth/login"] {
            assert!(!is_protected(open), "{open}");
        }
        for closed in [
            "/api/v1/knowledge-bases",
            "/api/v1/auth/../knowledge-bases",
            "/api/v1/auth/x",
            "/v1/chat/completions",
            "//api/v1/search",
            "/anything",
        ] {
            assert!(is_protected(closed), "{closed}");
        }
    }

    #[test]
    fn keys_are_long_and_exposure_needs_one() {
        let short = AuthConfig {
            api_key: "short".into(),
            ..AuthConfig::default()
        };
        assert!(short.validate().is_err());
        assert!(AuthConfig::default().validate().is_ok());
        let none = AuthConfig::default();
        assert!(check_exposure("127.0.0.1:8080", &none).is_ok());
        assert!(check_exposure("[::1]:8080", &none).is_ok());
        let err = check_exposure("0.0.0.0:8080", &none).unwrap_err();
        assert!(err.contains("RAGD_API_KEY"), "{err}");
        assert!(check_exposure("192.168.1.5:8080", &none).is_err());
        assert!(check_exposure("0.0.0.0:8080", &guard_config()).is_ok());
        let allowed = AuthConfig {
            allow_unauthenticated: true,
            ..AuthConfig::default()
        };
        assert!(check_exposure("0.0.0.0:8080", &allowed).is_ok());
        assert!(!format!("{:?}", guard_config()).contains("0123456789abcdef"));
    }

    fn guard_config() -> AuthConfig {
        AuthConfig {
            api_key: "0123456789abcdef-key".into(),
            ..AuthConfig::default()
        }
    }
}
