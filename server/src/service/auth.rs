//! Who may do what: the API keys' roles ([`Guard`]), the authorization decision
//! ([`permits`]), the sign-in limiter, and the refusal to serve an open API on a network
//! address ([`check_exposure`]). No HTTP here: `http::auth` reads the credentials from a
//! request and names the [`Action`] it asks for.
//!
//! A web session token is
//!
//! ```text
//! <expiry, unix seconds> "." <role> "." hex(HMAC-SHA256(SHA-256(key), "ragd-session:" <role> ":" <expiry>))
//! ```
//!
//! signed with the key that signed in: changing or removing a key ends its sessions. Keys are
//! compared in constant time, as SHA-256 digests.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;

/// Failed sign-ins from one address within [`FAILURE_WINDOW`] before its sign-ins are refused.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(600);
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

/// Refuses to serve without a key on an address other machines can reach.
/// The name in a `Host` header, without its port (`[::1]:8080` → `::1`), lowercased.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a request's `Host` may be served without a key: a loopback address, `localhost`
/// (or a name under it), or one of `allowed`. Anything else is what DNS rebinding sends (a
/// hostile name that resolves to 127.0.0.1). A request without `Host` (HTTP/1.0 from a local
/// tool) passes.
pub fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = host_name(host);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    allowed.iter().any(|a| host_name(a) == name)
}

/// Whether a request that changes state comes from another site: its `Sec-Fetch-Site` says
/// so (anything but `same-origin` or `none`), or its `Origin` names another host and port
/// than `Host` (an `Origin` of `null` counts as another). Requests without either header
/// (API clients, curl) are not cross-site. Reads are never refused here.
pub fn cross_site_write(
    method: &str,
    host: Option<&str>,
    origin: Option<&str>,
    fetch_site: Option<&str>,
) -> bool {
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return false;
    }
    if let Some(site) = fetch_site {
        if !matches!(site.trim(), "same-origin" | "none") {
            return true;
        }
    }
    match origin {
        None => false,
        Some(origin) => {
            let authority = origin
                .trim()
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            match (authority, host) {
                (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h.trim()),
                _ => true,
            }
        }
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read, search and ask, and change knowledge bases, documents and sources; no backups,
    /// metrics or keys ([`permits`]).
    Editor,
    /// Read, search and ask ([`permits`]).
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Reader => "reader",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

/// What a request asks to do, as the authorization decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read knowledge bases, documents, chunks, conversations, the system's state.
    Read,
    /// Read sources: their folder paths and URLs say where data lives (admin keys only).
    ReadSources,
    Search,
    /// Ask a question (REST or the OpenAI-compatible API).
    Ask,
    /// Start a conversation or add a message to one.
    Converse,
    /// Create, change or delete anything (knowledge bases, documents, sources, conversations).
    Change,
    /// Take or list backups.
    Backup,
    /// Run a retrieval evaluation.
    Evaluate,
    /// Scrape the Prometheus metrics (admin keys only).
    Metrics,
    /// Create, list or revoke API keys (admin keys only).
    ManageKeys,
}

/// Whether `role` may do `action`. A reader may read, search, ask and converse; an editor
/// may also change what its scope covers, read sources and run evaluations; backups,
/// metrics and keys take an admin.
pub fn permits(role: Role, action: Action) -> bool {
    match role {
        Role::Admin => true,
        Role::Editor => !matches!(
            action,
            Action::Backup | Action::Metrics | Action::ManageKeys
        ),
        Role::Reader => matches!(
            action,
            Action::Read | Action::Search | Action::Ask | Action::Converse
        ),
    }
}

/// Who calls a service: the role of their key, whose conversations they see (`owner`: the
/// key's identity, `None` for admins, who see all), and which knowledge bases they may touch
/// (`scope`: ids, `None` for all). Every service that touches a knowledge base checks it
/// (`knowledge_bases::find`). A server without keys, the CLI on the data folder and the
/// server's own jobs call as [`Caller::ADMIN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    pub owner: Option<String>,
    pub scope: Option<Vec<String>>,
}

impl Default for Caller {
    fn default() -> Self {
        Caller::ADMIN
    }
}

impl Caller {
    /// Everything, everywhere.
    pub const ADMIN: Caller = Caller {
        role: Role::Admin,
        owner: None,
        scope: None,
    };

    /// Whether this caller may see a thing made by `owner`.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        self.owner.is_none() || self.owner.as_deref() == owner
    }

    /// Whether this caller may touch the knowledge base with this id.
    pub fn may_touch(&self, kb_id: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == kb_id))
    }

    /// Whether this caller is limited to some knowledge bases.
    pub fn is_scoped(&self) -> bool {
        self.scope.is_some()
    }
}

/// A key's identity: a prefix of its SHA-256, never the key.
fn identity(digest: &[u8; 32]) -> String {
    hex::encode(&digest[..8])
}

/// What a request is checked against.
#[derive(Clone)]
pub struct Guard {
    /// SHA-256 of each key, with its role; the admin key first.
    keys: Vec<([u8; 32], Role)>,
    session: Duration,
}

