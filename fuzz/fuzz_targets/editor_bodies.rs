//! `POST /auth/editors` and `PATCH /auth/editors/{id}` bodies: any bytes,
//! read as auth reads them, then validated into `NewEditor` and
//! `EditorPatch`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    platform::fuzzing::check_editor_body(data);
});
