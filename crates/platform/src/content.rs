//! The published shape of a review (SPEC §4 "Resources"), shared by the
//! writer (which answers with the review as readers will see it) and the
//! reader, with the one query projection both map from, and the SQL that
//! says which reviews are public (SPEC §10.4 "Embargoes").

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::surrogate::SurrogateKeys;

/// Columns of [`REVIEW_FROM`] that [`ReviewView::from_row`] reads. Numeric
/// columns are cast to `float8`: the driver has no `numeric` type, and the
/// values (ratings in half points, specs with one decimal) are exact in it.
pub const REVIEW_COLUMNS: &str = "\
    r.id, r.slug, r.title, r.summary, r.body, r.rating::float8 AS rating, r.pros, r.cons, \
    r.image_urls, r.language, rcr_review_status(r.status, r.publish_at) AS status, r.version, \
    r.created_at, r.updated_at, r.published_at, s.id AS subject_id, s.kind AS subject_kind, s.brand AS subject_brand, \
    s.model AS subject_model, s.slug AS subject_slug, s.mount, s.sensor_format, \
    s.megapixels::float8 AS megapixels, s.focal_min_mm::float8 AS focal_min_mm, \
    s.focal_max_mm::float8 AS focal_max_mm, s.max_aperture::float8 AS max_aperture, \
    s.release_year, e.id AS editor_id, e.name AS editor_name";

/// [`REVIEW_COLUMNS`] without the body, for list items: a body is up to
/// 100,000 characters that a list never shows.
pub const REVIEW_LIST_COLUMNS: &str = "\
    r.id, r.slug, r.title, r.summary, r.rating::float8 AS rating, r.pros, r.cons, \
    r.image_urls, r.language, rcr_review_status(r.status, r.publish_at) AS status, r.version, \
    r.created_at, r.updated_at, r.published_at, s.id AS subject_id, s.kind AS subject_kind, s.brand AS subject_brand, \
    s.model AS subject_model, s.slug AS subject_slug, s.mount, s.sensor_format, \
    s.megapixels::float8 AS megapixels, s.focal_min_mm::float8 AS focal_min_mm, \
    s.focal_max_mm::float8 AS focal_max_mm, s.max_aperture::float8 AS max_aperture, \
    s.release_year, e.id AS editor_id, e.name AS editor_name";

/// Whether the review `r` is public: published, or scheduled and its
/// `publish_at` has come, and not retracted. The one definition is the SQL
/// function `rcr_is_public` (V6); inlined by the planner, its conjuncts
/// `status IN ('published', 'scheduled') AND deleted_at IS NULL` match the
/// predicate of the public partial indexes, so every list and search keeps
/// its index. A lapsed embargo needs no write: the reader's clock decides.
///
/// The status a review shows follows the same rule: [`REVIEW_COLUMNS`]
/// reads `rcr_review_status(status, publish_at)`, `published` once a
/// scheduled review's time has come (its `published_at` is its
/// `publish_at`).
pub const PUBLIC_REVIEW: &str = "rcr_is_public(r.status, r.publish_at, r.deleted_at)";

/// The next instant an embargo lapses, or NULL: no public answer may be
/// cached past it. One probe of `reviews_embargo_idx`.
pub const NEXT_EMBARGO: &str = "\
    SELECT min(publish_at) FROM reviews \
     WHERE status = 'scheduled' AND deleted_at IS NULL AND publish_at > now()";

/// The joins [`REVIEW_COLUMNS`] need.
pub const REVIEW_FROM: &str = "\
    reviews r JOIN subjects s ON s.id = r.subject_id JOIN editors e ON e.id = r.editor_id";

/// A subject's typed specs; unknown ones are left out of the JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
#[schema(description = "Known specs only")]
pub struct SpecsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sensor_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub megapixels: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub focal_min_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub focal_max_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub max_aperture: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub release_year: Option<i32>,
}

/// A catalog entry as embedded in a review.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
#[schema(as = Subject)]
pub struct SubjectView {
    pub id: i64,
    #[schema(value_type = domain::SubjectKind, inline)]
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub slug: String,
    #[schema(inline)]
    pub specs: SpecsView,
}

