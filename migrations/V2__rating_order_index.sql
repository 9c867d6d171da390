-- The rating order exactly as the reader sorts and pages it: unrated
-- reviews last (as -1), id as the tie-break, so that the cursor's row
-- comparison (coalesce(rating, -1), id) < (k, id) is an index range.
DROP INDEX IF EXISTS reviews_public_rating_idx;
CREATE INDEX IF NOT EXISTS reviews_public_rating_idx ON reviews (coalesce(rating, -1) DESC, id DESC)
    WHERE status = 'published' AND deleted_at IS NULL;
