//! Relevance (SPEC §5), guarded as a table: a small corpus of reviews in
//! the three languages and queries with the review each must return
//! first — the subject and the title above the body, each review matched
//! and ranked with its own language's stemming, brand and model queries —
//! so that a change to search (an index, a cheaper score, a cap on the
//! candidates ranked) cannot make the answers worse unnoticed.
//!
//! Every expected review is published before the others that match its
//! query: newest-first order would put it last, so only the ranking can
//! put it first.

use serde_json::{Value, json};

use crate::helpers::{ReaderAnswer as _, TestApp, spawn_app};

/// The corpus: a name, then subject (brand, model), title, body, language.
const CORPUS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "a7 iv verdict",
        "Sony",
        "A7 IV",
        "Veredicto tras un año",
        "Sigue siendo la híbrida de referencia para vídeo y foto.",
        "es",
    ),
    (
        "r6 against the a7 iv",
        "Canon",
        "EOS R6 II",
        "La alternativa de Canon",
        "Compite con la Sony A7 IV en precio; frente a la Sony A7 IV gana en ráfaga.",
        "es",
    ),
    (
        "z8 stabiliser in the title",
        "Nikon",
        "Z8",
        "Estabilizador que rinde de noche",
        "Fotos nítidas a pulso con el estabilizador activo.",
        "es",
    ),
    (
        "z6 stabiliser in the body",
        "Nikon",
        "Z6 III",
        "Un año con la Z6 III",
        "El estabilizador rinde bien y el visor es excelente.",
        "es",
    ),
    (
        "x-t5 light camera",
        "Fujifilm",
        "X-T5",
        "Câmera leve para viagens",
        "A objetiva de kit é nítida e o corpo é compacto.",
        "pt",
    ),
    (
        "s5 focus in the title",
        "Panasonic",
        "S5 II",
        "Focus that finally keeps up",
        "Phase detection makes tracking reliable for video.",
        "en",
    ),
    (
        "fp l focusing in the body",
        "Sigma",
        "fp L",
        "A tiny body with a huge sensor",
        "Without a grip, focusing by hand takes patience.",
        "en",
    ),
    (
        "x100 for travelling",
        "Fujifilm",
        "X100VI",
        "La compacta para viajar",
        "Ideal para viajes largos: pesa poco y enfoca rápido.",
        "es",
    ),
    (
        "r8 light and fast",
        "Canon",
        "EOS R8",
        "Leve e rápida",
        "Uma câmera para viajar; o estabilizador faz falta.",
        "pt",
    ),
    (
        "zv-e10 vlogging",
        "Sony",
        "ZV-E10",
        "Vlogging camera for travel",
        "Travelling light with a small lens.",
        "en",
    ),
];

/// Each query, the review it must return first, and others it must
/// also find (matching reads the whole review, ranking only part of it).
const QUERIES: &[(&str, &str, &[&str])] = &[
    // The subject above a body that names it.
    ("sony a7 iv", "a7 iv verdict", &["r6 against the a7 iv"]),
    // The title above the body, in Spanish.
    (
        "estabilizador",
        "z8 stabiliser in the title",
        &["z6 stabiliser in the body"],
    ),
    // English stemming: `focusing` is `focus`; the title first.
    (
        "focusing",
        "s5 focus in the title",
        &["fp l focusing in the body"],
    ),
    // Spanish stemming (`viajes`, `viajar`), the title first.
    ("viajes", "x100 for travelling", &[]),
    // Portuguese, accent-insensitive: both words in one title.
    ("camera leve", "x-t5 light camera", &[]),
    // A brand: the review naming it in its subject and its title.
    ("canon", "r6 against the a7 iv", &["r8 light and fast"]),
    // Brand and model.
    ("nikon z8", "z8 stabiliser in the title", &[]),
    ("fujifilm x-t5", "x-t5 light camera", &[]),
    ("sony zv-e10", "zv-e10 vlogging", &[]),
];

fn review(entry: &(&str, &str, &str, &str, &str, &str)) -> Value {
    let (_, brand, model, title, body, language) = *entry;
    json!({
        "subject": { "kind": "camera", "brand": brand, "model": model },
        "title": title,
        "body": body,
        "language": language,
    })
}

