//! `GET /content`: every filter, every sort, keyset paging and cursors.

use std::collections::HashSet;

use futures_util::future::join_all;

use crate::catalog::publish_catalog;
use crate::helpers::{Answer, ReaderAnswer as _, TestApp, review_body, spawn_app, unique_word};

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

async fn ids_of(app: &TestApp, query: &str) -> Vec<i64> {
    let answer = app.get(&format!("/content?{query}")).await;
    assert_eq!(answer.status.as_u16(), 200, "{query}: {:?}", answer.body);
    answer.ids()
}

#[actix_web::test]
async fn every_filter_narrows_the_list_to_the_matching_published_reviews() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let cases: Vec<(String, Vec<i64>)> = vec![
        ("kind=camera".into(), vec![c.a7, c.z8]),
        ("kind=lens".into(), vec![c.rf50, c.gm]),
        ("brand=sony".into(), vec![c.a7, c.gm]),
        ("brand=SONY&kind=lens".into(), vec![c.gm]),
        (format!("subject={}", c.a7_subject), vec![c.a7]),
        (format!("editor={}", c.other_editor), vec![c.z8]),
        (format!("editor={}", app.admin_id), vec![c.a7, c.rf50, c.gm]),
        ("language=pt".into(), vec![c.z8]),
        ("language=es".into(), vec![c.a7]),
        ("rating_min=8".into(), vec![c.a7, c.z8]),
        ("rating_max=8".into(), vec![c.rf50, c.z8]),
        ("rating_min=8&rating_max=8".into(), vec![c.z8]),
        (
            "rating_min=0&rating_max=10".into(),
            vec![c.a7, c.rf50, c.z8],
        ),
        (
            "published_after=2024-02-10".into(),
            vec![c.rf50, c.z8, c.gm],
        ),
        (
            "published_before=2024-02-10T00:00:00Z".into(),
            vec![c.a7, c.rf50],
        ),
        (
            "published_after=2024-02-01&published_before=2024-03-31".into(),
            vec![c.rf50, c.z8],
        ),
        (
            "published_after=2024-03-10T13:00:00%2B01:00".into(),
            vec![c.z8, c.gm],
        ),
        ("subject=no-such-subject".into(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            sorted(ids_of(&app, &query).await),
            sorted(expected),
            "{query}"
        );
    }
    let all = ids_of(&app, "limit=100").await;
    assert!(!all.contains(&c.draft), "a draft is never listed");
    assert!(
        !all.contains(&c.retracted),
        "a retracted review is not listed"
    );
}

#[actix_web::test]
async fn every_combination_of_filters_pages_as_each_filter_alone_says_in_every_sort() {
    // Each combination of filters is a statement of its own (the reader
    // prepares one per shape so that each keeps its index plans): all
    // 1,024 run here, each with one of the sorts and a second page after
    // its cursor, against what each filter alone and each sort alone say.
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let filters = [
        "kind=camera".to_owned(),
        "brand=sony".to_owned(),
        format!("subject={}", c.gm_subject),
        format!("editor={}", app.admin_id),
        "language=en".to_owned(),
        "rating_min=7.5".to_owned(),
        "rating_max=8".to_owned(),
        "published_after=2024-02-01".to_owned(),
        "published_before=2024-03-31".to_owned(),
        "q=sony".to_owned(),
    ];
    let mut alone = Vec::new();
    for filter in &filters {
        alone.push(ids_of(&app, &format!("{filter}&limit=100")).await);
    }
    let mut orders = Vec::new();
    for sort in ["newest", "oldest", "rating"] {
        orders.push((sort, ids_of(&app, &format!("sort={sort}&limit=100")).await));
    }
    orders.push(("relevance", ids_of(&app, "q=sony&limit=100").await));
    for mask in 0..1usize << filters.len() {
        let chosen: Vec<usize> = (0..filters.len())
            .filter(|i| mask & (1 << i) != 0)
            .collect();
        let searched = mask & (1 << 9) != 0;
        // Relevance needs a query; without one, the fourth sort is newest.
        let (sort, order) = match &orders[mask % 4] {
            ("relevance", _) if !searched => &orders[0],
            other => other,
        };
        let expected: Vec<i64> = order
            .iter()
            .copied()
            .filter(|id| chosen.iter().all(|&i| alone[i].contains(id)))
            .collect();
        let mut query: Vec<&str> = chosen.iter().map(|&i| filters[i].as_str()).collect();
        let sort = format!("sort={sort}");
        query.extend([sort.as_str(), "limit=1"]);
        let query = query.join("&");
        let first = app.get(&format!("/content?{query}")).await;
        assert_eq!(first.status.as_u16(), 200, "{query}: {:?}", first.body);
        assert_eq!(first.ids(), expected[..expected.len().min(1)], "{query}");
        let Some(cursor) = first.next_cursor() else {
            assert!(expected.len() <= 1, "{query}: no cursor");
            continue;
        };
        let second = ids_of(&app, &format!("{query}&cursor={cursor}")).await;
        assert_eq!(
            second,
            expected[1..expected.len().min(2)],
            "{query}, page 2"
        );
    }
}

