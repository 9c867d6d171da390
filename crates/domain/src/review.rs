//! Reviews: the parts an editor writes, and the POST/PATCH bodies that carry them.
//!
//! Each part mirrors a CHECK constraint of the `reviews` table, usually a
//! little stricter (whitespace-only text is refused even where `btrim` would
//! let it through), so the database never has to refuse a parsed review and
//! a client always gets a 422 naming the field instead of a 500.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::schema::{
    Array, ArrayBuilder, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};

use crate::error::{Invalid, ValidationErrors};
use crate::fields::{optional, optional_nested, required, required_nested, schema};
use crate::nullable::Nullable;
use crate::publication::{self, Publication, PublishAtField};
use crate::slug::Slug;
use crate::subject::{NewSubject, RawSubject};
use crate::text::{check_length, check_no_control, single_line, string_newtype, word_enum};

fn validate_title(value: &str) -> Result<String, Invalid> {
    single_line(value, 200)
}

/// Every character is one an IRI may hold (RFC 3987): ASCII only from
/// the URI grammar (unreserved, reserved, `%` followed by two hex digits),
/// anything else a `ucschar` — or, in the query, an `iprivate` code point.
/// A browser (and the document's `format: iri`) refuses the rest.
fn check_iri_characters(rest: &str) -> Result<(), Invalid> {
    let refused = || Invalid::new("must be a valid URL (IRI): a character here is not allowed");
    let mut in_query = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        in_query |= c == '?';
        let allowed = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' => true,
            '-' | '.' | '_' | '~' | ':' | '/' | '?' | '#' | '[' | ']' | '@' => true,
            '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' => true,
            '%' => {
                let hex = |d: Option<char>| d.is_some_and(|d| d.is_ascii_hexdigit());
                hex(chars.next()) && hex(chars.next())
            }
            c if c.is_ascii() => false,
            c => is_ucschar(c) || (in_query && is_iprivate(c)),
        };
        if !allowed {
            return Err(refused());
        }
    }
    Ok(())
}

/// RFC 3987 `ucschar`.
fn is_ucschar(c: char) -> bool {
    let c = u32::from(c);
    matches!(c, 0xA0..=0xD7FF | 0xF900..=0xFDCF | 0xFDF0..=0xFFEF)
        || ((0x10000..=0xEFFFD).contains(&c)
            && (c & 0xFFFF) <= 0xFFFD
            && !(0xE0000..=0xE0FFF).contains(&c))
}

/// RFC 3987 `iprivate` (allowed in the query only).
fn is_iprivate(c: char) -> bool {
    let c = u32::from(c);
    matches!(c, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

string_newtype!(
    /// A review's headline: one line, 1–200 characters, trimmed.
    Title,
    validate_title
);

fn validate_summary(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    check_length(value, 0, 500)?;
    check_no_control(value, &['\n', '\r'])?;
    Ok(value.to_owned())
}

string_newtype!(
    /// A short teaser, 0–500 characters; may span lines.
    Summary,
    validate_summary
);

impl Default for Summary {
    /// The empty summary is valid and is what the schema stores by default.
    fn default() -> Self {
        Self(String::new())
    }
}

fn validate_body(value: &str) -> Result<String, Invalid> {
    check_length(value, 1, 100_000)?;
    if value.trim().is_empty() {
        return Err(Invalid::new("must not be blank"));
    }
    check_no_control(value, &['\n', '\r', '\t'])?;
    // Not trimmed: leading indentation and trailing newlines are Markdown.
    Ok(value.to_owned())
}

string_newtype!(
    /// The review text in Markdown, 1–100,000 characters, kept verbatim.
    Body,
    validate_body
);

/// The editor's verdict, 0.0–10.0 in steps of 0.5.
///
/// Kept as a count of half points so that equality, ordering and hashing are
/// exact, and so that `7.5` can never drift into `7.4999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "f64")]
pub struct Rating(u8);

impl Rating {
    pub const MIN: Rating = Rating(0);
    pub const MAX: Rating = Rating(20);

    pub fn parse(value: f64) -> Result<Self, Invalid> {
        if !value.is_finite() {
            return Err(Invalid::new("must be a number"));
        }
        if !(0.0..=10.0).contains(&value) {
            return Err(Invalid::new("must be between 0 and 10"));
        }
        let doubled = value * 2.0;
        if doubled.fract() != 0.0 {
            return Err(Invalid::new("must be a multiple of 0.5"));
        }
        // In range and whole, so the conversion is exact.
        Ok(Self(doubled as u8))
    }

    /// Parses text such as a query parameter (`rating_min=7.5`).
    pub fn parse_str(value: &str) -> Result<Self, Invalid> {
        let number: f64 = value
            .trim()
            .parse()
            .map_err(|_| Invalid::new("must be a number"))?;
        Self::parse(number)
    }

    pub fn from_half_points(half_points: u8) -> Result<Self, Invalid> {
        if half_points <= Self::MAX.0 {
            Ok(Self(half_points))
        } else {
            Err(Invalid::new("must be between 0 and 10"))
        }
    }

    pub fn value(self) -> f64 {
        f64::from(self.0) / 2.0
    }

    pub fn half_points(self) -> u8 {
        self.0
    }

    /// Always one decimal (`7.5`, `10.0`), as PostgreSQL's `numeric(3,1)`
    /// writes it: a stable text form for SQL parameters and cache keys.
    pub fn to_decimal_string(self) -> String {
        let tenths = if self.0 % 2 == 1 { 5 } else { 0 };
        format!("{}.{}", self.0 / 2, tenths)
    }
}

impl TryFrom<f64> for Rating {
    type Error = Invalid;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl std::str::FromStr for Rating {
    type Err = Invalid;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse_str(value)
    }
}

impl std::fmt::Display for Rating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

impl Serialize for Rating {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value())
    }
}

