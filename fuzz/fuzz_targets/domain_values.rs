//! Every single-value parser of the domain crate (slugs, ratings,
//! idempotency keys, titles, URLs, emails, …) on any text.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut head = [0u8; 8];
    let n = data.len().min(8);
    head[..n].copy_from_slice(&data[..n]);
    let text = String::from_utf8_lossy(data);
    domain::fuzzing::check_text(&text);
    domain::fuzzing::check_slug(
        &text,
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
    );
    domain::fuzzing::check_rating_text(&text);
    domain::fuzzing::check_rating_number(f64::from_le_bytes(head));
    domain::fuzzing::check_idempotency_key(&text);
});
