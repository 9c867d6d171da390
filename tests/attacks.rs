//! Attacks through the gateway: forged tokens, brute force, injection
//! strings, oversized and slow requests.
//!
//! One stack serves the whole file (starting one costs more than every
//! attack together). The groups run against it one after another, the slow
//! clients alongside them on threads of their own; a failing group does not
//! hide the others: every failure is reported at the end.
//!
//! Everything is sent to the gateway's port as a client would, except where
//! a group says it also goes straight to a service (slow clients), and the
//! two back doors a test needs: the signing key from the stack's secrets (to
//! forge tokens whose signature is valid) and the region's Redis (to reset
//! the login throttle between experiments).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Gateway, StopOnDrop, start_stack};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use local_stack::Layout;
use serde_json::{Value, json};

const REGION: &str = "sa";
const PASSWORD: &str = "a long enough password";

#[test]
fn attacks_through_the_gateway_are_refused_cleanly_and_leave_the_stack_serving() {
    let started_at = Instant::now();
    let (stack, started) = start_stack("attacks", &[REGION], 1);
    let _guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let ctx = Ctx::new(
        &layout,
        stack.state_dir(),
        &started.admin_email,
        &started.admin_password,
    );
    eprintln!(
        "stack started in {:.1} s",
        started_at.elapsed().as_secs_f64()
    );

    let groups: [Group; 6] = [
        ("forged and stale tokens", jwt_attacks),
        ("login brute force", login_brute_force),
        ("user enumeration", user_enumeration),
        ("injection strings", injection_strings),
        ("malformed and oversized requests", malformed_requests),
        ("gateway request targets", gateway_request_targets),
    ];
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        // Slow clients mostly wait: they run beside the other groups.
        let slow = scope.spawn(|| run_group(&ctx, "slow clients", slow_clients));
        for (name, group) in groups {
            failures.extend(run_group(&ctx, name, group));
        }
        failures.extend(slow.join().expect("slow clients thread"));
    });
    ctx.assert_serving("after every attack");
    eprintln!(
        "attacks: {} groups in {:.1} s",
        groups.len() + 1,
        started_at.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "failed groups: {failures:?}");
    // Kept for its logs when something failed; removed when all is well.
    stack.stop().expect("stops");
    stack.clean().expect("cleans");
}

/// A group of attacks and its name.
type Group = (&'static str, fn(&Ctx));

/// Runs one group, turning its panic into a named failure.
fn run_group(ctx: &Ctx, name: &str, group: fn(&Ctx)) -> Option<String> {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| group(ctx)));
    eprintln!(
        "group {name:?}: {} in {:.1} s",
        if outcome.is_ok() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    outcome.err().map(|_| name.to_owned())
}

// --- the stack as the attacks see it ----------------------------------------

struct Ctx<'a> {
    layout: &'a Layout,
    /// The stack's signing key and the `kid` the JWKS publishes for it.
    forger: Forger,
    admin: String,
    admin_email: String,
    admin_password: String,
}

impl<'a> Ctx<'a> {
    fn new(layout: &'a Layout, state_dir: &Path, admin_email: &str, admin_password: &str) -> Self {
        let gw = Gateway { layout };
        let admin = gw.login(admin_email, admin_password);
        let jwks = gw.call(REGION, "GET", "/.well-known/jwks.json", None, &[], None);
        assert_eq!(jwks.status, 200, "{:?}", jwks.body);
        // Where the launcher keeps the key auth signs with (see
        // local-stack's `secrets`).
        let pem = std::fs::read_to_string(state_dir.join("secrets/signing-key.pem"))
            .expect("the stack's signing key");
        let key = SigningKey::from_pkcs8_pem(&pem).expect("PKCS#8 Ed25519 key");
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let kid = jwks.body["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["x"] == x.as_str()))
            .and_then(|k| k["kid"].as_str())
            .expect("the JWKS publishes the signing key")
            .to_owned();
        Self {
            layout,
            forger: Forger {
                key,
                kid,
                issuer: format!("http://127.0.0.1:{}", layout.auth),
            },
            admin,
            admin_email: admin_email.to_owned(),
            admin_password: admin_password.to_owned(),
        }
    }

    fn port(&self) -> u16 {
        self.layout.gateways[REGION]
    }

    /// A request through the gateway, headers and body as given.
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Raw {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        request(self.port(), method, target.as_bytes(), &headers, body)
    }

    fn get(&self, target: &str) -> Raw {
        self.send("GET", target, &[], None)
    }

    fn get_with_token(&self, target: &str, token: &str) -> Raw {
        self.send(
            "GET",
            target,
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        )
    }

    fn post_json(&self, target: &str, token: Option<&str>, body: &Value) -> Raw {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        self.send("POST", target, &headers, Some(body.to_string().as_bytes()))
    }

    fn login(&self, email: &str, password: &str) -> Raw {
        self.post_json(
            "/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        )
    }

    /// Creates an editor through the admin API; its id.
    fn create_editor(&self, email: &str, name: &str) -> i64 {
        let created = self.post_json(
            "/auth/editors",
            Some(&self.admin),
            &json!({ "email": email, "name": name, "password": PASSWORD }),
        );
        assert_eq!(created.status, 201, "create {email}: {}", created.text());
        created.json()["id"].as_i64().expect("editor id")
    }

    /// Forgets every failed login: the throttle's counters live in the
    /// Redis auth uses (the first region's).
    fn reset_login_throttle(&self) {
        let port = self.layout.redis[&self.layout.regions[0]];
        let script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                      redis.call('DEL', k) n = n + 1 end return n";
        let mut redis = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("the region's Redis accepts connections");
        let deleted: Result<u64, _> = redis::cmd("EVAL")
            .arg(script)
            .arg(0)
            .arg("rcr:login:*")
            .query(&mut redis);
        assert!(deleted.is_ok(), "redis: {deleted:?}");
    }

    /// The stack still answers reads and logins normally.
    fn assert_serving(&self, when: &str) {
        let list = self.get("/content?limit=1");
        assert_eq!(list.status, 200, "GET /content {when}: {}", list.text());
        let login = self.login(&self.admin_email, &self.admin_password);
        assert_eq!(login.status, 200, "login {when}: {}", login.text());
    }
}

// --- forged and stale tokens ---------------------------------------------------

/// Signs tokens as the stack's auth service would, with whatever header
/// and claims an attack needs.
struct Forger {
    key: SigningKey,
    kid: String,
    issuer: String,
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit")
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

impl Forger {
    fn claims(&self, sub: i64) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "aud": "rcr-api", "sub": sub.to_string(), "role": "editor",
            "iat": now, "nbf": now, "exp": now + 600, "jti": format!("forged-{now}")
        })
    }