/// Most items a list (pros, cons, image URLs) may hold.
pub const MAX_LIST_ITEMS: usize = 20;

/// Parses a bounded list, reporting each bad item at `[index]` and an
/// over-long list at the list itself.
fn parse_list<T>(
    items: Vec<String>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Vec<T>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if items.len() > MAX_LIST_ITEMS {
        // Item errors would be moot (and, in a 1 MiB body, could run to
        // hundreds of thousands of entries): the count is the one problem.
        errors.push("", format!("must have at most {MAX_LIST_ITEMS} items"));
        return Err(errors);
    }
    let parsed: Vec<T> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| errors.check(&format!("[{i}]"), parse(item)))
        .collect();
    errors.into_result(|| parsed)
}

fn validate_list_item(value: &str) -> Result<String, Invalid> {
    single_line(value, 200)
}

/// Pros or cons: at most 20 one-line items of 1–200 characters, trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListItems(#[serde(deserialize_with = "deserialize_list_items")] Vec<String>);

fn deserialize_list_items<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let items = Vec::<String>::deserialize(deserializer)?;
    parse_list(items, validate_list_item).map_err(serde::de::Error::custom)
}

impl ListItems {
    /// Field paths in the error are `[index]` (or empty for the whole list);
    /// put them under `pros` or `cons` with `ValidationErrors::nested`.
    pub fn parse(items: Vec<String>) -> Result<Self, ValidationErrors> {
        parse_list(items, validate_list_item).map(Self)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

const MAX_URL_CHARS: usize = 2048;

fn validate_image_url(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    check_length(value, 1, MAX_URL_CHARS)?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(
            "must not contain spaces or control characters",
        ));
    }
    // Pages are served over https; a plain-http image would be blocked as
    // mixed content, so it is refused here rather than shown broken.
    let rest = match value.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https://") => &value[8..],
        _ => return Err(Invalid::new("must be an https:// URL")),
    };
    check_iri_characters(rest)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Invalid::new("must not contain a user name or password"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            // Anything after `]` other than `:port` is checked as a port
            // so that it is refused.
            Some((host, "")) => (host, None),
            Some((host, after)) => (host, Some(after.strip_prefix(':').unwrap_or(after))),
            None => ("", None),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(Invalid::new("must name a host"));
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Invalid::new("must have a numeric port"));
    }
    // Lowercasing the scheme only: paths are case-sensitive.
    Ok(format!("https://{rest}"))
}

string_newtype!(
    /// An https image URL of at most 2048 characters, with a host.
    ImageUrl,
    validate_image_url
);

/// At most 20 image URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageUrls(#[serde(deserialize_with = "deserialize_image_urls")] Vec<ImageUrl>);

fn deserialize_image_urls<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ImageUrl>, D::Error> {
    let items = Vec::<String>::deserialize(deserializer)?;
    parse_list(items, ImageUrl::parse).map_err(serde::de::Error::custom)
}

impl ImageUrls {
    /// Field paths in the error are `[index]` (or empty for the whole list).
    pub fn parse(items: Vec<String>) -> Result<Self, ValidationErrors> {
        parse_list(items, ImageUrl::parse).map(Self)
    }

    pub fn as_slice(&self) -> &[ImageUrl] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<ImageUrl> {
        self.0
    }

    /// The URLs as plain strings, e.g. for a `text[]` parameter.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|url| url.as_str().to_owned()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ImageUrl> {
        self.0.iter()
    }
}

word_enum!(
    /// The language a review is written in; picks its search stemmer.
    Language, "es, pt, en",
    {
        Es => "es",
        Pt => "pt",
        En => "en",
    }
);

impl Default for Language {
    /// The audience is mostly Spanish-speaking (SPEC §3).
    fn default() -> Self {
        Self::Es
    }
}

word_enum!(
    /// Whether readers can see a review: draft (no), scheduled (from published_at), published.
    ReviewStatus, "draft, scheduled, published",
    {
        Draft => "draft",
        Scheduled => "scheduled",
        Published => "published",
    }
);

impl Default for ReviewStatus {
    /// SPEC §4: a review posted without a status is published.
    fn default() -> Self {
        Self::Published
    }
}

// The schemas of the body fields (`schema_with` in the derives below): the
// rules above as patterns and bounds, beside them so that the document and
// the parsers change together. The `_or_null` ones are for POST, where
// `null` on an optional field means "not given"; a PATCH refuses it.

fn title_schema() -> Object {
    schema::single_line(200, false).build()
}

