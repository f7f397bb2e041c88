//! API authentication: an admin API key (`[auth] api_key`, `RAGD_API_KEY`) and optional
//! reader keys (`[auth] reader_keys`) that may only read, search and ask ([`permits`]).
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
//! ragd_session = <expiry, unix seconds> "." <role> "." hex(HMAC-SHA256(SHA-256(key), "ragd-session:" <role> ":" <expiry>))
//! ```
//!
//! signed with the key that signed in. It is `HttpOnly` and `SameSite=Strict` (no cross-site
//! request carries it). Changing or removing a key ends its sessions. Keys are compared in
//! constant time, as SHA-256 digests.
//!
//! Without a key, `ragd serve` refuses a non-loopback `listen` address unless
//! `auth.allow_unauthenticated` says so ([`check_exposure`]).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
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
/// Failed sign-ins from one address within [`FAILURE_WINDOW`] before its sign-ins are refused.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Addresses remembered at most (older entries are dropped first).
const MAX_TRACKED: usize = 10_000;

/// Failed sign-ins per client address: after [`MAX_FAILURES`] within [`FAILURE_WINDOW`],
/// that address may not sign in (429) until its window has passed; a success clears it.
/// Behind a reverse proxy every client shares the proxy's address. Bearer keys are not
/// limited: a wrong one costs a SHA-256 and a 401.
#[derive(Debug, Default)]
pub struct SignInLimiter {
    failures: std::sync::Mutex<std::collections::HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInLimiter {
    /// Whether `ip` may try to sign in at `now`.
    pub fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_none_or(|(count, since)| {
            *count < MAX_FAILURES || now.saturating_duration_since(*since) >= FAILURE_WINDOW
        })
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| now.saturating_duration_since(*since) < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED {
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FAILURE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

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
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            reader_keys: Vec::new(),
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
            .field("reader_keys", &self.reader_keys.len())
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

    /// The guard the middleware checks requests with; `None` when no key is set.
    pub fn guard(&self) -> Option<Guard> {
        if self.api_key.is_empty() {
            return None;
        }
        let digest = |k: &String| -> [u8; 32] { Sha256::digest(k.as_bytes()).into() };
        let mut keys = vec![(digest(&self.api_key), Role::Admin)];
        keys.extend(self.reader_keys.iter().map(|k| (digest(k), Role::Reader)));
        Some(Guard {
            keys,
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

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read, search and ask ([`permits`]).
    Reader,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reader => "reader",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

/// Whether `role` may make a request. A reader may read (any GET but the backups), search,
/// ask, chat in conversations (not delete them) and use the OpenAI-compatible API; changing
/// knowledge bases, documents, sources or backups, and evaluations, take the admin key.
pub fn permits(role: Role, method: &Method, path: &str) -> bool {
    if role == Role::Admin {
        return true;
    }
    if *method == Method::GET || *method == Method::HEAD {
        return !path.starts_with("/api/v1/backups");
    }
    if *method != Method::POST {
        return false;
    }
    let message = path
        .strip_prefix("/api/v1/conversations/")
        .and_then(|rest| rest.strip_suffix("/messages"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    message
        || matches!(
            path,
            "/api/v1/search" | "/api/v1/ask" | "/api/v1/conversations" | "/v1/chat/completions"
        )
}

/// What a request is checked against.
#[derive(Clone)]
pub struct Guard {
    /// SHA-256 of each key, with its role; the admin key first.
    keys: Vec<([u8; 32], Role)>,
    session: Duration,
}

impl Guard {
    /// The role of `key`, if it is one of the keys. Every key is compared, in constant time.
    pub fn role_of(&self, key: &str) -> Option<Role> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (known, role) in &self.keys {
            if bool::from(digest.ct_eq(known)) {
                found = Some(*role);
            }
        }
        found
    }

    fn mac(key_digest: &[u8; 32], role: Role, expires: u64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key_digest).expect("hmac takes any key");
        mac.update(format!("ragd-session:{}:{expires}", role.as_str()).as_bytes());
        mac
    }

    /// A session token for `key` (one of the keys) that expires at `expires` (unix seconds).
    pub fn session_token(&self, key: &str, expires: u64) -> Option<String> {
        let role = self.role_of(key)?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let tag = Self::mac(&digest, role, expires).finalize().into_bytes();
        Some(format!("{expires}.{}.{}", role.as_str(), hex::encode(tag)))
    }

    /// The role of a token made by [`Guard::session_token`] with one of the current keys,
    /// unless it has expired at `now` (unix seconds).
    pub fn session_role(&self, token: &str, now: u64) -> Option<Role> {
        let mut parts = token.splitn(3, '.');
        let (expires, role, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let expires = expires.parse::<u64>().ok()?;
        let role = Role::parse(role)?;
        let tag = hex::decode(tag).ok()?;
        if expires <= now || expires > now + self.session.as_secs() {
            return None;
        }
        let mut valid = false;
        for (digest, _) in self.keys.iter().filter(|(_, r)| *r == role) {
            valid |= Self::mac(digest, role, expires).verify_slice(&tag).is_ok();
        }
        valid.then_some(role)
    }

    /// The role the request's credentials carry, if they are valid.
    pub fn role(&self, headers: &HeaderMap, now: u64) -> Option<Role> {
        if let Some(key) = bearer(headers) {
            return self.role_of(key);
        }
        cookie(headers, COOKIE).and_then(|token| self.session_role(token, now))
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

/// The middleware: 401 to a protected request without valid credentials, 403 to one its
/// key may not make.
pub async fn require(guard: Option<Guard>, req: Request, next: Next) -> Response {
    let Some(g) = guard else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if !is_protected(path) {
        return next.run(req).await;
    }
    match g.role(req.headers(), now_secs()) {
        None => {
            let mut resp = ApiError::Unauthorized.into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ragd\""),
            );
            resp
        }
        Some(role) if !permits(role, req.method(), path) => {
            ApiError::Forbidden("this api key may only read, search and ask".into()).into_response()
        }
        Some(_) => next.run(req).await,
    }
}

/// `/auth`, `/auth/login`, `/auth/logout` (under `/api/v1`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth", get(status))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
}

/// `{"required": bool, "authenticated": bool, "role": "admin"|"reader"|null}`: whether the
/// UI must sign in, and what it may do.
async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<serde_json::Value> {
    let guard = &state.guard;
    let role = match guard {
        None => Some(Role::Admin),
        Some(g) => g.role(&headers, now_secs()),
    };
    Json(json!({"required": guard.is_some(), "authenticated": role.is_some(), "role": role}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    api_key: String,
}

async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let Some(guard) = &state.guard else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    // In process (the CLI's own router) there is no peer: one shared slot.
    let ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(a))| {
        a.ip()
    });
    if !state.sign_ins.allows(ip, Instant::now()) {
        tracing::warn!(%ip, "sign-in refused: too many failures");
        return Err(ApiError::RateLimited(
            "too many failed sign-ins from this address, try again later".into(),
        ));
    }
    let max_age = guard.session.as_secs();
    let Some(token) = guard.session_token(&body.api_key, now_secs() + max_age) else {
        state.sign_ins.failed(ip, Instant::now());
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        tracing::warn!(%ip, "failed sign-in");
        return Err(ApiError::Unauthorized);
    };
    state.sign_ins.succeeded(ip);
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

    const ADMIN: &str = "0123456789abcdef-key";
    const READER: &str = "reader-key-0123456789";

    fn guard() -> Guard {
        AuthConfig {
            api_key: ADMIN.into(),
            reader_keys: vec![READER.into()],
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
    fn bearer_keys_are_checked_with_their_role() {
        let g = guard();
        let ok = headers(&[(header::AUTHORIZATION, "Bearer 0123456789abcdef-key")]);
        assert_eq!(g.role(&ok, 0), Some(Role::Admin));
        let lower = headers(&[(header::AUTHORIZATION, "bearer 0123456789abcdef-key")]);
        assert_eq!(g.role(&lower, 0), Some(Role::Admin));
        let reader = headers(&[(header::AUTHORIZATION, "Bearer reader-key-0123456789")]);
        assert_eq!(g.role(&reader, 0), Some(Role::Reader));
        for bad in [
            "Bearer 0123456789abcdef-kez",
            "Bearer ",
            "Basic 0123456789abcdef-key",
            "0123456789abcdef-key",
        ] {
            assert_eq!(
                g.role(&headers(&[(header::AUTHORIZATION, bad)]), 0),
                None,
                "{bad}"
            );
        }
        assert_eq!(g.role(&HeaderMap::new(), 0), None);
    }

    #[test]
    fn session_tokens_expire_and_cannot_be_forged() {
        let g = guard();
        let now = 1_800_000_000;
        let token = g.session_token(ADMIN, now + 3600).unwrap();
        assert_eq!(g.session_role(&token, now), Some(Role::Admin));
        assert_eq!(g.session_role(&token, now + 3600), None, "expired");
        assert_eq!(g.session_token("not a key at all!!", now + 3600), None);
        // A later expiry with the old tag, a changed tag, another role, garbage.
        let (_, rest) = token.split_once('.').unwrap();
        assert_eq!(g.session_role(&format!("{}.{rest}", now + 7200), now), None);
        let mut flipped = token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(g.session_role(&flipped, now), None);
        let reader = g.session_token(READER, now + 3600).unwrap();
        assert_eq!(g.session_role(&reader, now), Some(Role::Reader));
        let promoted = reader.replacen(".reader.", ".admin.", 1);
        assert_eq!(
            g.session_role(&promoted, now),
            None,
            "a reader cannot become admin"
        );
        for junk in [
            "",
            ".",
            "..",
            "abc",
            "1.admin.zz",
            &format!("{}.admin.", now + 10),
        ] {
            assert_eq!(g.session_role(junk, now), None, "{junk}");
        }
        // Beyond the session length: not made by this server.
        let far = g
            .session_token(ADMIN, now + g.session.as_secs() + 10)
            .unwrap();
        assert_eq!(g.session_role(&far, now), None);
        // Another server's keys; a reader key taken away ends its sessions.
        let other = AuthConfig {
            api_key: "another-key-0123456789".into(),
            ..AuthConfig::default()
        }
        .guard()
        .unwrap();
        let foreign = other
            .session_token("another-key-0123456789", now + 3600)
            .unwrap();
        assert_eq!(g.session_role(&foreign, now), None);
        assert_eq!(other.session_role(&reader, now), None);
        // As a cookie among others.
        let h = headers(&[(header::COOKIE, &format!("a=b; {COOKIE}={token}; c=d"))]);
        assert_eq!(g.role(&h, now), Some(Role::Admin));
    }

    #[test]
    fn repeated_failed_sign_ins_lock_the_address_for_a_while() {
        let limiter = SignInLimiter::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allows(a, t0));
            limiter.failed(a, t0);
        }
        assert!(!limiter.allows(a, t0), "locked");
        assert!(limiter.allows(b, t0), "other addresses are not");
        assert!(limiter.allows(a, t0 + FAILURE_WINDOW), "the window passes");
        limiter.failed(a, t0 + FAILURE_WINDOW);
        assert!(
            limiter.allows(a, t0 + FAILURE_WINDOW),
            "a new window starts at one"
        );
        limiter.failed(b, t0);
        limiter.succeeded(b);
        assert_eq!(
            limiter.failures.lock().unwrap().get(&b),
            None,
            "success clears"
        );
    }

    #[test]
    fn readers_read_search_and_ask() {
        let ok = [
            (Method::GET, "/api/v1/knowledge-bases"),
            (Method::GET, "/api/v1/knowledge-bases/kb/documents/d/file"),
            (Method::POST, "/api/v1/search"),
            (Method::POST, "/api/v1/ask"),
            (Method::POST, "/api/v1/conversations"),
            (Method::POST, "/api/v1/conversations/c1/messages"),
            (Method::POST, "/v1/chat/completions"),
            (Method::GET, "/v1/models"),
        ];
        for (m, p) in &ok {
            assert!(permits(Role::Reader, m, p), "{m} {p}");
        }
        let refused = [
            (Method::POST, "/api/v1/knowledge-bases"),
            (Method::PATCH, "/api/v1/knowledge-bases/kb"),
            (Method::DELETE, "/api/v1/knowledge-bases/kb"),
            (Method::POST, "/api/v1/knowledge-bases/kb/documents"),
            (Method::DELETE, "/api/v1/knowledge-bases/kb/documents/d"),
            (
                Method::POST,
                "/api/v1/knowledge-bases/kb/documents/d/reparse",
            ),
            (Method::POST, "/api/v1/knowledge-bases/kb/sources"),
            (Method::POST, "/api/v1/knowledge-bases/kb/sources/s/run"),
            (Method::DELETE, "/api/v1/conversations/c1"),
            (Method::POST, "/api/v1/conversations/c1/x/messages"),
            (Method::POST, "/api/v1/eval"),
            (Method::POST, "/api/v1/backups"),
            (Method::GET, "/api/v1/backups"),
        ];
        for (m, p) in &refused {
            assert!(!permits(Role::Reader, m, p), "{m} {p}");
            assert!(permits(Role::Admin, m, p), "{m} {p}");
        }
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
        let reader_without_admin = AuthConfig {
            reader_keys: vec![READER.into()],
            ..AuthConfig::default()
        };
        assert!(reader_without_admin.validate().is_err());
        let admin_as_reader = AuthConfig {
            reader_keys: vec![ADMIN.into()],
            ..guard_config()
        };
        assert!(admin_as_reader.validate().is_err());
    }

    fn guard_config() -> AuthConfig {
        AuthConfig {
            api_key: "0123456789abcdef-key".into(),
            ..AuthConfig::default()
        }
    }
}
