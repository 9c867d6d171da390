//! The catalog: a review names its subject by kind + brand + model and the
//! writer creates the catalog entry on first use.
//!
//! Concurrent first uses of one new subject collide on the unique index
//! `subjects_identity_key` and make one row (`ON CONFLICT DO NOTHING`, then
//! read the winner). Two different subjects whose names fold to one slug get
//! `-2`, `-3`, …: each attempt runs in a savepoint so a lost race on
//! `subjects_slug_key` costs a retry, not the transaction.

use deadpool_postgres::{GenericClient, Transaction};
use domain::{NewSubject, Slug};

use crate::error::WriteError;

/// How many suffixes are probed per round before checking the database
/// again.
const SLUG_BATCH: u32 = 20;
const SLUG_ROUNDS: u32 = 10;

/// The candidate slugs of round `round`: the base itself first, then
/// `-2`, `-3`, ….
pub fn slug_candidates(base: &Slug, round: u32) -> Vec<String> {
    let first = round * SLUG_BATCH + 1;
    (first..first + SLUG_BATCH)
        .map(|n| {
            if n == 1 {
                base.as_str().to_owned()
            } else {
                base.with_suffix(n).as_str().to_owned()
            }
        })
        .collect()
}

/// Finds the subject or creates it; returns its id and slug.
pub async fn find_or_create(
    tx: &mut Transaction<'_>,
    subject: &NewSubject,
) -> Result<(i64, String), WriteError> {
    if let Some(found) = find(&*tx, subject).await? {
        fill_unknown_specs(tx, found.0, subject).await?;
        return Ok(found);
    }
    let specs = subject.specs();
    let inserted = insert_with_free_slug(
        tx,
        &subject.slug(),
        "SELECT slug FROM subjects WHERE slug = ANY($1::text[])",
        "INSERT INTO subjects (slug, kind, brand, model, mount, sensor_format, megapixels,
                               focal_min_mm, focal_max_mm, max_aperture, release_year)
         VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8::float8, $9::float8, $10::float8, $11)
         ON CONFLICT (kind, lower(brand), lower(model)) DO NOTHING
         RETURNING id, slug",
        &[
            &subject.kind().as_str(),
            &subject.brand().as_str(),
            &subject.model().as_str(),
            &specs.mount(),
            &specs.sensor_format(),
            &specs.megapixels(),
            &specs.focal_min_mm(),
            &specs.focal_max_mm(),
            &specs.max_aperture(),
            &specs.release_year(),
        ],
        "subjects_slug_key",
    )
    .await?;
    match inserted {
        Some(row) => Ok((row.get(0), row.get(1))),
        // Another transaction created this very subject meanwhile.
        None => find(&*tx, subject)
            .await?
            .ok_or_else(|| WriteError::internal("subject vanished")),
    }
}

async fn find(
    client: &impl GenericClient,
    subject: &NewSubject,
) -> Result<Option<(i64, String)>, WriteError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, slug FROM subjects
              WHERE kind = $1 AND lower(brand) = lower($2) AND lower(model) = lower($3)",
        )
        .await?;
    Ok(client
        .query_opt(
            &stmt,
            &[
                &subject.kind().as_str(),
                &subject.brand().as_str(),
                &subject.model().as_str(),
            ],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Sets the specs `$2…$8` that subject `$1` lacks; touches no row when it
/// lacks none of them.
const FILL_UNKNOWN_SPECS: &str = "UPDATE subjects SET
         mount = coalesce(mount, $2), sensor_format = coalesce(sensor_format, $3),
         megapixels = coalesce(megapixels, $4::float8),
         focal_min_mm = coalesce(focal_min_mm, $5::float8),
         focal_max_mm = coalesce(focal_max_mm, $6::float8),
         max_aperture = coalesce(max_aperture, $7::float8),
         release_year = coalesce(release_year, $8),
         updated_at = now()
      WHERE id = $1 AND (
         (mount IS NULL AND $2::text IS NOT NULL) OR (sensor_format IS NULL AND $3::text IS NOT NULL)
      OR (megapixels IS NULL AND $4::float8 IS NOT NULL) OR (focal_min_mm IS NULL AND $5::float8 IS NOT NULL)
      OR (focal_max_mm IS NULL AND $6::float8 IS NOT NULL) OR (max_aperture IS NULL AND $7::float8 IS NOT NULL)
      OR (release_year IS NULL AND $8::int IS NOT NULL))";

/// Specs given with a later review fill in what the catalog does not know
/// yet; known values are not overwritten by a passing review.
async fn fill_unknown_specs(
    tx: &mut Transaction<'_>,
    id: i64,
    subject: &NewSubject,
) -> Result<(), WriteError> {
    let specs = subject.specs();
    if specs.is_empty() {
        return Ok(());
    }
    let sp = tx.savepoint("subject_specs").await?;
    let stmt = sp.prepare_cached(FILL_UNKNOWN_SPECS).await?;
    // A filled focal range could contradict a known one (min > max): the
    // check constraint refuses it and the catalog keeps what it had.
    let result = sp
        .execute(
            &stmt,
            &[
                &id,
                &specs.mount(),
                &specs.sensor_format(),
                &specs.megapixels(),
                &specs.focal_min_mm(),
                &specs.focal_max_mm(),
                &specs.max_aperture(),
                &specs.release_year(),
            ],
        )
        .await;
    match result {
        Ok(_) => sp.commit().await?,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) => {
            sp.rollback().await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Inserts a row whose slug must be unique, with the first free slug among
/// `base`, `base-2`, `base-3`, …. `insert_sql` takes the slug as its
/// parameter `$1` and `params` as `$2…`; `taken_sql` selects which of
/// `$1::text[]` are already used. `Ok(None)` when the insert returned no
/// row (an `ON CONFLICT DO NOTHING` on another key).
///
/// Writers deriving the same base slug take turns on a transaction-scoped
/// advisory lock: without it they would all pick the same free slug, queue
/// on its unique index behind each other's commits and hold pool
/// connections meanwhile. Each attempt still runs in a savepoint, so a slug
/// taken some other way costs a retry, not the transaction.
pub async fn insert_with_free_slug(
    tx: &mut Transaction<'_>,
    base: &Slug,
    taken_sql: &str,
    insert_sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    unique_constraint: &str,
) -> Result<Option<tokio_postgres::Row>, WriteError> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    tx.query_one(&lock, &[&slug_lock_id(unique_constraint, base)])
        .await?;
    for round in 0..SLUG_ROUNDS {
        let candidates = slug_candidates(base, round);
        let taken_stmt = tx.prepare_cached(taken_sql).await?;
        let taken: Vec<String> = tx
            .query(&taken_stmt, &[&candidates])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for slug in candidates.into_iter().filter(|c| !taken.contains(c)) {
            let sp = tx.savepoint("free_slug").await?;
            let stmt = sp.prepare_cached(insert_sql).await?;
            let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&slug];
            all.extend_from_slice(params);
            match sp.query_opt(&stmt, &all).await {
                Ok(row) => {
                    sp.commit().await?;
                    return Ok(row);
                }
                Err(e)
                    if e.as_db_error().and_then(|d| d.constraint()) == Some(unique_constraint) =>
                {
                    sp.rollback().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(WriteError::internal(format!(
        "no free slug for {}",
        base.as_str()
    )))
}

/// The advisory-lock id of a base slug in one table (64 bits of SHA-256).
fn slug_lock_id(unique_constraint: &str, base: &Slug) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"rcr-slug:")
        .chain_update(unique_constraint.as_bytes())
        .chain_update(b":")
        .chain_update(base.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}