    fn header(&self) -> Value {
        json!({ "alg": "EdDSA", "typ": "JWT", "kid": self.kid })
    }

    /// `header.claims.signature`, signed with `key`.
    fn sign_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// A token with valid signature for `sub`, claims adjusted.
    fn token(&self, sub: i64, adjust: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims(sub);
        adjust(&mut claims);
        Self::sign_with(&self.key, &self.header(), &claims)
    }

    /// A token with valid signature whose header is adjusted.
    fn token_with_header(&self, sub: i64, adjust: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        adjust(&mut header);
        Self::sign_with(&self.key, &header, &self.claims(sub))
    }

    /// HS256 over the claims with `secret` (the algorithm-confusion attack).
    fn hs256(&self, sub: i64, secret: &[u8]) -> String {
        let header = json!({ "alg": "HS256", "typ": "JWT", "kid": self.kid });
        let input = format!("{}.{}", b64_json(&header), b64_json(&self.claims(sub)));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(input.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn unsigned(&self, sub: i64, alg: &str) -> String {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": self.kid });
        format!("{}.{}.", b64_json(&header), b64_json(&self.claims(sub)))
    }
}

/// The routes that take a bearer token, one per service that verifies.
const TOKEN_ROUTES: [&str; 2] = ["/reviews", "/auth/me"];

fn jwt_attacks(ctx: &Ctx) {
    let id = ctx.create_editor("jwt.target@example.com", "Jwt Target");
    let f = &ctx.forger;
    // The control: a token forged with the stack's key and good claims is
    // accepted, so every refusal below is the attack's doing.
    let good = f.token(id, |_| {});
    for route in TOKEN_ROUTES {
        let ok = ctx.get_with_token(route, &good);
        assert_eq!(ok.status, 200, "control token on {route}: {}", ok.text());
    }

    let now = now();
    let public_x = URL_SAFE_NO_PAD.encode(f.key.verifying_key().as_bytes());
    let stranger = SigningKey::from_bytes(&[7u8; 32]);
    let stripped = good.rsplit_once('.').expect("three parts").0.to_owned();
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = f.claims(id);
        claims["role"] = json!("admin");
        format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2])
    };
    let mut refused: Vec<(String, String)> = vec![
        ("alg none".into(), f.unsigned(id, "none")),
        ("alg NoNe".into(), f.unsigned(id, "NoNe")),
        (
            "HS256 keyed with the public key (base64url)".into(),
            f.hs256(id, public_x.as_bytes()),
        ),
        (
            "HS256 keyed with the raw public key".into(),
            f.hs256(id, f.key.verifying_key().as_bytes()),
        ),
        (
            "stripped signature, trailing dot".into(),
            format!("{stripped}."),
        ),
        ("stripped signature, two parts".into(), stripped.clone()),
        ("payload changed after signing".into(), tampered),
        (
            "expired".into(),
            f.token(id, |c| {
                c["iat"] = json!(now - 7200);
                c["nbf"] = json!(now - 7200);
                c["exp"] = json!(now - 3600);
            }),
        ),
        (
            "not yet valid".into(),
            f.token(id, |c| {
                c["nbf"] = json!(now + 3600);
                c["exp"] = json!(now + 7200);
            }),
        ),
        (
            "expiry as a string".into(),
            f.token(id, |c| c["exp"] = json!((now - 3600).to_string())),
        ),
        (
            "no expiry".into(),
            f.token(id, |c| {
                c.as_object_mut().expect("claims").remove("exp");
            }),
        ),
        (
            "wrong audience".into(),
            f.token(id, |c| c["aud"] = json!("another-api")),
        ),
        (
            "wrong issuer".into(),
            f.token(id, |c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "sub that is not an id".into(),
            f.token(id, |c| c["sub"] = json!("1 OR 1=1")),
        ),
        (
            "unknown role".into(),
            f.token(id, |c| c["role"] = json!("superuser")),
        ),
        (
            "unknown kid".into(),
            f.token_with_header(id, |h| h["kid"] = json!("no-such-key")),
        ),
        (
            "no kid".into(),
            f.token_with_header(id, |h| {
                h.as_object_mut().expect("header").remove("kid");
            }),
        ),
        (
            "kid as a number".into(),
            f.token_with_header(id, |h| h["kid"] = json!(1)),
        ),
        (
            "our kid, another key's signature".into(),
            Forger::sign_with(&stranger, &f.header(), &f.claims(id)),
        ),
        (
            "attacker's key embedded as jwk".into(),
            Forger::sign_with(
                &stranger,
                &json!({ "alg": "EdDSA", "kid": f.kid, "jwk": {
                    "kty": "OKP", "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(stranger.verifying_key().as_bytes())
                } }),
                &f.claims(id),
            ),
        ),
        (
            "attacker's JWKS URL as jku".into(),
            Forger::sign_with(
                &stranger,
                &json!({ "alg": "EdDSA", "kid": f.kid, "jku": "http://127.0.0.1:1/jwks.json" }),
                &f.claims(id),
            ),
        ),
        ("garbage".into(), "a.b.c".into()),
        ("5 kB of base64".into(), "A".repeat(5_000)),
    ];
    for kid in [
        "../../../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "' OR '1'='1",
        "1; DROP TABLE editors; --",
        "http://evil.example/jwks.json",
        "\u{0}",
        &"k".repeat(1_000),
    ] {
        refused.push((
            format!("injected kid {:?}", &kid[..kid.len().min(30)]),
            f.token_with_header(id, |h| h["kid"] = json!(kid)),
        ));
    }
    for (what, token) in &refused {
        for route in TOKEN_ROUTES {
            let answer = ctx.get_with_token(route, token);
            let body = assert_problem(&answer, 401, &format!("{what} on {route}"));
            assert_eq!(body["code"], "invalid_token", "{what} on {route}");
            let challenge = answer.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{what} on {route}: WWW-Authenticate {challenge:?}"
            );
        }
    }
    // A write is refused the same way (nothing is created).
    let unsigned = f.unsigned(id, "none");
    let write = ctx.post_json(
        "/reviews",
        Some(&unsigned),
        &json!({ "subject": { "kind": "camera", "brand": "X", "model": "Y" }, "title": "t", "body": "b" }),
    );
    assert_problem(&write, 401, "POST /reviews with alg none");

    // Malformed Authorization headers: 401 with a Bearer challenge.
    for value in [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "bearer a.b.c",
        "Token abc",
    ] {
        for route in TOKEN_ROUTES {
            let answer = ctx.send("GET", route, &[("Authorization", value)], None);
            assert_problem(&answer, 401, &format!("Authorization {value:?} on {route}"));
        }
    }
    // A header value that is not text at all.
    for route in TOKEN_ROUTES {
        let answer = request(
            ctx.port(),
            "GET",
            route.as_bytes(),
            &[("Authorization", b"Bearer \xff\xfe\x80")],
            None,
        );
        assert_problem(&answer, 401, &format!("non-UTF-8 token on {route}"));
    }

    // An account that does not exist (never did, or was removed) with a
    // validly signed token: 403, the token verifies but grants nothing.
    let ghost = f.token(987_654_321, |_| {});
    for route in TOKEN_ROUTES {
        let answer = ctx.get_with_token(route, &ghost);
        assert_problem(
            &answer,
            403,
            &format!("token of a missing account on {route}"),
        );
    }

    // A disabled editor: the real token from a real login, then the admin
    // disables the account; the token is still unexpired and signed.
    ctx.create_editor("jwt.disabled@example.com", "Soon Disabled");
    let login = ctx.login("jwt.disabled@example.com", PASSWORD);
    assert_eq!(login.status, 200, "{}", login.text());
    let pair = login.json();
    let token = pair["access_token"].as_str().expect("access token");
    let editor_id = pair["editor"]["id"].as_i64().expect("id");
    let disable = ctx.send(
        "PATCH",
        &format!("/auth/editors/{editor_id}"),
        &[
            ("Authorization", &format!("Bearer {}", ctx.admin)),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"disabled":true}"#),
    );
    assert_eq!(disable.status, 200, "{}", disable.text());
    for route in TOKEN_ROUTES {
        let answer = ctx.get_with_token(route, token);
        assert_problem(&answer, 403, &format!("disabled editor's token on {route}"));
    }
    let write = ctx.post_json(
        "/reviews",
        Some(token),
        &json!({ "subject": { "kind": "camera", "brand": "Canon", "model": "R5" }, "title": "Still here", "body": "x" }),
    );
    let body = assert_problem(&write, 403, "disabled editor writing");
    assert_eq!(body["code"], "account_disabled");
    let refresh = ctx.post_json(
        "/auth/refresh",
        None,
        &json!({ "refresh_token": pair["refresh_token"] }),
    );
    assert_problem(&refresh, 401, "disabled editor refreshing");
    let again = ctx.login("jwt.disabled@example.com", PASSWORD);
    assert_problem(&again, 403, "disabled editor logging in");

    // 100 kB of token: refused by the gateway before any service.
    let huge = format!("{stripped}.{}", "A".repeat(100_000));
    for route in TOKEN_ROUTES {
        let answer = ctx.get_with_token(route, &huge);
        assert_problem(&answer, 431, &format!("100 kB token on {route}"));
    }
    ctx.assert_serving("after forged tokens");
}

