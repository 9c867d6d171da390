//! The properties every domain parser must keep, as functions that both the
//! fuzz targets (`fuzz/`) and this crate's property tests call, so a long
//! fuzz run and `cargo test` check exactly the same thing.
//!
//! Each `check_*` accepts any input and panics when a property fails:
//! no parser may panic, a refusal must say which field and why (the
//! services answer it as a 4xx: `validation_failed` for bodies,
//! `bad_request` for the `Idempotency-Key` header), and whatever a parser
//! accepts must come back unchanged when written out and parsed again, so
//! that a stored value never turns invalid or different on its next read.
//!
//! Not part of the crate's API: hidden from the docs, and free to change
//! whenever the properties do.

use crate::{
    Body, Brand, EditorName, EditorPatch, Email, IdempotencyKey, ImageUrl, ImageUrls, Language,
    ListItems, Model, NewEditor, NewReview, NewSubject, Nullable, Password, Rating, RawEditorPatch,
    RawNewEditor, RawNewReview, RawReviewPatch, RawSpecs, RawSubject, ReviewPatch, ReviewStatus,
    Role, SLUG_MAX_LEN, Slug, SubjectKind, Summary, Title, ValidationErrors, format_publish_at,
    parse_publish_at, unknown_field_in,
};

/// The instant the checks take as now: review bodies with a `publish_at`
/// are only accepted relative to one.
pub const NOW: time::OffsetDateTime = time::macros::datetime!(2030-01-01 12:00 UTC);

/// Top-level fields of the review bodies, the first segment of every
/// violation's path.
pub const REVIEW_FIELDS: &[&str] = &[
    "subject",
    "title",
    "summary",
    "body",
    "rating",
    "pros",
    "cons",
    "image_urls",
    "language",
    "status",
    "publish_at",
];

const EDITOR_FIELDS: &[&str] = &["email", "name", "password", "role", "disabled"];

/// Longest slug `Slug::from_title` may derive: room is kept for `-N`.
const MAX_DERIVED_SLUG_LEN: usize = SLUG_MAX_LEN - 11;

/// Parses `input` with `$parse`; an accepted value must parse again from
/// its own text to itself (normalising twice changes nothing).
macro_rules! check_idempotent {
    ($input:expr, $($parse:path),+ $(,)?) => {
        $(
            if let Ok(value) = $parse($input) {
                let again = $parse(value.as_str()).unwrap_or_else(|e| {
                    panic!("{} {value:?} does not re-parse: {e}", stringify!($parse))
                });
                assert_eq!(again, value, "{} is not idempotent", stringify!($parse));
            }
        )+
    };
}

/// Every single-value parser on one text: newtypes, closed word sets,
/// passwords, list items and serde's unknown-field message.
pub fn check_text(input: &str) {
    check_idempotent!(
        input,
        Title::parse,
        Summary::parse,
        Body::parse,
        ImageUrl::parse,
        Brand::parse,
        Model::parse,
        Email::parse,
        EditorName::parse,
        Slug::parse,
        IdempotencyKey::parse,
    );
    if let Ok(title) = Title::parse(input) {
        let text = title.as_str();
        assert_eq!(text.trim(), text);
        assert!((1..=200).contains(&text.chars().count()));
        assert!(!text.chars().any(char::is_control));
    }
    if let Ok(body) = Body::parse(input) {
        assert_eq!(body.as_str(), input, "a body is kept verbatim");
    }
    if let Ok(url) = ImageUrl::parse(input) {
        assert!(url.as_str().starts_with("https://"));
    }
    if let Ok(email) = Email::parse(input) {
        assert_eq!(email.as_str().matches('@').count(), 1);
        assert!((3..=254).contains(&email.as_str().chars().count()));
    }
    let chars = input.chars().count();
    match Password::parse(input) {
        Ok(password) => assert_eq!(password.expose(), input, "passwords are not trimmed"),
        Err(_) => assert!(!(Password::MIN_CHARS..=Password::MAX_CHARS).contains(&chars)),
    }
    check_word(input, Language::parse, Language::as_str);
    check_word(input, ReviewStatus::parse, ReviewStatus::as_str);
    if let Ok(at) = parse_publish_at(input, NOW) {
        assert_eq!(parse_publish_at(&format_publish_at(at), NOW), Ok(at));
    }
    check_word(input, Role::parse, Role::as_str);
    check_word(input, SubjectKind::parse, SubjectKind::as_str);
    if let Ok(items) = ListItems::parse(vec![input.to_owned()]) {
        assert_eq!(ListItems::parse(items.as_slice().to_vec()), Ok(items));
    }
    if let Some(field) = unknown_field_in(input) {
        assert!(input.contains(field));
    }
}

