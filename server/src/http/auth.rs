//! Credentials on the wire: the middleware that reads them from a request and asks
//! [`permits`] whether its [`Action`] is allowed, and the web UI's sign-in endpoints.
//!
//! With a key set, every request needs credentials except `/healthz`, the web UI's files
//! (`/`, `/ui/*`) and the sign-in endpoints (`/api/v1/auth`, `/api/v1/auth/login`,
//! `/api/v1/auth/logout`). Credentials are either
//!
//! - `Authorization: Bearer <api key>`: API clients, the CLI with `--url`, OpenAI clients of
//!   `/v1`; or
//! - the session cookie the web UI gets by posting the key to `/api/v1/auth/login`
//!   (`HttpOnly`, `SameSite=Strict`: no cross-site request carries it). It holds no state on
//!   the server: see [`crate::service::auth`] for the token.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::error::ApiResult;
use super::extract::ApiJson;
use crate::error::Error;
use crate::service::auth::{permits, Action, Caller, Guard, Role};
use crate::service::keys::{self, Credential};
use crate::service::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "ragd_session";
/// Paths open without credentials (besides the web UI's files).
const OPEN_PATHS: &[&str] = &[
    "/",
    "/healthz",
    "/api/v1/auth",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/openapi.json",
];
/// A failed sign-in waits this long before it is answered, to slow guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(300);

