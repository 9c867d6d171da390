//! The change feed (SPEC §10.4): `GET /content/changes?since=` lists each
//! write with its surrogate keys once the region's replica holds it, says
//! when a consumer must reset, and refuses bad parameters by name.

use std::time::{Duration, Instant};

use crate::helpers::{EVENTUALLY, ReaderAnswer as _, spawn_app, spawn_app_on};

/// `version` of a feed answer.
fn version(answer: &crate::helpers::Answer) -> i64 {
    answer.body["version"].as_i64().expect("version")
}

#[actix_web::test]
async fn the_feed_lists_each_write_with_its_keys_and_resets_a_consumer_from_before_it() {
    let app = spawn_app().await;
    // The test database's versions before the first write have no row.
    let start = app.get("/content/changes?since=0").await;
    assert_eq!(start.status.as_u16(), 200, "{:?}", start.body);
    assert_eq!(start.body["reset"], true, "{:?}", start.body);
    assert!(start.data().is_empty());
    let v0 = version(&start);

    let written = app.publish_titled("In the feed").await;
    let id = written.body["id"].as_i64().expect("id");
    let subject = written.body["subject"]["slug"].as_str().expect("slug");
    let path = format!("/content/changes?since={v0}");
    let page = app.eventually(&path, |a| !a.data().is_empty()).await;
    assert_eq!(page.body["reset"], false);
    assert_eq!(page.body["next_cursor"], serde_json::Value::Null);
    assert_eq!(page.data()[0]["version"], v0 + 1);
    assert_eq!(version(&page), v0 + 1);
    // A publish names the review, its subject, the lists and its words.
    let keys: Vec<&str> = page.data()[0]["surrogate_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys[..2],
        [format!("review:{id}"), format!("subject:{subject}")]
    );
    for key in ["kind:camera", "list"] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    assert!(keys.iter().any(|k| k.starts_with("term:")), "{keys:?}");
    assert!(
        page.served_from().starts_with("replica:"),
        "{}",
        page.served_from()
    );
    assert_eq!(page.header("cache-control"), Some("public, max-age=1"));

    // A page of one of two changes names where to go on.
    app.publish_titled("Also in the feed").await;
    let page = app
        .eventually(&format!("{path}&limit=1"), |a| version(a) == v0 + 2)
        .await;
    assert_eq!(page.data().len(), 1);
    assert_eq!(page.body["next_cursor"], (v0 + 1).to_string());

    for (query, name) in [
        ("", "since"),
        ("?since=-1", "since"),
        ("?since=x", "since"),
        ("?since=1&limit=0", "limit"),
        ("?since=1&limit=1001", "limit"),
        ("?since=1&cursor=a", "cursor"),
    ] {
        let answer = app.get(&format!("/content/changes{query}")).await;
        answer.assert_invalid_parameter(name);
    }
}

#[actix_web::test]
async fn a_region_whose_replica_paused_replay_does_not_list_a_write_until_it_resumes() {
    let cluster = test_support::dedicated_cluster();
    // The paused replica stays the one reads go to, however far behind.
    let app = spawn_app_on(&cluster, |s| s.routing.max_lag_ms = 600_000).await;
    let v0 = version(&app.get("/content/changes?since=0").await);
    let replica = app.db.replica_client().await;
    replica
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .expect("replay paused");
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let state: String = replica
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .await
            .expect("pause state")
            .get(0);
        if state == "paused" {
            break;
        }
        assert!(Instant::now() < deadline, "replay never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    app.publish_titled("Held back by a paused replica").await;
    let path = format!("/content/changes?since={v0}");
    for _ in 0..5 {
        let page = app.get(&path).await;
        assert_eq!(page.status.as_u16(), 200, "{:?}", page.body);
        assert!(
            page.data().is_empty(),
            "listed before replay: {:?}",
            page.body
        );
        assert_eq!(version(&page), v0);
        assert_eq!(page.served_from(), "replica:r1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    replica
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .expect("replay resumed");
    let page = app.eventually(&path, |a| !a.data().is_empty()).await;
    assert_eq!(page.data()[0]["version"], v0 + 1);
}