/// A closed word set accepts exactly its words, spelled as printed.
fn check_word<T: Copy + std::fmt::Debug>(
    input: &str,
    parse: fn(&str) -> Result<T, crate::Invalid>,
    as_str: fn(T) -> &'static str,
) {
    if let Ok(word) = parse(input) {
        assert_eq!(as_str(word), input, "{word:?}");
    }
}

/// Slugs: parsing, deriving from any title or brand and model, and
/// collision suffixes all give valid slugs; a derived slug derives to
/// itself and leaves room for any suffix; a suffix never recreates its base.
pub fn check_slug(input: &str, suffix: u32) {
    let check_suffix = |slug: &Slug| {
        let next = slug.with_suffix(suffix);
        assert_eq!(Slug::parse(next.as_str()).as_ref(), Ok(&next));
        assert_ne!(&next, slug, "suffix {suffix} recreated the base");
    };
    if let Ok(slug) = Slug::parse(input) {
        assert_eq!(slug.as_str(), input, "slugs are never rewritten");
        check_suffix(&slug);
    }
    let derived = Slug::from_title(input);
    assert_eq!(Slug::parse(derived.as_str()).as_ref(), Ok(&derived));
    assert!(derived.as_str().len() <= MAX_DERIVED_SLUG_LEN, "{derived}");
    assert_eq!(Slug::from_title(derived.as_str()), derived);
    check_suffix(&derived);
    let middle = input
        .char_indices()
        .nth(input.chars().count() / 2)
        .map_or(input.len(), |(i, _)| i);
    let (brand, model) = input.split_at(middle);
    if let (Ok(brand), Ok(model)) = (Brand::parse(brand), Model::parse(model)) {
        let slug = Slug::from_brand_model(&brand, &model);
        assert_eq!(Slug::parse(slug.as_str()).as_ref(), Ok(&slug));
        assert!(slug.as_str().len() <= MAX_DERIVED_SLUG_LEN, "{slug}");
        check_suffix(&slug);
    }
}

/// A rating as text (`rating_min=7.5`, a JSON number's digits): an accepted
/// rating prints to a text that parses back to it.
pub fn check_rating_text(input: &str) {
    if let Ok(rating) = Rating::parse_str(input) {
        assert!(rating <= Rating::MAX);
        assert_eq!(Rating::parse_str(&rating.to_decimal_string()), Ok(rating));
        assert_eq!(Rating::parse_str(&rating.to_string()), Ok(rating));
        check_rating_number(rating.value());
    }
}

/// A rating as a number: accepted exactly for the half points from 0 to 10,
/// and the accepted value is the value given.
pub fn check_rating_number(value: f64) {
    let expected =
        value.is_finite() && (0.0..=10.0).contains(&value) && (value * 2.0).fract() == 0.0;
    match Rating::parse(value) {
        Ok(rating) => {
            assert!(expected, "{value:e} was accepted");
            assert_eq!(rating.value(), value);
            assert_eq!(Rating::from_half_points(rating.half_points()), Ok(rating));
            assert_eq!(Rating::parse(rating.value()), Ok(rating));
        }
        Err(_) => assert!(!expected, "{value:e} was refused"),
    }
}

/// An `Idempotency-Key` is accepted exactly when it is 1–255 visible ASCII
/// characters, and is then kept byte for byte.
pub fn check_idempotency_key(input: &str) {
    let expected = (1..=255).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_graphic());
    match IdempotencyKey::parse(input) {
        Ok(key) => {
            assert!(expected, "{input:?} was accepted");
            assert_eq!(key.as_str(), input);
        }
        Err(_) => assert!(!expected, "{input:?} was refused"),
    }
}

