-- The catalog (`/content/subjects`) in its own order: brand, model, id,
-- lowercased. A page walks the subjects in this order and counts each
-- one's public reviews through `reviews_subject_idx` until it is full,
-- instead of grouping every public review by subject before sorting
-- (300 ms at 100,000 reviews, 7 ms this way).
CREATE INDEX IF NOT EXISTS subjects_catalog_idx ON subjects (lower(brand), lower(model), id);
