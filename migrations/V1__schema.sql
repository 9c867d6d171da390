-- The whole schema of SPEC §3. Forward-only: later changes go in new files.
-- Every statement tolerates a re-run so that a half-applied manual run can be
-- finished by running it again; refinery records what has been applied.

CREATE EXTENSION IF NOT EXISTS unaccent;

-- Slugs are shared by subjects and reviews: lowercase ASCII words joined by
-- single hyphens, never all digits (so /content/{slug or id} is unambiguous),
-- never a route name.
CREATE OR REPLACE FUNCTION rcr_valid_slug(s text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN s ~ '^[a-z0-9]+(-[a-z0-9]+)*$'
       AND char_length(s) <= 120
       AND s !~ '^[0-9-]+$'
       AND s NOT IN ('subjects', 'compare');

-- Pros, cons and image URLs are bounded lists of bounded, non-blank items.
CREATE OR REPLACE FUNCTION rcr_valid_items(items text[], max_items int, max_len int) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN cardinality(items) <= max_items
       AND NOT EXISTS (
           SELECT 1 FROM unnest(items) AS i
            WHERE i IS NULL OR char_length(i) > max_len OR btrim(i) = '');

-- Image URLs are https only (SPEC §3); the domain crate checks the rest of the URL.
CREATE OR REPLACE FUNCTION rcr_all_https(items text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN NOT EXISTS (SELECT 1 FROM unnest(items) AS i WHERE i !~ '^https://[^/?#[:space:]]+');

-- Accent-insensitive, stemmed text search per review language (SPEC §5).
DO $$
DECLARE
    cfg record;
BEGIN
    FOR cfg IN SELECT * FROM (VALUES
        ('rcr_es', 'spanish', 'spanish_stem'),
        ('rcr_pt', 'portuguese', 'portuguese_stem'),
        ('rcr_en', 'english', 'english_stem'),
        ('rcr_simple', 'simple', 'simple')) AS t(name, parent, stem)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = cfg.name) THEN
            EXECUTE format('CREATE TEXT SEARCH CONFIGURATION %I (COPY = %I)', cfg.name, cfg.parent);
            EXECUTE format('ALTER TEXT SEARCH CONFIGURATION %I ALTER MAPPING FOR hword, hword_part, word, asciiword, asciihword, hword_asciipart WITH unaccent, %I',
                           cfg.name, cfg.stem);
        END IF;
    END LOOP;
END
$$;

CREATE TABLE IF NOT EXISTS editors (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100 AND btrim(name) <> ''),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text        NOT NULL DEFAULT 'editor' CHECK (role IN ('editor', 'admin')),
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX IF NOT EXISTS editors_email_key ON editors (lower(email));

CREATE TABLE IF NOT EXISTS subjects (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('camera', 'lens')),
    brand         text        NOT NULL CHECK (char_length(brand) BETWEEN 1 AND 100 AND btrim(brand) <> ''),
    model         text        NOT NULL CHECK (char_length(model) BETWEEN 1 AND 100 AND btrim(model) <> ''),
    slug          text        NOT NULL CHECK (rcr_valid_slug(slug)),
    mount         text        CHECK (char_length(mount) BETWEEN 1 AND 50),
    sensor_format text        CHECK (char_length(sensor_format) BETWEEN 1 AND 50),
    megapixels    numeric(5,1) CHECK (megapixels > 0 AND megapixels <= 1000),
    focal_min_mm  numeric(6,1) CHECK (focal_min_mm > 0 AND focal_min_mm <= 5000),
    focal_max_mm  numeric(6,1) CHECK (focal_max_mm > 0 AND focal_max_mm <= 5000),
    max_aperture  numeric(4,1) CHECK (max_aperture > 0 AND max_aperture <= 64),
    release_year  integer     CHECK (release_year BETWEEN 1800 AND 2200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subjects_slug_key UNIQUE (slug),
    CONSTRAINT subjects_focal_range CHECK (focal_min_mm <= focal_max_mm),
    -- Camera specs only on cameras, lens specs only on lenses.
    CONSTRAINT subjects_specs_match_kind CHECK (
        (kind = 'camera' AND focal_min_mm IS NULL AND focal_max_mm IS NULL AND max_aperture IS NULL)
     OR (kind = 'lens' AND sensor_format IS NULL AND megapixels IS NULL))
);
-- A review names its subject by kind + brand + model; concurrent first uses
-- of one new subject must collide here and make one catalog row.
CREATE UNIQUE INDEX IF NOT EXISTS subjects_identity_key ON subjects (kind, lower(brand), lower(model));
CREATE INDEX IF NOT EXISTS subjects_brand_idx ON subjects (lower(brand));

CREATE TABLE IF NOT EXISTS reviews (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text        NOT NULL CHECK (rcr_valid_slug(slug)),
    subject_id      bigint      NOT NULL REFERENCES subjects (id),
    editor_id       bigint      NOT NULL REFERENCES editors (id),
    title           text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    summary         text        NOT NULL DEFAULT '' CHECK (char_length(summary) <= 500),
    body            text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 100000 AND btrim(body) <> ''),
    rating          numeric(3,1) CHECK (rating BETWEEN 0 AND 10 AND rating * 2 = trunc(rating * 2)),
    pros            text[]      NOT NULL DEFAULT '{}' CHECK (rcr_valid_items(pros, 20, 200)),
    cons            text[]      NOT NULL DEFAULT '{}' CHECK (rcr_valid_items(cons, 20, 200)),
    image_urls      text[]      NOT NULL DEFAULT '{}' CHECK (rcr_valid_items(image_urls, 20, 2048)),
    language        text        NOT NULL DEFAULT 'es' CHECK (language IN ('es', 'pt', 'en')),
    status          text        NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published')),
    version         integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    deleted_at      timestamptz,
    search_document tsvector    NOT NULL DEFAULT ''::tsvector,
    CONSTRAINT reviews_slug_key UNIQUE (slug),
    CONSTRAINT reviews_published_has_date CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT reviews_image_urls_https CHECK (rcr_all_https(image_urls))
);

