//! Continents apart on one machine (SPEC §10.4): the stack started with
//! every cross-region link delayed (`make run WAN=1`), and what users meet
//! across them — read-your-writes in a far region, a region whose
//! replication link is cut serving from the primary across the ocean, and
//! catching up when the link heals.

mod common;

use common::{Gateway, StopOnDrop, start_stack_apart, wait_until};
use local_stack::Component;
use local_stack::wan::{LinkKind, WanProfile};
use serde_json::json;

#[test]
fn a_far_region_reads_its_writes_and_survives_a_cut_replication_link() {
    let wan = WanProfile::parse("eu:100").expect("profile");
    let (stack, started) = start_stack_apart("geo-test", &["sa", "eu"], wan);
    let _guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    assert_eq!(layout.wan["eu"].delay_ms, 100);
    assert!(
        stack
            .status()
            .iter()
            .any(|l| l.contains("wan eu") && l.contains("100 ms")),
        "{:?}",
        stack.status()
    );
    let gw = Gateway { layout: &layout };
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "geo@example.com", "Geo Tester");
    let publish = |title: &str| {
        let reply = gw.call(
            "sa",
            "POST",
            "/reviews",
            Some(&editor),
            &[],
            Some(&json!({
                "subject": { "kind": "camera", "brand": "Leica", "model": "Q3" },
                "title": title, "body": "Nítida y compacta.", "rating": 9
            })),
        );
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        (
            reply.body["slug"].as_str().expect("slug").to_owned(),
            reply
                .header("x-consistency-token")
                .expect("token")
                .to_owned(),
        )
    };
    // Read-your-writes across 100 ms each way.
    let (slug, token) = publish("Leica Q3 en Europa");
    let read = gw.call(
        "eu",
        "GET",
        &format!("/content/{slug}"),
        None,
        &[("X-Consistency-Token", &token)],
        None,
    );
    assert_eq!(read.status, 200, "{:?}", read.body);

    // The replication link cut: the write does not reach eu's replica, and
    // a token-carrying read is served from the primary across the ocean.
    stack
        .partition("eu", LinkKind::Replication, true)
        .expect("cut");
    let (cut_slug, cut_token) = publish("Leica Q3 durante el corte");
    let read = gw.call(
        "eu",
        "GET",
        &format!("/content/{cut_slug}"),
        None,
        &[("X-Consistency-Token", &cut_token)],
        None,
    );
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.header("x-served-from"), Some("primary"));
    let on_replica = || {
        stack
            .query(
                &Component::Replica("eu".into()),
                &format!("SELECT count(*) FROM reviews WHERE slug = '{cut_slug}'"),
            )
            .expect("replica answers")
    };
    assert_eq!(on_replica(), "0", "the cut link carried the write");
    stack
        .partition("eu", LinkKind::Replication, false)
        .expect("heal");
    wait_until("eu's replica catches up after the heal", || {
        on_replica() == "1"
    });
}