// --- login brute force and user enumeration ---------------------------------

fn login_brute_force(ctx: &Ctx) {
    ctx.reset_login_throttle();
    let email = "brute.target@example.com";
    ctx.create_editor(email, "Brute Target");
    // Per email: 10 failures (SPEC §4 default), then 429 even for the right
    // password, with Retry-After within the 15-minute window.
    for i in 0..10 {
        let answer = ctx.login(email, &format!("wrong password {i:04}"));
        assert_problem(&answer, 401, &format!("failure {i}"));
    }
    for password in ["wrong password 9999", PASSWORD] {
        let answer = ctx.login(email, password);
        let body = assert_problem(&answer, 429, "past the per-email limit");
        assert_eq!(body["code"], "too_many_requests");
        let retry: u64 = answer
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=900).contains(&retry), "Retry-After {retry}");
    }
    // Another account from the same client is not locked by it.
    let other = ctx.login(&ctx.admin_email, &ctx.admin_password);
    assert_eq!(other.status, 200, "{}", other.text());

    // Per client IP: 100 failures over many emails, then every email is
    // refused, including one never tried.
    for i in 0..90 {
        let answer = ctx.login(&format!("spray{i}@example.com"), "a guessed password");
        assert_problem(&answer, 401, &format!("spray {i}"));
    }
    let fresh = ctx.login("never.tried@example.com", "a guessed password");
    assert_problem(&fresh, 429, "past the per-IP limit");
    // The gateway appends the peer's address to X-Forwarded-For and the
    // services take the last hop: a forged header does not reset the count.
    for forged in ["203.0.113.7", "203.0.113.7, 198.51.100.1", "unknown"] {
        let answer = ctx.send(
            "POST",
            "/auth/login",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", forged),
                ("X-Real-IP", "203.0.113.7"),
            ],
            Some(br#"{"email":"never.tried@example.com","password":"a guessed password"}"#),
        );
        assert_problem(&answer, 429, &format!("X-Forwarded-For {forged:?}"));
    }
    ctx.reset_login_throttle();
    ctx.assert_serving("after the brute force");
}

