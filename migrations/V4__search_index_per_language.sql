-- One GIN index per review language, over public reviews only, in place of
-- the single index over every review. A search matches each review with
-- its own language's query, `(language = 'es' AND search_document @@ q_es)
-- OR ...`; when the stems differ between languages, the single index could
-- only serve the OR of the three matches, so every candidate's whole search
-- document (a ~5 KB TOAST value) was fetched again to check which language
-- it matched in. With these indexes each arm is one index whose predicate
-- proves the language and visibility, and no row is checked twice.
-- A new review language needs its own index here.
CREATE INDEX IF NOT EXISTS reviews_search_es_idx ON reviews USING gin (search_document)
    WHERE language = 'es' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_search_pt_idx ON reviews USING gin (search_document)
    WHERE language = 'pt' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_search_en_idx ON reviews USING gin (search_document)
    WHERE language = 'en' AND status = 'published' AND deleted_at IS NULL;
DROP INDEX IF EXISTS reviews_search_idx;

-- Relevance moves from cover density (ts_rank_cd) to weighted frequency
-- (ts_rank) in this release: cached relevance orders change.
UPDATE content_state SET version = version + 1;