/// What a request asks to do: the route table's view of [`Action`]s.
pub fn action_of(method: &Method, path: &str) -> Action {
    if path.starts_with("/api/v1/backups") {
        return Action::Backup;
    }
    if path == "/metrics" {
        return Action::Metrics;
    }
    if path == "/api/v1/keys" || path.starts_with("/api/v1/keys/") {
        return Action::ManageKeys;
    }
    // MCP's tools only read, search and ask.
    if path == "/mcp" || path.starts_with("/mcp/") {
        return Action::Ask;
    }
    if *method == Method::GET || *method == Method::HEAD {
        let sources = path
            .strip_prefix("/api/v1/knowledge-bases/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| rest == "sources" || rest.starts_with("sources/"));
        return if sources {
            Action::ReadSources
        } else {
            Action::Read
        };
    }
    if *method != Method::POST {
        return Action::Change;
    }
    let message = path
        .strip_prefix("/api/v1/conversations/")
        .and_then(|rest| rest.strip_suffix("/messages"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    match path {
        _ if message => Action::Converse,
        "/api/v1/conversations" => Action::Converse,
        "/api/v1/search" | "/api/v1/dify/retrieval" => Action::Search,
        "/api/v1/ask" | "/v1/chat/completions" => Action::Ask,
        "/api/v1/eval" => Action::Evaluate,
        _ => Action::Change,
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

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a write relies on the browser's cookie and comes from another site (a planted
/// upload, a forced backup): refused, whether or not a key is set. With a bearer key the
/// client is not a browser acting for someone else.
fn forged_write(req: &Request, cookie_or_no_key: bool) -> bool {
    let h = req.headers();
    cookie_or_no_key
        && crate::service::auth::cross_site_write(
            req.method().as_str(),
            header_str(h, &header::HOST),
            header_str(h, &header::ORIGIN),
            header_str(h, &header::HeaderName::from_static("sec-fetch-site")),
        )
}

/// The credential a request carries: a bearer key, else the session cookie.
fn credential(headers: &HeaderMap) -> Option<Credential<'_>> {
    match bearer(headers) {
        Some(key) => Some(Credential::Bearer(key)),
        None => cookie(headers, COOKIE).map(Credential::Session),
    }
}

/// Who the request's credentials name, if they are valid now (configured or managed keys,
/// and sessions of either).
async fn caller(
    store: &crate::store::Store,
    guard: &Guard,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Error> {
    match credential(headers) {
        None => Ok(None),
        Some(c) => keys::authenticate(store, guard, c, now_secs()).await,
    }
}

/// The middleware: without a key, only loopback `Host`s (and `auth.allowed_hosts`) are
/// served, cross-site writes are refused and everyone is admin; with keys, 401 to a
/// protected request without valid credentials, 403 to one its key's role may not make or a
/// cookie-carried write from another site. The [`Caller`] found goes to the handler, whose
/// service checks the knowledge bases it touches against the key's scope.
pub async fn require(
    guard: Option<Guard>,
    allowed_hosts: std::sync::Arc<Vec<String>>,
    store: crate::store::Store,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(g) = guard else {
        let host = header_str(req.headers(), &header::HOST);
        if !crate::service::auth::host_allowed(host, &allowed_hosts) {
            return ApiError(Error::Forbidden(format!(
                "host {:?} is not served without an api key: add it to auth.allowed_hosts, or set a key",
                host.unwrap_or_default()
            )))
            .into_response();
        }
        if forged_write(&req, true) {
            return ApiError(Error::Forbidden(
                "a change from another site is refused (origin check)".into(),
            ))
            .into_response();
        }
        req.extensions_mut().insert(Caller::ADMIN);
        return next.run(req).await;
    };
    if forged_write(&req, bearer(req.headers()).is_none()) {
        return ApiError(Error::Forbidden(
            "a change from another site is refused (origin check)".into(),
        ))
        .into_response();
    }
    let path = req.uri().path().to_string();
    if !is_protected(&path) {
        return next.run(req).await;
    }
    let action = action_of(req.method(), &path);
    let who = caller(&store, &g, req.headers()).await;
    // Dify's External Knowledge API has error answers of its own.
    if path.starts_with("/api/v1/dify/") {
        let (code, message) = match (bearer(req.headers()), who) {
            (_, Ok(Some(c))) if permits(c.role, action) => {
                req.extensions_mut().insert(c);
                return next.run(req).await;
            }
            (_, Err(e)) => return ApiError(e).into_response(),
            (None, _) => (
                1001,
                "invalid Authorization header format: expected `Bearer <api key>`",
            ),
            _ => (1002, "authorization failed"),
        };
        return super::dify::dify_error(axum::http::StatusCode::FORBIDDEN, code, message);
    }
    match who {
        Err(e) => ApiError(e).into_response(),
        Ok(None) => {
            let mut resp = ApiError(Error::Unauthorized).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ragd\""),
            );
            resp
        }
        Ok(Some(c)) if !permits(c.role, action) => ApiError(Error::Forbidden(match c.role {
            Role::Reader => "this api key may only read, search and ask".into(),
            _ => "this needs an admin key".into(),
        }))
        .into_response(),
        Ok(Some(c)) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
    }
}

/// The [`Caller`] the middleware found. A handler behind it always has one; one outside it
/// is refused.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError(Error::Unauthorized))
    }
}

/// `/auth`, `/auth/login`, `/auth/logout` (under `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(login))
        .routes(routes!(logout))
}

/// `{"required": bool, "authenticated": bool, "role": "admin"|"editor"|"reader"|null,
/// "scoped": bool}`: whether the UI must sign in, and what it may do.
#[utoipa::path(get, path = "/auth", tag = "auth", security(()),
    responses((status = 200, description = "`required`, `authenticated`, `role` (`admin`, `editor`, `reader` or null) and `scoped` (limited to some knowledge bases)", body = Object)))]
