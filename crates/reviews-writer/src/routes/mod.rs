//! The reviews-writer endpoints of SPEC §4, one module per action, and the
//! steps they share.
//!
//! Every handler reads the same way: parse the request, then in one
//! transaction on the primary check who the caller is now and what they
//! may touch, run its named SQL steps, record the audit entry and the
//! change (the content version and its feed row), and after COMMIT record
//! where the write lies in the WAL and answer with the consistency token.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::{Client, GenericClient, Transaction};
use domain::Role;
use platform::audit::{self, Event};
use platform::bearer::Editor;
use platform::consistency::{ConsistencyToken, Lsn};
use platform::content::{REVIEW_COLUMNS, REVIEW_FROM, ReviewView};
use platform::http::{client_ip, request_id_of};
use platform::surrogate::SurrogateKeys;

use crate::answer::WriteAnswer;
use crate::error::WriteError;
use crate::startup::State;

pub(crate) mod create;
pub(crate) mod propagation;
pub(crate) mod read;
pub(crate) mod retract;
pub(crate) mod update;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use platform::http::method_not_allowed as na;
    use platform::server::get_or_head;
    cfg.service(
        web::resource("/reviews")
            .route(get_or_head().to(read::list))
            .route(web::post().to(create::create))
            .default_service(web::to(|| async { na("GET, HEAD, POST") })),
    )
    .service(
        web::resource("/reviews/{id}")
            .route(get_or_head().to(read::read))
            .route(web::patch().to(update::update))
            .route(web::delete().to(retract::retract))
            .default_service(web::to(|| async { na("GET, HEAD, PATCH, DELETE") })),
    )
    .service(
        web::resource("/reviews/{id}/propagation")
            .route(get_or_head().to(propagation::propagation))
            .default_service(web::to(|| async { na("GET, HEAD") })),
    );
}

/// A review id from the path; anything but a positive integer names no
/// review.
fn parse_id(raw: &str) -> Result<i64, WriteError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WriteError::NotFound)
}

/// `If-Match: "<version>"` (or `W/"<version>"`, or `*`, which matches any).
fn if_match(req: &HttpRequest) -> Result<Option<i32>, WriteError> {
    let invalid =
        || WriteError::InvalidHeader("If-Match", "must be a quoted version such as \"3\"");
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let quoted = text.strip_prefix("W/").unwrap_or(text);
    quoted
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i32>().ok())
        .map(Some)
        .ok_or_else(invalid)
}

/// The caller as the database knows them now: a token outlives a
/// disabling or a demotion, the database does not.
async fn active_editor(client: &impl GenericClient, caller: &Editor) -> Result<Role, WriteError> {
    // FOR SHARE: an admin disabling this editor waits for our write to
    // finish (or we wait for theirs), so no write slips in after it.
    let stmt = client
        .prepare_cached("SELECT role, disabled_at IS NOT NULL FROM editors WHERE id = $1 FOR SHARE")
        .await?;
    let row = client
        .query_opt(&stmt, &[&caller.id])
        .await?
        .ok_or(WriteError::Forbidden("this account no longer exists"))?;
    if row.get::<_, bool>(1) {
        return Err(WriteError::AccountDisabled);
    }
    let role: String = row.get(0);
    Role::parse(&role).map_err(|_| WriteError::internal(format!("unknown role {role}")))
}

/// The review row a change applies to, locked for the transaction.
struct Target {
    /// The author, whom the audit entry names.
    editor_id: i64,
    version: i32,
}

