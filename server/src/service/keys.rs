//! API keys an admin makes and revokes while the server runs (`/api/v1/keys`, `ragd key`),
//! beside the configured ones ([`super::auth::Guard`]), and the one place a credential
//! becomes a [`Caller`] ([`authenticate`]).
//!
//! A managed key is `ragd_` and 64 hex digits (244 random bits). Its secret is shown once,
//! when it is made, and kept as its SHA-256: a stolen database holds no usable key. Each key
//! has a name, a [`Role`], optionally the knowledge bases it may touch (kept as ids, so a
//! rename keeps the scope) and an expiry. Revoking one ends it at once, with its web sessions:
//! a session made with a managed key names the key (`<expiry>.key-<id>.<mac>`, the MAC keyed
//! by the key's digest) and is checked against the key store on every request.
//!
//! Keys exist only where keys are checked: a server without a configured `api_key` serves
//! everyone as admin, so it refuses to make keys.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auth::{signed_out, Caller, Guard, Role, SessionToken};
use super::{knowledge_bases, State};
use crate::error::{Error, Result};
use crate::store::sql::ApiKeyRow;
use crate::store::Store;

/// What every managed key starts with.
pub const PREFIX: &str = "ragd_";
/// How often a key's `last_used_at` is written at most.
const USE_RECORDED_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
/// The longest key name.
const MAX_NAME: usize = 100;

/// What an admin asks for.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for ("dify", "alice's laptop").
    pub name: String,
    pub role: Role,
    /// Knowledge bases (names or ids) the key may touch; omitted: all of them. Not for admin
    /// keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_bases: Option<Vec<String>>,
    /// When the key stops working (RFC 3339); omitted: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A knowledge base in a key's scope.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScopeEntry {
    pub id: String,
    /// Its name now; `null` once it was deleted.
    pub name: Option<String>,
}

/// A key as it is listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// `null`: every knowledge base.
    pub knowledge_bases: Option<Vec<ScopeEntry>>,
    /// The secret's last four characters.
    pub hint: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

/// A key just made, with its secret: the only time it is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    pub secret: String,
}

/// A credential as a request carries it.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <key>`.
    Bearer(&'a str),
    /// The web UI's session token.
    Session(&'a str),
}

fn digest_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn now_ts() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn parse_ts(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>().ok()
}

/// `revoked`, `expired` at `now`, or `active`.
pub fn status_of(row: &ApiKeyRow, now: jiff::Timestamp) -> &'static str {
    if row.revoked_at.is_some() {
        "revoked"
    } else if row
        .expires_at
        .as_deref()
        .is_some_and(|e| parse_ts(e).is_none_or(|e| e <= now))
    {
        "expired"
    } else {
        "active"
    }
}

/// The caller a managed key makes, if its role is known; admins see every conversation,
/// others their own.
fn caller_of(row: &ApiKeyRow) -> Option<Caller> {
    let role = Role::parse(&row.role)?;
    let scope = match &row.knowledge_bases {
        None => None,
        Some(json) => Some(serde_json::from_str::<Vec<String>>(json).ok()?),
    };
    Some(Caller {
        role,
        owner: (role != Role::Admin).then(|| format!("key-{}", row.id)),
        scope,
    })
}

/// The caller a key that is active at `now` makes.
async fn active(store: &Store, row: Option<ApiKeyRow>, now: jiff::Timestamp) -> Option<Caller> {
    let row = row.filter(|r| status_of(r, now) == "active")?;
    let stale = row
        .last_used_at
        .as_deref()
        .and_then(parse_ts)
        .is_none_or(|t| now.duration_since(t) >= USE_RECORDED_EVERY);
    if stale {
        let at = crate::store::now();
        if let Err(e) = store.key_used(&row.id, &at).await {
            tracing::warn!(key = %row.id, error = %e, "cannot record the key's use");
        }
    }
    caller_of(&row)
}