fn user_enumeration(ctx: &Ctx) {
    let known = "enumeration.target@example.com";
    ctx.create_editor(known, "Enumeration Target");
    ctx.reset_login_throttle();

    // The answers: same status, same headers and the same body but for the
    // request id.
    let strip = |raw: &Raw| {
        let mut body = raw.json();
        body.as_object_mut()
            .expect("problem object")
            .remove("request_id");
        let headers: Vec<(String, String)> = raw
            .headers
            .iter()
            .filter(|(k, _)| k != "date" && k != "x-request-id")
            .cloned()
            .collect();
        (raw.status, headers, body)
    };
    let unknown = ctx.login("nobody.at.all@example.com", "a wrong password");
    let wrong = ctx.login(known, "a wrong password");
    assert_problem(&unknown, 401, "unknown email");
    assert_eq!(
        strip(&unknown),
        strip(&wrong),
        "unknown email and wrong password must answer alike"
    );

    // Timing. The throttle would stop the experiment after 10 failures per
    // email and 100 per client IP (every request reaches auth from the
    // gateway's address, so the IP cannot vary): the throttle's counters
    // are deleted from Redis before every attempt, outside the measured
    // time. Unknown emails are all different. The two kinds alternate, and
    // which goes first flips every pair: auth's two hashing threads take
    // turns, so under load a fixed order measures the threads (or cores),
    // not the emails; the figures by turn show that effect.
    const TRIES: usize = 300;
    let mut unknown_times = Vec::with_capacity(TRIES);
    let mut known_times = Vec::with_capacity(TRIES);
    let mut by_turn = [Vec::with_capacity(TRIES), Vec::with_capacity(TRIES)];
    for i in 0..TRIES {
        let unknown = (format!("nobody{i}@example.com"), true);
        let known = (known.to_owned(), false);
        let pair = if i % 2 == 0 {
            [unknown, known]
        } else {
            [known, unknown]
        };
        for (turn, (email, is_unknown)) in pair.into_iter().enumerate() {
            ctx.reset_login_throttle();
            let started = Instant::now();
            let answer = ctx.login(&email, "a wrong password");
            let elapsed = started.elapsed();
            assert_eq!(answer.status, 401, "{email}: {}", answer.text());
            if is_unknown {
                unknown_times.push(elapsed);
            } else {
                known_times.push(elapsed);
            }
            by_turn[turn].push(elapsed);
        }
    }
    ctx.reset_login_throttle();
    let (unknown_mean, unknown_median) = mean_and_median(&mut unknown_times);
    let (known_mean, known_median) = mean_and_median(&mut known_times);
    let (first_mean, _) = mean_and_median(&mut by_turn[0]);
    let (second_mean, _) = mean_and_median(&mut by_turn[1]);
    eprintln!(
        "login timing over {TRIES} tries each through the gateway: unknown email mean {:.2} ms, \
         median {:.2} ms; known email + wrong password mean {:.2} ms, median {:.2} ms \
         (first of a pair mean {:.2} ms, second {:.2} ms)",
        ms(unknown_mean),
        ms(unknown_median),
        ms(known_mean),
        ms(known_median),
        ms(first_mean),
        ms(second_mean),
    );
}

