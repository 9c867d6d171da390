//! Detail, catalog, subject and compare routes; HEAD; 404s; the OpenAPI
//! document.

use awc::http::Method;
use serde_json::Value;

use crate::catalog::publish_catalog;
use crate::helpers::{ReaderAnswer as _, spawn_app};

#[actix_web::test]
async fn a_review_is_found_by_slug_and_by_id_with_body_subject_and_editor_name() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let by_slug = app.get(&format!("/content/{}", c.a7_slug)).await;
    assert_eq!(by_slug.status.as_u16(), 200, "{:?}", by_slug.body);
    let by_id = app.get(&format!("/content/{}", c.a7)).await;
    assert_eq!(by_id.status.as_u16(), 200, "{:?}", by_id.body);
    assert_eq!(by_slug.body, by_id.body);
    let review = &by_slug.body;
    assert_eq!(review["id"], c.a7);
    assert_eq!(review["title"], "Sony A7 IV a fondo");
    assert_eq!(review["body"], "Full text of Sony A7 IV a fondo.");
    assert_eq!(review["summary"], "Summary of Sony A7 IV a fondo");
    assert_eq!(review["pros"], serde_json::json!(["sharp"]));
    assert_eq!(review["subject"]["slug"], c.a7_subject.as_str());
    assert_eq!(review["subject"]["specs"]["mount"], "E");
    assert_eq!(review["editor"]["name"], "Admin Editor");
    assert_eq!(review["url"], format!("/content/{}", c.a7_slug));
    assert!(
        !review.to_string().contains("@example.com"),
        "no editor email: {review}"
    );
    assert!(review["published_at"].is_string());
    assert_eq!(
        by_slug.header("content-type"),
        Some("application/json"),
        "{:?}",
        by_slug.headers
    );
}

#[actix_web::test]
async fn drafts_retracted_and_unknown_reviews_are_404_problems() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    for path in [
        format!("/content/{}", c.draft),
        format!("/content/{}", c.draft_slug),
        format!("/content/{}", c.retracted),
        format!("/content/{}", c.retracted_slug),
        "/content/no-such-review".to_owned(),
        "/content/999999999".to_owned(),
        "/content/0".to_owned(),
        "/content/-5".to_owned(),
        "/content/Not%20A%20Slug".to_owned(),
        "/content/99999999999999999999999".to_owned(),
        format!("/content/subjects/{}", c.draft_subject),
        format!("/content/subjects/{}", c.retracted_subject),
        "/content/subjects/no-such-subject".to_owned(),
        "/content/subjects/UPPER".to_owned(),
        "/content/nothing/here".to_owned(),
    ] {
        let answer = app.get(&path).await;
        answer.assert_problem(404, "not_found");
        assert_eq!(answer.header("x-region"), Some("eu"), "{path}");
        assert!(answer.header("x-served-from").is_some(), "{path}");
    }
}

#[actix_web::test]
async fn the_catalog_lists_only_subjects_with_published_reviews_with_counts_and_averages() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    // A second review of the A7 IV moves its count and average.
    let mut second = crate::helpers::review_body("Sony A7 IV, one year later");
    second["subject"] = serde_json::json!({ "kind": "camera", "brand": "Sony", "model": "A7 IV" });
    second["rating"] = serde_json::json!(8.0);
    let id = app.publish(&second).await.body["id"].as_i64().expect("id");
    app.wait_listed(id).await;

    let answer = app
        .eventually("/content/subjects", |a| {
            a.data().iter().any(|s| s["review_count"] == 2)
        })
        .await;
    let slugs: Vec<&str> = answer
        .data()
        .iter()
        .map(|s| s["slug"].as_str().expect("slug"))
        .collect();
    // Brand, then model.
    assert_eq!(
        slugs,
        vec![
            c.rf50_subject.as_str(),
            c.z8_subject.as_str(),
            c.a7_subject.as_str(),
            c.gm_subject.as_str(),
        ],
        "{:?}",
        answer.body
    );
    assert!(!slugs.contains(&c.draft_subject.as_str()));
    assert!(!slugs.contains(&c.retracted_subject.as_str()));
    let a7 = answer
        .data()
        .iter()
        .find(|s| s["slug"] == c.a7_subject.as_str())
        .expect("a7 listed");
    assert_eq!(a7["review_count"], 2);
    assert_eq!(a7["average_rating"], 8.5);
    assert_eq!(a7["kind"], "camera");
    assert_eq!(a7["brand"], "Sony");
    assert_eq!(a7["specs"]["megapixels"], 33.0);
    let gm = answer
        .data()
        .iter()
        .find(|s| s["slug"] == c.gm_subject.as_str())
        .expect("gm listed");
    assert_eq!(gm["review_count"], 1);
    assert_eq!(gm["average_rating"], Value::Null);
    assert_eq!(answer.body["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn the_catalog_filters_by_kind_brand_and_q_and_pages_with_a_cursor() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let slugs = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer
            .data()
            .iter()
            .map(|s| s["slug"].as_str().expect("slug").to_owned())
            .collect()
    };
    let lenses = app.get("/content/subjects?kind=lens").await;
    assert_eq!(
        slugs(&lenses),
        vec![c.rf50_subject.clone(), c.gm_subject.clone()]
    );
    let sony = app.get("/content/subjects?brand=sony").await;
    assert_eq!(
        slugs(&sony),
        vec![c.a7_subject.clone(), c.gm_subject.clone()]
    );
    let a7 = app.get("/content/subjects?q=a7").await;
    assert_eq!(slugs(&a7), vec![c.a7_subject.clone()]);
    // LIKE metacharacters are literal.
    let percent = app.get("/content/subjects?q=%25").await;
    assert_eq!(percent.status.as_u16(), 200, "{:?}", percent.body);
    assert!(percent.data().is_empty(), "{:?}", percent.body);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/content/subjects?limit=1&cursor={c}"),
            None => "/content/subjects?limit=1".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status.as_u16(), 200, "{:?}", page.body);
        assert_eq!(page.data().len(), 1);
        seen.extend(slugs(&page));
        match page.next_cursor() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            c.rf50_subject.clone(),
            c.z8_subject.clone(),
            c.a7_subject.clone(),
            c.gm_subject.clone()
        ]
    );
    app.get("/content/subjects?cursor=garbage")
        .await
        .assert_problem(400, "invalid_cursor");
}