fn summary(nullable: bool) -> Object {
    // Like `single_line`, but empty is fine and line breaks may stand
    // inside: the control characters refused are all but CR and LF.
    let refused = r"\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f";
    let controls = schema::CONTROLS;
    ObjectBuilder::new()
        .schema_type(schema::types(Type::String, nullable))
        .pattern(Some(format!(
            r"^[^\S{refused}]*([^\s{controls}]([^{refused}]{{0,498}}[^\s{controls}])?)?[^\S{refused}]*$"
        )))
        .description(Some(
            "Plain text, at most 500 characters once surrounding whitespace is trimmed; \
             line breaks allowed, no other control characters",
        ))
        .build()
}

fn summary_schema() -> Object {
    summary(false)
}

fn summary_or_null_schema() -> Object {
    summary(true)
}

fn body_schema() -> Object {
    // Kept verbatim, so no trimming: not blank, and tabs and line breaks
    // are the control characters allowed.
    let refused = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f";
    let controls = schema::CONTROLS;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(100_000))
        .pattern(Some(format!(
            r"^[^\S{refused}]*[^\s{controls}][^{refused}]*$"
        )))
        .description(Some(
            "Markdown: not blank; line breaks and tabs allowed, no other control characters",
        ))
        .build()
}

fn list(items: Object, nullable: bool) -> Array {
    ArrayBuilder::new()
        .schema_type(schema::types(Type::Array, nullable))
        .max_items(Some(MAX_LIST_ITEMS))
        .items(items)
        .build()
}

fn list_items_schema() -> Array {
    list(schema::single_line(200, false).build(), false)
}

fn list_items_or_null_schema() -> Array {
    list(schema::single_line(200, false).build(), true)
}

fn image_url() -> Object {
    // What `validate_image_url` accepts: https, a host without user or
    // password, a numeric port; non-ASCII allowed (an IRI).
    let controls = schema::CONTROLS;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("iri".to_owned())))
        .max_length(Some(MAX_URL_CHARS))
        .pattern(Some(format!(
            r"^https://[^\s{controls}/?#@\[\]:]+(:[0-9]{{1,5}})?([/?#][^\s{controls}]*)?$"
        )))
        .description(Some(
            "An https URL (an IRI: non-ASCII characters allowed) without a user name or password",
        ))
        .build()
}

fn image_urls_schema() -> Array {
    list(image_url(), false)
}

fn image_urls_or_null_schema() -> Array {
    list(image_url(), true)
}

/// A word enum's words, and `null` too when `nullable`, with its default.
fn words<W: Default + std::fmt::Display>(all: &[W], nullable: bool) -> Object {
    let words = all.iter().map(|word| Some(word.to_string()));
    let null = nullable.then_some(None);
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .enum_values(Some(words.chain(null)))
        .default(Some(W::default().to_string().into()))
        .build()
}

fn language_schema() -> Object {
    words(Language::ALL, false)
}

fn language_or_null_schema() -> Object {
    words(Language::ALL, true)
}

fn status_schema() -> Object {
    words(ReviewStatus::ALL, false)
}

fn status_or_null_schema() -> Object {
    words(ReviewStatus::ALL, true)
}

fn publish_at(nullable: bool, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(schema::types(Type::String, nullable))
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .max_length(Some(64))
        .description(Some(description))
        .build()
}

fn publish_at_or_null_schema() -> Object {
    publish_at(
        true,
        "When the review becomes public (RFC 3339, at most a year ahead). In the future: status \
         scheduled, published_at is this time, readers see it from then on; past or null: \
         published now. Not with status draft; status scheduled requires a future time.",
    )
}

fn publish_at_patch_schema() -> Object {
    publish_at(
        true,
        "In the future: scheduled from now until then (published_at is this time); null or \
         past: published now. Not with status draft (which unschedules); status scheduled \
         requires a future time.",
    )
}

/// The body of `POST /reviews` as received. Required fields are `Option` too
/// so that a missing one is reported with the others, as `is required`.
///
/// Its schema (`NewReview`) says what [`NewReview::parse`] accepts: the
/// required fields as required and not null, the rules as patterns and
/// bounds.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = NewReview,
    description = "null on an optional field means not given (its default)",
    example = json!({
        "subject": {"kind": "camera", "brand": "Sony", "model": "A7 IV", "specs": {"mount": "E", "megapixels": 33}},
        "title": "Sony A7 IV review",
        "summary": "A hybrid that does both photo and video well",
        "body": "Excellent for **photo** and video.",
        "rating": 9,
        "pros": ["autofocus"],
        "cons": ["menus"],
        "language": "en"
    })
)]
pub struct RawNewReview {
    #[schema(value_type = RawSubject, required = true)]
    pub subject: Option<RawSubject>,
    #[schema(schema_with = title_schema, required = true)]
    pub title: Option<String>,
    #[schema(schema_with = summary_or_null_schema)]
    pub summary: Option<String>,
    #[schema(schema_with = body_schema, required = true)]
    pub body: Option<String>,
    #[schema(minimum = 0, maximum = 10, multiple_of = 0.5)]
    pub rating: Option<f64>,
    #[schema(schema_with = list_items_or_null_schema)]
    pub pros: Option<Vec<String>>,
    #[schema(schema_with = list_items_or_null_schema)]
    pub cons: Option<Vec<String>>,
    #[schema(schema_with = image_urls_or_null_schema)]
    pub image_urls: Option<Vec<String>>,
    #[schema(schema_with = language_or_null_schema)]
    pub language: Option<String>,
    #[schema(schema_with = status_or_null_schema)]
    pub status: Option<String>,
    #[schema(schema_with = publish_at_or_null_schema)]
    pub publish_at: Option<String>,
}