fn mean_and_median(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let total: Duration = times.iter().sum();
    let count = u32::try_from(times.len()).expect("few samples");
    (total / count, times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// --- injection strings --------------------------------------------------------

/// SQL and script payloads, each a valid single line of text (≤ 100 chars).
const PAYLOADS: [&str; 10] = [
    "'; DROP TABLE reviews; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1' --",
    "1); SELECT pg_sleep(10); --",
    "$$; DROP TABLE editors; $$",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s%n %x",
    "Robert'); DELETE FROM subjects WHERE ('1'='1",
    "\\'; \\\\ -- \\x00 \u{202e}",
];

/// Percent-encodes everything but unreserved characters.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn injection_strings(ctx: &Ctx) {
    ctx.reset_login_throttle();
    let before_reviews = count_all(ctx, "/content", None);
    let before_subjects = count_all(ctx, "/content/subjects", None);

    // Editors whose name and email carry the payloads log in and are
    // listed verbatim; a payload as login email finds nobody.
    let emails = [
        "o'brien'--@example.com",
        "\"<script>alert(1)</script>\"@example.com",
        "x';drop-table-editors;--@example.com",
    ];
    let mut author = String::new();
    for (i, email) in emails.iter().enumerate() {
        let name = PAYLOADS[i % PAYLOADS.len()];
        ctx.create_editor(email, name);
        let login = ctx.login(email, PASSWORD);
        assert_json(&login, 200, &format!("login as {email}"));
        assert_eq!(login.json()["editor"]["email"], *email);
        assert_eq!(login.json()["editor"]["name"], name);
        if i == 0 {
            author = login.json()["access_token"]
                .as_str()
                .expect("token")
                .to_owned();
        }
    }
    for email in [
        "' OR '1'='1".to_owned(),
        format!("{}' --", ctx.admin_email),
        "' OR 1=1; --@x.y".to_owned(),
        format!("\u{0}{}", ctx.admin_email),
    ] {
        let answer = ctx.login(&email, "' OR '1'='1' --");
        assert_problem(&answer, 401, &format!("login as {email:?}"));
    }
    let editors = ctx.get_with_token("/auth/editors?limit=100", &ctx.admin);
    assert_json(&editors, 200, "editor list");
    for email in emails {
        assert!(
            editors.json()["data"]
                .as_array()
                .expect("data")
                .iter()
                .any(|e| e["email"] == email),
            "{email} listed"
        );
    }

    // Reviews with a payload in every text field.
    let mut slugs = Vec::new();
    let mut consistency = String::new();
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let short: String = payload.chars().take(50).collect();
        let review = json!({
            "subject": {
                "kind": "camera", "brand": payload, "model": format!("{payload} #{i}"),
                "specs": { "mount": short, "sensor_format": short }
            },
            "title": payload, "summary": payload, "body": format!("{payload}\n\n{payload}"),
            "rating": 7.5, "pros": [payload], "cons": [payload],
            "image_urls": [format!("https://img.example/{}.jpg?q={}", enc(payload), enc(payload))],
            "language": "en"
        });
        let created = ctx.send(
            "POST",
            "/reviews",
            &[
                ("Authorization", &format!("Bearer {author}")),
                ("Content-Type", "application/json"),
                (
                    "Idempotency-Key",
                    &format!("inj-{i}-';DROP-TABLE-idempotency_keys;--"),
                ),
            ],
            Some(review.to_string().as_bytes()),
        );
        assert_json(&created, 201, &format!("create with {payload:?}"));
        let view = created.json();
        assert_review_verbatim(&view, payload, i);
        slugs.push((
            view["slug"].as_str().expect("slug").to_owned(),
            view["subject"]["slug"]
                .as_str()
                .expect("subject slug")
                .to_owned(),
        ));
        consistency = created
            .header("x-consistency-token")
            .expect("consistency token")
            .to_owned();
    }
    let token_header = [("X-Consistency-Token", consistency.as_str())];
    let read = |target: &str| ctx.send("GET", target, &token_header, None);

    // Read back through the reader: the same strings, as JSON.
    for (i, (slug, subject)) in slugs.iter().enumerate() {
        let detail = read(&format!("/content/{slug}"));
        assert_json(&detail, 200, &format!("/content/{slug}"));
        assert_review_verbatim(&detail.json(), PAYLOADS[i], i);
        assert_eq!(detail.json()["editor"]["name"], PAYLOADS[0]);
        let page = read(&format!("/content/subjects/{subject}"));
        assert_json(&page, 200, &format!("/content/subjects/{subject}"));
    }
    let compare = read(&format!(
        "/content/compare?subjects={},{}",
        slugs[0].1, slugs[5].1
    ));
    assert_json(&compare, 200, "compare");
    let models: Vec<Value> = compare.json()["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|s| s["subject"]["model"].clone())
        .collect();
    assert!(
        models.contains(&json!(format!("{} #5", PAYLOADS[5]))),
        "{models:?}"
    );

    // Every parameter carrying every payload: 200 JSON or a 400 naming it,
    // never a 5xx, and a brand filter finds exactly its own review.
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let p = enc(payload);
        let by_brand = read(&format!("/content?brand={p}"));
        assert_json(&by_brand, 200, &format!("brand={payload:?}"));
        let data = by_brand.json()["data"].as_array().expect("data").clone();
        assert_eq!(data.len(), 1, "brand={payload:?}: {data:?}");
        assert_eq!(data[0]["title"], *payload);
        let search = read(&format!("/content?q={p}"));
        assert_json(&search, 200, &format!("q={payload:?}"));
        let subjects = read(&format!("/content/subjects?q={p}&brand={p}"));
        assert_json(&subjects, 200, &format!("subjects q={payload:?}"));
        for name in [
            "sort",
            "cursor",
            "limit",
            "rating_min",
            "rating_max",
            "published_after",
            "published_before",
            "editor",
            "kind",
            "language",
            "subject",
        ] {
            let answer = read(&format!("/content?{name}={p}"));
            let body = assert_problem(&answer, 400, &format!("{name}={payload:?}"));
            assert_eq!(body["errors"][0]["field"], name, "{name}={payload:?}");
        }
        let unknown = read(&format!("/content?{p}=1"));
        assert_problem(&unknown, 400, &format!("parameter named {payload:?}"));
        for target in [
            format!("/content/{p}"),
            format!("/content/subjects/{p}"),
            format!("/reviews/{p}"),
            format!("/auth/editors/{p}"),
        ] {
            let answer = ctx.get_with_token(&target, &ctx.admin);
            assert_problem(&answer, 404, &target);
        }
        let compare = read(&format!("/content/compare?subjects={p},{}", slugs[i].1));
        assert_clean_4xx(&compare, &format!("compare with {payload:?}"));
        for target in [
            format!("/reviews?cursor={p}"),
            format!("/reviews?limit={p}"),
            format!("/auth/editors?cursor={p}"),
            format!("/auth/editors?limit={p}"),
        ] {
            let answer = ctx.get_with_token(&target, &ctx.admin);
            assert_problem(&answer, 400, &target);
        }
    }

    // Headers carrying the payloads: refused or ignored, never reflected.
    let first_id = {
        let detail = read(&format!("/content/{}", slugs[0].0));
        detail.json()["id"].as_i64().expect("review id")
    };
    for payload in PAYLOADS {
        let answer = ctx.send("GET", "/content", &[("X-Consistency-Token", payload)], None);
        let body = assert_problem(&answer, 400, &format!("consistency token {payload:?}"));
        assert_eq!(body["code"], "invalid_consistency_token");
        let answer = ctx.send(
            "GET",
            "/content?limit=1",
            &[("X-Request-Id", payload)],
            None,
        );
        assert_json(&answer, 200, &format!("request id {payload:?}"));
        assert_ne!(answer.header("x-request-id"), Some(payload));
        let answer = ctx.send(
            "PATCH",
            &format!("/reviews/{first_id}"),
            &[
                ("Authorization", &format!("Bearer {author}")),
                ("Content-Type", "application/json"),
                ("If-Match", payload),
            ],
            Some(br#"{"summary":"changed"}"#),
        );
        assert_clean_4xx(&answer, &format!("If-Match {payload:?}"));
    }

    // Nothing was executed: the tables are there and hold what was written.
    let after_reviews = count_all(ctx, "/content", Some(&consistency));
    assert_eq!(after_reviews, before_reviews + PAYLOADS.len(), "reviews");
    let after_subjects = count_all(ctx, "/content/subjects", Some(&consistency));
    assert_eq!(after_subjects, before_subjects + PAYLOADS.len(), "subjects");
    let own = ctx.get_with_token("/reviews?limit=100", &author);
    assert_json(&own, 200, "the author's reviews");
    assert_eq!(
        own.json()["data"].as_array().map(Vec::len),
        Some(PAYLOADS.len())
    );
    ctx.assert_serving("after injection strings");
}

fn assert_review_verbatim(view: &Value, payload: &str, i: usize) {
    let short: String = payload.chars().take(50).collect();
    assert_eq!(view["title"], payload);
    assert_eq!(view["summary"], payload);
    assert_eq!(view["pros"][0], payload);
    assert_eq!(view["cons"][0], payload);
    assert_eq!(view["subject"]["brand"], payload);
    assert_eq!(view["subject"]["model"], format!("{payload} #{i}"));
    assert_eq!(view["subject"]["specs"]["mount"], short.as_str());
    if !view["body"].is_null() {
        assert_eq!(view["body"], format!("{payload}\n\n{payload}"));
    }
}

/// How many items a paged list holds, following its cursors.
fn count_all(ctx: &Ctx, path: &str, consistency: Option<&str>) -> usize {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(c) => format!("{path}?limit=100&cursor={}", enc(c)),
            None => format!("{path}?limit=100"),
        };
        let headers: Vec<(&str, &str)> = consistency
            .map(|t| vec![("X-Consistency-Token", t)])
            .unwrap_or_default();
        let page = ctx.send("GET", &target, &headers, None);
        assert_json(&page, 200, &target);
        let body = page.json();
        total += body["data"].as_array().map_or(0, Vec::len);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return total,
        }
    }
}

