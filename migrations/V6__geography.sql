-- Continents apart (SPEC §10.4): embargoes, the change feed, and where each
-- review's last write lies in the WAL. Forward-only; every statement
-- tolerates a re-run, like V1.

-- Embargoes. A review may be `scheduled`: public from `publish_at` on,
-- with nobody acting at that instant (no job flips the status; a replica
-- cannot be written anyway). Whether a review is public is therefore a
-- question of the reader's clock, answered by `rcr_is_public` below.
ALTER TABLE reviews DROP CONSTRAINT IF EXISTS reviews_status_check;
ALTER TABLE reviews ADD CONSTRAINT reviews_status_check
    CHECK (status IN ('draft', 'scheduled', 'published'));
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS publish_at timestamptz;
-- Only a scheduled review has a publish time, and it is the date it will
-- show as published.
ALTER TABLE reviews DROP CONSTRAINT IF EXISTS reviews_scheduled_has_publish_at;
ALTER TABLE reviews ADD CONSTRAINT reviews_scheduled_has_publish_at
    CHECK ((status = 'scheduled') = (publish_at IS NOT NULL)
           AND (status <> 'scheduled' OR published_at = publish_at));

-- THE definition of a public review, for every reader and every query:
-- published, or scheduled and its time has come; never retracted. Written
-- as conjuncts the planner can match against partial-index predicates once
-- the function is inlined (a SQL function of one expression, STABLE for
-- now()): `status IN ('published', 'scheduled') AND deleted_at IS NULL`
-- proves the predicate of the public indexes below, the last conjunct
-- filters out the few reviews still under embargo. Never NULL.
CREATE OR REPLACE FUNCTION rcr_is_public(status text, publish_at timestamptz, deleted_at timestamptz)
    RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN deleted_at IS NULL
       AND status IN ('published', 'scheduled')
       AND (status = 'published' OR coalesce(publish_at <= now(), false));

-- The status a review shows: a scheduled review whose time has come is
-- published (its published_at is its publish_at). The same rule as
-- rcr_is_public, for the projection rather than the filter.
CREATE OR REPLACE FUNCTION rcr_review_status(status text, publish_at timestamptz)
    RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE WHEN status = 'scheduled' AND publish_at <= now() THEN 'published' ELSE status END;

-- The public indexes of V1-V4 cover scheduled reviews too, so that one
-- index serves both `status = 'published' AND deleted_at IS NULL` (which
-- implies this predicate) and `rcr_is_public(...)`. Scheduled reviews are
-- few; a scan skips those still under embargo.
DROP INDEX IF EXISTS reviews_public_newest_idx;
CREATE INDEX IF NOT EXISTS reviews_public_newest_idx ON reviews (published_at DESC, id DESC)
    WHERE status IN ('published', 'scheduled') AND deleted_at IS NULL;
DROP INDEX IF EXISTS reviews_public_rating_idx;
CREATE INDEX IF NOT EXISTS reviews_public_rating_idx ON reviews (coalesce(rating, -1) DESC, id DESC)
    WHERE status IN ('published', 'scheduled') AND deleted_at IS NULL;
DROP INDEX IF EXISTS reviews_search_es_idx;
CREATE INDEX IF NOT EXISTS reviews_search_es_idx ON reviews USING gin (search_document)
    WHERE language = 'es' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
DROP INDEX IF EXISTS reviews_search_pt_idx;
CREATE INDEX IF NOT EXISTS reviews_search_pt_idx ON reviews USING gin (search_document)
    WHERE language = 'pt' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
DROP INDEX IF EXISTS reviews_search_en_idx;
CREATE INDEX IF NOT EXISTS reviews_search_en_idx ON reviews USING gin (search_document)
    WHERE language = 'en' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;

-- The next embargo to lapse, which a reader needs to cap how long it
-- caches anything: SELECT min(publish_at) ... WHERE status = 'scheduled'
-- AND deleted_at IS NULL AND publish_at > now() is one index probe.
CREATE INDEX IF NOT EXISTS reviews_embargo_idx ON reviews (publish_at)
    WHERE status = 'scheduled' AND deleted_at IS NULL;

-- Publish propagation. The WAL position a replica must have replayed to
-- hold the review's last write: set to NULL by every write (in its
-- transaction) and to the primary's WAL insert position by a statement
-- after COMMIT, which is past the commit record. NULL (a crash between the
-- two, a review written before this migration) reads as "the primary's
-- current position": later than needed, never too early.
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS last_write_lsn pg_lsn;

-- The change feed: one row per content version, written in the same
-- transaction as the change and the version bump, naming the surrogate
-- keys of what changed. Readers list it from their replica
-- (`WHERE version > $1 ORDER BY version LIMIT n`: the primary key), so a
-- purge or rebuild driven by it never runs before the data is there.
-- Versions before this migration have no rows; the writer deletes rows
-- older than its retention (7 days by default).
CREATE TABLE IF NOT EXISTS content_changes (
    version        bigint      PRIMARY KEY CHECK (version > 0),
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    surrogate_keys text[]      NOT NULL CHECK (cardinality(surrogate_keys) BETWEEN 1 AND 100)
);