/// A valid review to create. Optional parts hold their defaults: empty
/// summary and lists, no rating, `es`, published now.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReview {
    subject: NewSubject,
    title: Title,
    summary: Summary,
    body: Body,
    rating: Option<Rating>,
    pros: ListItems,
    cons: ListItems,
    image_urls: ImageUrls,
    language: Language,
    publication: Publication,
}

impl NewReview {
    /// Collects every violation, with paths such as `subject.brand`,
    /// `subject.specs.megapixels`, `pros[3]` or `image_urls[0]`. `null` on
    /// an optional field means "not given". `now` tells a future
    /// `publish_at` from a past one.
    pub fn parse(raw: RawNewReview, now: OffsetDateTime) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let subject = required_nested(&mut errors, "subject", raw.subject, NewSubject::parse);
        let title = required(&mut errors, "title", raw.title, |s| Title::parse(&s));
        let summary = match raw.summary {
            Some(summary) => errors.check("summary", Summary::parse(&summary)),
            None => Some(Summary::default()),
        };
        let body = required(&mut errors, "body", raw.body, |s| Body::parse(&s));
        let rating = match raw.rating {
            Some(rating) => errors.check("rating", Rating::parse(rating)).map(Some),
            None => Some(None),
        };
        let mut list = |field: &str, items: Option<Vec<String>>| match items {
            Some(items) => errors.check_nested(field, ListItems::parse(items)),
            None => Some(ListItems::default()),
        };
        let pros = list("pros", raw.pros);
        let cons = list("cons", raw.cons);
        let image_urls = match raw.image_urls {
            Some(urls) => errors.check_nested("image_urls", ImageUrls::parse(urls)),
            None => Some(ImageUrls::default()),
        };
        let language = match raw.language {
            Some(language) => errors.check("language", Language::parse(&language)),
            None => Some(Language::default()),
        };
        // `null` is "not given" here, like an absent field.
        let given = |value: Option<String>| value.map_or(Nullable::Absent, Nullable::Value);
        let when = publication(&mut errors, given(raw.status), given(raw.publish_at), now)
            .map(|chosen| chosen.unwrap_or(Publication::Now));
        match (
            subject, title, summary, body, rating, pros, cons, image_urls, language, when,
        ) {
            (
                Some(subject),
                Some(title),
                Some(summary),
                Some(body),
                Some(rating),
                Some(pros),
                Some(cons),
                Some(image_urls),
                Some(language),
                Some(when),
            ) if errors.is_empty() => Ok(Self {
                subject,
                title,
                summary,
                body,
                rating,
                pros,
                cons,
                image_urls,
                language,
                publication: when,
            }),
            _ => Err(errors),
        }
    }

    pub fn subject(&self) -> &NewSubject {
        &self.subject
    }

    pub fn title(&self) -> &Title {
        &self.title
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    pub fn rating(&self) -> Option<Rating> {
        self.rating
    }

    pub fn pros(&self) -> &ListItems {
        &self.pros
    }

    pub fn cons(&self) -> &ListItems {
        &self.cons
    }

    pub fn image_urls(&self) -> &ImageUrls {
        &self.image_urls
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn status(&self) -> ReviewStatus {
        self.publication.status()
    }

    pub fn publication(&self) -> Publication {
        self.publication
    }

    /// The slug the review starts from (before collision suffixes).
    pub fn slug(&self) -> Slug {
        Slug::from_title(self.title.as_str())
    }
}

/// The body of `PATCH /reviews/{id}` as received. Absent means "unchanged";
/// `null` clears `rating` and is a violation anywhere else (send `""` or
/// `[]` to empty a summary or a list).
///
/// Its schema (`ReviewPatch`) allows `null` on `rating` only.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = ReviewPatch,
    description = "Absent fields are unchanged; null is refused except on rating, where it clears the rating"
)]
pub struct RawReviewPatch {
    #[serde(default)]
    #[schema(value_type = RawSubject)]
    pub subject: Nullable<RawSubject>,
    #[serde(default)]
    #[schema(schema_with = title_schema)]
    pub title: Nullable<String>,
    #[serde(default)]
    #[schema(schema_with = summary_schema)]
    pub summary: Nullable<String>,
    #[serde(default)]
    #[schema(schema_with = body_schema)]
    pub body: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 10, multiple_of = 0.5)]
    pub rating: Nullable<f64>,
    #[serde(default)]
    #[schema(schema_with = list_items_schema)]
    pub pros: Nullable<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = list_items_schema)]
    pub cons: Nullable<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = image_urls_schema)]
    pub image_urls: Nullable<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = language_schema)]
    pub language: Nullable<String>,
    #[serde(default)]
    #[schema(schema_with = status_schema)]
    pub status: Nullable<String>,
    #[serde(default)]
    #[schema(schema_with = publish_at_patch_schema)]
    pub publish_at: Nullable<String>,
}