// --- malformed and oversized requests -----------------------------------------

fn malformed_requests(ctx: &Ctx) {
    let token = ctx.forger.token(
        ctx.create_editor("malformed.sender@example.com", "Malformed Sender"),
        |_| {},
    );
    let bearer = format!("Bearer {token}");
    let json_headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];

    // Oversized headers: the gateway's own 431 (SPEC §10.2).
    for (what, headers) in [
        ("one 20 kB header", vec![("X-Big", "a".repeat(20_000))]),
        ("one 100 kB header", vec![("X-Big", "a".repeat(100_000))]),
        (
            "2,000 headers",
            (0..2_000).map(|i| ("X-Many", format!("{i}"))).collect(),
        ),
        (
            "a 100 kB cookie",
            vec![("Cookie", format!("a={}", "b".repeat(100_000)))],
        ),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = ctx.send("GET", "/content", &headers, None);
        assert_problem(&answer, 431, what);
    }
    // Long query strings: 1 kB reaches the reader, which names `q`; 10 kB
    // and more is longer than the gateway reads as a request line (8 KiB).
    let answer = ctx.get(&format!("/content?q={}", "a".repeat(1_000)));
    let body = assert_problem(&answer, 400, "1 kB q");
    assert_eq!(body["errors"][0]["field"], "q");
    for target in [
        format!("/content?q={}", "a".repeat(10_000)),
        format!("/content?q={}", "a".repeat(100_000)),
        format!("/content/{}", "a".repeat(100_000)),
        format!("/reviews?cursor={}", "a".repeat(100_000)),
    ] {
        let answer = ctx.get(&target);
        assert_problem(
            &answer,
            414,
            &format!("{} kB request line", target.len() / 1000),
        );
    }
    // As many parameters as fit in the gateway's 8 KiB request line reach
    // the reader, which refuses them by name.
    let many = (0..800)
        .map(|i| format!("p{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let answer = ctx.get(&format!("/content?{many}"));
    assert_problem(&answer, 400, "800 parameters");
    let repeated = vec!["q=a"; 1_500].join("&");
    let answer = ctx.get(&format!("/content?{repeated}"));
    assert_problem(&answer, 400, "q 1,500 times");

    // Oversized bodies: the gateway refuses past 1 MiB.
    let big = format!(r#"{{"title":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    for target in ["/reviews", "/auth/login"] {
        let answer = ctx.send("POST", target, &json_headers, Some(big.as_bytes()));
        assert_problem(&answer, 413, &format!("2 MiB body to {target}"));
    }
    // Under the gateway's limit but past SPEC's field limits: 422.
    let long = json!({
        "subject": { "kind": "camera", "brand": "Big", "model": "Body" },
        "title": "Long", "body": "x".repeat(900_000)
    });
    let answer = ctx.send(
        "POST",
        "/reviews",
        &json_headers,
        Some(long.to_string().as_bytes()),
    );
    let body = assert_problem(&answer, 422, "900 kB review body");
    assert_eq!(body["errors"][0]["field"], "body");

    // Deep nesting and hostile JSON: 400 or 422, never a crash.
    let deep_array = "[".repeat(100_000);
    let deep_object = r#"{"a":"#.repeat(50_000);
    let deep_in_field = format!(
        r#"{{"subject":{{"kind":"camera","brand":"B","model":"M","specs":{}}},"title":"t","body":"b"}}"#,
        "[".repeat(100_000)
    );
    let hostile: [(&str, &[u8]); 12] = [
        ("100k [", deep_array.as_bytes()),
        ("50k nested objects", deep_object.as_bytes()),
        ("100k [ inside a field", deep_in_field.as_bytes()),
        ("invalid UTF-8", b"{\"title\":\"\xff\xfe\xfd\",\"body\":\"b\"}"),
        ("overlong UTF-8", b"{\"title\":\"\xc0\xaf\",\"body\":\"b\"}"),
        ("lone surrogate", br#"{"title":"\ud800","body":"b"}"#),
        ("NUL escape in a title", br#"{"subject":{"kind":"camera","brand":"B","model":"M"},"title":"a\u0000b","body":"b"}"#),
        ("a number past f64", br#"{"subject":{"kind":"camera","brand":"B","model":"M"},"title":"t","body":"b","rating":1e400}"#),
        ("rating NaN", br#"{"subject":{"kind":"camera","brand":"B","model":"M"},"title":"t","body":"b","rating":NaN}"#),
        ("duplicate keys", br#"{"subject":{"kind":"camera","brand":"B","model":"M"},"title":"t","title":"u","body":"b"}"#),
        ("not JSON", b"<xml>hello</xml>"),
        ("empty", b""),
    ];
    for (what, body) in hostile {
        let answer = ctx.send("POST", "/reviews", &json_headers, Some(body));
        assert_clean_4xx(&answer, &format!("{what} to /reviews"));
        let answer = ctx.send(
            "POST",
            "/auth/login",
            &[("Content-Type", "application/json")],
            Some(body),
        );
        assert_clean_4xx(&answer, &format!("{what} to /auth/login"));
    }
    // NUL in an email is not an account (PostgreSQL text cannot hold it).
    let answer = ctx.send(
        "POST",
        "/auth/login",
        &[("Content-Type", "application/json")],
        Some(br#"{"email":"a\u0000@example.com","password":"a long enough password"}"#),
    );
    assert_problem(&answer, 401, "NUL in the login email");

    // Wrong content types: 415.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("text/html"),
    ] {
        let mut headers = vec![("Authorization", bearer.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        let body =
            br#"{"subject":{"kind":"camera","brand":"B","model":"M"},"title":"t","body":"b"}"#;
        let answer = ctx.send("POST", "/reviews", &headers, Some(body));
        assert_problem(&answer, 415, &format!("Content-Type {content_type:?}"));
    }
    // What the services' HTTP parser (actix-http) would refuse before any of
    // our code runs, with its own bare 4xx and an empty body: the gateway
    // refuses it first, as problem+json with a request id (SPEC §10.2).
    let small_headers: Vec<(String, String)> = (0..200)
        .map(|i| (format!("X-H{i}"), "a".to_owned()))
        .collect();
    let control = vec![("Idempotency-Key".to_owned(), "a\u{7f}b".to_owned())];
    let control_type = vec![(
        "Content-Type".to_owned(),
        "application/json\u{1}".to_owned(),
    )];
    let long_header = vec![("X-Long".to_owned(), "a".repeat(10 * 1024))];
    for (what, headers, status) in [
        (
            "200 small headers (actix reads at most 96)",
            small_headers,
            431,
        ),
        ("a DEL byte in Idempotency-Key", control, 400),
        ("a control byte in Content-Type", control_type, 400),
        ("a 10 KiB header line", long_header, 431),
    ] {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = ctx.send("POST", "/reviews", &headers, Some(b"{}"));
        assert_problem(&answer, status, what);
    }
    let long_target = format!("/content?q={}", "a".repeat(9 * 1024));
    assert_problem(&ctx.get(&long_target), 414, "a 9 KiB request line");
    // Invalid UTF-8 in parameters: refused, not searched for as U+FFFD.
    for target in [
        "/content?q=%ff%fe",
        "/content?brand=caf%e9",
        "/content/subjects?q=%c0%af",
    ] {
        let answer = ctx.get(target);
        assert_problem(&answer, 400, target);
    }
    let answer = ctx.get("/content/%ff%fe");
    assert_problem(&answer, 404, "invalid UTF-8 slug");
    // Request smuggling shapes: the gateway refuses them.
    for raw in [
        &b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"[..],
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde",
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    ] {
        let answer = send_raw(ctx.port(), raw);
        assert_problem(&answer, 400, "smuggling");
    }
    ctx.assert_serving("after malformed requests");
}

// --- request targets only the gateway sees ---------------------------------------

/// Request lines the services' HTTP parser refuses (raw non-ASCII bytes,
/// `<`, `>`) or that nginx refuses before it knows the path (bad escapes,
/// control bytes, garbage) are answered by the gateway as problem+json.
fn gateway_request_targets(ctx: &Ctx) {
    let targets: [&[u8]; 12] = [
        b"/content?q=caf\xc3\xa9",
        b"/content/c\xc3\xa1mara",
        b"/content?q=\xff\xfe",
        b"/content?q=<script>alert(1)</script>",
        b"/content/<script>",
        b"/content?q=\"x\"",
        b"/content/a`b",
        b"/reviews/a%zz",
        b"/content/a%",
        b"/content?q=a\x7fb",
        b"/content?q=a\x01b",
        b"/auth/editors/<1>",
    ];
    for target in targets {
        let answer = request(ctx.port(), "GET", target, &[], None);
        let body = assert_problem(&answer, 400, &String::from_utf8_lossy(target));
        assert_eq!(body["code"], "bad_request");
    }
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /content HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /content HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET\t/content HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /content HTTP/1.1\r\n\r\n",
        b"GET /content/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let answer = send_raw(ctx.port(), raw);
        let body = assert_problem(&answer, 400, &String::from_utf8_lossy(raw));
        assert_eq!(body["code"], "bad_request");
    }
    // An unsatisfiable range on a document: ranges are ignored, not a 416.
    let answer = ctx.send(
        "GET",
        "/docs/auth.json",
        &[("Range", "bytes=999999999-")],
        None,
    );
    assert_json(&answer, 200, "a range past the end of /docs/auth.json");
    // The error pages are not reachable as paths.
    let answer = ctx.get("/.gateway-errors/bad_request");
    assert_problem(&answer, 404, "the error page as a path");
    // What browsers send unescaped in a query still works.
    for target in [
        "/content?q=a|b",
        "/content?q=%7Bx%7D",
        "/content?q={x}",
        "/content?q=a^b",
    ] {
        let answer = ctx.get(target);
        assert_json(&answer, 200, target);
    }
    ctx.assert_serving("after odd request targets");
}

// --- slow clients ------------------------------------------------------------

/// How long a server may keep a client that trickles one byte a second.
/// The configured bounds are 5–10 s (actix's request head timeout, the
/// services' body read timeout, nginx's client_header_timeout) plus
/// nginx's 30 s lingering close at worst: this proves "not forever".
const SLOW_BOUND: Duration = Duration::from_secs(90);

/// One slow client: where it connects, what it sends at once, what it then
/// trickles, and the status expected if the server answers before closing.
struct SlowCase<'a> {
    what: &'static str,
    port: u16,
    head: Vec<u8>,
    trickled: &'a [u8],
    expected: Option<u16>,
}

/// What a slow client saw.
#[derive(Debug)]
struct SlowOutcome {
    closed_after: Duration,
    answer: Option<Raw>,
}

/// Sends `head` at once, then `trickle` one byte a second, until the
/// server closes the connection (or `SLOW_BOUND` passes: a failure).
fn trickle(port: u16, head: &[u8], trickle: &[u8]) -> SlowOutcome {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    stream.write_all(head).expect("head sent");
    let mut received = Vec::new();
    let mut next = 0;
    loop {
        assert!(
            started.elapsed() < SLOW_BOUND,
            "port {port}: still open after {SLOW_BOUND:?}"
        );
        if next < trickle.len() && stream.write_all(&trickle[next..=next]).is_err() {
            break;
        }
        next += 1;
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    SlowOutcome {
        closed_after: started.elapsed(),
        answer: parse(&received),
    }
}

fn slow_clients(ctx: &Ctx) {
    let token = ctx.forger.token(
        ctx.create_editor("slow.writer@example.com", "Slow Writer"),
        |_| {},
    );
    let gateway = ctx.port();
    let (writer, auth, reader) = (
        ctx.layout.writer,
        ctx.layout.auth,
        ctx.layout.readers[REGION][0],
    );
    let slow_head = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n").into_bytes();
    let header_bytes = format!("X-Slow: {}", "a".repeat(200)).into_bytes();
    let body_head = |path: &str, auth: bool| {
        let auth = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 100000\r\n\r\n"
        )
        .into_bytes()
    };
    let body_bytes = format!("{{\"title\":\"{}", "a".repeat(200)).into_bytes();
    let get_with_body =
        b"GET /content HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();

    let case = |what, port, head, trickled, expected| SlowCase {
        what,
        port,
        head,
        trickled,
        expected,
    };
    let cases = [
        case(
            "gateway, slow headers",
            gateway,
            slow_head("/content"),
            &header_bytes,
            None,
        ),
        case(
            "gateway, slow login body",
            gateway,
            body_head("/auth/login", false),
            &body_bytes,
            Some(408),
        ),
        case(
            "gateway, slow review body",
            gateway,
            body_head("/reviews", true),
            &body_bytes,
            Some(408),
        ),
        case(
            "gateway, slow body on a read",
            gateway,
            get_with_body.clone(),
            &body_bytes,
            Some(200),
        ),
        case(
            "writer, slow headers",
            writer,
            slow_head("/reviews"),
            &header_bytes,
            Some(408),
        ),
        case(
            "writer, slow review body",
            writer,
            body_head("/reviews", true),
            &body_bytes,
            Some(408),
        ),
        case(
            "auth, slow login body",
            auth,
            body_head("/auth/login", false),
            &body_bytes,
            Some(408),
        ),
        case(
            "reader, slow headers",
            reader,
            slow_head("/content"),
            &header_bytes,
            Some(408),
        ),
        case(
            "reader, slow body on a read",
            reader,
            get_with_body,
            &body_bytes,
            Some(200),
        ),
    ];
    let outcomes: Vec<(&SlowCase, SlowOutcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| (c, scope.spawn(move || trickle(c.port, &c.head, c.trickled))))
            .collect();
        // Meanwhile everybody else is served as usual.
        for i in 0..10 {
            std::thread::sleep(Duration::from_secs(1));
            let list = ctx.get(&format!("/content?limit={}", i + 1));
            assert_eq!(list.status, 200, "a read while slow clients hang on");
            let direct = request(reader, "GET", b"/content", &[], None);
            assert_eq!(
                direct.status, 200,
                "a direct read while slow clients hang on"
            );
            let write = ctx.get_with_token("/reviews", &token);
            assert_eq!(write.status, 200, "the writer while slow clients hang on");
        }
        handles
            .into_iter()
            .map(|(c, handle)| match handle.join() {
                Ok(outcome) => (c, outcome),
                Err(_) => panic!("slow client {:?} was not let go", c.what),
            })
            .collect()
    });
    for (SlowCase { what, expected, .. }, outcome) in outcomes {
        eprintln!(
            "slow client {what}: closed after {:.1} s, answered {:?}",
            outcome.closed_after.as_secs_f64(),
            outcome.answer.as_ref().map(|a| a.status)
        );
        if let (Some(expected), Some(answer)) = (*expected, &outcome.answer) {
            assert_eq!(answer.status, expected, "{what}: {}", answer.text());
            if expected >= 400 && answer.header("content-length") != Some("0") {
                assert_problem(answer, expected, what);
            }
        }
    }
    ctx.assert_serving("after slow clients");
}

// --- HTTP on the wire -----------------------------------------------------------

/// An answer read off the wire, whatever it is.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        format!(
            "{} {:?} {}",
            self.status,
            self.header("content-type"),
            body.chars().take(400).collect::<String>()
        )
    }
}

/// One request on a new connection (`Connection: close`).
fn request(
    port: u16,
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Raw {
    let mut raw = Vec::new();
    raw.extend_from_slice(method.as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body.unwrap_or_default());
    send_raw(port, &raw)
}

/// Sends `bytes` as they are and reads the answer until the server closes.
fn send_raw(port: u16, bytes: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    // A server may answer (400, 413) and stop reading before it has all of
    // a large request; what it answered is still there to read.
    let _ = stream.write_all(bytes);
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    parse(&received).unwrap_or_else(|| {
        let start: Vec<u8> = bytes.iter().copied().take(100).collect();
        panic!(
            "port {port}: no HTTP answer to {:?}",
            String::from_utf8_lossy(&start)
        )
    })
}

fn parse(received: &[u8]) -> Option<Raw> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&received[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = received[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(Raw {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let Some(chunk) = rest.get(start..start + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        rest = rest.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// A JSON answer with the expected status, as clients parse it: never
/// HTML, never sniffable.
fn assert_json(answer: &Raw, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert!(
        !answer.json().is_null(),
        "{what}: not JSON: {}",
        answer.text()
    );
}

/// A clean refusal: the expected status, problem+json that agrees with it,
/// a request id, never HTML. Returns the problem.
fn assert_problem(answer: &Raw, status: u16, what: &str) -> Value {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
    assert_clean_4xx(answer, what)
}

/// Any 4xx, as problem+json.
fn assert_clean_4xx(answer: &Raw, what: &str) -> Value {
    assert!(
        (400..500).contains(&answer.status),
        "{what}: {}",
        answer.text()
    );
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: content type {content_type:?}: {}",
        answer.text()
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert!(
        answer.header("x-request-id").is_some(),
        "{what}: request id"
    );
    let problem = answer.json();
    assert_eq!(
        problem["status"].as_u64(),
        Some(u64::from(answer.status)),
        "{what}: {}",
        answer.text()
    );
    assert!(problem["code"].is_string(), "{what}: {}", answer.text());
    problem
}
