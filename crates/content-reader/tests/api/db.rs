//! How the reader talks to PostgreSQL: its connections' settings, and
//! which error statements sent together report.

use crate::helpers::spawn_app;

#[actix_web::test]
async fn pool_connections_run_with_the_statement_timeout_and_without_jit() {
    let app = spawn_app().await;
    let mut database = app.reader_settings.database.clone();
    database.url = platform::settings::Secret::new(app.db.replica_url());
    let pool =
        platform::db::pool(&database, "settings-test", platform::db::Role::Any).expect("pool");
    let client = pool.get().await.expect("connection");
    let show = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .expect("shown")
                .get::<_, String>(0)
        }
    };
    // A search over a large data set crossed jit_above_cost and spent most
    // of its time compiling (docs/BENCHMARKS.md, "Search in tiers").
    assert_eq!(show("jit").await, "off");
    // SHOW names whole seconds in seconds.
    let timeout = app.reader_settings.database.statement_timeout_ms;
    let expected = if timeout % 1000 == 0 {
        format!("{}s", timeout / 1000)
    } else {
        format!("{timeout}ms")
    };
    assert_eq!(show("statement_timeout").await, expected);
}

#[actix_web::test]
async fn statements_sent_together_report_the_error_that_aborted_the_transaction() {
    let app = spawn_app().await;
    let mut client = app.db.replica_client().await;
    // The first statement fails (what a statement timeout does to a page
    // query); the one sent with it then finds the transaction aborted
    // (25P02). Whatever order they are polled in, the first's error is
    // the one reported: a timeout must stay a 503, not become a 500.
    for _ in 0..20 {
        let tx = client.transaction().await.expect("transaction");
        let failed = content_reader::queries::together(
            tx.query("SELECT 1 / 0", &[]),
            tx.query("SELECT 1", &[]),
        )
        .await
        .expect_err("division by zero");
        assert_eq!(
            failed.code(),
            Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO),
            "{failed}"
        );
        tx.rollback().await.expect("rolled back");
    }
}
