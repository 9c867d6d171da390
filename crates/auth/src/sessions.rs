//! Sessions: one per refresh-token family (migration V5). A login starts
//! one, recording the client's user agent and address; every refresh of the
//! family uses it again. A session is live while its family holds a token
//! that is neither rotated, revoked nor expired: ending one revokes its
//! family's tokens, so its refresh token is refused at once, while access
//! tokens already issued in it run until they expire (15 minutes by
//! default; verifiers check signatures, not sessions).

use std::net::IpAddr;

use deadpool_postgres::GenericClient;
use domain::UserAgent;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AuthError;

/// The session a token pair belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SessionRef {
    /// What clients see (`sid` in access tokens, `id` in lists).
    pub id: i64,
    /// The refresh-token family.
    pub family: Uuid,
}

/// A live session as lists show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    pub id: i64,
    /// The login that started it
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its last login or refresh
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// The login's `User-Agent`, at most 200 characters; null when none was
    /// sent (or the session is older than this record)
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// The login's client address (IPv4 or IPv6); null when unknown
    #[schema(value_type = Option<String>, required = true)]
    pub client_ip: Option<IpAddr>,
    /// Whether the access token of this request was issued in it
    pub current: bool,
}

/// A session is live while its family holds a usable token.
const LIVE: &str = "EXISTS (SELECT 1 FROM refresh_tokens t
                            WHERE t.family_id = s.family_id AND t.rotated_at IS NULL
                              AND t.revoked_at IS NULL AND t.expires_at > now())";

/// Starts the session of a login, in a new family.
pub async fn start(
    client: &impl GenericClient,
    editor_id: i64,
    user_agent: Option<&UserAgent>,
    client_ip: Option<IpAddr>,
) -> Result<SessionRef, AuthError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO sessions (family_id, editor_id, user_agent, client_ip)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    let family = Uuid::new_v4();
    let user_agent = user_agent.map(UserAgent::as_str);
    let row = client
        .query_one(&stmt, &[&family, &editor_id, &user_agent, &client_ip])
        .await?;
    Ok(SessionRef {
        id: row.try_get(0)?,
        family,
    })
}

/// Notes a refresh of `family`'s session. A family issued before sessions
/// were recorded (or by an older auth during a deploy) gets its row here.
pub async fn touch(
    client: &impl GenericClient,
    editor_id: i64,
    family: Uuid,
) -> Result<SessionRef, AuthError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO sessions (family_id, editor_id) VALUES ($1, $2)
             ON CONFLICT (family_id) DO UPDATE SET last_used_at = now()
             RETURNING id",
        )
        .await?;
    let row = client.query_one(&stmt, &[&family, &editor_id]).await?;
    Ok(SessionRef {
        id: row.try_get(0)?,
        family,
    })
}

/// Up to `fetch` live sessions of an editor with ids below `before`,
/// newest first; `current` marks the session `current` names.
pub async fn live_page(
    client: &impl GenericClient,
    editor_id: i64,
    before: i64,
    fetch: i64,
    current: Option<i64>,
) -> Result<Vec<SessionView>, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT s.id, s.created_at, s.last_used_at, s.user_agent, s.client_ip
               FROM sessions s
              WHERE s.editor_id = $1 AND s.id < $2 AND {LIVE}
              ORDER BY s.id DESC LIMIT $3"
        ))
        .await?;
    let rows = client.query(&stmt, &[&editor_id, &before, &fetch]).await?;
    rows.iter().map(|row| view(row, current)).collect()
}

fn view(row: &Row, current: Option<i64>) -> Result<SessionView, AuthError> {
    let id = row.try_get("id")?;
    Ok(SessionView {
        id,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        user_agent: row.try_get("user_agent")?,
        client_ip: row.try_get("client_ip")?,
        current: current == Some(id),
    })
}

/// The family of an editor's live session `session_id`, locked until the
/// transaction ends; `None` when the editor has no such live session.
pub async fn live_family(
    client: &impl GenericClient,
    editor_id: i64,
    session_id: i64,
) -> Result<Option<Uuid>, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT s.family_id FROM sessions s
              WHERE s.id = $1 AND s.editor_id = $2 AND {LIVE}
                FOR UPDATE"
        ))
        .await?;
    let row = client.query_opt(&stmt, &[&session_id, &editor_id]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Revokes every token of a family still unrevoked; how many.
pub async fn revoke_family(client: &impl GenericClient, family: &Uuid) -> Result<u64, AuthError> {
    let stmt = client
        .prepare_cached(
            "UPDATE refresh_tokens SET revoked_at = now()
              WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .await?;
    Ok(client.execute(&stmt, &[family]).await?)
}

/// Revokes every unrevoked token of an editor outside the family of
/// session `keep` (all of them when `keep` is `None`); how many.
pub async fn revoke_all_but(
    client: &impl GenericClient,
    editor_id: i64,
    keep: Option<i64>,
) -> Result<u64, AuthError> {
    let stmt = client
        .prepare_cached(
            "UPDATE refresh_tokens SET revoked_at = now()
              WHERE editor_id = $1 AND revoked_at IS NULL
                AND family_id IS DISTINCT FROM
                    (SELECT family_id FROM sessions WHERE id = $2 AND editor_id = $1)",
        )
        .await?;
    Ok(client.execute(&stmt, &[&editor_id, &keep]).await?)
}