-- Reader lists: published, not retracted, newest first with id as tie-break
-- (the keyset of the cursor).
CREATE INDEX IF NOT EXISTS reviews_public_newest_idx ON reviews (published_at DESC, id DESC)
    WHERE status = 'published' AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_public_rating_idx ON reviews (rating DESC NULLS LAST, id DESC)
    WHERE status = 'published' AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS reviews_subject_idx ON reviews (subject_id);
-- An editor's own list in the writer: newest first.
CREATE INDEX IF NOT EXISTS reviews_editor_idx ON reviews (editor_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS reviews_search_idx ON reviews USING gin (search_document);

-- The search document (SPEC §5): subject and title weighted A, summary, pros
-- and cons B, body C; stemmed by the review's own language, accents folded.
-- A trigger rather than a generated column because the subject's brand and
-- model live in another table.
CREATE OR REPLACE FUNCTION rcr_review_search_document() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    subject_text text;
    cfg regconfig;
BEGIN
    SELECT brand || ' ' || model INTO subject_text FROM subjects WHERE id = NEW.subject_id;
    cfg := CASE NEW.language
               WHEN 'pt' THEN 'rcr_pt'::regconfig
               WHEN 'en' THEN 'rcr_en'::regconfig
               ELSE 'rcr_es'::regconfig
           END;
    NEW.search_document :=
           setweight(to_tsvector('rcr_simple'::regconfig, coalesce(subject_text, '')), 'A')
        || setweight(to_tsvector(cfg, coalesce(subject_text, '') || ' ' || NEW.title), 'A')
        || setweight(to_tsvector(cfg, NEW.summary || ' ' || array_to_string(NEW.pros, ' ')
                                      || ' ' || array_to_string(NEW.cons, ' ')), 'B')
        || setweight(to_tsvector(cfg, NEW.body), 'C');
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS reviews_search_document ON reviews;
CREATE TRIGGER reviews_search_document
    BEFORE INSERT OR UPDATE OF subject_id, title, summary, body, pros, cons, language ON reviews
    FOR EACH ROW EXECUTE FUNCTION rcr_review_search_document();

-- One row whose version is bumped in the same transaction as every change
-- readers can see; readers key their caches by it (SPEC §6).
CREATE TABLE IF NOT EXISTS content_state (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL DEFAULT 0 CHECK (version >= 0)
);
INSERT INTO content_state (id, version) VALUES (true, 0) ON CONFLICT (id) DO NOTHING;

-- Idempotency-Key records (SPEC §4): per editor, decided by the primary key so
-- concurrent requests with one key cannot both win.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    editor_id        bigint      NOT NULL REFERENCES editors (id),
    key              text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255 AND key ~ '^[!-~]+$'),
    request_hash     bytea       NOT NULL CHECK (octet_length(request_hash) = 32),
    response_status  smallint    CHECK (response_status BETWEEN 100 AND 599),
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (editor_id, key),
    CONSTRAINT idempotency_keys_completed CHECK ((completed_at IS NULL) = (response_status IS NULL))
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Refresh tokens are stored as SHA-256 hashes only. Rotation marks the old
-- row rotated and adds a new one in the same family; presenting a rotated
-- token again revokes the whole family (reuse detection).
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    editor_id   bigint      NOT NULL REFERENCES editors (id),
    family_id   uuid        NOT NULL,
    token_hash  bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_expiry CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_editor_idx ON refresh_tokens (editor_id) WHERE revoked_at IS NULL;

-- Append-only record of every write and every auth event.
CREATE TABLE IF NOT EXISTS audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   bigint      REFERENCES editors (id),
    action     text        NOT NULL CHECK (char_length(action) BETWEEN 1 AND 100),
    entity     text        NOT NULL CHECK (char_length(entity) BETWEEN 1 AND 50),
    entity_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    request_id text        CHECK (char_length(request_id) <= 200),
    client_ip  inet,
    details    jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_entity_idx ON audit_log (entity, entity_id);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor_id, at);

CREATE OR REPLACE FUNCTION rcr_audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION rcr_audit_log_append_only();
