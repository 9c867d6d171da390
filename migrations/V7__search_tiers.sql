-- Relevance in tiers (SPEC §5, §10.5): a search lists the reviews whose
-- title matches first, then those whose subject or title match, then
-- those whose opening matches (the ranking vector of V3), then the rest,
-- each tier newest first. Ranking by term frequency read and scored every
-- match, and a query of common words matches half of all reviews.
--
-- title_document is the title's words; heading_document the subject and
-- title part of the search document (weight A), at the same positions: a
-- prefix of rank_document, itself a prefix of search_document. The
-- title's words are in the heading in the same order, so a phrase matched
-- in one vector is matched in the next.
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS title_document tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE reviews ALTER COLUMN title_document SET STORAGE MAIN;
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS heading_document tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE reviews ALTER COLUMN heading_document SET STORAGE MAIN;

-- The vectors' parts, one definition for the trigger, the backfill below
-- and the bench's data generator: a review language's configuration, the
-- title's words, and the heading (the subject's words as written, then
-- subject and title stemmed; weight A).
CREATE OR REPLACE FUNCTION rcr_search_config(language text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE language WHEN 'pt' THEN 'rcr_pt'::regconfig
                         WHEN 'en' THEN 'rcr_en'::regconfig
                         ELSE 'rcr_es'::regconfig END;
CREATE OR REPLACE FUNCTION rcr_title_document(title text, cfg regconfig) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector(cfg, title), 'A');
CREATE OR REPLACE FUNCTION rcr_heading_document(subject_text text, title text, cfg regconfig)
    RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('rcr_simple'::regconfig, coalesce(subject_text, '')), 'A')
        || setweight(to_tsvector(cfg, coalesce(subject_text, '') || ' ' || title), 'A');

CREATE OR REPLACE FUNCTION rcr_review_search_document() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    subject_text text;
    cfg regconfig := rcr_search_config(NEW.language);
    head tsvector;
BEGIN
    SELECT brand || ' ' || model INTO subject_text FROM subjects WHERE id = NEW.subject_id;
    NEW.title_document := rcr_title_document(NEW.title, cfg);
    NEW.heading_document := rcr_heading_document(subject_text, NEW.title, cfg);
    head := NEW.heading_document
        || setweight(to_tsvector(cfg, NEW.summary || ' ' || array_to_string(NEW.pros, ' ')
                                      || ' ' || array_to_string(NEW.cons, ' ')), 'B');
    NEW.search_document := head || setweight(to_tsvector(cfg, NEW.body), 'C');
    NEW.rank_document := head || setweight(to_tsvector(cfg, left(NEW.body, 500)), 'C');
    RETURN NEW;
END
$$;

-- The two vectors of every review, computed here rather than by firing
-- the trigger, which would recompute the whole documents too.
UPDATE reviews r
   SET title_document = rcr_title_document(r.title, rcr_search_config(r.language)),
       heading_document = rcr_heading_document(s.brand || ' ' || s.model, r.title,
                                               rcr_search_config(r.language))
  FROM subjects s
 WHERE s.id = r.subject_id;

-- Per language, as the search indexes of V4/V6: they find the matches of
-- a word too rare to fill a page from the newest reviews.
CREATE INDEX IF NOT EXISTS reviews_title_es_idx ON reviews USING gin (title_document)
    WHERE language = 'es' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_title_pt_idx ON reviews USING gin (title_document)
    WHERE language = 'pt' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_title_en_idx ON reviews USING gin (title_document)
    WHERE language = 'en' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_heading_es_idx ON reviews USING gin (heading_document)
    WHERE language = 'es' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_heading_pt_idx ON reviews USING gin (heading_document)
    WHERE language = 'pt' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_heading_en_idx ON reviews USING gin (heading_document)
    WHERE language = 'en' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_opening_es_idx ON reviews USING gin (rank_document)
    WHERE language = 'es' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_opening_pt_idx ON reviews USING gin (rank_document)
    WHERE language = 'pt' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_opening_en_idx ON reviews USING gin (rank_document)
    WHERE language = 'en' AND status IN ('published', 'scheduled') AND deleted_at IS NULL;

-- Cached relevance orders change.
UPDATE content_state SET version = version + 1;