#[actix_web::test]
async fn list_items_carry_subject_and_editor_name_but_no_body_and_no_email() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let answer = app.get(&format!("/content?subject={}", c.a7_subject)).await;
    assert_eq!(answer.status.as_u16(), 200);
    let item = &answer.data()[0];
    assert_eq!(item["id"], c.a7);
    assert_eq!(item["slug"], c.a7_slug.as_str());
    assert_eq!(item["title"], "Sony A7 IV a fondo");
    assert_eq!(item["rating"], 9.0);
    assert_eq!(item["language"], "es");
    assert_eq!(item["status"], "published");
    assert_eq!(item["subject"]["brand"], "Sony");
    assert_eq!(item["subject"]["model"], "A7 IV");
    assert_eq!(item["subject"]["kind"], "camera");
    assert_eq!(item["subject"]["specs"]["megapixels"], 33.0);
    assert_eq!(item["editor"]["name"], "Admin Editor");
    assert_eq!(item["editor"]["id"], app.admin_id);
    assert!(
        item.get("body").is_none(),
        "list items omit the body: {item}"
    );
    assert!(
        !answer.body.to_string().contains("@example.com"),
        "no editor email: {:?}",
        answer.body
    );
    assert_eq!(answer.body["next_cursor"], serde_json::Value::Null);
}

#[actix_web::test]
async fn sorts_order_newest_oldest_by_rating_and_by_relevance() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    assert_eq!(ids_of(&app, "").await, vec![c.gm, c.z8, c.rf50, c.a7]);
    assert_eq!(
        ids_of(&app, "sort=newest").await,
        vec![c.gm, c.z8, c.rf50, c.a7]
    );
    assert_eq!(
        ids_of(&app, "sort=oldest").await,
        vec![c.a7, c.rf50, c.z8, c.gm]
    );
    // Unrated reviews come last.
    assert_eq!(
        ids_of(&app, "sort=rating").await,
        vec![c.a7, c.z8, c.rf50, c.gm]
    );
    // A query combines with any sort and with filters.
    assert_eq!(ids_of(&app, "q=sony&sort=oldest").await, vec![c.a7, c.gm]);
    assert_eq!(ids_of(&app, "q=sony&kind=lens").await, vec![c.gm]);
    assert_eq!(
        sorted(ids_of(&app, "q=sony&sort=relevance").await),
        sorted(vec![c.a7, c.gm])
    );
}

#[actix_web::test]
async fn limit_pages_with_an_opaque_cursor_until_next_cursor_is_null() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let first = app.get("/content?limit=3").await;
    assert_eq!(first.ids(), vec![c.gm, c.z8, c.rf50]);
    let cursor = first.next_cursor().expect("a next cursor");
    let second = app.get(&format!("/content?limit=3&cursor={cursor}")).await;
    assert_eq!(second.status.as_u16(), 200, "{:?}", second.body);
    assert_eq!(second.ids(), vec![c.a7]);
    assert_eq!(second.body["next_cursor"], serde_json::Value::Null);

    // The default page is 20 and the largest 100.
    assert_eq!(ids_of(&app, "limit=100").await.len(), 4);
    let one = app.get("/content?limit=1&sort=rating").await;
    assert_eq!(one.ids(), vec![c.a7]);
    let next = one.next_cursor().expect("cursor");
    assert_eq!(
        ids_of(&app, &format!("limit=2&sort=rating&cursor={next}")).await,
        vec![c.z8, c.rf50]
    );
}

