//! Issuing tokens: short-lived access JWTs signed by the active key, and
//! opaque refresh tokens of which only a SHA-256 hash is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Role;
use jsonwebtoken::{Algorithm, Header};
use platform::jwt::Claims;
use sha2::{Digest, Sha256};

use crate::keys::ActiveKey;
use crate::settings::TokenSettings;

/// Signs an access token for `editor_id`.
pub fn access_token(
    key: &ActiveKey,
    settings: &TokenSettings,
    editor_id: i64,
    role: Role,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ttl = i64::try_from(settings.access_ttl_s).unwrap_or(i64::MAX);
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: editor_id.to_string(),
        role: role.as_str().to_owned(),
        iat: now,
        nbf: now,
        exp: now.saturating_add(ttl),
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding)
}

/// A new refresh token (256 random bits) and the hash that is stored.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