/// A valid partial update; `None` leaves a part unchanged. `rating` is
/// `Some(None)` to clear the rating; `publication` is what `status` and
/// `publish_at` ask together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewPatch {
    subject: Option<NewSubject>,
    title: Option<Title>,
    summary: Option<Summary>,
    body: Option<Body>,
    rating: Option<Option<Rating>>,
    pros: Option<ListItems>,
    cons: Option<ListItems>,
    image_urls: Option<ImageUrls>,
    language: Option<Language>,
    publication: Option<Publication>,
}

impl ReviewPatch {
    /// Collects every violation, with the same paths as `NewReview::parse`.
    /// `now` tells a future `publish_at` from a past one.
    pub fn parse(raw: RawReviewPatch, now: OffsetDateTime) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let subject = optional_nested(&mut errors, "subject", raw.subject, NewSubject::parse);
        let title = optional(&mut errors, "title", raw.title, |s| Title::parse(&s));
        let summary = optional(&mut errors, "summary", raw.summary, |s| Summary::parse(&s));
        let body = optional(&mut errors, "body", raw.body, |s| Body::parse(&s));
        let rating = match raw.rating {
            Nullable::Absent => None,
            Nullable::Null => Some(None),
            Nullable::Value(rating) => errors.check("rating", Rating::parse(rating)).map(Some),
        };
        let pros = optional_nested(&mut errors, "pros", raw.pros, ListItems::parse);
        let cons = optional_nested(&mut errors, "cons", raw.cons, ListItems::parse);
        let image_urls =
            optional_nested(&mut errors, "image_urls", raw.image_urls, ImageUrls::parse);
        let language = optional(&mut errors, "language", raw.language, |s| {
            Language::parse(&s)
        });
        let publication =
            publication(&mut errors, raw.status, raw.publish_at, now).unwrap_or_default();
        errors.into_result(|| Self {
            subject,
            title,
            summary,
            body,
            rating,
            pros,
            cons,
            image_urls,
            language,
            publication,
        })
    }

    pub fn subject(&self) -> Option<&NewSubject> {
        self.subject.as_ref()
    }

    pub fn title(&self) -> Option<&Title> {
        self.title.as_ref()
    }

    pub fn summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    pub fn body(&self) -> Option<&Body> {
        self.body.as_ref()
    }

    /// `None`: unchanged; `Some(None)`: clear; `Some(Some(r))`: set.
    pub fn rating(&self) -> Option<Option<Rating>> {
        self.rating
    }

    pub fn pros(&self) -> Option<&ListItems> {
        self.pros.as_ref()
    }

    pub fn cons(&self) -> Option<&ListItems> {
        self.cons.as_ref()
    }

    pub fn image_urls(&self) -> Option<&ImageUrls> {
        self.image_urls.as_ref()
    }

    pub fn language(&self) -> Option<Language> {
        self.language
    }

    pub fn status(&self) -> Option<ReviewStatus> {
        self.publication.map(Publication::status)
    }

    /// `None`: unchanged.
    pub fn publication(&self) -> Option<Publication> {
        self.publication
    }

    /// True when the body changed nothing (`{}`); whether that still bumps
    /// the version is the writer's call.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `status` and `publish_at` of a body, parsed and then resolved together
