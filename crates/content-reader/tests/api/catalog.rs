//! A small, known catalog published through the writer, for the filter,
//! sort, detail, subject and compare tests.

use awc::http::Method;
use serde_json::{Value, json};

use crate::helpers::{ReaderAnswer as _, TestApp};

/// What the catalog holds (ids and slugs as the writer answered them).
pub struct Catalog {
    /// Sony A7 IV, camera, Spanish, 9.0, 2024-01-10.
    pub a7: i64,
    /// Canon RF 50mm F1.8 STM, lens, English, 7.5, 2024-02-10 00:00 UTC.
    pub rf50: i64,
    /// Nikon Z8, camera, Portuguese, 8.0, 2024-03-10, by the second editor.
    pub z8: i64,
    /// Sony FE 24-70mm F2.8 GM II, lens, English, no rating, 2024-04-10.
    pub gm: i64,
    /// A draft (Leica M12): never public.
    pub draft: i64,
    pub draft_slug: String,
    /// Published then retracted (Pentax K-3 III): never public.
    pub retracted: i64,
    pub retracted_slug: String,
    pub a7_slug: String,
    pub a7_subject: String,
    pub rf50_subject: String,
    pub z8_subject: String,
    pub gm_subject: String,
    pub draft_subject: String,
    pub retracted_subject: String,
    /// The second editor (author of the Z8 review).
    pub other_editor: i64,
}

fn review(
    kind: &str,
    brand: &str,
    model: &str,
    specs: Value,
    title: &str,
    language: &str,
    rating: Option<f64>,
) -> Value {
    let mut body = json!({
        "subject": { "kind": kind, "brand": brand, "model": model, "specs": specs },
        "title": title,
        "summary": format!("Summary of {title}"),
        "body": format!("Full text of {title}."),
        "pros": ["sharp"],
        "cons": ["price"],
        "language": language,
    });
    if let Some(rating) = rating {
        body["rating"] = json!(rating);
    }
    body
}

fn id_and_subject(answer: &crate::helpers::Answer) -> (i64, String) {
    (
        answer.body["id"].as_i64().expect("id"),
        answer.body["subject"]["slug"]
            .as_str()
            .expect("subject slug")
            .to_owned(),
    )
}

/// Publishes the catalog, adjusts dates and authorship on the primary,
/// and waits until the reader shows all of it.
pub async fn publish_catalog(app: &TestApp) -> Catalog {
    let a7 = app
        .publish(&review(
            "camera",
            "Sony",
            "A7 IV",
            json!({ "mount": "E", "sensor_format": "full frame", "megapixels": 33.0, "release_year": 2021 }),
            "Sony A7 IV a fondo",
            "es",
            Some(9.0),
        ))
        .await;
    let a7_slug = a7.body["slug"].as_str().expect("slug").to_owned();
    let (a7, a7_subject) = id_and_subject(&a7);
    let (rf50, rf50_subject) = id_and_subject(
        &app.publish(&review(
            "lens",
            "Canon",
            "RF 50mm F1.8 STM",
            json!({ "mount": "RF", "focal_min_mm": 50.0, "focal_max_mm": 50.0, "max_aperture": 1.8 }),
            "Canon nifty fifty tested",
            "en",
            Some(7.5),
        ))
        .await,
    );
    let (z8, z8_subject) = id_and_subject(
        &app.publish(&review(
            "camera",
            "Nikon",
            "Z8",
            json!({ "mount": "Z", "sensor_format": "full frame", "megapixels": 45.7 }),
            "Nikon Z8 em campo",
            "pt",
            Some(8.0),
        ))
        .await,
    );
    let (gm, gm_subject) = id_and_subject(
        &app.publish(&review(
            "lens",
            "Sony",
            "FE 24-70mm F2.8 GM II",
            json!({ "mount": "E", "focal_min_mm": 24.0, "focal_max_mm": 70.0, "max_aperture": 2.8 }),
            "The standard zoom, revisited",
            "en",
            None,
        ))
        .await,
    );
    let mut draft_body = review(
        "camera",
        "Leica",
        "M12",
        json!({}),
        "Leica M12 first look",
        "en",
        Some(6.0),
    );
    draft_body["status"] = json!("draft");
    let draft = app.publish(&draft_body).await;
    let draft_slug = draft.body["slug"].as_str().expect("slug").to_owned();
    let (draft, draft_subject) = id_and_subject(&draft);
    let retracted = app
        .publish(&review(
            "camera",
            "Pentax",
            "K-3 III",
            json!({}),
            "Pentax K-3 III verdict",
            "en",
            Some(5.0),
        ))
        .await;
    let retracted_slug = retracted.body["slug"].as_str().expect("slug").to_owned();
    let (retracted, retracted_subject) = id_and_subject(&retracted);
    let gone = app
        .write(Method::DELETE, &format!("/reviews/{retracted}"), None)
        .await;
    assert_eq!(gone.status.as_u16(), 204, "{:?}", gone.body);

    let other_editor: i64 = app
        .db
        .primary_client()
        .await
        .query_one(
            "INSERT INTO editors (email, name, password_hash, role)
             VALUES ('second@example.com', 'Second Editor', '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 'editor')
             RETURNING id",
            &[],
        )
        .await
        .expect("second editor")
        .get(0);
    app.sql(&format!(
        "UPDATE reviews SET published_at = '2024-01-10T12:00:00Z' WHERE id = {a7};
         UPDATE reviews SET published_at = '2024-02-10T00:00:00Z' WHERE id = {rf50};
         UPDATE reviews SET published_at = '2024-03-10T12:00:00Z', editor_id = {other_editor} WHERE id = {z8};
         UPDATE reviews SET published_at = '2024-04-10T12:00:00Z' WHERE id = {gm};"
    ))
    .await;
    app.bump_version().await;
    // Only the updated dates are before 2025 (the reviews were published
    // now): the reader shows the updates (one transaction, authorship
    // included), not merely the order they were published in.
    app.eventually(
        "/content?sort=oldest&limit=100&published_before=2025-01-01",
        |a| a.ids() == vec![a7, rf50, z8, gm],
    )
    .await;
    Catalog {
        a7,
        rf50,
        z8,
        gm,
        draft,
        draft_slug,
        retracted,
        retracted_slug,
        a7_slug,
        a7_subject,
        rf50_subject,
        z8_subject,
        gm_subject,
        draft_subject,
        retracted_subject,
        other_editor,
    }
}
