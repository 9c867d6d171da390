//! How an account is used, as auth records it and lets it be searched: the
//! user agent a session started from, and the filters of an audit trail (an
//! action name, a time range).
//!
//! The user agent is whatever a client sent, so it is taken, never refused:
//! an odd header must not stop a login. It is cut to a length a list of
//! sessions can show and a log line could never be flooded by.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Invalid;
use crate::text::string_newtype;

/// The `User-Agent` a session started from, as kept and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent(String);

impl UserAgent {
    /// Longer agents are cut here (the database holds no more).
    pub const MAX_CHARS: usize = 200;

    /// The header's bytes made presentable: invalid UTF-8 replaced, control
    /// characters dropped, surrounding whitespace trimmed, at most
    /// [`Self::MAX_CHARS`] characters. `None` when nothing is left.
    pub fn from_header(raw: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(raw);
        let visible: String = text.chars().filter(|c| !c.is_control()).collect();
        let cut: String = visible.trim().chars().take(Self::MAX_CHARS).collect();
        let cut = cut.trim_end();
        (!cut.is_empty()).then(|| Self(cut.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_audit_action(value: &str) -> Result<String, Invalid> {
    let word = |b: u8| b.is_ascii_lowercase() || b == b'_';
    if value.is_empty() || value.len() > 100 || !value.bytes().all(word) {
        return Err(Invalid::new(
            "must be an action name: 1 to 100 lowercase letters and underscores",
        ));
    }
    Ok(value.to_owned())
}

string_newtype!(
    /// The name of an audited action (`login_succeeded`), as a filter.
    AuditAction,
    validate_audit_action
);

/// A point in time as a query parameter gives it: RFC 3339, or
/// `YYYY-MM-DD` meaning midnight UTC at the start of that day.
pub fn parse_instant(value: &str) -> Result<OffsetDateTime, Invalid> {
    let invalid = || Invalid::new("must be an RFC 3339 timestamp or a YYYY-MM-DD date");
    if value.len() > 64 {
        return Err(invalid());
    }
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    // Four-digit years only: `[year]` alone would take a sign, and a year
    // before 4713 BC is beyond what PostgreSQL can compare with.
    let digits_and_dashes = value.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    if value.len() != 10 || !digits_and_dashes {
        return Err(invalid());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|day| day.midnight().assume_utc())
        .map_err(|_| invalid())
}

/// An inclusive time range, either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

impl Period {
    /// Both ends as given; a refusal names the end it is about (`since`
    /// after `until` is `since`'s).
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Self, (&'static str, Invalid)> {
        let since = since
            .map(parse_instant)
            .transpose()
            .map_err(|e| ("since", e))?;
        let until = until
            .map(parse_instant)
            .transpose()
            .map_err(|e| ("until", e))?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(("since", Invalid::new("must not be after until")));
        }
        Ok(Self { since, until })
    }

    pub fn since(&self) -> Option<OffsetDateTime> {
        self.since
    }

    pub fn until(&self) -> Option<OffsetDateTime> {
        self.until
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_user_agent_is_cut_to_200_characters_without_controls() {
        let long = format!("Mozilla/5.0 ({})", "ñ".repeat(300));
        let agent = UserAgent::from_header(long.as_bytes()).unwrap();
        assert_eq!(agent.as_str().chars().count(), UserAgent::MAX_CHARS);
        assert!(long.starts_with(agent.as_str()));
        let odd = UserAgent::from_header(b"  curl/8.5\x00\x1b[31m \xff ").unwrap();
        assert_eq!(odd.as_str(), "curl/8.5[31m \u{fffd}");
        assert_eq!(UserAgent::from_header(b" \t\x07 "), None);
        assert_eq!(UserAgent::from_header(b""), None);
    }

    #[test]
    fn an_audit_action_is_a_lowercase_word_with_underscores() {
        assert!(AuditAction::parse("login_succeeded").is_ok());
        for bad in ["", "Login", "login-failed", "a b", "ñ", &"a".repeat(101)] {
            assert!(AuditAction::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_instant_is_rfc_3339_or_a_plain_date_at_utc_midnight() {
        let at = parse_instant("2024-02-01T10:00:00-03:00").unwrap();
        assert_eq!(at.unix_timestamp(), 1_706_792_400);
        let day = parse_instant("2024-02-01").unwrap();
        assert_eq!(day.unix_timestamp(), 1_706_745_600);
        for bad in [
            "",
            "yesterday",
            "2024-2-1",
            "+2024-02-01",
            "-9999-01-01",
            "2024-02-30",
            "2024-02-01T10:00:00",
            &"9".repeat(65),
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_period_names_the_end_it_refuses() {
        assert_eq!(Period::parse(None, None).unwrap(), Period::default());
        let both = Period::parse(Some("2024-01-01"), Some("2024-01-01")).unwrap();
        assert_eq!(both.since(), both.until());
        let (field, why) = Period::parse(Some("2024-01-02"), Some("2024-01-01")).unwrap_err();
        assert_eq!((field, why.message()), ("since", "must not be after until"));
        assert_eq!(Period::parse(None, Some("x")).unwrap_err().0, "until");
        assert_eq!(Period::parse(Some("x"), None).unwrap_err().0, "since");
    }

    proptest! {
        #[test]
        fn any_header_gives_a_trimmed_agent_of_at_most_200_visible_characters(
            raw in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            if let Some(agent) = UserAgent::from_header(&raw) {
                let text = agent.as_str();
                prop_assert!(!text.is_empty());
                prop_assert!(text.chars().count() <= UserAgent::MAX_CHARS);
                prop_assert_eq!(text.trim(), text);
                prop_assert!(!text.chars().any(char::is_control));
            }
        }

        #[test]
        fn every_rfc_3339_instant_reads_back_as_itself(secs in -62_000_000_000i64..250_000_000_000) {
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let text = at.format(&Rfc3339).unwrap();
            prop_assert_eq!(parse_instant(&text).unwrap(), at);
        }

        #[test]
        fn parsing_any_text_as_an_instant_never_panics(s in "\\PC{0,70}|[0-9:TZ+-]{0,30}") {
            let _ = parse_instant(&s);
        }
    }
}
