//! Signing keys: Ed25519, stored as PKCS#8 PEM files.
//!
//! The active key signs; the previous key (if configured) is only
//! published, so tokens it signed keep verifying until they expire. To
//! rotate: generate a key, make the old active key the previous one and the
//! new key active, restart auth instances one by one. Readers of the JWKS
//! refetch on the first unknown `kid`.
//!
//! List cursors are signed with a key derived from the active key: every
//! auth instance holds it already, so a cursor one instance made is read by
//! any other without a further secret to provision. A rotation makes open
//! cursors invalid (a 400 telling the client to start the list again).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::EncodingKey;
use platform::cursor::CursorKey;
use platform::jwt::{Jwk, JwkSet};
use platform::settings::SettingsError;
use sha2::{Digest, Sha256};

/// The key that signs new tokens.
pub struct ActiveKey {
    pub kid: String,
    pub encoding: EncodingKey,
}

impl std::fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The active key, the published set, and the key of list cursors.
#[derive(Debug)]
pub struct Keyring {
    pub active: ActiveKey,
    pub jwks: JwkSet,
    pub cursors: CursorKey,
}

impl Keyring {
    pub fn load(active: &Path, previous: Option<&Path>) -> Result<Self, SettingsError> {
        let active_key = read_key(active, "tokens.active_key_file")?;
        let mut keys = vec![public_jwk(&active_key)];
        if let Some(path) = previous {
            let previous_key = read_key(path, "tokens.previous_key_file")?;
            if previous_key.verifying_key() != active_key.verifying_key() {
                keys.push(public_jwk(&previous_key));
            }
        }
        let der = active_key
            .to_pkcs8_der()
            .map_err(|e| SettingsError::new(format!("tokens.active_key_file: {e}")))?;
        Ok(Self {
            active: ActiveKey {
                kid: keys[0].kid.clone(),
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
            },
            jwks: JwkSet { keys },
            cursors: cursor_key(&active_key)?,
        })
    }
}

/// The cursor key of an active key: a hash of it under a label of its own,
/// which tells nothing about the signing key.
fn cursor_key(active: &SigningKey) -> Result<CursorKey, SettingsError> {
    let mut derived = Sha256::new();
    derived.update(b"rcr-auth-cursor-key-v1");
    derived.update(active.to_bytes());
    CursorKey::new(&derived.finalize())
        .map_err(|e| SettingsError::new(format!("tokens.active_key_file: {e}")))
}

fn read_key(path: &Path, setting: &str) -> Result<SigningKey, SettingsError> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new(format!("{setting}: cannot read {}: {e}", path.display()))
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        SettingsError::new(format!(
            "{setting}: {} is not a PKCS#8 Ed25519 PEM key: {e}",
            path.display()
        ))
    })
}

/// The public half as a JWK, its `kid` the RFC 7638 thumbprint.
pub fn public_jwk(key: &SigningKey) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    Jwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some(x),
        y: None,
        kid,
        alg: Some("EdDSA".into()),
        use_: Some("sig".into()),
    }
}

/// A new random key as PKCS#8 PEM (the `gen-key` command).
pub fn generate_pem() -> Result<(String, String), String> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((pem.to_string(), public_jwk(&key).kid))
}

/// Writes a new key to `path` (mode 0600), refusing to overwrite one.
pub fn generate_file(path: &Path) -> Result<String, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let (pem, kid) = generate_pem()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(kid)
}