async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let who = match &state.guard {
        None => Some(Caller::ADMIN),
        Some(g) => caller(&state.store, g, &headers).await?,
    };
    Ok(Json(json!({
        "required": state.guard.is_some(),
        "authenticated": who.is_some(),
        "role": who.as_ref().map(|c| c.role),
        "scoped": who.as_ref().is_some_and(Caller::is_scoped),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    api_key: String,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()), request_body = Login,
    responses((status = 204, description = "signed in: the session cookie is set"), (status = 401, description = "wrong key", body = super::openapi::ErrorBody), (status = 429, description = "too many failed sign-ins from this address", body = super::openapi::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let Some(guard) = &state.guard else {
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    };
    // In process (no socket) there is no peer: one shared slot.
    let ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(a))| {
        a.ip()
    });
    if !state.sign_ins.allows(ip, Instant::now()) {
        tracing::warn!(%ip, "sign-in refused: too many failures");
        return Err(Error::RateLimited(
            "too many failed sign-ins from this address, try again later".into(),
        )
        .into());
    }
    let max_age = guard.session_length().as_secs();
    let token =
        keys::session_token(&state.store, guard, &body.api_key, now_secs() + max_age).await?;
    let Some(token) = token else {
        state.sign_ins.failed(ip, Instant::now());
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        tracing::warn!(%ip, "failed sign-in");
        return Err(Error::Unauthorized.into());
    };
    state.sign_ins.succeeded(ip);
    let cookie = session_cookie(&token, max_age, forwarded_https(&headers));
    Ok((
        axum::http::StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie)],
    )
        .into_response())
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(()),
    responses((status = 204, description = "signed out: the session ends (a copy of its cookie no longer works) and the cookie is cleared")))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE) {
        if let Err(e) = crate::service::auth::sign_out(&state.store, token).await {
            return ApiError(e).into_response();
        }
    }
    let cookie = session_cookie("", 0, forwarded_https(&headers));
    (
        axum::http::StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie)],
    )
        .into_response()
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
    use crate::service::auth::test_keys::{guard, ADMIN};

    /// The role a configured key or its session carries, if they are valid.
    fn role(guard: &Guard, headers: &HeaderMap, now: u64) -> Option<Role> {
        if let Some(key) = bearer(headers) {
            return guard.role_of(key);
        }
        cookie(headers, COOKIE).and_then(|token| guard.session_role(token, now))
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
        assert_eq!(role(&g, &ok, 0), Some(Role::Admin));
        let lower = headers(&[(header::AUTHORIZATION, "bearer 0123456789abcdef-key")]);
        assert_eq!(role(&g, &lower, 0), Some(Role::Admin));
        let reader = headers(&[(header::AUTHORIZATION, "Bearer reader-key-0123456789")]);
        assert_eq!(role(&g, &reader, 0), Some(Role::Reader));
        for bad in [
            "Bearer 0123456789abcdef-kez",
            "Bearer ",
            "Basic 0123456789abcdef-key",
            "0123456789abcdef-key",
        ] {
            assert_eq!(
                role(&g, &headers(&[(header::AUTHORIZATION, bad)]), 0),
                None,
                "{bad}"
            );
        }
        assert_eq!(role(&g, &HeaderMap::new(), 0), None);
    }

    #[test]
    fn a_session_cookie_among_others() {
        let g = guard();
        let now = 1_800_000_000;
        let token = g.session_token(ADMIN, now + 3600).unwrap();
        let h = headers(&[(header::COOKIE, &format!("a=b; {COOKIE}={token}; c=d"))]);
        assert_eq!(role(&g, &h, now), Some(Role::Admin));
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
            (Method::GET, "/api/v1/knowledge-bases/sources"),
        ];
        for (m, p) in &ok {
            assert!(permits(Role::Reader, action_of(m, p)), "{m} {p}");
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
            (Method::GET, "/api/v1/knowledge-bases/kb/sources"),
            (Method::GET, "/api/v1/knowledge-bases/kb/sources/s/runs"),
            (Method::GET, "/api/v1/keys"),
            (Method::POST, "/api/v1/keys"),
            (Method::DELETE, "/api/v1/keys/k1"),
        ];
        for (m, p) in &refused {
            assert!(!permits(Role::Reader, action_of(m, p)), "{m} {p}");
            assert!(permits(Role::Admin, action_of(m, p)), "{m} {p}");
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
}