#[actix_web::test]
async fn a_tampered_or_foreign_cursor_is_refused_with_400() {
    let app = spawn_app().await;
    publish_catalog(&app).await;
    let first = app.get("/content?limit=1").await;
    let cursor = first.next_cursor().expect("cursor");

    let mut chars: Vec<char> = cursor.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for bad in [
        tampered.as_str(),
        "not-a-cursor",
        "AAAA",
        &cursor[..cursor.len() - 2],
    ] {
        let answer = app.get(&format!("/content?limit=1&cursor={bad}")).await;
        answer.assert_problem(400, "invalid_cursor");
        assert_eq!(answer.header("x-region"), Some("eu"));
    }
    // A cursor belongs to its filters and sort.
    for other in ["language=en", "sort=oldest", "kind=camera", "q=sony"] {
        let answer = app
            .get(&format!("/content?limit=1&{other}&cursor={cursor}"))
            .await;
        answer.assert_problem(400, "invalid_cursor");
    }
    // A catalog cursor is not a list cursor.
    let subjects = app.get("/content/subjects?limit=1").await;
    let subject_cursor = subjects.next_cursor().expect("subject cursor");
    app.get(&format!("/content?limit=1&cursor={subject_cursor}"))
        .await
        .assert_problem(400, "invalid_cursor");
    app.get(&format!("/content/subjects?limit=1&cursor={cursor}"))
        .await
        .assert_problem(400, "invalid_cursor");
}

/// Pages through `query` to the end, publishing `per_page` reviews through
/// the writer between pages (until `budget` is spent); every id seen, in
/// order.
async fn page_while_publishing(
    app: &TestApp,
    query: &str,
    per_page: usize,
    budget: &mut usize,
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/content?{query}&cursor={c}"),
            None => format!("/content?{query}"),
        };
        let page: Answer = app.get(&path).await;
        assert_eq!(page.status.as_u16(), 200, "{path}: {:?}", page.body);
        seen.extend(page.ids());
        let Some(next) = page.next_cursor() else {
            return seen;
        };
        cursor = Some(next);
        let n = per_page.min(*budget);
        *budget -= n;
        let bodies: Vec<_> = (0..n)
            .map(|_| review_body(&unique_word("Concurrent ")))
            .collect();
        join_all(bodies.iter().map(|body| app.publish(body))).await;
    }
}

#[actix_web::test]
async fn paging_through_500_reviews_while_100_more_are_published_never_repeats_or_skips_one() {
    let app = spawn_app().await;
    let original = app.insert_reviews("Paging", 500).await;
    let last = *original.last().expect("ids");
    app.wait_listed(original[0]).await;
    app.eventually("/content?sort=oldest&limit=1", |a| a.ids() == vec![last])
        .await;
    let original_set: HashSet<i64> = original.iter().copied().collect();

    let mut budget = 100;
    // Newest first: new reviews land before the cursor.
    let seen = page_while_publishing(&app, "limit=20", 5, &mut budget).await;
    let mut unique = HashSet::new();
    for id in &seen {
        assert!(unique.insert(*id), "review {id} was listed twice");
    }
    let missing: Vec<&i64> = original_set.difference(&unique).collect();
    assert!(missing.is_empty(), "never listed: {missing:?}");
    assert_eq!(budget, 0, "all 100 were published while paging");

    // Oldest first, the new ones land after the cursor: still no repeats
    // and no skipped original, even with ties on the publication time.
    let mut budget = 40;
    let seen = page_while_publishing(&app, "limit=100&sort=oldest", 10, &mut budget).await;
    let mut unique = HashSet::new();
    for id in &seen {
        assert!(unique.insert(*id), "review {id} was listed twice");
    }
    assert!(original_set.is_subset(&unique));

    // Rating ties are broken by id, and unrated reviews come last: paging
    // by rating covers each once.
    let mut budget = 0;
    let seen = page_while_publishing(
        &app,
        "limit=7&sort=rating&subject=bulkbrand-paging",
        0,
        &mut budget,
    )
    .await;
    let as_set: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 500);
    assert_eq!(as_set, original_set);
}