/// A refusal lists at least one violation, each at a path under one of the
/// body's fields and with a message.
fn check_violations(errors: &ValidationErrors, fields: &[&str]) {
    assert!(!errors.is_empty(), "a refusal without a violation");
    for error in errors {
        let top = error.field.split(['.', '[']).next().unwrap_or_default();
        assert!(fields.contains(&top), "violation at {:?}", error.field);
        assert!(!error.message.is_empty(), "no message at {:?}", error.field);
    }
}

/// `POST /reviews`: any raw body is accepted or refused with its
/// violations; an accepted review, written back as a raw body, parses to
/// itself.
pub fn check_new_review(raw: RawNewReview) -> Option<NewReview> {
    match NewReview::parse(raw, NOW) {
        Err(errors) => {
            check_violations(&errors, REVIEW_FIELDS);
            None
        }
        Ok(review) => {
            assert_eq!(
                NewReview::parse(raw_new_review(&review), NOW).as_ref(),
                Ok(&review)
            );
            assert!(Slug::parse(review.slug().as_str()).is_ok());
            assert!(Slug::parse(review.subject().slug().as_str()).is_ok());
            Some(review)
        }
    }
}

/// `PATCH /reviews/{id}`, as `check_new_review`.
pub fn check_review_patch(raw: RawReviewPatch) -> Option<ReviewPatch> {
    match ReviewPatch::parse(raw, NOW) {
        Err(errors) => {
            check_violations(&errors, REVIEW_FIELDS);
            None
        }
        Ok(patch) => {
            assert_eq!(
                ReviewPatch::parse(raw_review_patch(&patch), NOW).as_ref(),
                Ok(&patch)
            );
            Some(patch)
        }
    }
}

/// `POST /auth/editors`, as `check_new_review`.
pub fn check_new_editor(raw: RawNewEditor) -> Option<NewEditor> {
    match NewEditor::parse(raw) {
        Err(errors) => {
            check_violations(&errors, EDITOR_FIELDS);
            None
        }
        Ok(editor) => {
            let again = NewEditor::parse(raw_new_editor(&editor))
                .unwrap_or_else(|e| panic!("{editor:?} does not re-parse: {e}"));
            assert_eq!(again.email(), editor.email());
            assert_eq!(again.name(), editor.name());
            assert_eq!(again.password().expose(), editor.password().expose());
            assert_eq!(again.role(), editor.role());
            Some(editor)
        }
    }
}

/// `PATCH /auth/editors/{id}`, as `check_new_review`.
pub fn check_editor_patch(raw: RawEditorPatch) -> Option<EditorPatch> {
    match EditorPatch::parse(raw) {
        Err(errors) => {
            check_violations(&errors, EDITOR_FIELDS);
            None
        }
        Ok(patch) => {
            assert_eq!(
                EditorPatch::parse(raw_editor_patch(&patch)).as_ref(),
                Ok(&patch)
            );
            Some(patch)
        }
    }
}

/// A valid subject as the raw object a client would send.
pub fn raw_subject(subject: &NewSubject) -> RawSubject {
    let specs = subject.specs();
    RawSubject {
        kind: Some(subject.kind().as_str().to_owned()),
        brand: Some(subject.brand().as_str().to_owned()),
        model: Some(subject.model().as_str().to_owned()),
        specs: Some(RawSpecs {
            mount: specs.mount().map(str::to_owned),
            sensor_format: specs.sensor_format().map(str::to_owned),
            megapixels: specs.megapixels(),
            focal_min_mm: specs.focal_min_mm(),
            focal_max_mm: specs.focal_max_mm(),
            max_aperture: specs.max_aperture(),
            release_year: specs.release_year().map(f64::from),
        }),
    }
}

