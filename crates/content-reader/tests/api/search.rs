//! Full-text search (SPEC §5): stemmed per language, accent-insensitive,
//! subject and title above body.

use awc::http::Method;
use serde_json::{Value, json};

use crate::helpers::{ReaderAnswer as _, TestApp, spawn_app};

fn review(brand: &str, model: &str, title: &str, body: &str, language: &str) -> Value {
    json!({
        "subject": { "kind": "camera", "brand": brand, "model": model },
        "title": title,
        "body": body,
        "language": language,
    })
}

async fn publish(app: &TestApp, body: Value) -> i64 {
    let id = app.publish(&body).await.body["id"].as_i64().expect("id");
    app.wait_listed(id).await;
    id
}

async fn search(app: &TestApp, q: &str) -> Vec<i64> {
    let answer = app
        .get(&format!("/content?q={}", crate::params::encode(q)))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{q}: {:?}", answer.body);
    answer.ids()
}

#[actix_web::test]
async fn search_is_accent_insensitive_and_stemmed_for_spanish_and_portuguese() {
    let app = spawn_app().await;
    let camara = publish(
        &app,
        review(
            "Canon",
            "EOS R8",
            "Cámara ligera para viajar",
            "Pesa poco y enfoca rápido.",
            "es",
        ),
    )
    .await;
    let lente = publish(
        &app,
        review(
            "Sigma",
            "fp L",
            "Un cuerpo minúsculo",
            "Con esta lente el conjunto sigue siendo pequeño.",
            "es",
        ),
    )
    .await;
    let objetiva = publish(
        &app,
        review(
            "Nikon",
            "Zf",
            "Estilo clássico",
            "A objetiva de kit é surpreendentemente nítida.",
            "pt",
        ),
    )
    .await;
    let english = publish(
        &app,
        review(
            "Panasonic",
            "S5 II",
            "Video first hybrid",
            "Phase detection at last: focusing is finally reliable.",
            "en",
        ),
    )
    .await;

    assert_eq!(search(&app, "camara").await, vec![camara]);
    assert_eq!(search(&app, "CÁMARA").await, vec![camara]);
    assert_eq!(search(&app, "cámaras").await, vec![camara]);
    assert_eq!(search(&app, "lentes").await, vec![lente]);
    assert_eq!(search(&app, "objetivas").await, vec![objetiva]);
    // English stemming on an English review.
    assert_eq!(search(&app, "focused").await, vec![english]);
    // Subject brand and model are searchable.
    assert_eq!(search(&app, "sigma").await, vec![lente]);
    // Web-search syntax: AND, OR, exclusion, phrase.
    assert_eq!(search(&app, "camara viajar").await, vec![camara]);
    assert_eq!(search(&app, "camara nitida").await, Vec::<i64>::new());
    let mut either = search(&app, "camara or objetiva").await;
    either.sort_unstable();
    let mut expected = vec![camara, objetiva];
    expected.sort_unstable();
    assert_eq!(either, expected);
    assert_eq!(search(&app, "camara -viajar").await, Vec::<i64>::new());
    assert_eq!(search(&app, "\"lente el conjunto\"").await, vec![lente]);
    // Filters combine with the query.
    let pt = app.get("/content?q=objetiva&language=es").await;
    assert_eq!(pt.ids(), Vec::<i64>::new());
}

#[actix_web::test]
async fn a_review_of_the_subject_ranks_above_one_that_only_mentions_it_in_the_body() {
    let app = spawn_app().await;
    // Published first, so that newest-first order would put it second.
    let about = publish(
        &app,
        review(
            "Sony",
            "A7 IV",
            "Veredicto tras un año",
            "Sigue siendo la híbrida de referencia.",
            "es",
        ),
    )
    .await;
    let mention = publish(
        &app,
        review(
            "Canon",
            "EOS R6 II",
            "La alternativa de Canon",
            "Compite directamente con la Sony A7 IV en precio y en prestaciones; \
             frente a la Sony A7 IV gana en ráfaga.",
            "es",
        ),
    )
    .await;
    assert_eq!(search(&app, "sony a7 iv").await, vec![about, mention]);
    let explicit = app.get("/content?q=sony%20a7%20iv&sort=relevance").await;
    assert_eq!(explicit.ids(), vec![about, mention]);
    // Without relevance the date decides.
    let newest = app.get("/content?q=sony%20a7%20iv&sort=newest").await;
    assert_eq!(newest.ids(), vec![mention, about]);
}

