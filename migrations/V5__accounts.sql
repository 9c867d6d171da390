-- Editor accounts as an admin runs them: sessions, password resets issued
-- by an admin, and an audit trail that can be read. Forward-only; every
-- statement tolerates a re-run, like V1.

-- A session is a refresh-token family: started by a login, used by every
-- refresh. Whether it is live is not stored here: a session is live while
-- its family holds a token that is neither rotated, revoked nor expired, so
-- everything that revokes tokens (logout, reuse, a password change or
-- reset, disabling, ending a session) ends sessions without a second copy
-- of that state. No foreign key from refresh_tokens: an auth instance of the
-- previous release, still running during a rolling deploy, issues families
-- without a session row (a refresh adds it).
CREATE TABLE IF NOT EXISTS sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id    uuid        NOT NULL,
    editor_id    bigint      NOT NULL REFERENCES editors (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The last login or refresh of the session.
    last_used_at timestamptz NOT NULL DEFAULT now(),
    -- Cut to 200 characters, control characters dropped (domain::UserAgent).
    user_agent   text        CHECK (char_length(user_agent) BETWEEN 1 AND 200),
    client_ip    inet,
    CONSTRAINT sessions_family_key UNIQUE (family_id)
);
-- An editor's sessions, newest first (keyset paging by id).
CREATE INDEX IF NOT EXISTS sessions_editor_idx ON sessions (editor_id, id);

-- Families issued before this migration become sessions of unknown agent
-- and address.
INSERT INTO sessions (family_id, editor_id, created_at, last_used_at)
SELECT family_id, min(editor_id), min(created_at), max(created_at)
  FROM refresh_tokens
 GROUP BY family_id
ON CONFLICT (family_id) DO NOTHING;

-- Password resets an admin issues: one-time tokens stored as SHA-256
-- hashes only, like refresh tokens. At most one per editor: issuing another
-- replaces the row (the older token is superseded), using one deletes it,
-- and so does anything that ends an account's access.
CREATE TABLE IF NOT EXISTS password_resets (
    editor_id  bigint      PRIMARY KEY REFERENCES editors (id),
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    created_by bigint      REFERENCES editors (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT password_resets_token_hash_key UNIQUE (token_hash),
    CONSTRAINT password_resets_expiry CHECK (expires_at > created_at)
);

-- An editor's trail is the rows they did (actor) and the rows about their
-- account (entity 'editor'), newest first: one index range for each half.
CREATE INDEX IF NOT EXISTS audit_log_actor_id_idx ON audit_log (actor_id, id);
CREATE INDEX IF NOT EXISTS audit_log_editor_entity_idx ON audit_log (entity_id, id)
    WHERE entity = 'editor';

-- Append-only means no TRUNCATE either (V1 refuses UPDATE and DELETE);
-- the same function raises, once per statement.
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rcr_audit_log_append_only();
