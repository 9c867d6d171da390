//! When readers may see a review (SPEC §10.4 "Embargoes"): not yet (a
//! draft), from now on (published), or from a future instant (scheduled),
//! as the `status` and `publish_at` of a review body ask together.
//!
//! Whether an instant is in the future depends on the time, which this
//! crate never reads: the caller passes `now`. The database decides later
//! whether a scheduled review's time has come (`rcr_is_public`), so a
//! review scheduled here needs nobody to act when its time comes.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::error::Invalid;
use crate::review::ReviewStatus;

/// How far ahead an embargo may lie: a year, leap days included. Further
/// is far more likely a typo in the year than a plan.
pub const MAX_EMBARGO: Duration = Duration::days(366);

/// The longest `publish_at` text read (RFC 3339 with nanoseconds and an
/// offset is 35 characters).
const MAX_TEXT: usize = 64;

/// When a review becomes public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// Not public; no publication date.
    Draft,
    /// Public from now on (or since it first was).
    Now,
    /// Public from this instant on, in UTC to the microsecond: status
    /// `scheduled`, and the date it shows as published.
    At(OffsetDateTime),
}

impl Publication {
    /// The status stored for it.
    pub fn status(self) -> ReviewStatus {
        match self {
            Self::Draft => ReviewStatus::Draft,
            Self::Now => ReviewStatus::Published,
            Self::At(_) => ReviewStatus::Scheduled,
        }
    }

    /// The embargo's end, for a scheduled review.
    pub fn publish_at(self) -> Option<OffsetDateTime> {
        match self {
            Self::At(at) => Some(at),
            Self::Draft | Self::Now => None,
        }
    }
}

