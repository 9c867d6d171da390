//! URL slugs shared by reviews and subjects (SPEC §4 "Slugs").
//!
//! The rules mirror the schema's `rcr_valid_slug`, so a slug made here is
//! never refused by the database. A slug is never all digits, which keeps
//! `/content/{slug or id}` unambiguous, and never a route name.
//!
//! Derivation is total: any title, however odd, yields a valid slug. A base
//! slug is kept short enough that any collision suffix `-N` (up to
//! `u32::MAX`) still fits in 120 characters, so the writer can retry
//! `with_suffix(2)`, `with_suffix(3)`, … on unique violations without ever
//! producing an invalid slug.

use crate::error::Invalid;
use crate::subject::{Brand, Model};
use crate::text::string_newtype;

/// Longest slug the schema accepts.
pub const SLUG_MAX_LEN: usize = 120;

/// Route names under `/content` that a slug must not shadow.
pub const RESERVED_SLUGS: &[&str] = &["subjects", "compare", "changes"];

/// `-4294967295` is the longest collision suffix.
const MAX_SUFFIX_LEN: usize = 11;

/// Room left for a derived base so any suffix still fits.
const MAX_BASE_LEN: usize = SLUG_MAX_LEN - MAX_SUFFIX_LEN;

const REVIEW_FALLBACK: &str = "review";
const SUBJECT_FALLBACK: &str = "subject";

fn validate_slug(value: &str) -> Result<String, Invalid> {
    if value.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if value.len() > SLUG_MAX_LEN {
        return Err(Invalid::new(format!(
            "must be at most {SLUG_MAX_LEN} characters"
        )));
    }
    let shape_ok = value.split('-').all(|word| {
        !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if !shape_ok {
        return Err(Invalid::new(
            "must be lowercase letters and digits in words joined by single hyphens",
        ));
    }
    if !has_letter(value) {
        return Err(Invalid::new("must contain a letter"));
    }
    if RESERVED_SLUGS.contains(&value) {
        return Err(Invalid::new("is reserved"));
    }
    Ok(value.to_owned())
}

fn has_letter(value: &str) -> bool {
    value.bytes().any(|b| b.is_ascii_lowercase())
}

string_newtype!(
    /// A valid slug: `[a-z0-9]+(-[a-z0-9]+)*`, at most 120 characters, with
    /// at least one letter, not a reserved route name.
    Slug,
    validate_slug
);

impl Slug {
    /// The slug of a new review. Titles may change later; slugs do not.
    pub fn from_title(title: &str) -> Slug {
        derive(title, REVIEW_FALLBACK)
    }

    /// The slug of a new catalog subject.
    pub fn from_brand_model(brand: &Brand, model: &Model) -> Slug {
        derive(&format!("{brand} {model}"), SUBJECT_FALLBACK)
    }

    /// The `n`th collision candidate: `base-n`, shortened when needed so it
    /// stays within 120 characters, always valid and different from `self`.
    pub fn with_suffix(&self, n: u32) -> Slug {
        let suffix = format!("-{n}");
        let base = self.0.as_str();
        let room = SLUG_MAX_LEN - suffix.len();
        // Derived slugs always have room; only a long slug parsed from
        // elsewhere needs cutting, and then the cut must neither leave the
        // slug without a letter nor recreate `self` (`…-5` + `-5`).
        for cut in (1..=base.len().min(room)).rev() {
            let head = base[..cut].trim_end_matches('-');
            if head.is_empty() || !has_letter(head) {
                continue;
            }
            let candidate = format!("{head}{suffix}");
            if candidate != base {
                return Slug(candidate);
            }
        }
        // Only reachable when every letter sits past the cut (over 100
        // leading digits): lead with a letter instead.
        let head = base[..room - 2].trim_end_matches('-');
        Slug(format!("s-{head}{suffix}"))
    }
}

fn derive(input: &str, fallback: &str) -> Slug {
    let ascii = deunicode::deunicode(input);
    let mut slug = String::with_capacity(ascii.len().min(MAX_BASE_LEN + 1));
    let mut gap = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !slug.is_empty() {
                slug.push('-');
            }
            gap = false;
            slug.push(c.to_ascii_lowercase());
            // One character past the limit tells `truncate` whether the cut
            // falls on a word boundary; the rest cannot matter.
            if slug.len() > MAX_BASE_LEN {
                break;
            }
        } else {
            gap = true;
        }
    }
    let base = truncate(&slug, MAX_BASE_LEN);
    let base = if base.is_empty() {
        fallback.to_owned()
    } else if !has_letter(base) || RESERVED_SLUGS.contains(&base) {
        // `2024` would read as an id, `compare` as a route: `review-2024`.
        let rest = truncate(base, MAX_BASE_LEN - fallback.len() - 1);
        format!("{fallback}-{rest}")
    } else {
        base.to_owned()
    };
    debug_assert!(
        validate_slug(&base).is_ok(),
        "derived invalid slug {base:?}"
    );
    Slug(base)
}

