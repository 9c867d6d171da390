//! Issuing tokens: short-lived access JWTs signed by the active key, and
//! opaque tokens (refresh tokens, password reset tokens) of which only a
//! SHA-256 hash is stored.
//!
//! An access token names the session it was issued in with a `sid` claim
//! (the session's id, as a decimal string like `sub`). Verifiers that do not
//! know the claim ignore it, and a token without it (issued before sessions
//! existed) is still a valid token: it just names no session.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Role;
use jsonwebtoken::{Algorithm, Header};
use platform::jwt::Claims;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::ActiveKey;
use crate::settings::TokenSettings;

/// The claims auth signs: the shared ones and the session.
#[derive(Serialize)]
struct AccessClaims {
    #[serde(flatten)]
    claims: Claims,
    sid: String,
}

/// Signs an access token for `editor_id` in session `session_id`.
pub fn access_token(
    key: &ActiveKey,
    settings: &TokenSettings,
    editor_id: i64,
    role: Role,
    session_id: i64,
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
    let claims = AccessClaims {
        claims,
        sid: session_id.to_string(),
    };
    jsonwebtoken::encode(&header, &claims, &key.encoding)
}

/// The session an access token names, read from a token that has already
/// verified (the `Editor` extractor checked this very string): the claim
/// is as trustworthy as the signature over it. `None` for a token without
/// the claim.
pub fn session_of(verified_token: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Sid {
        sid: Option<String>,
    }
    let payload = verified_token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Sid = serde_json::from_slice(&json).ok()?;
    claims.sid?.parse().ok()
}

/// A new opaque token (256 random bits, 43 URL-safe characters) and the
/// hash that is stored.
pub fn new_opaque_token() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The stored form of a presented opaque token. Ours are 43 characters;
/// an empty or oversized one cannot be, and is refused unhashed.
pub fn presented_hash(token: &str) -> Option<[u8; 32]> {
    (!token.is_empty() && token.len() <= 256).then(|| hash_token(token))
}

#[cfg(test)]
mod tests {
    use platform::jwt::JwtVerifier;

    use super::*;
    use crate::keys::Keyring;

    fn keyring() -> (Keyring, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("rcr-auth-tokens-{}", uuid::Uuid::new_v4()));
        let path = dir.join("active.pem");
        crate::keys::generate_file(&path).expect("key written");
        (Keyring::load(&path, None).expect("key loads"), dir)
    }

    #[actix_web::test]
    async fn an_access_token_names_its_session_and_verifies_with_the_shared_claims() {
        let (keys, dir) = keyring();
        let settings = TokenSettings::default();
        let token = access_token(&keys.active, &settings, 7, Role::Editor, 42).expect("signed");
        let verifier = JwtVerifier::with_keys(&settings.issuer, &settings.audience, 5, &keys.jwks);
        let claims = verifier.verify(&token).await.expect("verifies");
        assert_eq!(claims.sub, "7");
        assert_eq!(session_of(&token), Some(42));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[actix_web::test]
    async fn a_token_without_a_session_still_verifies_and_names_none() {
        let (keys, dir) = keyring();
        let settings = TokenSettings::default();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            sub: "7".into(),
            role: "editor".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: "j".into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.active.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys.active.encoding).expect("signed");
        let verifier = JwtVerifier::with_keys(&settings.issuer, &settings.audience, 5, &keys.jwks);
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(session_of(&token), None);
        assert_eq!(session_of("not a token"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn opaque_tokens_are_43_url_safe_characters_and_only_their_hash_is_kept() {
        let (token, hash) = new_opaque_token();
        assert_eq!(token.len(), 43);
        assert_eq!(presented_hash(&token), Some(hash));
        assert_eq!(presented_hash(""), None);
        assert_eq!(presented_hash(&"x".repeat(257)), None);
    }
}