#[actix_web::test]
async fn a_word_found_only_deep_in_a_long_body_is_matched_and_ranks_below_an_early_mention() {
    let app = spawn_app().await;
    // Relevance reads the opening of the body only; matching reads all of it.
    let filler = "La empuñadura es firme y los diales responden bien. ".repeat(40);
    let early = publish(
        &app,
        review(
            "Nikon",
            "Z8",
            "La Z8 en la calle",
            "El estabilizador rinde de noche desde el primer día.",
            "es",
        ),
    )
    .await;
    let deep = publish(
        &app,
        review(
            "Nikon",
            "Z6 III",
            "Un año con la Z6 III",
            &format!("{filler}Al final, el estabilizador rinde de noche."),
            "es",
        ),
    )
    .await;
    // The deep mention is newer, yet ranks second; and it is found.
    assert_eq!(search(&app, "estabilizador").await, vec![early, deep]);
}

/// Every page of `/content?{query}`, following `next_cursor`.
async fn all_pages(app: &TestApp, query: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/content?{query}&cursor={c}"),
            None => format!("/content?{query}"),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status.as_u16(), 200, "{path}: {:?}", page.body);
        ids.extend(page.ids());
        cursor = page.next_cursor();
        if cursor.is_none() {
            return ids;
        }
    }
}

#[actix_web::test]
async fn search_pages_in_one_order_across_languages_and_never_finds_a_draft_or_a_retraction() {
    let app = spawn_app().await;
    // Twelve public matches, four per language: the word in the title of
    // half of them, one to four times in the body of the others.
    let mut public = Vec::new();
    for i in 0..12_usize {
        let language = ["es", "pt", "en"][i % 3];
        let (title, body) = if i % 2 == 0 {
            (
                format!("Zoom {i} a fondo"),
                "Texto sin la palabra.".to_owned(),
            )
        } else {
            (format!("Prueba {i}"), "Un buen zoom. ".repeat(i % 4 + 1))
        };
        let model = format!("Z{i}");
        public.push(publish(&app, review("Tamron", &model, &title, &body, language)).await);
    }
    let mut draft = review("Tamron", "ZD", "Zoom en borrador", "zoom", "es");
    draft["status"] = json!("draft");
    app.publish(&draft).await;
    let retracted = publish(&app, review("Tamron", "ZR", "Zoom retirado", "zoom", "en")).await;
    let gone = app
        .write(Method::DELETE, &format!("/reviews/{retracted}"), None)
        .await;
    assert_eq!(gone.status.as_u16(), 204, "{:?}", gone.body);
    let whole = app
        .eventually("/content?q=zoom&limit=100", |a| {
            !a.ids().contains(&retracted)
        })
        .await
        .ids();

    let mut found = whole.clone();
    found.sort_unstable();
    assert_eq!(found, public, "exactly the public matches");
    // Titles first: every review with the word in its title ranks above
    // every review with it only in the body.
    let titled: Vec<i64> = public.iter().step_by(2).copied().collect();
    assert!(whole[..6].iter().all(|id| titled.contains(id)), "{whole:?}");
    // Paged five at a time, relevance and newest give the very same order
    // as one page: no repeat, no gap.
    assert_eq!(all_pages(&app, "q=zoom&limit=5").await, whole);
    let newest: Vec<i64> = public.iter().rev().copied().collect();
    assert_eq!(all_pages(&app, "q=zoom&sort=newest&limit=5").await, newest);
}