#[actix_web::test]
async fn every_combination_of_catalog_filters_pages_as_each_filter_alone_says() {
    // Each combination is a statement of its own: all eight run here, each
    // with a second page after its cursor.
    let app = spawn_app().await;
    publish_catalog(&app).await;
    let slugs = |answer: &crate::helpers::Answer| -> Vec<String> {
        assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
        answer
            .data()
            .iter()
            .map(|s| s["slug"].as_str().expect("slug").to_owned())
            .collect()
    };
    let filters = ["kind=lens", "brand=sony", "q=f"];
    let mut alone = Vec::new();
    for filter in filters {
        alone.push(slugs(
            &app.get(&format!("/content/subjects?{filter}")).await,
        ));
    }
    let all = slugs(&app.get("/content/subjects").await);
    for mask in 0..1usize << filters.len() {
        let chosen: Vec<usize> = (0..filters.len())
            .filter(|i| mask & (1 << i) != 0)
            .collect();
        let expected: Vec<String> = all
            .iter()
            .filter(|slug| chosen.iter().all(|&i| alone[i].contains(slug)))
            .cloned()
            .collect();
        let mut query: Vec<&str> = chosen.iter().map(|&i| filters[i]).collect();
        query.push("limit=1");
        let query = query.join("&");
        let first = app.get(&format!("/content/subjects?{query}")).await;
        assert_eq!(slugs(&first), expected[..expected.len().min(1)], "{query}");
        let Some(cursor) = first.next_cursor() else {
            assert!(expected.len() <= 1, "{query}: no cursor");
            continue;
        };
        let second = app
            .get(&format!("/content/subjects?{query}&cursor={cursor}"))
            .await;
        assert_eq!(
            slugs(&second),
            expected[1..expected.len().min(2)],
            "{query}, page 2"
        );
    }
}

#[actix_web::test]
async fn a_subject_shows_its_specs_and_its_published_reviews() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let answer = app
        .get(&format!("/content/subjects/{}", c.gm_subject))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
    assert_eq!(answer.body["slug"], c.gm_subject.as_str());
    assert_eq!(answer.body["kind"], "lens");
    assert_eq!(answer.body["brand"], "Sony");
    assert_eq!(answer.body["model"], "FE 24-70mm F2.8 GM II");
    assert_eq!(answer.body["specs"]["focal_min_mm"], 24.0);
    assert_eq!(answer.body["specs"]["focal_max_mm"], 70.0);
    assert_eq!(answer.body["specs"]["max_aperture"], 2.8);
    assert!(answer.body["specs"].get("megapixels").is_none());
    assert_eq!(answer.body["review_count"], 1);
    let reviews = answer.body["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["id"], c.gm);
    assert!(reviews[0].get("body").is_none(), "summaries only");
    assert_eq!(
        answer.header("surrogate-key"),
        Some(format!("subject:{}", c.gm_subject).as_str())
    );
}

