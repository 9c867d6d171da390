//! Domain types: validated on construction, no I/O.
//!
//! Every service parses untrusted input into these types at its edge and
//! works with them afterwards, so a rule of SPEC §3 is written once, here,
//! and a value that exists is a value that is valid. Nothing here touches a
//! socket, a file or a database, which keeps the rules fast to test and lets
//! every service depend on them without pulling in a web or SQL stack.
//!
//! Error messages are written for end users and never echo the refused
//! value, so they can go straight into a problem+json `errors[]`.

mod activity;
mod editor;
mod error;
mod fields;
// The fuzz targets' checks: built for this crate's tests and with the
// `fuzzing` feature (fuzz/ turns it on), never into the services.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod idempotency;
mod nullable;
mod object;
mod publication;
mod review;
mod slug;
mod subject;
mod text;

pub use activity::{AuditAction, Period, UserAgent, parse_instant};
pub use editor::{
    EditorName, EditorPatch, Email, NewEditor, Password, RawEditorPatch, RawNewEditor, Role,
};
pub use error::{ErrorCode, FieldError, Invalid, ValidationErrors, unknown_field_in};
pub use idempotency::IdempotencyKey;
pub use nullable::Nullable;
pub use publication::{MAX_EMBARGO, Publication, format_publish_at, parse_publish_at};
pub use review::{
    Body, ImageUrl, ImageUrls, Language, ListItems, MAX_LIST_ITEMS, NewReview, Rating,
    RawNewReview, RawReviewPatch, ReviewPatch, ReviewStatus, Summary, Title,
};
pub use slug::{RESERVED_SLUGS, SLUG_MAX_LEN, Slug};
pub use subject::{Brand, Model, NewSubject, RawSpecs, RawSubject, SubjectKind, SubjectSpecs};