/// Locks a live review and checks the caller may change it, at the
/// version `If-Match` names if any.
async fn lock_target(
    tx: &Transaction<'_>,
    id: i64,
    caller: &Editor,
    role: Role,
    expected: Option<i32>,
) -> Result<Target, WriteError> {
    let stmt = tx
        .prepare_cached(
            "SELECT editor_id, version FROM reviews WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(WriteError::NotFound)?;
    let target = Target {
        editor_id: row.get(0),
        version: row.get(1),
    };
    if target.editor_id != caller.id && role != Role::Admin {
        return Err(WriteError::Forbidden(
            "only the author or an admin may change this review",
        ));
    }
    if expected.is_some_and(|v| v != target.version) {
        return Err(WriteError::PreconditionFailed);
    }
    Ok(target)
}

/// A live review as readers will see it.
async fn load_view(
    client: &impl GenericClient,
    id: i64,
    url_base: &str,
) -> Result<ReviewView, WriteError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {REVIEW_COLUMNS} FROM {REVIEW_FROM} WHERE r.id = $1 AND r.deleted_at IS NULL"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(WriteError::NotFound)?;
    Ok(ReviewView::from_row(&row, url_base, true)?)
}

/// What the audit log keeps of a write to one review.
struct AuditEntry {
    action: &'static str,
    review_id: i64,
    details: serde_json::Value,
}

/// Appends the write to `audit_log` in its own transaction, so that the
/// entry exists exactly when the write does.
async fn record_audit(
    tx: &Transaction<'_>,
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    entry: AuditEntry,
) -> Result<(), WriteError> {
    let request_id = request_id_of(req);
    let event = Event {
        actor_id: Some(caller.id),
        action: entry.action,
        entity: "review",
        entity_id: Some(entry.review_id.to_string()),
        request_id: &request_id,
        client_ip: client_ip(req, &state.settings.http.trusted_proxies),
        details: entry.details,
    };
    audit::record(tx, event).await?;
    Ok(())
}

/// Bumps the version readers key their caches by and lists what changed
/// under it in the change feed, the same keys the answer's
/// `Surrogate-Key` names. Last before COMMIT: the one-row counter
/// serialises every write, so its lock is held for as short a time as
/// possible.
async fn record_change(
    client: &impl GenericClient,
    keys: &SurrogateKeys,
) -> Result<(), WriteError> {
    platform::changes::record(client, keys).await?;
    Ok(())
}

/// The primary's timeline and WAL insert position, read after COMMIT: a
/// replica that has replayed past it has the write.
async fn consistency_token(state: &State, client: &impl GenericClient) -> Option<String> {
    match wal_position(client).await {
        Ok((timeline, lsn)) => {
            let lsn: Lsn = lsn.parse().ok()?;
            Some(state.tokens.sign(&ConsistencyToken {
                timeline: u32::try_from(timeline).ok()?,
                lsn,
                issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            }))
        }
        // The write is committed; only the token is lost. Readers then serve
        // it as soon as it has replicated.
        Err(e) => {
            tracing::warn!(error = %e, "no consistency token after commit");
            None
        }
    }
}

/// `(timeline, LSN)` of the primary's current WAL insert position.
async fn wal_position(client: &impl GenericClient) -> Result<(i64, String), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT ('x' || substr(pg_walfile_name(lsn), 1, 8))::bit(32)::int8, lsn::text
               FROM (SELECT pg_current_wal_insert_lsn() AS lsn) AS p",
        )
        .await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok((row.get(0), row.get(1)))
}

/// What follows the COMMIT of a write to review `id`: its WAL position,
/// recorded for its propagation (a failure only makes that position read
/// later, see `propagation`), and the consistency token, if the primary
/// could still tell its position.
async fn after_commit(state: &State, client: &mut Client, id: i64) -> Option<String> {
    if let Err(e) = propagation::record_write_position(client, id).await {
        tracing::warn!(review.id = id, error = %e, "write position not recorded");
    }
    consistency_token(state, client).await
}

/// Sends a committed write's answer with its consistency token.
async fn answer_committed(
    state: &State,
    client: &mut Client,
    id: i64,
    answer: WriteAnswer,
) -> HttpResponse {
    let token = after_commit(state, client, id).await;
    answer.send(token.as_deref())
}

/// Counts the write by action and outcome.
fn observe<T>(state: &State, action: &str, result: &Result<T, WriteError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    state
        .metrics
        .reviews_written
        .with_label_values(&[action, outcome])
        .inc();
}