/// Who a credential is: one of the configured keys, a managed key that is active, or a web
/// session of either that was not signed out and whose key still is. `None`: not valid.
pub async fn authenticate(
    store: &Store,
    guard: &Guard,
    credential: Credential<'_>,
    now_secs: u64,
) -> Result<Option<Caller>> {
    let now = now_ts();
    match credential {
        Credential::Bearer(key) => {
            if let Some(caller) = guard.caller_of(key) {
                return Ok(Some(caller));
            }
            if !key.starts_with(PREFIX) {
                return Ok(None);
            }
            let row = store.key_by_digest(&digest_hex(key)).await?;
            Ok(active(store, row, now).await)
        }
        Credential::Session(token) => {
            if signed_out(store, token).await? {
                return Ok(None);
            }
            if let Some(caller) = guard.session_caller(token, now_secs) {
                return Ok(Some(caller));
            }
            let Some(t) = SessionToken::parse(token) else {
                return Ok(None);
            };
            let Some(id) = t.label.strip_prefix("key-") else {
                return Ok(None);
            };
            if !guard.session_in_time(t.expires, now_secs) {
                return Ok(None);
            }
            let Some(row) = store.key_by_id(id).await? else {
                return Ok(None);
            };
            let Some(digest) = hex::decode(&row.digest)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
            else {
                return Ok(None);
            };
            if !t.signed_by(&digest) {
                return Ok(None);
            }
            Ok(active(store, Some(row), now).await)
        }
    }
}

/// A web session token for `key` (configured or managed and active) that expires at
/// `expires` (unix seconds); `None` when the key is not valid.
pub async fn session_token(
    store: &Store,
    guard: &Guard,
    key: &str,
    expires: u64,
) -> Result<Option<String>> {
    if let Some(token) = guard.session_token(key, expires) {
        return Ok(Some(token));
    }
    if !key.starts_with(PREFIX) {
        return Ok(None);
    }
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let row = store.key_by_digest(&hex::encode(digest)).await?;
    let Some(row) = row.filter(|r| status_of(r, now_ts()) == "active") else {
        return Ok(None);
    };
    Ok(Some(SessionToken::make(
        &digest,
        &format!("key-{}", row.id),
        expires,
    )))
}

/// Keys are an admin's, with every knowledge base in view.
fn check_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin && !caller.is_scoped() {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only an admin key may manage api keys".into(),
        ))
    }
}

/// How keys are listed: each scope's knowledge bases named as they are now (one lookup of
/// the knowledge bases for all the keys).
async fn views(state: &State, rows: &[ApiKeyRow]) -> Result<Vec<KeyView>> {
    let names: HashMap<String, String> = state
        .store
        .list_kbs()
        .await?
        .into_iter()
        .map(|kb| (kb.id, kb.name))
        .collect();
    let now = now_ts();
    Ok(rows.iter().map(|row| view(row, &names, now)).collect())
}

async fn one(state: &State, row: &ApiKeyRow) -> Result<KeyView> {
    let mut listed = views(state, std::slice::from_ref(row)).await?;
    listed
        .pop()
        .ok_or_else(|| Error::internal("no view of the key"))
}

fn view(row: &ApiKeyRow, names: &HashMap<String, String>, now: jiff::Timestamp) -> KeyView {
    let knowledge_bases = caller_of(row).and_then(|c| c.scope).map(|ids| {
        ids.into_iter()
            .map(|id| ScopeEntry {
                name: names.get(&id).cloned(),
                id,
            })
            .collect()
    });
    KeyView {
        id: row.id.clone(),
        name: row.name.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Reader),
        knowledge_bases,
        hint: row.hint.clone(),
        created_at: row.created_at.clone(),
        expires_at: row.expires_at.clone(),
        revoked_at: row.revoked_at.clone(),
        last_used_at: row.last_used_at.clone(),
        status: status_of(row, now).to_string(),
    }
}

