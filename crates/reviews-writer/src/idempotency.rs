//! `Idempotency-Key` on `POST /reviews` (SPEC §4).
//!
//! Decided by the database, inside the write's own transaction:
//! 1. `pg_try_advisory_xact_lock` on (editor, key): if another transaction
//!    holds it, that request is still in flight → 409 at once, no waiting.
//! 2. The stored answer, if any (and younger than the TTL): same request
//!    digest → replay it; another digest → 422.
//! 3. Otherwise the write proceeds and its answer is stored in the same
//!    transaction, so it exists exactly when the review does. If the
//!    connection dies during COMMIT, or right after it before the answer's
//!    `X-Consistency-Token` could be read, the client gets 503 and its
//!    retry resolves the unknown outcome: replay (with a fresh token) if it
//!    committed, create if not. A keyed 201 thus always carries its token.

use std::time::Duration;

use actix_web::http::StatusCode;
use deadpool_postgres::GenericClient;
use domain::IdempotencyKey;
use sha2::{Digest, Sha256};

use crate::answer::{WriteAnswer, WriteHeaders};
use crate::error::WriteError;

/// What the key says about this request.
#[derive(Debug)]
pub enum Lookup {
    /// First use: go ahead, then [`record`].
    Fresh,
    /// The first answer, to send again.
    Replay(WriteAnswer),
}

/// The advisory-lock id of (editor, key): 64 bits of SHA-256, so distinct
/// keys practically never share a lock.
fn lock_id(editor_id: i64, key: &IdempotencyKey) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(b"rcr-idempotency");
    hasher.update(editor_id.to_be_bytes());
    hasher.update(key.as_str().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Claims the key for this transaction; see the module docs.
pub async fn begin(
    tx: &impl GenericClient,
    editor_id: i64,
    key: &IdempotencyKey,
    digest: &[u8; 32],
    ttl: Duration,
) -> Result<Lookup, WriteError> {
    let stmt = tx
        .prepare_cached("SELECT pg_try_advisory_xact_lock($1)")
        .await?;
    let locked: bool = tx
        .query_one(&stmt, &[&lock_id(editor_id, key)])
        .await?
        .get(0);
    if !locked {
        return Err(WriteError::IdempotencyKeyInFlight);
    }
    let ttl_s = ttl.as_secs_f64();
    let stmt = tx
        .prepare_cached(
            "DELETE FROM idempotency_keys
              WHERE editor_id = $1 AND key = $2 AND created_at < now() - make_interval(secs => $3)",
        )
        .await?;
    tx.execute(&stmt, &[&editor_id, &key.as_str(), &ttl_s])
        .await?;
    let stmt = tx
        .prepare_cached(
            "SELECT request_hash, response_status, response_headers, response_body
               FROM idempotency_keys WHERE editor_id = $1 AND key = $2",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&editor_id, &key.as_str()]).await? else {
        return Ok(Lookup::Fresh);
    };
    let stored_hash: Vec<u8> = row.get(0);
    if stored_hash.as_slice() != digest.as_slice() {
        return Err(WriteError::IdempotencyKeyReused);
    }
    stored_answer(&row).map(Lookup::Replay)
}

/// The answer stored in a row of `begin`'s select (status, headers, body
/// from its second column on).
fn stored_answer(row: &tokio_postgres::Row) -> Result<WriteAnswer, WriteError> {
    let status: i16 = row.get(1);
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| WriteError::internal(format!("stored answer with status {status}")))?;
    let headers: WriteHeaders = serde_json::from_value(row.get(2))
        .map_err(|e| WriteError::internal(format!("stored answer headers: {e}")))?;
    Ok(WriteAnswer {
        status,
        headers,
        body: row.get(3),
    })
}

/// Stores the first answer, in the write's transaction.
pub async fn record(
    tx: &impl GenericClient,
    editor_id: i64,
    key: &IdempotencyKey,
    digest: &[u8; 32],
    answer: &WriteAnswer,
) -> Result<(), WriteError> {
    let headers = serde_json::to_value(&answer.headers).map_err(WriteError::internal)?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO idempotency_keys
                 (editor_id, key, request_hash, response_status, response_headers, response_body, completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, now())",
        )
        .await?;
    let status = i16::try_from(answer.status.as_u16()).map_err(WriteError::internal)?;
    tx.execute(
        &stmt,
        &[
            &editor_id,
            &key.as_str(),
            &digest.as_slice(),
            &status,
            &headers,
            &answer.body,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the keys older than `ttl`; returns how many.
pub async fn purge(
    client: &impl GenericClient,
    ttl: Duration,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        )
        .await?;
    client.execute(&stmt, &[&ttl.as_secs_f64()]).await
}