/// A `publish_at` as a client sends it: an RFC 3339 date and time at most
/// [`MAX_EMBARGO`] after `now` (any past instant is fine: it means "now").
/// Kept in UTC and cut to the microsecond, as PostgreSQL stores it, so
/// that what is answered is what was accepted.
pub fn parse_publish_at(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Invalid> {
    let invalid =
        || Invalid::new("must be an RFC 3339 date and time, such as 2030-01-31T09:00:00Z");
    if text.len() > MAX_TEXT {
        return Err(invalid());
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid())?;
    let at = at
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .map_err(|_| invalid())?;
    if at - now > MAX_EMBARGO {
        return Err(Invalid::new("must be at most a year from now"));
    }
    Ok(at)
}

/// `publish_at` as sent: an RFC 3339 text, for the answers and for
/// clients written in Rust (the fuzzing round trips).
pub fn format_publish_at(at: OffsetDateTime) -> String {
    // Every OffsetDateTime that `parse_publish_at` returns has a four-digit
    // year and a UTC offset, which RFC 3339 can always write.
    at.format(&Rfc3339).unwrap_or_default()
}

/// What a body's `publish_at` said: absent (`None`), `null` (`Some(None)`,
/// "no publish time", so "now" unless the review is to be a draft) or an
/// instant.
pub(crate) type PublishAtField = Option<Option<OffsetDateTime>>;

/// The publication a body asks for with `status` (absent or valid) and
/// `publish_at`; `None` when it asks nothing (neither is given). A refusal
/// names the field at fault:
///
/// | status \ publish_at | absent / null | past | future |
/// | --- | --- | --- | --- |
/// | absent | (nothing) / now | now | at |
/// | `draft` | draft | refused | refused |
/// | `published` | now | now | refused |
/// | `scheduled` | refused | refused | at |
pub(crate) fn resolve(
    status: Option<ReviewStatus>,
    publish_at: PublishAtField,
    now: OffsetDateTime,
) -> Result<Option<Publication>, (&'static str, Invalid)> {
    use ReviewStatus::{Draft, Published, Scheduled};
    let chosen = match (status, publish_at) {
        (None, None) => return Ok(None),
        (Some(Draft), None | Some(None)) => Publication::Draft,
        (Some(Draft), Some(Some(_))) => {
            return Err(("publish_at", Invalid::new("must be left out for a draft")));
        }
        (Some(Scheduled), None | Some(None)) => {
            return Err((
                "publish_at",
                Invalid::new("is required for a scheduled review: a time in the future"),
            ));
        }
        (Some(Scheduled), Some(Some(at))) if at > now => Publication::At(at),
        (Some(Scheduled), Some(Some(_))) => {
            return Err((
                "publish_at",
                Invalid::new("must be in the future for a scheduled review"),
            ));
        }
        (Some(Published), Some(Some(at))) if at > now => {
            return Err((
                "status",
                Invalid::new("must be scheduled, or left out, when publish_at is in the future"),
            ));
        }
        (None, Some(Some(at))) if at > now => Publication::At(at),
        (None | Some(Published), _) => Publication::Now,
    };
    Ok(Some(chosen))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn at(text: &str) -> OffsetDateTime {
        parse_publish_at(text, NOW).unwrap()
    }

    #[test]
    fn a_publish_time_is_rfc_3339_kept_in_utc_to_the_microsecond() {
        assert_eq!(
            at("2030-02-01T09:00:00-03:00"),
            datetime!(2030-02-01 12:00 UTC)
        );
        assert_eq!(at("2030-02-01T09:00:00-03:00").offset(), UtcOffset::UTC);
        assert_eq!(
            at("2030-02-01T12:00:00.123456789Z"),
            datetime!(2030-02-01 12:00:00.123456 UTC)
        );
        assert_eq!(
            format_publish_at(at("2030-02-01T12:00:00.5Z")),
            "2030-02-01T12:00:00.5Z"
        );
        for bad in [
            "",
            "2030-02-01",
            "2030-02-01T12:00:00",
            "tomorrow",
            &format!("2030-02-01T12:00:00.{}Z", "1".repeat(60)),
        ] {
            assert!(parse_publish_at(bad, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_publish_time_is_at_most_a_year_ahead_and_may_be_long_past() {
        assert!(parse_publish_at("2031-01-02T12:00:00Z", NOW).is_ok());
        assert_eq!(
            parse_publish_at("2031-01-02T12:00:01Z", NOW)
                .unwrap_err()
                .message(),
            "must be at most a year from now"
        );
        assert!(parse_publish_at("1999-01-01T00:00:00Z", NOW).is_ok());
    }

    #[test]
    fn a_future_publish_time_schedules_and_a_past_one_publishes_now() {
        use ReviewStatus::{Published, Scheduled};
        let future = at("2030-06-01T00:00:00Z");
        let past = at("2029-06-01T00:00:00Z");
        for status in [None, Some(Scheduled)] {
            assert_eq!(
                resolve(status, Some(Some(future)), NOW),
                Ok(Some(Publication::At(future)))
            );
        }
        for status in [None, Some(Published)] {
            assert_eq!(
                resolve(status, Some(Some(past)), NOW),
                Ok(Some(Publication::Now))
            );
            assert_eq!(resolve(status, Some(None), NOW), Ok(Some(Publication::Now)));
        }
        // Exactly now is not the future: published at once.
        assert_eq!(
            resolve(None, Some(Some(NOW)), NOW),
            Ok(Some(Publication::Now))
        );
        assert_eq!(resolve(None, None, NOW), Ok(None));
        assert_eq!(
            resolve(Some(Published), None, NOW),
            Ok(Some(Publication::Now))
        );
    }

    #[test]
    fn a_draft_has_no_publish_time_and_a_scheduled_review_needs_a_future_one() {
        use ReviewStatus::{Draft, Published, Scheduled};
        let future = at("2030-06-01T00:00:00Z");
        let past = at("2029-06-01T00:00:00Z");
        for publish_at in [None, Some(None)] {
            assert_eq!(
                resolve(Some(Draft), publish_at, NOW),
                Ok(Some(Publication::Draft))
            );
        }
        let refused = |status, publish_at| resolve(Some(status), publish_at, NOW).unwrap_err().0;
        assert_eq!(refused(Draft, Some(Some(future))), "publish_at");
        assert_eq!(refused(Draft, Some(Some(past))), "publish_at");
        assert_eq!(refused(Scheduled, None), "publish_at");
        assert_eq!(refused(Scheduled, Some(None)), "publish_at");
        assert_eq!(refused(Scheduled, Some(Some(past))), "publish_at");
        assert_eq!(refused(Published, Some(Some(future))), "status");
    }

    #[test]
    fn a_publication_names_its_status_and_publish_time() {
        let future = at("2030-06-01T00:00:00Z");
        assert_eq!(Publication::At(future).status(), ReviewStatus::Scheduled);
        assert_eq!(Publication::At(future).publish_at(), Some(future));
        assert_eq!(Publication::Now.status(), ReviewStatus::Published);
        assert_eq!(Publication::Draft.status(), ReviewStatus::Draft);
        assert_eq!(Publication::Now.publish_at(), None);
    }

    proptest! {
        #[test]
        fn an_accepted_publish_time_reads_back_as_itself(secs in -2_000_000_000i64..2_000_000_000, micros in 0u32..1_000_000) {
            let instant = NOW + Duration::seconds(secs) + Duration::microseconds(micros.into());
            let text = format_publish_at(instant);
            match parse_publish_at(&text, NOW) {
                Ok(parsed) => {
                    prop_assert_eq!(parsed, instant);
                    prop_assert_eq!(format_publish_at(parsed), text);
                }
                Err(_) => prop_assert!(instant - NOW > MAX_EMBARGO),
            }
        }

        #[test]
        fn parsing_any_text_as_a_publish_time_never_panics(s in "\\PC{0,70}|[0-9:.TZ+-]{0,40}") {
            let _ = parse_publish_at(&s, NOW);
        }
    }
}