/// (`publication::resolve`): `None` when either is invalid (each problem
/// recorded), `Some(None)` when the body asks for no change. A PATCH
/// refuses `status: null`; a POST reads it as absent before calling.
fn publication(
    errors: &mut ValidationErrors,
    status: Nullable<String>,
    publish_at: Nullable<String>,
    now: OffsetDateTime,
) -> Option<Option<Publication>> {
    let status_given = !status.is_absent();
    let status = optional(errors, "status", status, |s| ReviewStatus::parse(&s));
    let publish_at: Option<PublishAtField> = match publish_at {
        Nullable::Absent => Some(None),
        Nullable::Null => Some(Some(None)),
        Nullable::Value(text) => errors
            .check("publish_at", publication::parse_publish_at(&text, now))
            .map(|at| Some(Some(at))),
    };
    if status_given && status.is_none() {
        return None;
    }
    match publication::resolve(status, publish_at?, now) {
        Ok(chosen) => Some(chosen),
        Err((field, why)) => {
            errors.push_invalid(field, why);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "subject": {"kind": "camera", "brand": "Sony", "model": "α7 IV"},
            "title": "Una cámara redonda",
            "body": "# Veredicto\n\nMuy buena.\n",
        })
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2030-01-01 12:00 UTC);

    fn new_review(json: serde_json::Value) -> Result<NewReview, ValidationErrors> {
        NewReview::parse(serde_json::from_value(json).unwrap(), NOW)
    }

    fn patch(json: serde_json::Value) -> Result<ReviewPatch, ValidationErrors> {
        ReviewPatch::parse(serde_json::from_value(json).unwrap(), NOW)
    }

    #[test]
    fn a_title_is_one_trimmed_line_of_1_to_200_characters() {
        assert_eq!(Title::parse("  Hola  ").unwrap().as_str(), "Hola");
        assert!(Title::parse("").is_err());
        assert!(Title::parse(" \t ").is_err());
        assert!(Title::parse("a\nb").is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn a_summary_may_be_empty_and_span_lines_but_not_hold_other_controls() {
        assert_eq!(Summary::parse("  ").unwrap().as_str(), "");
        assert!(Summary::parse("one\r\ntwo").is_ok());
        assert!(Summary::parse("tab\there").is_err());
        assert!(Summary::parse(&"s".repeat(501)).is_err());
    }

    #[test]
    fn a_body_is_kept_verbatim_but_must_not_be_blank() {
        let text = "  indented code\n\n\ttabbed\r\n";
        assert_eq!(Body::parse(text).unwrap().as_str(), text);
        assert_eq!(
            Body::parse(" \n\t").unwrap_err().message(),
            "must not be blank"
        );
        assert!(Body::parse("").is_err());
        assert!(Body::parse("nul\u{0}").is_err());
        assert!(Body::parse(&"b".repeat(100_000)).is_ok());
        assert!(Body::parse(&"b".repeat(100_001)).is_err());
    }

    #[test]
    fn a_rating_must_be_a_multiple_of_half_a_point() {
        assert_eq!(Rating::parse(7.5).unwrap().half_points(), 15);
        assert_eq!(
            Rating::parse(7.3).unwrap_err().message(),
            "must be a multiple of 0.5"
        );
        assert!(Rating::parse(7.499_999).is_err());
    }

    #[test]
    fn a_rating_is_between_0_and_10_and_a_real_number() {
        assert!(Rating::parse(0.0).is_ok());
        assert!(Rating::parse(10.0).is_ok());
        for bad in [-0.5, 10.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(Rating::parse(bad).is_err(), "{bad}");
        }
        assert!(Rating::from_half_points(21).is_err());
        assert!(Rating::parse_str("nan").is_err());
        assert!(Rating::parse_str("seven").is_err());
        assert_eq!(Rating::parse_str("7.50").unwrap().half_points(), 15);
    }

    #[test]
    fn a_rating_prints_with_one_decimal_and_serialises_as_a_number() {
        assert_eq!(Rating::parse(7.5).unwrap().to_decimal_string(), "7.5");
        assert_eq!(Rating::parse(10.0).unwrap().to_decimal_string(), "10.0");
        assert_eq!(Rating::MIN.to_string(), "0.0");
        assert_eq!(
            serde_json::to_string(&Rating::parse(8.0).unwrap()).unwrap(),
            "8.0"
        );
        assert!(serde_json::from_str::<Rating>("8.25").is_err());
    }

    #[test]
    fn list_items_are_trimmed_bounded_and_reported_by_index() {
        let items = ListItems::parse(vec![" Light ".into(), "Cheap".into()]).unwrap();
        assert_eq!(items.as_slice(), ["Light", "Cheap"]);
        let errors = ListItems::parse(vec![
            "ok".into(),
            " ".into(),
            "x".repeat(201),
            "a\nb".into(),
        ])
        .unwrap_err();
        assert_eq!(fields(&errors), ["[1]", "[2]", "[3]"]);
        let too_many = ListItems::parse(vec!["a".into(); 21]).unwrap_err();
        assert_eq!(fields(&too_many), [""]);
        assert!(ListItems::parse(vec!["a".into(); 20]).is_ok());
    }

    #[test]
    fn lists_deserialise_only_when_every_item_is_valid() {
        let pros: ListItems = serde_json::from_str(r#"[" a ", "b"]"#).unwrap();
        assert_eq!(pros.as_slice(), ["a", "b"]);
        assert!(serde_json::from_str::<ListItems>(r#"["", "b"]"#).is_err());
        assert!(serde_json::from_str::<ImageUrls>(r#"["http://a.co"]"#).is_err());
        let urls: ImageUrls = serde_json::from_str(r#"["https://a.co/x.jpg"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&urls).unwrap(),
            r#"["https://a.co/x.jpg"]"#
        );
        assert_eq!(urls.to_strings(), ["https://a.co/x.jpg"]);
    }

    #[test]
    fn an_image_url_must_be_https_with_a_host() {
        for good in [
            "https://example.com/a.jpg",
            "HTTPS://cdn.example.com",
            "https://example.com:8443/x?y=1#z",
            "https://[::1]/img.png",
            "https://cámaras.example/fotos/sensor%20grande.jpg",
            "https://example.com/a?x=\u{e000}",
        ] {
            assert!(ImageUrl::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            ImageUrl::parse("HTTPS://Example.com/A.jpg")
                .unwrap()
                .as_str(),
            "https://Example.com/A.jpg"
        );
        for bad in [
            "http://example.com/a.jpg",
            "https://",
            "https:///path",
            "https://:443/",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "https://example.com:port/",
            "javascript:alert(1)",
            "ftp://example.com",
            "",
            // Not IRI characters: a private-use code point outside the
            // query, a noncharacter, characters the grammar leaves out, a
            // bare percent.
            "https://\u{fdc1c}\u{107}",
            "https://example.com/\u{fdd0}",
            "https://example.com/a\"b",
            "https://example.com/{x}",
            "https://example.com/a|b",
            "https://example.com/100%",
            "https://example.com/%zz",
        ] {
            assert!(ImageUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(ImageUrl::parse(&long).is_err());
    }

    #[test]
    fn image_urls_hold_at_most_20_and_report_bad_ones_by_index() {
        let errors =
            ImageUrls::parse(vec!["https://a.co".into(), "http://b.co".into()]).unwrap_err();
        assert_eq!(fields(&errors), ["[1]"]);
        assert!(ImageUrls::parse(vec!["https://a.co".into(); 21]).is_err());
    }

    #[test]
    fn languages_and_statuses_have_documented_defaults() {
        assert_eq!(Language::default(), Language::Es);
        assert_eq!(Language::parse("pt").unwrap(), Language::Pt);
        assert!(Language::parse("fr").is_err());
        assert_eq!(ReviewStatus::default(), ReviewStatus::Published);
        assert_eq!(ReviewStatus::parse("draft").unwrap(), ReviewStatus::Draft);
        assert_eq!(
            ReviewStatus::parse("scheduled").unwrap(),
            ReviewStatus::Scheduled
        );
        assert_eq!(serde_json::to_string(&Language::En).unwrap(), r#""en""#);
    }

    #[test]
    fn a_minimal_review_gets_the_documented_defaults() {
        let review = new_review(minimal()).unwrap();
        assert_eq!(review.status(), ReviewStatus::Published);
        assert_eq!(review.language(), Language::Es);
        assert_eq!(review.rating(), None);
        assert!(review.pros().is_empty() && review.image_urls().is_empty());
        assert_eq!(review.summary().as_str(), "");
        assert_eq!(review.slug().as_str(), "una-camara-redonda");
        assert_eq!(review.subject().slug().as_str(), "sony-a7-iv");
    }

    #[test]
    fn a_new_review_reports_every_violation_with_its_path() {
        let json = serde_json::json!({
            "subject": {"kind": "camera", "brand": " ", "model": "X", "specs": {"megapixels": 0, "focal_min_mm": 24}},
            "title": "",
            "summary": "ok",
            "body": "   ",
            "rating": 7.3,
            "pros": ["a", "b", "c", ""],
            "cons": [],
            "image_urls": ["http://x.co"],
            "language": "fr",
            "status": "live",
        });
        let errors = new_review(json).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "subject.brand",
                "subject.specs.focal_min_mm",
                "subject.specs.megapixels",
                "title",
                "body",
                "rating",
                "pros[3]",
                "image_urls[0]",
                "language",
                "status",
            ]
        );
    }

    #[test]
    fn missing_required_fields_are_violations_not_json_errors() {
        let errors = new_review(serde_json::json!({})).unwrap_err();
        assert_eq!(fields(&errors), ["subject", "title", "body"]);
        assert!(errors.iter().all(|e| e.message == "is required"));
        let errors = new_review(serde_json::json!({"subject": {}, "title": null})).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "subject.kind",
                "subject.brand",
                "subject.model",
                "title",
                "body"
            ]
        );
    }

    #[test]
    fn a_review_body_refuses_fields_a_client_must_not_set() {
        for field in ["id", "editor_id", "version", "created_at", "slug"] {
            let mut json = minimal();
            json[field] = serde_json::json!(1);
            assert!(
                serde_json::from_value::<RawNewReview>(json).is_err(),
                "{field}"
            );
        }
        let mut json = minimal();
        json["subject"]["id"] = serde_json::json!(1);
        assert!(serde_json::from_value::<RawNewReview>(json).is_err());
    }

    #[test]
    fn a_patch_clears_the_rating_with_null_and_leaves_absent_fields_alone() {
        let cleared = patch(serde_json::json!({"rating": null})).unwrap();
        assert_eq!(cleared.rating(), Some(None));
        assert_eq!(cleared.title(), None);
        assert!(!cleared.is_empty());
        let set = patch(serde_json::json!({"rating": 9.5, "title": " Nuevo "})).unwrap();
        assert_eq!(set.rating(), Some(Rating::parse(9.5).ok()));
        assert_eq!(set.title().unwrap().as_str(), "Nuevo");
        assert!(patch(serde_json::json!({})).unwrap().is_empty());
    }

    #[test]
    fn a_patch_refuses_null_on_fields_that_cannot_be_cleared() {
        let errors = patch(serde_json::json!({
            "title": null, "body": null, "pros": null, "subject": null, "status": null
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["subject", "title", "body", "pros", "status"]
        );
        assert!(errors.iter().all(|e| e.message == "must not be null"));
    }

    #[test]
    fn a_patch_reports_every_violation_with_its_path() {
        let errors = patch(serde_json::json!({
            "subject": {"kind": "lens", "brand": "Sigma", "model": "Art", "specs": {"megapixels": 10}},
            "summary": "\u{7}",
            "rating": 11,
            "cons": ["", "fine"],
            "image_urls": ["https://a.co", "nope"],
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "subject.specs.megapixels",
                "summary",
                "rating",
                "cons[0]",
                "image_urls[1]"
            ]
        );
    }

    #[test]
    fn a_future_publish_at_schedules_a_new_review_and_a_past_one_publishes_it() {
        let mut json = minimal();
        json["publish_at"] = serde_json::json!("2030-03-01T09:00:00-03:00");
        let scheduled = new_review(json.clone()).unwrap();
        let at = time::macros::datetime!(2030-03-01 12:00 UTC);
        assert_eq!(scheduled.publication(), Publication::At(at));
        assert_eq!(scheduled.status(), ReviewStatus::Scheduled);
        json["status"] = serde_json::json!("scheduled");
        assert_eq!(new_review(json).unwrap().publication(), Publication::At(at));
        let mut json = minimal();
        json["publish_at"] = serde_json::json!("2029-03-01T09:00:00Z");
        assert_eq!(new_review(json).unwrap().publication(), Publication::Now);
        let mut json = minimal();
        json["publish_at"] = serde_json::Value::Null;
        json["status"] = serde_json::json!("draft");
        assert_eq!(new_review(json).unwrap().publication(), Publication::Draft);
    }

    #[test]
    fn publish_at_and_status_are_refused_together_or_apart_with_their_paths() {
        let future = "2030-02-01T00:00:00Z";
        for (status, publish_at, refused) in [
            ("scheduled", None, &["publish_at"][..]),
            ("scheduled", Some("2029-01-01T00:00:00Z"), &["publish_at"]),
            ("draft", Some(future), &["publish_at"]),
            ("published", Some(future), &["status"]),
            ("published", Some("2032-01-01T00:00:00Z"), &["publish_at"]),
            // Each invalid on its own: both named, no rule about the pair.
            ("live", Some("soon"), &["status", "publish_at"]),
        ] {
            let mut json = minimal();
            json["status"] = serde_json::json!(status);
            json["publish_at"] = serde_json::json!(publish_at);
            let errors = new_review(json).unwrap_err();
            assert_eq!(fields(&errors), refused, "{status} {publish_at:?}");
        }
    }

    #[test]
    fn a_patch_publishes_with_a_null_or_past_publish_at_and_unschedules_as_a_draft() {
        let publication = |json| patch(json).unwrap().publication();
        assert_eq!(
            publication(serde_json::json!({"publish_at": null})),
            Some(Publication::Now)
        );
        assert_eq!(
            publication(serde_json::json!({"publish_at": "2020-01-01T00:00:00Z"})),
            Some(Publication::Now)
        );
        assert_eq!(
            publication(serde_json::json!({"status": "draft"})),
            Some(Publication::Draft)
        );
        assert_eq!(
            publication(serde_json::json!({"publish_at": "2030-01-02T00:00:00Z"})),
            Some(Publication::At(
                time::macros::datetime!(2030-01-02 0:00 UTC)
            ))
        );
        assert_eq!(publication(serde_json::json!({"title": "x"})), None);
        let errors = patch(serde_json::json!({"status": "scheduled"})).unwrap_err();
        assert_eq!(fields(&errors), ["publish_at"]);
    }

    proptest! {
        #[test]
        fn a_rating_is_accepted_exactly_for_half_points_from_0_to_10(
            x in prop_oneof![-5.0f64..15.0, any::<f64>(), (0u8..=20).prop_map(|h| f64::from(h) / 2.0)]
        ) {
            crate::fuzzing::check_rating_number(x);
        }

        #[test]
        fn every_half_point_round_trips_through_its_decimal_string(hp in 0u8..=20) {
            let rating = Rating::from_half_points(hp).unwrap();
            prop_assert_eq!(Rating::parse_str(&rating.to_decimal_string()).unwrap(), rating);
            prop_assert_eq!(Rating::parse(rating.value()).unwrap(), rating);
            let json = serde_json::to_string(&rating).unwrap();
            prop_assert_eq!(serde_json::from_str::<Rating>(&json).unwrap(), rating);
        }

        #[test]
        fn an_accepted_title_is_trimmed_single_line_and_bounded(s in "\\PC{0,250}|.{0,30}") {
            if let Ok(title) = Title::parse(&s) {
                let text = title.as_str();
                prop_assert_eq!(text.trim(), text);
                prop_assert!((1..=200).contains(&text.chars().count()));
                prop_assert!(!text.chars().any(char::is_control));
            }
        }

        #[test]
        fn an_accepted_body_is_unchanged_and_not_blank(s in "[\\PC\\x00-\\x1f]{0,200}") {
            if let Ok(body) = Body::parse(&s) {
                prop_assert_eq!(body.as_str(), s.as_str());
                prop_assert!(!s.trim().is_empty());
            }
        }

        #[test]
        fn a_list_reports_one_violation_per_bad_item(items in proptest::collection::vec("[ a-z\n]{0,5}", 0..=20)) {
            let bad = items
                .iter()
                .filter(|i| i.trim().is_empty() || i.trim().contains('\n'))
                .count();
            match ListItems::parse(items.clone()) {
                Ok(list) => {
                    prop_assert_eq!(bad, 0);
                    prop_assert_eq!(list.len(), items.len());
                }
                Err(errors) => prop_assert_eq!(errors.len(), bad),
            }
        }

        #[test]
        fn an_accepted_image_url_starts_with_https_and_has_no_spaces(s in "(https?://)?[ -~]{0,40}") {
            if let Ok(url) = ImageUrl::parse(&s) {
                prop_assert!(url.as_str().starts_with("https://"));
                prop_assert!(url.as_str().len() > "https://".len());
                prop_assert!(!url.as_str().contains(' '));
            }
        }
    }
}