impl Guard {
    /// The guard requests are checked with; `None` when no key is set.
    pub fn from_config(config: &AuthConfig) -> Option<Guard> {
        if config.api_key.is_empty() {
            return None;
        }
        let digest = |k: &String| -> [u8; 32] { Sha256::digest(k.as_bytes()).into() };
        let mut keys = vec![(digest(&config.api_key), Role::Admin)];
        keys.extend(config.reader_keys.iter().map(|k| (digest(k), Role::Reader)));
        Some(Guard {
            keys,
            session: Duration::from_secs(config.session_hours * 3600),
        })
    }

    /// How long a web session lasts.
    pub fn session_length(&self) -> Duration {
        self.session
    }

    /// The digest and role of `key`, if it is one of the keys. Every key is compared, in
    /// constant time.
    fn known(&self, key: &str) -> Option<([u8; 32], Role)> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (known, role) in &self.keys {
            if bool::from(digest.ct_eq(known)) {
                found = Some(*role);
            }
        }
        found.map(|role| (digest, role))
    }

    /// The role of `key`, if it is one of the keys.
    pub fn role_of(&self, key: &str) -> Option<Role> {
        self.known(key).map(|(_, role)| role)
    }

    /// Who `key` is, when it is one of the configured keys.
    pub fn caller_of(&self, key: &str) -> Option<Caller> {
        self.known(key).map(|(digest, role)| caller(role, &digest))
    }

    /// Who holds a session token made by [`Guard::session_token`] with one of the current
    /// keys, unless it has expired at `now` (unix seconds).
    pub fn session_caller(&self, token: &str, now: u64) -> Option<Caller> {
        let t = SessionToken::parse(token)?;
        let role = Role::parse(t.label)?;
        if !self.session_in_time(t.expires, now) {
            return None;
        }
        self.keys
            .iter()
            .filter(|(_, r)| *r == role)
            .find(|(digest, _)| t.signed_by(digest))
            .map(|(digest, _)| caller(role, digest))
    }

    /// The role of a session token, when [`Guard::session_caller`] accepts it.
    pub fn session_role(&self, token: &str, now: u64) -> Option<Role> {
        self.session_caller(token, now).map(|c| c.role)
    }

    /// Whether a session expiring at `expires` could have been made by this server at `now`.
    pub fn session_in_time(&self, expires: u64, now: u64) -> bool {
        expires > now && expires <= now + self.session.as_secs()
    }

    /// A session token for `key` (one of the keys) that expires at `expires` (unix seconds).
    pub fn session_token(&self, key: &str, expires: u64) -> Option<String> {
        let (digest, role) = self.known(key)?;
        Some(SessionToken::make(&digest, role.as_str(), expires))
    }
}

/// A web session token, `<expiry>.<label>.<hex MAC>`: the label is a role for a configured
/// key, `key-<id>` for a managed one ([`crate::service::keys`]).
pub struct SessionToken<'a> {
    pub expires: u64,
    pub label: &'a str,
    tag: Vec<u8>,
}

impl<'a> SessionToken<'a> {
    pub fn parse(token: &'a str) -> Option<Self> {
        let mut parts = token.splitn(3, '.');
        let (expires, label, tag) = (parts.next()?, parts.next()?, parts.next()?);
        Some(SessionToken {
            expires: expires.parse().ok()?,
            label,
            tag: hex::decode(tag).ok()?,
        })
    }

    /// A token for the key with this digest.
    pub fn make(key_digest: &[u8; 32], label: &str, expires: u64) -> String {
        let tag = session_mac(key_digest, label, expires)
            .finalize()
            .into_bytes();
        format!("{expires}.{label}.{}", hex::encode(tag))
    }

    /// Whether the key with this digest signed it (compared in constant time).
    pub fn signed_by(&self, key_digest: &[u8; 32]) -> bool {
        session_mac(key_digest, self.label, self.expires)
            .verify_slice(&self.tag)
            .is_ok()
    }
}

/// The MAC of a session token: keyed by the SHA-256 of the key that signed in, over its
/// `label` (a role, or `key-<id>` for a managed key) and expiry.
fn session_mac(key_digest: &[u8; 32], label: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key_digest).expect("hmac takes any key");
    mac.update(format!("ragd-session:{label}:{expires}").as_bytes());
    mac
}

/// Readers are told apart by key; the admin sees all.
fn caller(role: Role, digest: &[u8; 32]) -> Caller {
    Caller {
        role,
        owner: (role != Role::Admin).then(|| identity(digest)),
        scope: None,
    }
}

