//! `POST /reviews` and `PATCH /reviews/{id}` bodies: any bytes, read as the
//! writer reads them, then validated into `NewReview` and `ReviewPatch`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    platform::fuzzing::check_review_body(data);
});