/// A new secret: the prefix and 64 hex digits from two random UUIDs (122 random bits each).
fn new_secret() -> String {
    format!(
        "{PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Makes a key; its secret is in the reply and nowhere else.
pub async fn create(state: &State, caller: &Caller, req: NewKey) -> Result<CreatedKey> {
    check_admin(caller)?;
    if state.guard.is_none() {
        return Err(Error::Conflict(
            "this server checks no keys: set an admin key (RAGD_API_KEY) first, then make keys"
                .into(),
        ));
    }
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Error::bad_request(format!(
            "name must be 1 to {MAX_NAME} characters"
        )));
    }
    let scope = match req.knowledge_bases {
        None => None,
        Some(_) if req.role == Role::Admin => {
            return Err(Error::bad_request(
                "an admin key covers every knowledge base: omit knowledge_bases, or make an editor or reader key",
            ))
        }
        Some(kbs) if kbs.is_empty() => {
            return Err(Error::bad_request(
                "knowledge_bases must name at least one knowledge base (omit it for all)",
            ))
        }
        Some(kbs) => {
            let found = knowledge_bases::find_all(state, caller, &kbs).await?;
            Some(found.into_iter().map(|kb| kb.id).collect::<Vec<_>>())
        }
    };
    let now = now_ts();
    let expires_at = match req.expires_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => {
            let at = parse_ts(e).ok_or_else(|| {
                Error::bad_request(format!(
                    "expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z, got {e:?}"
                ))
            })?;
            if at <= now {
                return Err(Error::bad_request("expires_at must be in the future"));
            }
            Some(at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
    };
    let secret = new_secret();
    let row = ApiKeyRow {
        id: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
        name,
        role: req.role.as_str().to_string(),
        knowledge_bases: scope
            .map(|ids| serde_json::to_string(&ids))
            .transpose()
            .map_err(Error::internal)?,
        digest: digest_hex(&secret),
        hint: secret[secret.len() - 4..].to_string(),
        created_at: crate::store::now(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    state.store.insert_key(&row).await?;
    let key = one(state, &row).await?;
    tracing::info!(key = %row.id, role = %row.role, scoped = row.knowledge_bases.is_some(), "api key made");
    Ok(CreatedKey { key, secret })
}

/// Every key, newest first, without secrets.
pub async fn list(state: &State, caller: &Caller) -> Result<Vec<KeyView>> {
    check_admin(caller)?;
    views(state, &state.store.list_keys().await?).await
}

/// Revokes a key: it and its web sessions stop working at once. Revoking twice is fine.
pub async fn revoke(state: &State, caller: &Caller, id: &str) -> Result<KeyView> {
    check_admin(caller)?;
    let revoked = state.store.revoke_key(id, &crate::store::now()).await?;
    let row = state
        .store
        .key_by_id(id)
        .await?
        .ok_or_else(|| Error::not_found("api key", id))?;
    if revoked {
        tracing::info!(key = %id, "api key revoked");
    }
    one(state, &row).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::auth::test_keys::{guard, ADMIN};
    use crate::service::testing;

    async fn keyed_state(dir: &std::path::Path) -> crate::service::AppState {
        testing::state_with(dir, |c| c.auth.api_key = ADMIN.into()).await
    }

    fn new_key(role: Role, kbs: Option<&[&str]>) -> NewKey {
        NewKey {
            name: "app".into(),
            role,
            knowledge_bases: kbs.map(|k| k.iter().map(|s| s.to_string()).collect()),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_key_is_shown_once_kept_hashed_scoped_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let state = keyed_state(dir.path()).await;
        let kb = testing::kb(&state, "alpha").await;
        testing::kb(&state, "beta").await;
        let made = create(
            &state,
            &Caller::ADMIN,
            new_key(Role::Reader, Some(&["alpha"])),
        )
        .await
        .unwrap();
        assert!(made.secret.starts_with(PREFIX) && made.secret.len() == PREFIX.len() + 64);
        assert_eq!(made.key.status, "active");
        assert_eq!(made.key.hint, &made.secret[made.secret.len() - 4..]);
        let scope = made.key.knowledge_bases.clone().unwrap();
        assert_eq!(
            (scope[0].id.as_str(), scope[0].name.as_deref()),
            (kb.id.as_str(), Some("alpha"))
        );
        // The store holds the digest, not the secret; the list shows neither.
        let row = state.store.key_by_id(&made.key.id).await.unwrap().unwrap();
        assert_eq!(row.digest, digest_hex(&made.secret));
        assert!(!format!("{row:?}").contains(&made.secret));
        let listed = serde_json::to_string(&list(&state, &Caller::ADMIN).await.unwrap()).unwrap();
        assert!(!listed.contains(&made.secret) && !listed.contains(&row.digest));

        let g = guard();
        let who = authenticate(&state.store, &g, Credential::Bearer(&made.secret), 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(who.role, Role::Reader);
        assert_eq!(who.scope, Some(vec![kb.id.clone()]));
        assert_eq!(
            who.owner.as_deref(),
            Some(format!("key-{}", made.key.id).as_str())
        );
        // A near miss is nobody.
        let mut wrong = made.secret.clone();
        wrong.pop();
        wrong.push('x');
        assert!(
            authenticate(&state.store, &g, Credential::Bearer(&wrong), 0)
                .await
                .unwrap()
                .is_none()
        );

        // A session made with the key works until the key is revoked.
        let now = jiff::Timestamp::now().as_second() as u64;
        let token = session_token(&state.store, &g, &made.secret, now + 3600)
            .await
            .unwrap()
            .unwrap();
        let by_session = authenticate(&state.store, &g, Credential::Session(&token), now)
            .await
            .unwrap();
        assert_eq!(by_session, Some(who.clone()));
        let forged = token.replacen(&format!("key-{}", made.key.id), "key-0000000000000000", 1);
        assert!(
            authenticate(&state.store, &g, Credential::Session(&forged), now)
                .await
                .unwrap()
                .is_none()
        );
        let view = revoke(&state, &Caller::ADMIN, &made.key.id).await.unwrap();
        assert_eq!(view.status, "revoked");
        assert!(
            authenticate(&state.store, &g, Credential::Bearer(&made.secret), 0)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            authenticate(&state.store, &g, Credential::Session(&token), now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(session_token(&state.store, &g, &made.secret, now + 60)
            .await
            .unwrap()
            .is_none());
        assert!(revoke(&state, &Caller::ADMIN, "nope").await.is_err());
    }

    #[tokio::test]
    async fn bad_requests_and_non_admins_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = keyed_state(dir.path()).await;
        testing::kb(&state, "alpha").await;
        let bad = [
            new_key(Role::Admin, Some(&["alpha"])),
            new_key(Role::Reader, Some(&[])),
            NewKey {
                name: " ".into(),
                ..new_key(Role::Reader, None)
            },
            NewKey {
                expires_at: Some("tomorrow".into()),
                ..new_key(Role::Reader, None)
            },
            NewKey {
                expires_at: Some("2001-01-01T00:00:00Z".into()),
                ..new_key(Role::Reader, None)
            },
        ];
        for req in bad {
            let e = create(&state, &Caller::ADMIN, req.clone())
                .await
                .unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{req:?}: {e}");
        }
        let e = create(
            &state,
            &Caller::ADMIN,
            new_key(Role::Reader, Some(&["nope"])),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let editor = Caller {
            role: Role::Editor,
            owner: Some("x".into()),
            scope: None,
        };
        for caller in [
            editor.clone(),
            Caller {
                role: Role::Admin,
                scope: Some(vec![]),
                ..editor
            },
        ] {
            assert!(matches!(
                create(&state, &caller, new_key(Role::Reader, None)).await,
                Err(Error::Forbidden(_))
            ));
            assert!(matches!(
                list(&state, &caller).await,
                Err(Error::Forbidden(_))
            ));
            assert!(matches!(
                revoke(&state, &caller, "x").await,
                Err(Error::Forbidden(_))
            ));
        }
        // Expired keys stop working.
        let made = create(
            &state,
            &Caller::ADMIN,
            NewKey {
                expires_at: Some(
                    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string(),
                ),
                ..new_key(Role::Editor, None)
            },
        )
        .await
        .unwrap();
        let g = guard();
        assert!(
            authenticate(&state.store, &g, Credential::Bearer(&made.secret), 0)
                .await
                .unwrap()
                .is_some()
        );
        let mut row = state.store.key_by_id(&made.key.id).await.unwrap().unwrap();
        row.expires_at = Some("2001-01-01T00:00:00.000Z".into());
        assert_eq!(status_of(&row, jiff::Timestamp::now()), "expired");
        assert!(active(&state.store, Some(row), jiff::Timestamp::now())
            .await
            .is_none());

        // Without a configured key, keys would check nothing.
        let open = testing::state(&dir.path().join("open")).await;
        let e = create(&open, &Caller::ADMIN, new_key(Role::Reader, None))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
    }
}
