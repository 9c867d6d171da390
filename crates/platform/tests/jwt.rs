//! The JWT verification component against forged, stale and foreign tokens,
//! and key rotation through a real JWKS endpoint.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::jwt::{Claims, Jwk, JwkSet, JwtError, JwtVerifier, VerifierSettings};
use serde_json::json;

const ISS: &str = "http://auth.test";
const AUD: &str = "rcr-api";

struct TestKey {
    kid: String,
    signing: SigningKey,
}

impl TestKey {
    fn new(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes())),
            y: None,
            kid: self.kid.clone(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    fn sign_json(&self, claims: &serde_json::Value) -> String {
        let der = self.signing.to_pkcs8_der().expect("der");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes()))
            .expect("signed")
    }

    fn sign(&self, adjust: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = good_claims();
        adjust(&mut claims);
        self.sign_json(&claims)
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn good_claims() -> serde_json::Value {
    let now = now();
    json!({ "iss": ISS, "aud": AUD, "sub": "42", "role": "editor", "iat": now, "nbf": now, "exp": now + 900, "jti": "j1" })
}

fn verifier(keys: &[&TestKey]) -> JwtVerifier {
    JwtVerifier::with_keys(
        ISS,
        AUD,
        5,
        &JwkSet {
            keys: keys.iter().map(|k| k.jwk()).collect(),
        },
    )
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

#[actix_web::test]
async fn a_good_token_verifies_and_yields_its_claims() {
    let key = TestKey::new("k1");
    let claims: Claims = verifier(&[&key])
        .verify(&key.sign(|_| {}))
        .await
        .expect("valid");
    assert_eq!(claims.sub, "42");
    assert_eq!(claims.role, "editor");
}

#[actix_web::test]
async fn alg_none_is_refused() {
    let key = TestKey::new("k1");
    let token = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": "k1" })),
        b64(&good_claims())
    );
    assert!(verifier(&[&key]).verify(&token).await.is_err());
}

#[actix_web::test]
async fn hmac_with_the_public_key_as_secret_is_refused() {
    let key = TestKey::new("k1");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let secret = key.jwk().x.expect("x");
    let token = jsonwebtoken::encode(
        &header,
        &good_claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signed");
    assert_eq!(
        verifier(&[&key]).verify(&token).await,
        Err(JwtError::AlgorithmMismatch)
    );
    let raw = jsonwebtoken::encode(
        &header,
        &good_claims(),
        &EncodingKey::from_secret(key.signing.verifying_key().as_bytes()),
    )
    .expect("signed");
    assert!(verifier(&[&key]).verify(&raw).await.is_err());
}

#[actix_web::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let key = TestKey::new("k1");
    let v = verifier(&[&key]);
    let expired = key.sign(|c| c["exp"] = json!(now() - 60));
    assert_eq!(v.verify(&expired).await, Err(JwtError::Expired));
    let future = key.sign(|c| c["nbf"] = json!(now() + 600));
    assert_eq!(v.verify(&future).await, Err(JwtError::NotYetValid));
}

#[actix_web::test]
async fn time_claims_sent_as_strings_do_not_skip_the_checks() {
    let key = TestKey::new("k1");
    let v = verifier(&[&key]);
    let stringly = key.sign(|c| c["exp"] = json!((now() - 60).to_string()));
    assert!(v.verify(&stringly).await.is_err());
    let stringly_nbf = key.sign(|c| c["nbf"] = json!((now() + 600).to_string()));
    assert!(v.verify(&stringly_nbf).await.is_err());
}

#[actix_web::test]
async fn missing_claims_are_refused() {
    let key = TestKey::new("k1");
    let v = verifier(&[&key]);
    for claim in ["exp", "nbf", "iss", "aud", "sub"] {
        let token = key.sign(|c| {
            c.as_object_mut().expect("object").remove(claim);
        });
        assert!(
            v.verify(&token).await.is_err(),
            "token without {claim} accepted"
        );
    }
}

#[actix_web::test]
async fn a_wrong_issuer_or_audience_is_refused() {
    let key = TestKey::new("k1");
    let v = verifier(&[&key]);
    let iss = key.sign(|c| c["iss"] = json!("http://evil.test"));
    assert_eq!(v.verify(&iss).await, Err(JwtError::WrongIssuerOrAudience));
    let aud = key.sign(|c| c["aud"] = json!("another-api"));
    assert_eq!(v.verify(&aud).await, Err(JwtError::WrongIssuerOrAudience));
}

#[actix_web::test]
async fn unknown_missing_or_injected_kids_are_refused() {
    let key = TestKey::new("k1");
    let stranger = TestKey::new("k2");
    let v = verifier(&[&key]);
    assert_eq!(
        v.verify(&stranger.sign(|_| {})).await,
        Err(JwtError::UnknownKey)
    );
    // A token claiming our kid but signed by another key.
    let impostor = TestKey {
        kid: "k1".into(),
        signing: SigningKey::generate(&mut rand::rngs::OsRng),
    };
    assert_eq!(
        v.verify(&impostor.sign(|_| {})).await,
        Err(JwtError::BadSignature)
    );
    let injected = TestKey::new("../../etc/passwd' OR '1'='1");
    assert!(v.verify(&injected.sign(|_| {})).await.is_err());
    let no_kid = format!(
        "{}.{}.sig",
        b64(&json!({ "alg": "EdDSA", "typ": "JWT" })),
        b64(&good_claims())
    );
    assert_eq!(v.verify(&no_kid).await, Err(JwtError::MissingKid));
}

#[actix_web::test]
async fn a_tampered_or_stripped_signature_is_refused() {
    let key = TestKey::new("k1");
    let v = verifier(&[&key]);
    let token = key.sign(|_| {});
    let (signed, _) = token.rsplit_once('.').expect("three parts");
    let (header, _) = signed.split_once('.').expect("header");
    // Payload swapped for an admin one, signature kept.
    let forged = format!(
        "{header}.{}.{}",
        b64(
            &json!({ "iss": ISS, "aud": AUD, "sub": "1", "role": "admin", "iat": now(), "nbf": now(), "exp": now() + 900, "jti": "x" })
        ),
        token.rsplit('.').next().expect("sig")
    );
    assert_eq!(v.verify(&forged).await, Err(JwtError::BadSignature));
    assert!(v.verify(&format!("{signed}.")).await.is_err());
    assert_eq!(
        v.verify(&"a".repeat(100_000)).await,
        Err(JwtError::Malformed)
    );
    assert_eq!(v.verify("").await, Err(JwtError::Malformed));
}

#[actix_web::test]
async fn a_token_of_the_previous_key_verifies_until_that_key_is_retired() {
    let previous = TestKey::new("old");
    let active = TestKey::new("new");
    let token = previous.sign(|_| {});
    assert!(verifier(&[&active, &previous]).verify(&token).await.is_ok());
    assert_eq!(
        verifier(&[&active]).verify(&token).await,
        Err(JwtError::UnknownKey)
    );
}

/// Serves whatever JWKS the test puts in the mutex.
async fn jwks_server(jwks: Arc<Mutex<JwkSet>>) -> String {
    let data = web::Data::from(jwks);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/jwks.json",
            web::get().to(|d: web::Data<Mutex<JwkSet>>| async move {
                let body = serde_json::to_vec(&*d.lock().expect("lock")).expect("json");
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body)
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    format!("http://127.0.0.1:{port}/jwks.json")
}

#[actix_web::test]
async fn a_newly_rotated_key_is_fetched_on_its_first_token() {
    let first = TestKey::new("first");
    let jwks = Arc::new(Mutex::new(JwkSet {
        keys: vec![first.jwk()],
    }));
    let url = jwks_server(jwks.clone()).await;
    let v = JwtVerifier::remote(&VerifierSettings {
        issuer: ISS.into(),
        audience: AUD.into(),
        jwks_url: url,
        refetch_min_interval_ms: 0,
        ..VerifierSettings::default()
    });
    assert!(v.verify(&first.sign(|_| {})).await.is_ok());

    let second = TestKey::new("second");
    jwks.lock().expect("lock").keys.insert(0, second.jwk());
    assert!(
        v.verify(&second.sign(|_| {})).await.is_ok(),
        "rotated key picked up"
    );
    assert!(
        v.verify(&first.sign(|_| {})).await.is_ok(),
        "previous key still published"
    );
}

#[actix_web::test]
async fn an_unreachable_jwks_means_keys_unavailable_not_a_hang() {
    let key = TestKey::new("k1");
    let v = JwtVerifier::remote(&VerifierSettings {
        issuer: ISS.into(),
        audience: AUD.into(),
        jwks_url: "http://127.0.0.1:9/jwks.json".into(),
        fetch_timeout_ms: 500,
        ..VerifierSettings::default()
    });
    assert_eq!(
        v.verify(&key.sign(|_| {})).await,
        Err(JwtError::KeysUnavailable)
    );
}
