//! The content-reader's query strings, on every route.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    content_reader::fuzzing::check_query(&String::from_utf8_lossy(data));
});