#[actix_web::test]
async fn compare_shows_two_to_four_subjects_side_by_side_with_a_spec_table() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    let answer = app
        .get(&format!(
            "/content/compare?subjects={},{}",
            c.z8_subject, c.a7_subject
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
    let subjects = answer.body["subjects"].as_array().expect("subjects");
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0]["subject"]["slug"], c.z8_subject.as_str());
    assert_eq!(subjects[1]["subject"]["slug"], c.a7_subject.as_str());
    assert_eq!(subjects[0]["review_count"], 1);
    assert_eq!(subjects[0]["average_rating"], 8.0);
    assert_eq!(subjects[1]["average_rating"], 9.0);
    assert_eq!(subjects[0]["latest_review"]["id"], c.z8);
    assert_eq!(subjects[1]["latest_review"]["id"], c.a7);
    let specs = answer.body["specs"].as_array().expect("specs");
    let row = |name: &str| -> Value {
        specs
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(row("megapixels")["values"], serde_json::json!([45.7, 33.0]));
    assert_eq!(row("megapixels")["unit"], "MP");
    assert_eq!(row("mount")["values"], serde_json::json!(["Z", "E"]));
    // Known for one only: null where unknown.
    assert_eq!(
        row("release_year")["values"],
        serde_json::json!([null, 2021])
    );
    for r in specs {
        assert_eq!(r["values"].as_array().map(Vec::len), Some(2), "{r}");
    }

    let four = app
        .get(&format!(
            "/content/compare?subjects={},{},{},{}",
            c.a7_subject, c.rf50_subject, c.z8_subject, c.gm_subject
        ))
        .await;
    assert_eq!(four.status.as_u16(), 200, "{:?}", four.body);
    assert_eq!(four.body["subjects"].as_array().map(Vec::len), Some(4));
}

#[actix_web::test]
async fn compare_refuses_one_five_or_repeated_subjects_and_names_an_unknown_one() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    for list in [
        c.a7_subject.clone(),
        format!(
            "{},{},{},{},{}",
            c.a7_subject, c.rf50_subject, c.z8_subject, c.gm_subject, "other-one"
        ),
        format!("{},{}", c.a7_subject, c.a7_subject),
        format!("{},", c.a7_subject),
    ] {
        let answer = app.get(&format!("/content/compare?subjects={list}")).await;
        answer.assert_invalid_parameter("subjects");
    }
    let answer = app
        .get(&format!(
            "/content/compare?subjects={},nikon-z99-phantom",
            c.a7_subject
        ))
        .await;
    answer.assert_problem(404, "not_found");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nikon-z99-phantom")),
        "{:?}",
        answer.body
    );
    // A subject with no published review is not public either.
    let answer = app
        .get(&format!(
            "/content/compare?subjects={},{}",
            c.a7_subject, c.draft_subject
        ))
        .await;
    answer.assert_problem(404, "not_found");
}

#[actix_web::test]
async fn head_works_wherever_get_does_and_other_methods_are_405_with_allow() {
    let app = spawn_app().await;
    let c = publish_catalog(&app).await;
    for path in [
        "/content".to_owned(),
        format!("/content/{}", c.a7_slug),
        "/content/subjects".to_owned(),
        format!("/content/subjects/{}", c.a7_subject),
        format!(
            "/content/compare?subjects={},{}",
            c.a7_subject, c.z8_subject
        ),
    ] {
        let get = app.get(&path).await;
        assert_eq!(get.status.as_u16(), 200, "{path}");
        let head = app.request_on(&app.reader, Method::HEAD, &path, &[]).await;
        assert_eq!(head.status.as_u16(), 200, "HEAD {path}");
        assert_eq!(head.body, Value::Null, "HEAD {path} has no body");
        assert_eq!(head.header("etag"), get.header("etag"), "HEAD {path}");
        assert_eq!(head.header("x-region"), Some("eu"));
        assert!(head.header("x-served-from").is_some());
    }
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = app
            .request_on(&app.reader, method.clone(), "/content", &[])
            .await;
        answer.assert_problem(405, "method_not_allowed");
        let allow = answer.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "{method}: {allow}"
        );
        assert_eq!(answer.header("x-region"), Some("eu"));
    }
}

#[actix_web::test]
async fn the_openapi_document_is_served_as_openapi_3_1_json() {
    let app = spawn_app().await;
    let answer = app.get("/openapi.json").await;
    assert_eq!(answer.status.as_u16(), 200);
    assert!(
        answer.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{:?}",
        answer.body
    );
    // Every route the service mounts is described, GET and HEAD.
    for path in [
        "/content",
        "/content/{slug_or_id}",
        "/content/subjects",
        "/content/subjects/{slug}",
        "/content/compare",
    ] {
        for method in ["get", "head"] {
            assert!(
                answer.body["paths"][path][method].is_object(),
                "{method} {path} undocumented"
            );
        }
    }
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(answer.body["paths"][path]["get"].is_object(), "{path}");
    }
}

#[actix_web::test]
async fn service_routes_answer_head_and_other_methods_get_405_with_allow() {
    // Found by the contract fuzzing (tests/contract.rs): TRACE /healthz was
    // a 404 instead of a 405.
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        for method in [Method::TRACE, Method::POST, Method::DELETE] {
            let answer = app.request_on(&app.reader, method.clone(), path, &[]).await;
            answer.assert_problem(405, "method_not_allowed");
            assert_eq!(answer.header("allow"), Some("GET, HEAD"), "{method} {path}");
            assert_eq!(answer.header("x-region"), Some("eu"));
        }
    }
    for path in ["/healthz", "/metrics", "/openapi.json"] {
        let head = app.request_on(&app.reader, Method::HEAD, path, &[]).await;
        assert_eq!(head.status.as_u16(), 200, "HEAD {path}");
    }
}