/// A valid review as the raw body a client would send, every field given.
pub fn raw_new_review(review: &NewReview) -> RawNewReview {
    RawNewReview {
        subject: Some(raw_subject(review.subject())),
        title: Some(review.title().as_str().to_owned()),
        summary: Some(review.summary().as_str().to_owned()),
        body: Some(review.body().as_str().to_owned()),
        rating: review.rating().map(Rating::value),
        pros: Some(review.pros().as_slice().to_vec()),
        cons: Some(review.cons().as_slice().to_vec()),
        image_urls: Some(review.image_urls().to_strings()),
        language: Some(review.language().as_str().to_owned()),
        status: Some(review.status().as_str().to_owned()),
        publish_at: review.publication().publish_at().map(format_publish_at),
    }
}

/// A valid patch as the raw body a client would send: what it leaves
/// alone is absent, a cleared rating is `null`.
pub fn raw_review_patch(patch: &ReviewPatch) -> RawReviewPatch {
    let text = |value: Option<&str>| value.map(str::to_owned).into_nullable();
    RawReviewPatch {
        subject: patch.subject().map(raw_subject).into_nullable(),
        title: text(patch.title().map(Title::as_str)),
        summary: text(patch.summary().map(Summary::as_str)),
        body: text(patch.body().map(Body::as_str)),
        rating: match patch.rating() {
            None => Nullable::Absent,
            Some(None) => Nullable::Null,
            Some(Some(rating)) => Nullable::Value(rating.value()),
        },
        pros: patch.pros().map(|l| l.as_slice().to_vec()).into_nullable(),
        cons: patch.cons().map(|l| l.as_slice().to_vec()).into_nullable(),
        image_urls: patch
            .image_urls()
            .map(ImageUrls::to_strings)
            .into_nullable(),
        language: text(patch.language().map(Language::as_str)),
        status: text(patch.status().map(ReviewStatus::as_str)),
        publish_at: patch
            .publication()
            .and_then(|p| p.publish_at())
            .map(format_publish_at)
            .into_nullable(),
    }
}

/// A valid account as the raw body an admin would send.
pub fn raw_new_editor(editor: &NewEditor) -> RawNewEditor {
    RawNewEditor {
        email: Some(editor.email().as_str().to_owned()),
        name: Some(editor.name().as_str().to_owned()),
        password: Some(editor.password().expose().to_owned()),
        role: Some(editor.role().as_str().to_owned()),
    }
}

/// A valid account change as the raw body an admin would send.
pub fn raw_editor_patch(patch: &EditorPatch) -> RawEditorPatch {
    RawEditorPatch {
        name: patch.name().map(|n| n.as_str().to_owned()).into_nullable(),
        role: patch.role().map(|r| r.as_str().to_owned()).into_nullable(),
        disabled: patch.disabled().into_nullable(),
    }
}

/// `None` (unchanged) as an absent field, unlike `From<Option<T>>`, which
/// reads `None` as an explicit `null`.
trait IntoNullable<T> {
    fn into_nullable(self) -> Nullable<T>;
}

impl<T> IntoNullable<T> for Option<T> {
    fn into_nullable(self) -> Nullable<T> {
        self.map_or(Nullable::Absent, Nullable::Value)
    }
}

#[cfg(test)]
mod tests {
    //! The fuzz targets' properties over generated inputs, bounded so that
    //! `cargo test` stays quick; `make fuzz` runs them for longer.

    use proptest::option::of as o;
    use proptest::prelude::*;

    use super::*;

