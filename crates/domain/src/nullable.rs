//! A field of a PATCH body that can be absent, `null`, or a value.
//!
//! `Option<T>` cannot tell "leave it alone" (field absent) from "clear it"
//! (`"rating": null`), and PATCH needs both. Keeping the three states apart
//! in the raw body also lets parsers refuse `null` on fields that cannot be
//! cleared, instead of silently treating it as "unchanged".

use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default)]` so that a missing field becomes `Absent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Nullable<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Nullable<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    pub fn as_ref(&self) -> Nullable<&T> {
        match self {
            Self::Absent => Nullable::Absent,
            Self::Null => Nullable::Null,
            Self::Value(value) => Nullable::Value(value),
        }
    }
}

impl<T> From<Option<T>> for Nullable<T> {
    /// `None` means an explicit `null`: a present field.
    fn from(value: Option<T>) -> Self {
        match value {
            Some(value) => Self::Value(value),
            None => Self::Null,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only called when the field is present; absence comes from `default`.
        Option::<T>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        rating: Nullable<f64>,
    }

    #[test]
    fn a_missing_field_is_absent_and_null_is_kept_apart_from_it() {
        let absent: Body = serde_json::from_str("{}").unwrap();
        let null: Body = serde_json::from_str(r#"{"rating": null}"#).unwrap();
        let value: Body = serde_json::from_str(r#"{"rating": 7.5}"#).unwrap();
        assert_eq!(absent.rating, Nullable::Absent);
        assert_eq!(null.rating, Nullable::Null);
        assert_eq!(value.rating, Nullable::Value(7.5));
    }

    proptest! {
        #[test]
        fn any_number_round_trips_as_a_value(n in any::<i32>()) {
            let body: Body = serde_json::from_str(&format!(r#"{{"rating": {n}}}"#)).unwrap();
            prop_assert_eq!(body.rating, Nullable::Value(f64::from(n)));
        }
    }
}
