//! `GET /reviews/{id}/propagation` (SPEC §10.4): which regions' replicas
//! hold the review's last write, as the primary sees them in
//! `pg_stat_replication`; and recording, after each write, where in the
//! WAL that write lies.
//!
//! Regions are named by their replicas: each streams with
//! `application_name=<region>` in its `primary_conninfo` (`sa`, `na`, `eu`,
//! `asia`). Replicas sharing a name are one region, which has the write
//! when all of them have replayed it. Whatever names are present are
//! listed (an unnamed standby shows as `walreceiver`, or its
//! `cluster_name`). Standbys streaming from another standby are not
//! connected to the primary and are not listed. The replay positions are
//! what the standbys last reported: every `wal_receiver_status_interval`
//! (10 s by default, 1 s is better here) and after each flush. Reading the
//! positions of other sessions takes `pg_read_all_stats` (or
//! `pg_monitor`) when the writer's role is not a superuser; without it no
//! region shows the write as visible.
//!
//! Why the position is recorded after COMMIT, by a statement of its own:
//! a transaction cannot know where its own commit record will land, and a
//! position read inside it lies before that record, so a replica could
//! have replayed up to it without having the write. Each write sets
//! `last_write_lsn` to NULL in its transaction; after COMMIT,
//! [`record_write_position`] stores the primary's WAL insert position,
//! which is then past the commit of every write whose NULL it replaces. If
//! that statement never runs (the writer or the primary fails just then),
//! NULL reads as the primary's current position: later than needed, never
//! too early.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use deadpool_postgres::{Client, GenericClient};
use domain::Role;
use platform::bearer::Editor;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{active_editor, parse_id};
use crate::error::WriteError;
use crate::openapi;
use crate::startup::State;

/// Where a review's last write has reached.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Propagation {
    /// The WAL position a replica must have replayed to hold the review's
    /// last write (PostgreSQL's `X/Y` form).
    #[schema(example = "0/3000148")]
    pub write_position: String,
    /// Each region the primary streams to, by name.
    pub regions: Vec<RegionPropagation>,
}

/// One region's replicas, as the primary last heard from them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionPropagation {
    /// The replicas' `application_name`.
    #[schema(example = "eu")]
    pub region: String,
    /// Whether every replica of the region has replayed past
    /// `write_position`: its readers serve the write.
    pub visible: bool,
    /// The slowest replica's replay lag in milliseconds (`replay_lag`); 0
    /// once it has replayed all it was sent and the lag has been cleared;
    /// null when unknown.
    #[schema(required = true)]
    pub replay_lag_ms: Option<f64>,
    /// When the primary was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// Which regions hold the review's last write
///
/// For its editor or an admin (another editor's review is a 403, as for
/// `GET /reviews/{id}`; a retracted one a 404). `visible` turns true for a region once its replicas
/// have replayed the write; the primary learns their positions every
/// second or so.
#[utoipa::path(
    get,
    path = "/reviews/{id}/propagation",
    operation_id = "getReviewPropagation",
    tag = "reviews",
    params(openapi::ReviewId),
    responses(
        (status = 200, response = inline(openapi::PropagationAnswer)),
        openapi::ReviewReadRefusals,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn propagation(
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
) -> Result<HttpResponse, WriteError> {
    let client = state.pool.get().await?;
    let write_position = write_position(&client, parse_id(&id)?, &caller).await?;
    let regions = regions(&client, &write_position).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Propagation {
            write_position,
            regions,
        }))
}

/// The review's recorded write position (NULL: the primary's current one),
/// if the caller, as the database knows them now, may see the review.
async fn write_position(
    client: &impl GenericClient,
    id: i64,
    caller: &Editor,
) -> Result<String, WriteError> {
    let role = active_editor(client, caller).await?;
    let stmt = client
        .prepare_cached(
            "SELECT editor_id, coalesce(last_write_lsn, pg_current_wal_insert_lsn())::text
               FROM reviews WHERE id = $1 AND deleted_at IS NULL",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(WriteError::NotFound)?;
    if row.get::<_, i64>(0) != caller.id && role != Role::Admin {
        return Err(WriteError::Forbidden(
            "this review belongs to another editor",
        ));
    }
    Ok(row.get(1))
}

/// Each region's replicas against `position`, by region name.
async fn regions(
    client: &impl GenericClient,
    position: &str,
) -> Result<Vec<RegionPropagation>, WriteError> {
    // A replica that reported nothing yet (or whose position this role may
    // not read) has a NULL replay_lsn: not visible. `replay_lag` is cleared
    // a while after a standby has caught up and the WAL is idle.
    let stmt = client
        .prepare_cached(
            "SELECT application_name,
                    bool_and(coalesce(replay_lsn >= $1::text::pg_lsn, false)),
                    max(CASE WHEN replay_lag IS NOT NULL
                             THEN round(extract(epoch FROM replay_lag) * 1000, 3)
                             WHEN replay_lsn >= sent_lsn THEN 0 END)::float8,
                    now()
               FROM pg_stat_replication
              GROUP BY application_name
              ORDER BY application_name",
        )
        .await?;
    let rows = client.query(&stmt, &[&position]).await?;
    Ok(rows
        .iter()
        .map(|row| RegionPropagation {
            region: row.get(0),
            visible: row.get(1),
            replay_lag_ms: row.get(2),
            checked_at: row.get(3),
        })
        .collect())
}

/// Records, after COMMIT, where the write to review `id` lies in the WAL
/// (see the module docs).
///
/// `SKIP LOCKED`: a row locked now belongs to a write still in progress,
/// which will record a later position after its own COMMIT; waiting for it
/// would only delay this answer. `synchronous_commit = off`: this is
/// bookkeeping, not worth a wait for a synchronous standby; if it is lost,
/// NULL reads conservatively.
pub(crate) async fn record_write_position(
    client: &mut Client,
    id: i64,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE reviews SET last_write_lsn = pg_current_wal_insert_lsn()
              WHERE id = (SELECT id FROM reviews WHERE id = $1 AND last_write_lsn IS NULL
                            FOR UPDATE SKIP LOCKED)",
        )
        .await?;
    tx.execute(&stmt, &[&id]).await?;
    tx.commit().await
}
