//! Pagination cursors: any client text, and signed positions of every type
//! the services page by, damaged one way or another.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use platform::fuzzing::{Damage, check_cursor_round_trip, check_cursor_text};

/// A brand or model as a catalog cursor carries it: at most 100
/// characters, lowercased.
fn name(u: &mut Unstructured<'_>) -> Result<String> {
    let text: String = u.arbitrary()?;
    Ok(text.chars().take(100).collect::<String>().to_lowercase())
}

fn run(data: &[u8]) -> Result<()> {
    let u = &mut Unstructured::new(data);
    let mode: u8 = u.arbitrary()?;
    let damage = Damage {
        at: u.arbitrary()?,
        byte: u.arbitrary()?,
    };
    let scope: String = u.arbitrary()?;
    match mode % 4 {
        0 => {
            // The bytes `u` has not consumed yet.
            let text = String::from_utf8_lossy(&data[data.len() - u.len()..]);
            check_cursor_text(&scope, &text);
        }
        1 => {
            // `/content`: a sort key (timestamp, rating or rank) and an id.
            let sort_key = match u.arbitrary::<u8>()? % 3 {
                0 => f64::from(u.arbitrary::<f32>()?),
                1 => u.arbitrary::<i64>()? as f64,
                _ => u.arbitrary::<f64>()?,
            };
            if sort_key.is_finite() {
                check_cursor_round_trip(&scope, &(sort_key, u.arbitrary::<i64>()?), damage);
            }
        }
        2 => {
            // `/content/subjects`: brand, model and id.
            let position = (name(u)?, name(u)?, u.arbitrary::<i64>()?);
            check_cursor_round_trip(&scope, &position, damage);
        }
        _ => {
            // `GET /reviews`: an id.
            check_cursor_round_trip(&scope, &u.arbitrary::<i64>()?, damage);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
