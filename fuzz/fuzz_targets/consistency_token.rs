//! `X-Consistency-Token`: any header text (also read as an LSN), and signed
//! tokens damaged one way or another.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use platform::consistency::{ConsistencyToken, Lsn};
use platform::fuzzing::{Damage, check_token_round_trip, check_token_text};

fn run(data: &[u8]) -> Result<()> {
    let u = &mut Unstructured::new(data);
    if u.arbitrary::<bool>()? {
        let token = ConsistencyToken {
            timeline: u.arbitrary()?,
            lsn: Lsn(u.arbitrary()?),
            issued_at: u.arbitrary()?,
        };
        let damage = Damage {
            at: u.arbitrary()?,
            byte: u.arbitrary()?,
        };
        check_token_round_trip(token, damage);
    } else {
        // The bytes `u` has not consumed yet.
        check_token_text(&String::from_utf8_lossy(&data[data.len() - u.len()..]));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