/// Publishes the corpus in its order; each review's id by name.
async fn publish_corpus(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut ids = Vec::new();
    for entry in CORPUS {
        let answer = app.publish(&review(entry)).await;
        ids.push((entry.0, answer.body["id"].as_i64().expect("id")));
    }
    // Replicated in order: the last one listed means all are.
    app.wait_listed(ids.last().expect("a corpus").1).await;
    ids
}

#[actix_web::test]
async fn every_query_of_the_relevance_table_returns_its_review_first() {
    let app = spawn_app().await;
    let ids = publish_corpus(&app).await;
    let id = |name: &str| {
        ids.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
            .expect("a review of the corpus")
    };
    let name = |found: i64| {
        ids.iter()
            .find(|(_, id)| *id == found)
            .map_or("?", |(n, _)| *n)
    };
    let mut failures = Vec::new();
    for (query, first, also) in QUERIES {
        let answer = app
            .get(&format!("/content?q={}", crate::params::encode(query)))
            .await;
        assert_eq!(answer.status.as_u16(), 200, "{query}: {:?}", answer.body);
        let found = answer.ids();
        let missing: Vec<&&str> = also.iter().filter(|a| !found.contains(&id(a))).collect();
        if found.first() != Some(&id(first)) || !missing.is_empty() {
            let names: Vec<&str> = found.iter().map(|f| name(*f)).collect();
            failures.push(format!(
                "{query:?}: expected {first:?} first (and {also:?}), got {names:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[actix_web::test]
async fn relevance_pages_through_its_four_tiers_each_newest_first() {
    let app = spawn_app().await;
    let filler = "Texto de relleno sobre la cámara y su uso diario. ".repeat(12);
    // (name, model, title, body), published in this order.
    let reviews = [
        (
            "title, older",
            "T1",
            "Zorblax de día",
            "Sin más.".to_owned(),
        ),
        (
            "body, older",
            "B1",
            "Otra prueba",
            format!("{filler} El zorblax al final."),
        ),
        (
            "title, newer",
            "T2",
            "Zorblax de noche",
            "Sin más.".to_owned(),
        ),
        ("heading", "Zorblax Z", "Una cámara", "Sin más.".to_owned()),
        (
            "opening",
            "O1",
            "Una lente",
            "El zorblax al principio.".to_owned(),
        ),
        (
            "body, newer",
            "B2",
            "Otra más",
            format!("{filler} Un zorblax al final."),
        ),
    ];
    let mut ids = Vec::new();
    for (name, model, title, body) in &reviews {
        let answer = app
            .publish(&json!({
                "subject": { "kind": "camera", "brand": "Acme", "model": model },
                "title": title,
                "body": body,
                "language": "es",
            }))
            .await;
        ids.push((*name, answer.body["id"].as_i64().expect("id")));
    }
    app.wait_listed(ids.last().expect("reviews").1).await;
    let id = |name: &str| ids.iter().find(|(n, _)| *n == name).expect("named").1;
    let expected: Vec<i64> = [
        "title, newer",
        "title, older",
        "heading",
        "opening",
        "body, newer",
        "body, older",
    ]
    .map(id)
    .to_vec();
    // One review a page: every cursor crosses from one tier to the next
    // or within one; an excluded word checks the whole review.
    for q in ["zorblax", "zorblax -nada"] {
        let mut found = Vec::new();
        let mut url = format!("/content?q={}&limit=1", crate::params::encode(q));
        loop {
            let answer = app.get(&url).await;
            assert_eq!(answer.status.as_u16(), 200, "{q}: {:?}", answer.body);
            found.extend(answer.ids());
            match answer.next_cursor() {
                Some(cursor) => {
                    url = format!(
                        "/content?q={}&limit=1&cursor={cursor}",
                        crate::params::encode(q)
                    );
                }
                None => break,
            }
        }
        assert_eq!(found, expected, "{q}");
    }
    // Both body reviews end with the excluded word.
    let answer = app.get("/content?q=zorblax%20-final&limit=10").await;
    assert_eq!(answer.ids(), expected[..4].to_vec());
}

/// The reviews of [`relevance_reads_past_its_window_in_every_tier`] with
/// the word in their title: five among the 500 newest, one in the next
/// thousand, two older still.
const TITLED: [i64; 8] = [50, 150, 250, 350, 450, 700, 1600, 2000];

/// Where review `g` of [`relevance_reads_past_its_window_in_every_tier`]
/// matches the query first: 0 title, 1 subject, 2 opening, 3 body.
fn bulk_tier(g: i64) -> Option<u8> {
    match g {
        _ if TITLED.contains(&g) => Some(0),
        _ if g % 100 == 5 => Some(1),
        _ if g % 10 == 7 => Some(2),
        _ if g % 100 == 3 => Some(3),
        _ => None,
    }
}

#[actix_web::test]
async fn relevance_reads_past_its_window_in_every_tier() {
    // 2,000 reviews, more than the 500 newest a search reads first. The
    // first page's title matches are too few there but enough to walk on
    // through the next thousand, which hold one more, so the rest come from
    // the indexes (without the one found walking on); later pages walk on
    // for subject matches and find enough. Pages of seven cross tiers and
    // windows.
    let app = spawn_app().await;
    let word = crate::helpers::unique_word("zorb");
    let filler = "word ".repeat(120);
    app.sql(&format!(
        "INSERT INTO subjects (kind, brand, model, slug) VALUES
           ('camera', 'Acme', 'Plain', 'acme-plain'), ('camera', 'Acme', '{word}', 'acme-{word}');
         INSERT INTO reviews (slug, subject_id, editor_id, title, body, language, status, published_at)
         SELECT 'bulk-' || g,
                (SELECT id FROM subjects WHERE slug = CASE WHEN g % 100 = 5 THEN 'acme-{word}' ELSE 'acme-plain' END),
                {admin}, CASE WHEN g = ANY('{titled}') THEN '{word} in the title ' || g ELSE 'Review ' || g END,
                CASE WHEN g % 10 = 7 THEN '{word} in the opening ' || g
                     WHEN g % 100 = 3 THEN '{filler} {word} at the end ' || g
                     ELSE 'Nothing to find ' || g END,
                'en', 'published', now() - interval '1 day' - g * interval '1 minute'
           FROM generate_series(1, 2000) g;",
        admin = app.admin_id,
        titled = format!("{TITLED:?}").replace('[', "{").replace(']', "}"),
    ))
    .await;
    app.bump_version().await;
    let ids: std::collections::HashMap<String, i64> = {
        let client = app.db.primary_client().await;
        let rows = client
            .query("SELECT slug, id FROM reviews WHERE slug LIKE 'bulk-%'", &[])
            .await
            .expect("ids");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    // One transaction: the newest listed means all are.
    app.wait_listed(ids["bulk-1"]).await;
    let mut expected: Vec<(u8, i64)> = (1..=2000)
        .filter_map(|g| bulk_tier(g).map(|tier| (tier, g)))
        .collect();
    expected.sort_unstable();
    let expected: Vec<i64> = expected
        .iter()
        .map(|(_, g)| ids[&format!("bulk-{g}")])
        .collect();
    let mut found = Vec::new();
    let mut url = format!("/content?q={word}&limit=7");
    // Pages enough for every match: a cursor that went back would loop.
    for _ in 0..=expected.len() / 7 + 1 {
        let answer = app.get(&url).await;
        assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
        found.extend(answer.ids());
        let Some(cursor) = answer.next_cursor() else {
            break;
        };
        url = format!("/content?q={word}&limit=7&cursor={cursor}");
    }
    assert_eq!(found.len(), expected.len());
    assert_eq!(found, expected);
}

#[actix_web::test]
async fn a_title_that_matches_through_an_excluded_word_is_in_the_title_tier() {
    // `word or -final` matches a title without "final". The older review's
    // opening has "final" and not the word, so it does not match there,
    // yet its title does and the whole review does (the word is deep in
    // its body): it belongs in the title tier, before the newer review,
    // whose title has "final" and which matches in its body alone.
    let app = spawn_app().await;
    let word = crate::helpers::unique_word("zorb");
    let brand = crate::helpers::unique_word("brand");
    let filler = "word ".repeat(120);
    let mut ids = Vec::new();
    for (model, title) in [("T", "Plain review"), ("B", "The final cut")] {
        let answer = app
            .publish(&json!({
                "subject": { "kind": "camera", "brand": brand, "model": model },
                "title": title,
                "body": format!("The final opening. {filler} {word} at the end."),
                "language": "en",
            }))
            .await;
        ids.push(answer.body["id"].as_i64().expect("id"));
    }
    app.wait_listed(ids[1]).await;
    let q = crate::params::encode(&format!("{word} or -final"));
    let answer = app
        .get(&format!("/content?q={q}&brand={brand}&limit=10"))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
    assert_eq!(answer.ids(), ids);
}
