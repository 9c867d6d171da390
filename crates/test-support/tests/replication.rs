//! Proves the cluster is what it claims: writes on the primary stream to the
//! replica, the replica is read-only, Redis answers, and a committed row
//! survives a restart of the primary.

use std::time::{Duration, Instant};

use test_support::{StopMode, cluster, dedicated_cluster};

/// Generous: replication on a loaded CI machine can lag by seconds.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_row_committed_on_the_primary_appears_on_the_replica() {
    let db = cluster().fresh_database().await;
    let primary = db.primary_client().await;
    primary
        .batch_execute(
            "CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL);
             INSERT INTO probe VALUES (1, 'written on the primary');",
        )
        .await
        .expect("the primary takes writes");

    let replica = db.replica_client().await;
    let deadline = Instant::now() + DEADLINE;
    let note = loop {
        // Until the table itself has replicated, the query fails: retry too.
        if let Ok(Some(row)) = replica
            .query_opt("SELECT note FROM probe WHERE id = 1", &[])
            .await
        {
            break row.get::<_, String>(0);
        }
        assert!(
            Instant::now() < deadline,
            "the row never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(note, "written on the primary");
}

#[tokio::test]
async fn the_replica_refuses_writes() {
    let db = cluster().fresh_database().await;
    let replica = db.replica_client().await;

    let error = replica
        .batch_execute("CREATE TABLE nope (id int)")
        .await
        .expect_err("a hot standby is read-only");

    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
}

#[tokio::test]
async fn an_insert_on_the_replica_fails_with_read_only_sql_transaction() {
    let db = cluster().fresh_database().await;
    db.primary_client()
        .await
        .batch_execute("CREATE TABLE probe (id int)")
        .await
        .expect("the primary takes DDL");
    let replica = db.replica_client().await;
    let deadline = Instant::now() + DEADLINE;
    let error = loop {
        let error = replica
            .batch_execute("INSERT INTO probe VALUES (1)")
            .await
            .expect_err("a hot standby is read-only");
        // 42P01 (undefined table) until the CREATE TABLE has replicated.
        if error.code() != Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
            break error;
        }
        assert!(
            Instant::now() < deadline,
            "the table never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    assert_eq!(error.code().map(|c| c.code()), Some("25006"));
}

#[tokio::test]
async fn every_fresh_database_is_migrated_and_its_own() {
    let first = cluster().fresh_database().await;
    let second = cluster().fresh_database().await;
    assert_ne!(first.name(), second.name());

    let migrated = first
        .primary_client()
        .await
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("the template's migration history was copied")
        .get::<_, i64>(0);
    assert!(migrated >= 1);
}

#[tokio::test]
async fn redis_answers_ping() {
    let client = redis::Client::open(cluster().redis().url()).expect("a valid redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis accepts connections");

    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .expect("PING works");

    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn a_committed_row_survives_a_fast_restart_of_the_primary() {
    let cluster = dedicated_cluster();
    let db = cluster.fresh_database().await;
    db.primary_client()
        .await
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7);")
        .await
        .expect("the primary takes writes");

    cluster.primary().stop(StopMode::Fast);
    assert!(
        db.try_primary_client().await.is_err(),
        "a stopped primary must refuse connections"
    );
    cluster.primary().start();

    let row = db
        .primary_client()
        .await
        .query_one("SELECT id FROM kept", &[])
        .await
        .expect("the row is still there");
    assert_eq!(row.get::<_, i32>(0), 7);
}

#[tokio::test]
async fn an_acknowledged_commit_survives_a_crash_of_the_primary_and_reaches_the_replica() {
    let cluster = dedicated_cluster();
    let db = cluster.fresh_database().await;
    db.primary_client()
        .await
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (8);")
        .await
        .expect("the primary takes writes");

    cluster.primary().stop(StopMode::Immediate);
    cluster.primary().start();

    let row = db
        .primary_client()
        .await
        .query_one("SELECT id FROM kept", &[])
        .await
        .expect("crash recovery kept the acknowledged commit");
    assert_eq!(row.get::<_, i32>(0), 8);

    // The replica reconnects to the restarted primary and keeps streaming.
    db.primary_client()
        .await
        .batch_execute("INSERT INTO kept VALUES (9)")
        .await
        .expect("the restarted primary takes writes");
    let replica = db.replica_client().await;
    let deadline = Instant::now() + DEADLINE;
    while replica
        .query_opt("SELECT 1 FROM kept WHERE id = 9", &[])
        .await
        .ok()
        .flatten()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the replica never caught up after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_paused_replica_does_not_see_new_rows_until_resumed() {
    let cluster = dedicated_cluster();
    let db = cluster.fresh_database().await;
    let primary = db.primary_client().await;
    primary
        .batch_execute("CREATE TABLE seen (id int)")
        .await
        .expect("the primary takes DDL");
    let replica = db.replica_client().await;
    let deadline = Instant::now() + DEADLINE;
    while replica.query("SELECT 1 FROM seen", &[]).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the table never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.replica().pause_replay().await;
    primary
        .batch_execute("INSERT INTO seen VALUES (1)")
        .await
        .expect("the primary takes writes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let while_paused = replica
        .query("SELECT 1 FROM seen", &[])
        .await
        .expect("reads work while replay is paused");
    assert!(while_paused.is_empty(), "replay was paused");

    cluster.replica().resume_replay().await;
    while replica
        .query("SELECT 1 FROM seen", &[])
        .await
        .expect("reads work")
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the row never arrived after resuming"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stopped_redis_comes_back_on_the_same_port() {
    let cluster = dedicated_cluster();
    let port = cluster.redis().port();

    cluster.redis().stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "a stopped Redis must refuse connections"
    );
    cluster.redis().start();

    assert_eq!(cluster.redis().port(), port);
    let client = redis::Client::open(cluster.redis().url()).expect("a valid redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("the restarted Redis accepts connections");
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .expect("PING works");
    assert_eq!(pong, "PONG");
}
