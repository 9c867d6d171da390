//! Keyset pages of auth's lists (editors, sessions, audit rows): `limit`
//! and a signed `cursor` in, `{data, next_cursor}` out (SPEC §4).
//!
//! A cursor is the id of the last row of the previous page, signed with
//! `platform::cursor` for a scope naming the list, the editor it is about
//! and its filters: an edited cursor, or one taken from another list, is a
//! 400 instead of a page of rows nobody asked for.

use platform::cursor::CursorKey;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::AuthError;

/// Page size when the query names none.
const DEFAULT_LIMIT: i64 = 50;

/// The query of a list without filters, as received: `limit` is checked
/// by [`PageRequest::parse`] so that a bad one is a 400 naming it.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 50, nullable = false)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

/// A list's page type, made by [`PageRequest::page`].
pub trait FromPage<T> {
    fn from_page(data: Vec<T>, next_cursor: Option<String>) -> Self;
}

/// Declares the page type of one list under its own name (`EditorPage`):
/// a generic `Page<T>` would be named `Page_Editor` in the generated
/// document, renaming a type clients have generated code for.
macro_rules! page_of {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            data: Vec<$item>,
            /// null on the last page
            #[schema(required = true)]
            next_cursor: Option<String>,
        }

        impl $crate::routes::paging::FromPage<$item> for $name {
            fn from_page(data: Vec<$item>, next_cursor: Option<String>) -> Self {
                Self { data, next_cursor }
            }
        }
    };
}
pub(crate) use page_of;

/// Which page a request asks for.
#[derive(Debug)]
pub struct PageRequest<'k> {
    cursors: &'k CursorKey,
    scope: String,
    /// Rows per page.
    pub limit: i64,
    /// The id the previous page ended at; `None` on the first page.
    pub from: Option<i64>,
}

impl<'k> PageRequest<'k> {
    /// `scope` names the list, whom it is about and its filters.
    pub fn parse(
        cursors: &'k CursorKey,
        scope: String,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, AuthError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    AuthError::InvalidParameter("limit", "must be an integer from 1 to 100".into())
                })?,
        };
        let from = cursor
            .map(|c| cursors.decode(&scope, c))
            .transpose()
            .map_err(|_| AuthError::InvalidCursor)?;
        Ok(Self {
            cursors,
            scope,
            limit,
            from,
        })
    }

    /// How many rows to read: one more than a page, to know whether
    /// another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page of `rows` (read with [`Self::fetch`]), with the cursor after
    /// its last row when more followed.
    pub fn page<T, P: FromPage<T>>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> P {
        let next_cursor = if rows.len() > usize::try_from(self.limit).unwrap_or(usize::MAX) {
            rows.truncate(usize::try_from(self.limit).unwrap_or(0));
            rows.last()
                .map(|last| self.cursors.encode(&self.scope, &id_of(last)))
        } else {
            None
        };
        P::from_page(rows, next_cursor)
    }
}
