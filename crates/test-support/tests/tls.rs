//! The services reach PostgreSQL over TLS that verifies the server, as
//! deployed (`sslmode=verify-full`): the cluster's servers refuse plain
//! text on TCP, the URLs handed to services carry the cluster's CA, a server
//! the CA did not sign is refused (503, never plain text), and the
//! connections the services and the replica open are TLS by the server's
//! own account (`pg_stat_ssl`).

use std::time::Duration;

use deadpool_postgres::Pool;
use local_stack::servers::{LocalCa, url_encode_path};
use platform::db::{DbError, Role};
use platform::settings::{DatabaseSettings, Secret};
use test_support::{TestDatabase, cluster, services};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A pool as a service builds it, on `url`.
fn pool_on(url: String, application_name: &str) -> Pool {
    let settings = DatabaseSettings {
        url: Secret::new(url),
        connect_timeout_ms: 5_000,
        wait_timeout_ms: 5_000,
        ..DatabaseSettings::default()
    };
    platform::db::pool(&settings, application_name, Role::Any)
        .unwrap_or_else(|e| panic!("the pool builds: {e}"))
}

/// Whether the session of `application_name` on `db`'s primary is TLS, by
/// the server's own account.
async fn sessions_over_tls(db: &TestDatabase, application_name: &str) -> Vec<bool> {
    db.primary_client()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1 AND a.datname = current_database()",
            &[&application_name],
        )
        .await
        .expect("pg_stat_ssl reads")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_server_whose_certificate_another_ca_signed_is_unavailable_not_plain_text() {
    let db = cluster().fresh_database().await;
    let other = std::env::temp_dir().join(format!("rcr-other-ca-{}", std::process::id()));
    let other_ca = LocalCa::ensure(&other, "not the cluster's CA").expect("a second CA");
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert={}",
        cluster().primary().port(),
        db.name(),
        url_encode_path(&other_ca.cert())
    );
    let pool = pool_on(url, "tls-wrong-ca");

    let refused = pool.get().await.map(|_| ()).expect_err("an unknown issuer");
    let _ = std::fs::remove_dir_all(&other);

    let error = DbError::from(refused);
    assert!(
        matches!(error, DbError::Unavailable(_)),
        "a failed verification is `unavailable` (503): {error}"
    );
    assert_eq!(error.to_problem().status().as_u16(), 503);
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    assert!(sessions_over_tls(&db, "tls-wrong-ca").await.is_empty());
}

#[tokio::test]
async fn a_server_that_refuses_tls_is_an_error_and_the_client_sends_nothing_in_plain_text() {
    // A server that answers the SSLRequest with `N` (no TLS here), then
    // records whatever the client sends next: a startup message would be
    // the fall-back to plain text.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("a client");
        let mut ssl_request = [0_u8; 8];
        socket
            .read_exact(&mut ssl_request)
            .await
            .expect("SSLRequest");
        socket.write_all(b"N").await.expect("refuses TLS");
        let mut after = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut after)).await;
        (ssl_request, after)
    });
    let dir = std::env::temp_dir().join(format!("rcr-refusing-ca-{}", std::process::id()));
    let ca = LocalCa::ensure(&dir, "any CA").expect("a CA");
    let url = format!(
        "postgres://postgres@127.0.0.1:{port}/rcr?sslmode=verify-full&sslrootcert={}",
        url_encode_path(&ca.cert())
    );

    let refused = pool_on(url, "tls-refused")
        .get()
        .await
        .map(|_| ())
        .expect_err("no TLS, no connection");
    let _ = std::fs::remove_dir_all(&dir);

    assert!(matches!(DbError::from(refused), DbError::Unavailable(_)));
    let (ssl_request, after) = server.await.expect("the fake server ends");
    // Length 8, then the SSLRequest code 80877103.
    assert_eq!(ssl_request, [0, 0, 0, 8, 4, 210, 22, 47]);
    assert!(after.is_empty(), "sent in plain text: {after:?}");
}

#[tokio::test]
async fn verify_full_accepts_the_host_named_localhost_or_127_0_0_1() {
    let db = cluster().fresh_database().await;
    for host in ["127.0.0.1", "localhost"] {
        let pool = pool_on(db.primary_url_for_host(host), "tls-host-names");
        let client = pool
            .get()
            .await
            .unwrap_or_else(|e| panic!("verify-full with host {host}: {e}"));
        client.simple_query("SELECT 1").await.expect("a query");
    }
}

#[tokio::test]
async fn verify_full_refuses_a_name_the_certificate_lacks_which_verify_ca_accepts() {
    let db = cluster().fresh_database().await;
    // `hostaddr` connects to the cluster while TLS checks the name `host`.
    let url = |mode: &str| {
        format!(
            "postgres://postgres@db.example.invalid:{}/{}?hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            cluster().primary().port(),
            db.name(),
            url_encode_path(cluster().ca_cert())
        )
    };

    let refused = pool_on(url("verify-full"), "tls-wrong-name")
        .get()
        .await
        .map(|_| ())
        .expect_err("the certificate does not name db.example.invalid");
    let chain_only = pool_on(url("verify-ca"), "tls-chain-only");
    let client = chain_only
        .get()
        .await
        .expect("verify-ca checks the chain only");

    let refused = DbError::from(refused).to_string();
    assert!(
        refused.contains("not valid for name \"db.example.invalid\""),
        "{refused}"
    );
    client.simple_query("SELECT 1").await.expect("a query");
    assert_eq!(sessions_over_tls(&db, "tls-chain-only").await, [true]);
}

#[actix_web::test]
async fn the_services_and_the_replica_stream_connect_over_tls() {
    let cluster = cluster();
    let db = cluster.fresh_database().await;
    let keys = services::KeysDir::generate("tls");
    let auth = services::start_auth(services::auth_settings(cluster, &db, &keys)).await;
    let writer = services::start_writer(services::writer_settings(&db, &auth)).await;
    let http = awc::Client::default();
    for address in [&auth.address, &writer.address] {
        let ready = http
            .get(format!("{address}/readyz"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(ready.status(), 200, "{address}/readyz");
    }

    for service in ["auth", "reviews-writer"] {
        let sessions = sessions_over_tls(&db, service).await;
        assert!(!sessions.is_empty(), "{service} has no session");
        assert!(sessions.iter().all(|tls| *tls), "{service}: {sessions:?}");
    }
    let walsenders: Vec<bool> = db
        .primary_client()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.backend_type = 'walsender'",
            &[],
        )
        .await
        .expect("pg_stat_ssl reads")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(walsenders, [true], "the replica streams over TLS");
    let conninfo: String = db
        .replica_client()
        .await
        .query_one("SELECT conninfo FROM pg_stat_wal_receiver", &[])
        .await
        .expect("the replica's wal receiver")
        .get(0);
    assert!(conninfo.contains("sslmode=verify-full"), "{conninfo}");
}

#[tokio::test]
async fn the_servers_refuse_plain_text_on_tcp() {
    let db = cluster().fresh_database().await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
        cluster().primary().port(),
        db.name()
    );

    let refused = pool_on(url, "plain-text")
        .get()
        .await
        .map(|_| ())
        .expect_err("pg_hba.conf has no line for plain-text TCP");
    // The server's reason: "no pg_hba.conf entry for host …, no encryption".

    let reason = match &refused {
        deadpool_postgres::PoolError::Backend(e) => e.as_db_error().map(|db| db.message()),
        _ => None,
    };
    assert!(
        reason.is_some_and(|r| r.contains("no encryption")),
        "{reason:?} ({refused})"
    );
}
