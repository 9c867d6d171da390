//! `GET /reviews` and `GET /reviews/{id}`: an editor's own reviews, drafts
//! included; admins see all.

use serde_json::{Value, json};

use crate::helpers::{TestApp, WriterAnswer as _, review_body, spawn_app};

/// Follows `next_cursor` until the last page, returning every item.
async fn all_pages(app: &TestApp, token: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut query = format!("limit={limit}");
    for _ in 0..100 {
        let page = app.list_reviews(token, &query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().expect("data").clone();
        assert!(data.len() <= limit, "{:?}", page.body);
        items.extend(data);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
            None => {
                assert!(page.body["next_cursor"].is_null(), "{:?}", page.body);
                return items;
            }
        }
    }
    panic!("paging never ended");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

#[actix_web::test]
async fn paging_with_a_cursor_returns_each_own_review_once_newest_first() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let other = app.new_editor("editor").await;
    let mut created = Vec::new();
    for i in 0..7 {
        let mut body = review_body(&format!("Paged {i}"));
        if i % 3 == 0 {
            body["status"] = json!("draft");
        }
        created.push(
            app.post_review(&editor.token, &body, None)
                .await
                .created_id(),
        );
    }
    app.create_review(&other.token, "Not mine").await;

    let items = all_pages(&app, &editor.token, 3).await;
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(
        ids(&items),
        expected,
        "own reviews, drafts included, newest first"
    );
    for item in &items {
        assert!(
            item.get("body").is_none(),
            "list items have no body: {item:?}"
        );
        assert!(item["title"].is_string());
        assert!(item["slug"].is_string());
        assert!(item["subject"]["slug"].is_string());
        assert_eq!(item["editor"]["id"], editor.id);
    }
    assert!(items.iter().any(|i| i["status"] == "draft"));

    // The default page holds up to 20.
    let default = app.list_reviews(&editor.token, "").await;
    assert_eq!(default.status, 200, "{:?}", default.body);
    assert_eq!(default.body["data"].as_array().map(Vec::len), Some(7));
    assert!(default.body["next_cursor"].is_null());
}

#[actix_web::test]
async fn an_admin_lists_and_reads_everyones_reviews() {
    let app = spawn_app().await;
    let one = app.new_editor("editor").await;
    let two = app.new_editor("editor").await;
    let a = app.create_review(&one.token, "By one").await.created_id();
    let mut draft = review_body("Draft by two");
    draft["status"] = json!("draft");
    let b = app.post_review(&two.token, &draft, None).await.created_id();

    let items = all_pages(&app, &app.admin.token, 1).await;
    assert_eq!(ids(&items), vec![b, a]);
    let read = app.get_review(&app.admin.token, b).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["body"], draft["body"]);
    assert_eq!(read.header("etag"), Some("\"1\""));

    // Editors only see their own.
    assert_eq!(ids(&all_pages(&app, &one.token, 5).await), vec![a]);
}

#[actix_web::test]
async fn another_editors_review_is_forbidden_and_missing_ones_are_404() {
    let app = spawn_app().await;
    let one = app.new_editor("editor").await;
    let two = app.new_editor("editor").await;
    let id = app.create_review(&one.token, "Private").await.created_id();
    app.get_review(&two.token, id)
        .await
        .assert_problem(403, "forbidden");
    app.get_review(&one.token, id + 1000)
        .await
        .assert_problem_status(404);
    app.get("/reviews/not-a-number", Some(&one.token))
        .await
        .assert_problem_status(404);
    let deleted = app.delete_review(&one.token, id).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    app.get_review(&one.token, id)
        .await
        .assert_problem_status(404);
    app.get_review(&app.admin.token, id)
        .await
        .assert_problem_status(404);
    let list = app.list_reviews(&one.token, "").await;
    assert_eq!(
        list.body["data"],
        json!([]),
        "retracted reviews leave the list"
    );
}

#[actix_web::test]
async fn bad_list_parameters_and_cursors_are_400() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    for i in 0..3 {
        app.create_review(&editor.token, &format!("Listed {i}"))
            .await;
    }
    let page = app.list_reviews(&editor.token, "limit=1").await;
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();

    app.list_reviews(&editor.token, "cursor=garbage")
        .await
        .assert_problem(400, "invalid_cursor");
    let mut tampered = cursor.clone().into_bytes();
    // The first character carries only meaningful bits.
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    app.list_reviews(&editor.token, &format!("cursor={tampered}"))
        .await
        .assert_problem(400, "invalid_cursor");
    app.list_reviews(&editor.token, "color=blue")
        .await
        .assert_problem(400, "invalid_parameter");
    for limit in ["0", "101", "-1", "ten", ""] {
        app.list_reviews(&editor.token, &format!("limit={limit}"))
            .await
            .assert_problem_status(400);
    }
    let hundred = app.list_reviews(&editor.token, "limit=100").await;
    assert_eq!(hundred.status, 200, "{:?}", hundred.body);
    let next = app
        .list_reviews(&editor.token, &format!("limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
}