/// The digest a signed-out session is remembered by.
fn session_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Signs a session out: its token stops working at once, on every replica, though the
/// browser that held it (or a copy of the cookie) still has it.
pub async fn sign_out(store: &crate::store::Store, token: &str) -> crate::error::Result<()> {
    let expires = token
        .split('.')
        .next()
        .and_then(|e| e.parse::<i64>().ok())
        .and_then(|e| jiff::Timestamp::from_second(e).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(crate::store::now);
    store
        .revoke_session(&session_digest(token), &expires)
        .await?;
    Ok(())
}

/// Whether a session token was signed out.
pub async fn signed_out(store: &crate::store::Store, token: &str) -> crate::error::Result<bool> {
    Ok(store.session_revoked(&session_digest(token)).await?)
}

/// An admin key, a reader key and their guard, for tests here and in `http::auth`.
#[cfg(test)]
pub(crate) mod test_keys {
    use super::*;

    pub const ADMIN: &str = "0123456789abcdef-key";
    pub const READER: &str = "reader-key-0123456789";

    pub fn guard() -> Guard {
        Guard::from_config(&AuthConfig {
            api_key: ADMIN.into(),
            reader_keys: vec![READER.into()],
            ..AuthConfig::default()
        })
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::{guard, ADMIN, READER};
    use super::*;

    #[test]
    fn readers_are_told_apart_by_key_and_the_admin_sees_all() {
        let g = guard();
        let admin = g.caller_of(ADMIN).unwrap();
        assert_eq!((admin.role, admin.owner), (Role::Admin, None));
        let reader = g.caller_of(READER).unwrap();
        assert_eq!(reader.role, Role::Reader);
        let owner = reader.owner.clone().unwrap();
        assert!(!owner.is_empty() && !READER.contains(&owner));
        // A session knows its key too.
        let token = g.session_token(READER, 1_000_000).unwrap();
        let by_session = g.session_caller(&token, 999_000).unwrap();
        assert_eq!(by_session, reader);
        assert!(
            reader.sees(Some(&owner)) && !reader.sees(Some("someone-else")) && !reader.sees(None)
        );
        assert!(Caller::default().sees(Some(&owner)) && Caller::default().sees(None));
        assert!(g.caller_of("not-a-key-0123456789").is_none());
    }

    #[test]
    fn only_loopback_hosts_are_served_without_a_key() {
        let allowed = vec!["rag.internal".to_string()];
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.",
            "app.localhost:1",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "[::1]",
            "rag.internal:443",
        ] {
            assert!(host_allowed(Some(host), &allowed), "{host}");
        }
        assert!(host_allowed(None, &[]));
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "[::ffff:7f00:1]",
            "0.0.0.0",
            "",
        ] {
            assert!(!host_allowed(Some(host), &allowed), "{host}");
        }
    }

    #[test]
    fn writes_from_another_site_are_told_apart() {
        let h = Some("127.0.0.1:8080");
        // (method, origin, sec-fetch-site, cross-site?)
        let cases = [
            ("POST", None, None, false),
            ("POST", Some("http://127.0.0.1:8080"), None, false),
            (
                "POST",
                Some("http://127.0.0.1:8080"),
                Some("same-origin"),
                false,
            ),
            ("DELETE", None, Some("none"), false),
            ("POST", Some("https://evil.example"), None, true),
            ("POST", Some("http://127.0.0.1:9999"), None, true),
            ("POST", Some("null"), None, true),
            ("PATCH", None, Some("cross-site"), true),
            ("POST", None, Some("same-site"), true),
            (
                "GET",
                Some("https://evil.example"),
                Some("cross-site"),
                false,
            ),
        ];
        for (method, origin, site, want) in cases {
            assert_eq!(
                cross_site_write(method, h, origin, site),
                want,
                "{method} {origin:?} {site:?}"
            );
        }
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
        let other = Guard::from_config(&AuthConfig {
            api_key: "another-key-0123456789".into(),
            ..AuthConfig::default()
        })
        .unwrap();
        let foreign = other
            .session_token("another-key-0123456789", now + 3600)
            .unwrap();
        assert_eq!(g.session_role(&foreign, now), None);
        assert_eq!(other.session_role(&reader, now), None);
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
    fn readers_read_search_and_ask_and_editors_change_too() {
        use Action::*;
        let all = [
            Read,
            ReadSources,
            Search,
            Ask,
            Converse,
            Change,
            Backup,
            Evaluate,
            Metrics,
            ManageKeys,
        ];
        for a in all {
            let reader = matches!(a, Read | Search | Ask | Converse);
            assert_eq!(permits(Role::Reader, a), reader, "{a:?}");
            let editor = !matches!(a, Backup | Metrics | ManageKeys);
            assert_eq!(permits(Role::Editor, a), editor, "{a:?}");
            assert!(permits(Role::Admin, a), "{a:?}");
        }
        for r in [Role::Admin, Role::Editor, Role::Reader] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn a_scope_names_the_knowledge_bases_a_caller_may_touch() {
        let scoped = Caller {
            role: Role::Reader,
            owner: Some("k".into()),
            scope: Some(vec!["kb1".into(), "kb2".into()]),
        };
        assert!(scoped.may_touch("kb1") && scoped.may_touch("kb2") && !scoped.may_touch("kb3"));
        assert!(scoped.is_scoped());
        let none = Caller {
            scope: Some(Vec::new()),
            ..scoped.clone()
        };
        assert!(!none.may_touch("kb1"));
        assert!(Caller::ADMIN.may_touch("anything") && !Caller::ADMIN.is_scoped());
        assert_eq!(Caller::default(), Caller::ADMIN);
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