/// Cuts a hyphenated slug to at most `max` bytes, at a word boundary when
/// that keeps at least half of it, so `sony-alpha-7-iv` shortens to
/// `sony-alpha` rather than `sony-alpha-7-i`.
fn truncate(slug: &str, max: usize) -> &str {
    if slug.len() <= max {
        return slug;
    }
    let cut = &slug[..max];
    if slug.as_bytes()[max] == b'-' {
        return cut.trim_end_matches('-');
    }
    match cut.rfind('-') {
        Some(pos) if pos >= max / 2 => &cut[..pos],
        _ => cut.trim_end_matches('-'),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn brand(s: &str) -> Brand {
        Brand::parse(s).unwrap()
    }

    fn model(s: &str) -> Model {
        Model::parse(s).unwrap()
    }

    #[test]
    fn a_slug_folds_accents_and_joins_words_with_single_hyphens() {
        assert_eq!(
            Slug::from_title("Cámara: ¡la mejor del año!").as_str(),
            "camara-la-mejor-del-ano"
        );
        assert_eq!(
            Slug::from_title("ÑANDÚ  --  São Paulo").as_str(),
            "nandu-sao-paulo"
        );
        assert_eq!(
            Slug::from_brand_model(&brand("Sony"), &model("α7 IV")).as_str(),
            "sony-a7-iv"
        );
    }

    #[test]
    fn a_title_with_nothing_sluggable_falls_back_to_review() {
        assert_eq!(Slug::from_title("!!! ???").as_str(), "review");
        assert_eq!(Slug::from_title("").as_str(), "review");
    }

    #[test]
    fn an_all_digit_or_reserved_slug_gets_a_prefix() {
        assert_eq!(Slug::from_title("2024").as_str(), "review-2024");
        assert_eq!(Slug::from_title("2024 - 10").as_str(), "review-2024-10");
        assert_eq!(Slug::from_title("Compare").as_str(), "review-compare");
        assert_eq!(
            Slug::from_brand_model(&brand("1"), &model("2")).as_str(),
            "subject-1-2"
        );
        assert_eq!(
            Slug::from_brand_model(&brand("Subjects"), &model("+")).as_str(),
            "subject-subjects"
        );
    }

    #[test]
    fn a_long_title_is_cut_at_a_word_boundary_leaving_room_for_a_suffix() {
        let title = "word ".repeat(60);
        let slug = Slug::from_title(&title);
        assert!(slug.as_str().len() <= MAX_BASE_LEN);
        assert!(slug.as_str().ends_with("word"));
        assert_eq!(
            slug.with_suffix(u32::MAX).as_str().len(),
            slug.as_str().len() + 11
        );
    }

    #[test]
    fn parsing_accepts_exactly_the_schema_shape() {
        for good in ["a", "sony-a7-iv", "x100", "2024-review", "a-1"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "-a", "a-", "a--b", "A", "á", "a b", "2024", "12-34", "subjects", "compare", "a_b",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert!(Slug::parse(&"a".repeat(120)).is_ok());
        assert!(Slug::parse(&"a".repeat(121)).is_err());
    }

    #[test]
    fn suffixes_count_up_from_the_base() {
        let base = Slug::parse("sony-a7-iv").unwrap();
        assert_eq!(base.with_suffix(2).as_str(), "sony-a7-iv-2");
        assert_eq!(base.with_suffix(3).as_str(), "sony-a7-iv-3");
    }

    #[test]
    fn a_suffix_on_a_full_length_slug_is_cut_to_fit_and_never_recreates_it() {
        let base = Slug::parse(&format!("{}-5", "a".repeat(118))).unwrap();
        let next = base.with_suffix(5);
        assert_ne!(next, base);
        assert!(next.as_str().len() <= SLUG_MAX_LEN);
        assert!(Slug::parse(next.as_str()).is_ok());

        let digits_first = Slug::parse(&format!("{}-a", "1".repeat(118))).unwrap();
        let next = digits_first.with_suffix(7);
        assert!(Slug::parse(next.as_str()).is_ok(), "{next}");
        assert_ne!(next, digits_first);
    }

    proptest! {
        #[test]
        fn any_title_gives_a_valid_slug_and_valid_distinct_suffixes(title in "\\PC{0,300}|.{0,50}", n in any::<u32>()) {
            // Also checks parsing the title as a slug, and brand + model.
            crate::fuzzing::check_slug(&title, n);
        }

        #[test]
        fn any_brand_and_model_give_a_valid_slug(b in "\\PC{1,100}", m in "\\PC{1,100}") {
            if let (Ok(b), Ok(m)) = (Brand::parse(&b), Model::parse(&m)) {
                let slug = Slug::from_brand_model(&b, &m);
                prop_assert!(Slug::parse(slug.as_str()).is_ok(), "{:?}", slug);
            }
        }

        #[test]
        fn any_valid_slug_suffixed_stays_valid_and_distinct(
            slug in "[a-z0-9]{1,30}(-[a-z0-9]{1,30}){0,6}",
            n in any::<u32>(),
        ) {
            if let Ok(slug) = Slug::parse(&slug) {
                let next = slug.with_suffix(n);
                prop_assert!(Slug::parse(next.as_str()).is_ok(), "{:?}", next);
                prop_assert_ne!(next, slug);
            }
        }

        #[test]
        fn a_slug_is_left_unchanged_by_deriving_it_again(title in "\\PC{0,100}") {
            let slug = Slug::from_title(&title);
            prop_assert_eq!(Slug::from_title(slug.as_str()), slug);
        }
    }
}