/// The author as readers see them: never the email.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct EditorRef {
    pub id: i64,
    pub name: String,
}

/// A review with its subject and its author's name. (List items are the
/// same without `body`: `None` skips it, and their schema is
/// `ReviewListItem`.)
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
#[schema(as = Review)]
pub struct ReviewView {
    pub id: i64,
    pub slug: String,
    pub url: String,
    pub subject: SubjectView,
    pub editor: EditorRef,
    pub title: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub body: Option<String>,
    #[schema(required = true)]
    pub rating: Option<f64>,
    pub pros: Vec<String>,
    pub cons: Vec<String>,
    pub image_urls: Vec<String>,
    #[schema(value_type = domain::Language, inline)]
    pub language: String,
    #[schema(value_type = domain::ReviewStatus, inline)]
    pub status: String,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub published_at: Option<OffsetDateTime>,
}

/// A review as a list shows it: the same fields without `body`. Serialises
/// as the review it wraps (built with `with_body` false).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(transparent)]
pub struct ReviewListItem(pub ReviewView);

impl utoipa::ToSchema for ReviewListItem {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <ReviewView as utoipa::ToSchema>::schemas(schemas);
        schemas.push((
            <ReviewView as utoipa::ToSchema>::name().into_owned(),
            <ReviewView as utoipa::PartialSchema>::schema(),
        ));
    }
}

impl utoipa::PartialSchema for ReviewListItem {
    /// The review's schema without `body`: one definition of the fields,
    /// so the two cannot drift.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let mut schema = <ReviewView as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.properties.remove("body");
            object.required.retain(|name| name != "body");
            object.description = Some("A review as lists show it: without `body`".to_owned());
        }
        schema
    }
}

/// A page of reviews: `{data, next_cursor}` (`next_cursor` null on the last
/// page).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewPage {
    pub data: Vec<ReviewListItem>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl SpecsView {
    /// Maps the spec columns of a row (`mount`, `sensor_format`, …, as
    /// [`REVIEW_COLUMNS`] names them).
    pub fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            mount: row.try_get("mount")?,
            sensor_format: row.try_get("sensor_format")?,
            megapixels: row.try_get("megapixels")?,
            focal_min_mm: row.try_get("focal_min_mm")?,
            focal_max_mm: row.try_get("focal_max_mm")?,
            max_aperture: row.try_get("max_aperture")?,
            release_year: row.try_get("release_year")?,
        })
    }
}

impl ReviewView {
    /// Maps a row selected with [`REVIEW_COLUMNS`] (or, when `with_body` is
    /// false, [`REVIEW_LIST_COLUMNS`]). `url_base` prefixes the review's
    /// `/content/{slug}` path.
    pub fn from_row(
        row: &Row,
        url_base: &str,
        with_body: bool,
    ) -> Result<Self, tokio_postgres::Error> {
        let slug: String = row.try_get("slug")?;
        Ok(Self {
            id: row.try_get("id")?,
            url: format!("{url_base}/content/{slug}"),
            slug,
            subject: SubjectView {
                id: row.try_get("subject_id")?,
                kind: row.try_get("subject_kind")?,
                brand: row.try_get("subject_brand")?,
                model: row.try_get("subject_model")?,
                slug: row.try_get("subject_slug")?,
                specs: SpecsView::from_row(row)?,
            },
            editor: EditorRef {
                id: row.try_get("editor_id")?,
                name: row.try_get("editor_name")?,
            },
            title: row.try_get("title")?,
            summary: row.try_get("summary")?,
            body: if with_body {
                Some(row.try_get("body")?)
            } else {
                None
            },
            rating: row.try_get("rating")?,
            pros: row.try_get("pros")?,
            cons: row.try_get("cons")?,
            image_urls: row.try_get("image_urls")?,
            language: row.try_get("language")?,
            status: row.try_get("status")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            published_at: row.try_get("published_at")?,
        })
    }

    /// The keys of this review's own page: the review and its subject.
    pub fn page_keys(&self) -> SurrogateKeys {
        SurrogateKeys::review_page(self.id, &self.subject.slug)
    }
}
