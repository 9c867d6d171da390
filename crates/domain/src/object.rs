//! Body objects read only from JSON objects.
//!
//! A derived `Deserialize` fills a struct from a map or, positionally, from
//! a sequence: `"specs": [null, null]` would be read as specs with their
//! first two fields null and the rest left out, and accepted. The top-level
//! body is checked to be an object before it is parsed
//! (`platform::http::parse_json`); the objects nested in it use
//! [`deserialize_from_object_only`], which refuses anything but a map with
//! serde's own "invalid type" error (a 422 naming the field).

/// Implements `Deserialize` for `$ty` by reading a map only, with the
/// derived deserializer that `#[serde(remote = "Self")]` turned into an
/// inherent `$ty::deserialize`.
macro_rules! deserialize_from_object_only {
    ($ty:ty) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectOnly;
                impl<'de> serde::de::Visitor<'de> for ObjectOnly {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        <$ty>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_map(ObjectOnly)
            }
        }
    };
}

pub(crate) use deserialize_from_object_only;

#[cfg(test)]
mod tests {
    use crate::subject::{RawSpecs, RawSubject};

    #[test]
    fn nested_body_objects_are_read_from_objects_only() {
        let subject: RawSubject =
            serde_json::from_str(r#"{"kind":"camera","specs":{"megapixels":24}}"#).expect("object");
        assert_eq!(subject.specs.and_then(|s| s.megapixels), Some(24.0));
        assert!(serde_json::from_str::<RawSubject>(r#"["camera","Sony","A7"]"#).is_err());
        assert!(serde_json::from_str::<RawSubject>(r#"{"specs":[null,null]}"#).is_err());
        assert!(serde_json::from_str::<RawSpecs>("[24]").is_err());
        // Unknown fields are still refused, and null is still "not given".
        assert!(serde_json::from_str::<RawSubject>(r#"{"make":"Sony"}"#).is_err());
        let subject: RawSubject = serde_json::from_str(r#"{"specs":null}"#).expect("null");
        assert_eq!(subject.specs, None);
    }
}
