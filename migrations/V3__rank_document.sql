-- Relevance ranking reads a small vector kept in the row: the subject and
-- title (A), the summary, pros and cons (B) and the opening of the body
-- (C, its first 500 characters). Matching still uses the whole document
-- (search_document and its GIN index); ranking every match over the whole
-- document meant fetching and decompressing a ~5 KB TOAST value per match.
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS rank_document tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE reviews ALTER COLUMN rank_document SET STORAGE MAIN;

CREATE OR REPLACE FUNCTION rcr_review_search_document() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    subject_text text;
    cfg regconfig;
    head tsvector;
BEGIN
    SELECT brand || ' ' || model INTO subject_text FROM subjects WHERE id = NEW.subject_id;
    cfg := CASE NEW.language
               WHEN 'pt' THEN 'rcr_pt'::regconfig
               WHEN 'en' THEN 'rcr_en'::regconfig
               ELSE 'rcr_es'::regconfig
           END;
    head := setweight(to_tsvector('rcr_simple'::regconfig, coalesce(subject_text, '')), 'A')
        || setweight(to_tsvector(cfg, coalesce(subject_text, '') || ' ' || NEW.title), 'A')
        || setweight(to_tsvector(cfg, NEW.summary || ' ' || array_to_string(NEW.pros, ' ')
                                      || ' ' || array_to_string(NEW.cons, ' ')), 'B');
    NEW.search_document := head || setweight(to_tsvector(cfg, NEW.body), 'C');
    NEW.rank_document := head || setweight(to_tsvector(cfg, left(NEW.body, 500)), 'C');
    RETURN NEW;
END
$$;

-- Recompute both vectors of every review (naming a column fires the
-- trigger), and move the content version on: cached relevance orders change.
UPDATE reviews SET title = title;
UPDATE content_state SET version = version + 1;