    /// Text that is often valid for some field and often not.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[A-Za-z0-9 ]{1,24}",
            2 => "\\PC{0,40}",
            1 => "[ \t\n\r\u{0}\u{7f}\u{85}\u{a0}\u{2028}\u{feff}a]{0,6}",
            1 => "(https?|HTTPS)://[a-z:@\\[\\]0-9]{0,12}(/[a-z.]{0,6})?",
            1 => "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}",
            1 => (".", 195usize..260).prop_map(|(c, n)| c.repeat(n)),
            1 => Just(String::new()),
        ]
    }

    /// Mostly `valid`, sometimes anything: a body is accepted often enough
    /// for its round trip to be checked, and refused often enough for its
    /// violations to be.
    fn mostly<T: std::fmt::Debug + Clone + 'static>(
        valid: impl Strategy<Value = T> + 'static,
        junk: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<T> {
        prop_oneof![12 => valid, 1 => junk].boxed()
    }

    fn line(max: usize) -> BoxedStrategy<String> {
        mostly(
            proptest::string::string_regex(&format!("[A-Za-z0-9áñα][ A-Za-z0-9áñα.-]{{0,{max}}}"))
                .expect("a valid pattern"),
            text(),
        )
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => (0u8..=20).prop_map(|h| f64::from(h) / 2.0),
            2 => -10.0f64..6000.0,
            1 => (1700i32..2300).prop_map(f64::from),
            1 => any::<f64>(),
        ]
    }

    fn rating() -> BoxedStrategy<f64> {
        mostly((0u8..=20).prop_map(|h| f64::from(h) / 2.0), number())
    }

    fn word(words: &'static [&'static str]) -> BoxedStrategy<String> {
        mostly(
            proptest::sample::select(words).prop_map(str::to_owned),
            text(),
        )
    }

    fn list() -> BoxedStrategy<Vec<String>> {
        mostly(
            proptest::collection::vec(line(12), 0..4),
            proptest::collection::vec(text(), 0..23),
        )
    }

    fn urls() -> BoxedStrategy<Vec<String>> {
        mostly(
            proptest::collection::vec(
                "(https|HTTPS)://[a-z]{1,8}\\.com(:[0-9]{1,5})?(/[A-Za-z.]{0,6})?",
                0..3,
            ),
            list(),
        )
    }

    /// One optional spec: usually absent, since most apply to one kind.
    fn spec<T: std::fmt::Debug + Clone + 'static>(
        value: impl Strategy<Value = T> + 'static,
    ) -> impl Strategy<Value = Option<T>> {
        prop_oneof![3 => Just(None), 1 => value.prop_map(Some)]
    }

    fn raw_specs() -> impl Strategy<Value = RawSpecs> {
        (
            spec(line(20)),
            spec(line(20)),
            spec(mostly(1.0f64..1000.0, number())),
            spec(mostly(1.0f64..100.0, number())),
            spec(mostly(100.0f64..5000.0, number())),
            spec(mostly(0.5f64..64.0, number())),
            spec(mostly((1800i32..=2200).prop_map(f64::from), number())),
        )
            .prop_map(
                |(
                    mount,
                    sensor_format,
                    megapixels,
                    focal_min_mm,
                    focal_max_mm,
                    max_aperture,
                    release_year,
                )| RawSpecs {
                    mount,
                    sensor_format,
                    megapixels,
                    focal_min_mm,
                    focal_max_mm,
                    max_aperture,
                    release_year,
                },
            )
    }

    /// A required field: rarely missing.
    fn required<T: std::fmt::Debug + Clone + 'static>(
        value: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<Option<T>> {
        prop_oneof![1 => Just(None), 20 => value.prop_map(Some)].boxed()
    }

    fn raw_subject() -> impl Strategy<Value = RawSubject> {
        (
            required(word(&["camera", "lens"])),
            required(line(30)),
            required(line(30)),
            o(raw_specs()),
        )
            .prop_map(|(kind, brand, model, specs)| RawSubject {
                kind,
                brand,
                model,
                specs,
            })
    }

    fn nullable<T: std::fmt::Debug + Clone>(
        value: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Nullable<T>> {
        prop_oneof![
            4 => Just(Nullable::Absent),
            1 => Just(Nullable::Null),
            4 => value.prop_map(Nullable::Value),
        ]
    }

    const STATUSES: &[&str] = &["draft", "scheduled", "published"];

    /// A publish time around [`NOW`]: past, within the year ahead, beyond
    /// it, in any offset; or any text.
    fn publish_at() -> BoxedStrategy<String> {
        let instant = (
            -400i64 * 86_400..400 * 86_400,
            0u32..1_000_000_000,
            -12i8..=12,
        )
            .prop_map(|(secs, nanos, hours)| {
                let offset = time::UtcOffset::from_hms(hours, 0, 0).expect("whole hours");
                let at =
                    NOW + time::Duration::seconds(secs) + time::Duration::nanoseconds(nanos.into());
                at.to_offset(offset)
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("a four-digit year")
            });
        mostly(instant, text())
    }

    fn raw_new_review() -> impl Strategy<Value = RawNewReview> {
        (
            required(raw_subject()),
            required(line(60)),
            o(mostly("[A-Za-z \n]{0,40}", text())),
            required(mostly("[A-Za-z# \n\t]{0,40}[a-z]", text())),
            o(rating()),
            (o(list()), o(list()), o(urls())),
            o(word(&["es", "pt", "en"])),
            (o(word(STATUSES)), o(publish_at())),
        )
            .prop_map(
                |(
                    subject,
                    title,
                    summary,
                    body,
                    rating,
                    (pros, cons, image_urls),
                    language,
                    (status, publish_at),
                )| RawNewReview {
                    subject,
                    title,
                    summary,
                    body,
                    rating,
                    pros,
                    cons,
                    image_urls,
                    language,
                    status,
                    publish_at,
                },
            )
    }

    fn raw_review_patch() -> impl Strategy<Value = RawReviewPatch> {
        (
            nullable(raw_subject()),
            nullable(line(60)),
            nullable(mostly("[A-Za-z \n]{0,40}", text())),
            nullable(mostly("[A-Za-z# \n\t]{0,40}[a-z]", text())),
            nullable(rating()),
            (nullable(list()), nullable(list()), nullable(urls())),
            nullable(word(&["es", "pt", "en"])),
            (nullable(word(STATUSES)), nullable(publish_at())),
        )
            .prop_map(
                |(
                    subject,
                    title,
                    summary,
                    body,
                    rating,
                    (pros, cons, image_urls),
                    language,
                    (status, publish_at),
                )| RawReviewPatch {
                    subject,
                    title,
                    summary,
                    body,
                    rating,
                    pros,
                    cons,
                    image_urls,
                    language,
                    status,
                    publish_at,
                },
            )
    }

    fn raw_new_editor() -> impl Strategy<Value = RawNewEditor> {
        (
            required(mostly(
                "[A-Za-z0-9.]{1,10}@[a-zA-Z]{1,10}\\.[a-z]{2,3}",
                text(),
            )),
            required(line(40)),
            required(mostly("[ -~]{12,40}|\\PC{12,20}", text())),
            o(word(&["editor", "admin"])),
        )
            .prop_map(|(email, name, password, role)| RawNewEditor {
                email,
                name,
                password,
                role,
            })
    }

    fn raw_editor_patch() -> impl Strategy<Value = RawEditorPatch> {
        (
            nullable(line(40)),
            nullable(word(&["editor", "admin"])),
            nullable(any::<bool>()),
        )
            .prop_map(|(name, role, disabled)| RawEditorPatch {
                name,
                role,
                disabled,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_value_parser_is_total_and_idempotent(s in text()) {
            check_text(&s);
        }

        #[test]
        fn any_text_gives_valid_slugs_and_suffixes(s in text(), n in any::<u32>()) {
            check_slug(&s, n);
        }

        #[test]
        fn an_accepted_rating_text_prints_back_to_itself(
            s in prop_oneof![
                "[-+ ]?[0-9]{0,3}(\\.[0-9]{0,4})?([eE][-+]?[0-9]{1,3})?",
                "(nan|NaN|inf|-inf|infinity|)",
                text(),
            ]
        ) {
            check_rating_text(&s);
        }

        #[test]
        fn a_review_body_is_accepted_and_round_trips_or_lists_its_violations(raw in raw_new_review()) {
            check_new_review(raw);
        }

        #[test]
        fn a_review_patch_is_accepted_and_round_trips_or_lists_its_violations(raw in raw_review_patch()) {
            check_review_patch(raw);
        }

        #[test]
        fn an_editor_body_is_accepted_and_round_trips_or_lists_its_violations(raw in raw_new_editor()) {
            check_new_editor(raw);
        }

        #[test]
        fn an_editor_patch_is_accepted_and_round_trips_or_lists_its_violations(raw in raw_editor_patch()) {
            check_editor_patch(raw);
        }
    }
}
