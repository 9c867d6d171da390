//! The catalog: cameras and lenses that reviews are about.
//!
//! A review names its subject by kind + brand + model and the writer creates
//! the catalog entry on first use, so the subject rules are checked here, as
//! part of the review body, with paths such as `subject.specs.megapixels`.
//! The spec rules mirror the `subjects` CHECK constraints, including which
//! specs belong to which kind.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, Discriminator, Object, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::error::{Invalid, ValidationErrors};
use crate::fields::{REQUIRED, required, schema};
use crate::slug::Slug;
use crate::text::{single_line, string_newtype, word_enum};

word_enum!(
    /// What a subject is; decides which specs it may carry.
    SubjectKind, "camera, lens",
    {
        Camera => "camera",
        Lens => "lens",
    }
);

fn validate_brand_or_model(value: &str) -> Result<String, Invalid> {
    single_line(value, 100)
}

string_newtype!(
    /// A maker such as `Sony`, as the editor spelled it.
    Brand,
    validate_brand_or_model
);

string_newtype!(
    /// A product name such as `α7 IV`, as the editor spelled it.
    Model,
    validate_brand_or_model
);

/// Specs as received: every field optional, numbers loose so that a bad
/// value is reported with the others rather than as a JSON error.
///
/// Its schema lists every spec with its bounds; [`RawSubject`]'s keeps
/// those of one kind per variant.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RawSpecs {
    #[serde(default)]
    #[schema(schema_with = short_text_or_null_schema)]
    pub mount: Option<String>,
    #[serde(default)]
    #[schema(schema_with = short_text_or_null_schema)]
    pub sensor_format: Option<String>,
    /// megapixels; rounded to one decimal, so at least 0.05
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 1000)]
    pub megapixels: Option<f64>,
    /// millimetres; rounded to one decimal, so at least 0.05
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 5000)]
    pub focal_min_mm: Option<f64>,
    /// millimetres; not below focal_min_mm; rounded to one decimal, so at least 0.05
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 5000)]
    pub focal_max_mm: Option<f64>,
    /// f-number; rounded to one decimal, so at least 0.05
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 64)]
    pub max_aperture: Option<f64>,
    #[serde(default)]
    #[schema(value_type = Option<i32>, minimum = 1800, maximum = 2200)]
    pub release_year: Option<f64>,
}

fn short_text_or_null_schema() -> Object {
    schema::single_line(50, true).build()
}

/// Valid specs for one kind of subject. Decimal specs are rounded to one
/// decimal place, the precision the database keeps, before their bounds are
/// checked, so what is validated is what gets stored.
///
/// Serialises with unknown specs omitted.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SubjectSpecs {
    #[serde(skip_serializing_if = "Option::is_none")]
    mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    megapixels: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    focal_min_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    focal_max_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_aperture: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release_year: Option<i32>,
}

const CAMERAS_ONLY: &str = "applies to cameras only";
const LENSES_ONLY: &str = "applies to lenses only";

impl SubjectSpecs {
    /// Field paths in the error are the spec names (`megapixels`).
    pub fn parse(kind: SubjectKind, raw: RawSpecs) -> Result<Self, ValidationErrors> {
        Self::parse_for(Some(kind), raw)
    }

    /// With an unknown kind (itself invalid) the values are still checked so
    /// the client hears about all of them at once.
    fn parse_for(kind: Option<SubjectKind>, raw: RawSpecs) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut only_for = |field: &str, present: bool, allowed: SubjectKind| {
            if present && kind.is_some_and(|kind| kind != allowed) {
                let message = match allowed {
                    SubjectKind::Camera => CAMERAS_ONLY,
                    SubjectKind::Lens => LENSES_ONLY,
                };
                errors.push(field, message);
            }
        };
        only_for(
            "sensor_format",
            raw.sensor_format.is_some(),
            SubjectKind::Camera,
        );
        only_for("megapixels", raw.megapixels.is_some(), SubjectKind::Camera);
        only_for(
            "focal_min_mm",
            raw.focal_min_mm.is_some(),
            SubjectKind::Lens,
        );
        only_for(
            "focal_max_mm",
            raw.focal_max_mm.is_some(),
            SubjectKind::Lens,
        );
        only_for(
            "max_aperture",
            raw.max_aperture.is_some(),
            SubjectKind::Lens,
        );

        let mut text = |field: &str, value: Option<String>| {
            value.and_then(|v| errors.check(field, short_text(&v)))
        };
        let mount = text("mount", raw.mount);
        let sensor_format = text("sensor_format", raw.sensor_format);
        let mut number = |field: &str, value: Option<f64>, max: f64| {
            value.and_then(|v| errors.check(field, positive_tenths(v, max)))
        };
        let megapixels = number("megapixels", raw.megapixels, 1000.0);
        let focal_min_mm = number("focal_min_mm", raw.focal_min_mm, 5000.0);
        let focal_max_mm = number("focal_max_mm", raw.focal_max_mm, 5000.0);
        let max_aperture = number("max_aperture", raw.max_aperture, 64.0);
        let release_year = raw
            .release_year
            .and_then(|v| errors.check("release_year", year(v)));
        if let (Some(min), Some(max)) = (focal_min_mm, focal_max_mm)
            && min > max
        {
            errors.push("focal_min_mm", "must not be greater than focal_max_mm");
        }
        errors.into_result(|| Self {
            mount,
            sensor_format,
            megapixels,
            focal_min_mm,
            focal_max_mm,
            max_aperture,
            release_year,
        })
    }

    pub fn mount(&self) -> Option<&str> {
        self.mount.as_deref()
    }

    pub fn sensor_format(&self) -> Option<&str> {
        self.sensor_format.as_deref()
    }

    pub fn megapixels(&self) -> Option<f64> {
        self.megapixels
    }

    pub fn focal_min_mm(&self) -> Option<f64> {
        self.focal_min_mm
    }

    pub fn focal_max_mm(&self) -> Option<f64> {
        self.focal_max_mm
    }

    pub fn max_aperture(&self) -> Option<f64> {
        self.max_aperture
    }

    pub fn release_year(&self) -> Option<i32> {
        self.release_year
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn short_text(value: &str) -> Result<String, Invalid> {
    single_line(value, 50)
}

fn positive_tenths(value: f64, max: f64) -> Result<f64, Invalid> {
    if !value.is_finite() {
        return Err(Invalid::new("must be a number"));
    }
    let rounded = (value * 10.0).round() / 10.0;
    if rounded > 0.0 && rounded <= max {
        Ok(rounded)
    } else {
        Err(Invalid::new(format!(
            "must be greater than 0 and at most {max}"
        )))
    }
}

fn year(value: f64) -> Result<i32, Invalid> {
    if value.fract() == 0.0 && (1800.0..=2200.0).contains(&value) {
        // The range check above makes the conversion exact.
        Ok(value as i32)
    } else {
        Err(Invalid::new("must be a whole year from 1800 to 2200"))
    }
}

/// The `subject` object of a review body as received.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RawSubject {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub specs: Option<RawSpecs>,
}

// Objects only: serde would fill either from an array too (`object.rs`).
crate::object::deserialize_from_object_only!(RawSubject);
crate::object::deserialize_from_object_only!(RawSpecs);

impl SubjectKind {
    /// The specs only this kind may carry, as [`SubjectSpecs::parse`]
    /// checks them (the others, mount and release year, fit every kind).
    fn own_specs(self) -> &'static [&'static str] {
        match self {
            Self::Camera => &["sensor_format", "megapixels"],
            Self::Lens => &["focal_min_mm", "focal_max_mm", "max_aperture"],
        }
    }

    /// The names of this kind's schemas: the subject and its specs.
    fn schema_names(self) -> (&'static str, &'static str) {
        match self {
            Self::Camera => ("CameraInput", "CameraSpecsInput"),
            Self::Lens => ("LensInput", "LensSpecsInput"),
        }
    }
}

// `SubjectInput`: one variant per kind, told apart by `kind`, each with
// only its kind's specs. Built by hand because `RawSubject` is one struct
// for every kind (so that its parser can report a spec of the wrong kind
// with every other violation, as a 422 naming the field) and a derive can
// only describe that one struct; the specs come from `RawSpecs`' derived
// schema, so their bounds are written once.

impl utoipa::PartialSchema for RawSubject {
    fn schema() -> RefOr<Schema> {
        let mut variants = OneOfBuilder::new();
        let mut mapping = Vec::new();
        for kind in SubjectKind::ALL {
            let (name, _) = kind.schema_names();
            variants = variants.item(Ref::from_schema_name(name));
            mapping.push((kind.as_str(), format!("#/components/schemas/{name}")));
        }
        variants
            .discriminator(Some(Discriminator::with_mapping("kind", mapping)))
            .description(Some(
                "The review's subject by kind, brand and model; the catalog entry is created \
                 on first use. Specs must fit the kind.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RawSubject {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SubjectInput")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for kind in SubjectKind::ALL {
            let (subject, specs) = kind.schema_names();
            schemas.push((subject.to_owned(), subject_input(*kind).into()));
            schemas.push((specs.to_owned(), specs_input(*kind).into()));
        }
    }
}

/// One kind's variant of `SubjectInput`.
fn subject_input(kind: SubjectKind) -> Object {
    let (_, specs) = kind.schema_names();
    let brand_or_model = || schema::single_line(100, false);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .enum_values(Some([kind.as_str()])),
        )
        .required("kind")
        .property("brand", brand_or_model())
        .required("brand")
        .property("model", brand_or_model())
        .required("model")
        .property(
            "specs",
            AnyOfBuilder::new()
                .item(Ref::from_schema_name(specs))
                .item(ObjectBuilder::new().schema_type(Type::Null)),
        )
        .build()
}

/// One kind's specs: those of `RawSpecs` that are not another kind's own.
fn specs_input(kind: SubjectKind) -> Object {
    let others: Vec<&str> = SubjectKind::ALL
        .iter()
        .filter(|other| **other != kind)
        .flat_map(|other| other.own_specs())
        .copied()
        .collect();
    let mut specs = match <RawSpecs as utoipa::PartialSchema>::schema() {
        RefOr::T(Schema::Object(object)) => object,
        // The derive makes an object of a struct with named fields.
        _ => Object::new(),
    };
    specs
        .properties
        .retain(|name, _| !others.contains(&name.as_str()));
    specs.description = Some(format!("A {kind}'s specs; null on a spec means not given"));
    specs
}

/// A valid catalog identity with specs that fit its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubject {
    kind: SubjectKind,
    brand: Brand,
    model: Model,
    specs: SubjectSpecs,
}

impl NewSubject {
    /// Field paths are relative (`brand`, `specs.megapixels`); review
    /// parsers put them under `subject`.
    pub fn parse(raw: RawSubject) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let kind = required(&mut errors, "kind", raw.kind.as_deref(), SubjectKind::parse);
        let brand = required(&mut errors, "brand", raw.brand.as_deref(), Brand::parse);
        let model = required(&mut errors, "model", raw.model.as_deref(), Model::parse);
        let specs = match raw.specs {
            Some(specs) => errors.check_nested("specs", SubjectSpecs::parse_for(kind, specs)),
            None => Some(SubjectSpecs::default()),
        };
        match (kind, brand, model, specs) {
            (Some(kind), Some(brand), Some(model), Some(specs)) if errors.is_empty() => Ok(Self {
                kind,
                brand,
                model,
                specs,
            }),
            _ => {
                debug_assert!(!errors.is_empty(), "a missing part must be {REQUIRED}");
                Err(errors)
            }
        }
    }

    pub fn kind(&self) -> SubjectKind {
        self.kind
    }

    pub fn brand(&self) -> &Brand {
        &self.brand
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn specs(&self) -> &SubjectSpecs {
        &self.specs
    }

    /// The slug a new catalog entry starts from (before collision suffixes).
    pub fn slug(&self) -> Slug {
        Slug::from_brand_model(&self.brand, &self.model)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_kind_is_camera_or_lens() {
        assert_eq!(SubjectKind::parse("lens").unwrap(), SubjectKind::Lens);
        assert!(SubjectKind::parse("tripod").is_err());
        assert_eq!(
            serde_json::to_string(&SubjectKind::Camera).unwrap(),
            r#""camera""#
        );
    }

    #[test]
    fn a_brand_and_model_are_trimmed_single_line_and_at_most_100_characters() {
        assert_eq!(Brand::parse(" Sony ").unwrap().as_str(), "Sony");
        assert!(Brand::parse("").is_err());
        assert!(Model::parse("a\tb").is_err());
        assert!(Model::parse(&"m".repeat(101)).is_err());
    }

    #[test]
    fn camera_specs_are_accepted_on_a_camera() {
        let raw: RawSpecs = serde_json::from_str(
            r#"{"mount":"Sony E","sensor_format":"Full frame","megapixels":33,"release_year":2021}"#,
        )
        .unwrap();
        let specs = SubjectSpecs::parse(SubjectKind::Camera, raw).unwrap();
        assert_eq!(specs.megapixels(), Some(33.0));
        assert_eq!(specs.release_year(), Some(2021));
        assert_eq!(
            serde_json::to_value(&specs).unwrap(),
            serde_json::json!({"mount":"Sony E","sensor_format":"Full frame","megapixels":33.0,"release_year":2021})
        );
    }

    #[test]
    fn a_lens_spec_on_a_camera_and_a_camera_spec_on_a_lens_are_violations() {
        let raw = RawSpecs {
            megapixels: Some(24.0),
            focal_min_mm: Some(24.0),
            ..RawSpecs::default()
        };
        let on_camera = SubjectSpecs::parse(SubjectKind::Camera, raw.clone()).unwrap_err();
        assert_eq!(fields(&on_camera), ["focal_min_mm"]);
        let on_lens = SubjectSpecs::parse(SubjectKind::Lens, raw).unwrap_err();
        assert_eq!(fields(&on_lens), ["megapixels"]);
    }

    #[test]
    fn a_focal_range_must_not_be_inverted() {
        let raw = RawSpecs {
            focal_min_mm: Some(70.0),
            focal_max_mm: Some(24.0),
            ..RawSpecs::default()
        };
        let errors = SubjectSpecs::parse(SubjectKind::Lens, raw).unwrap_err();
        assert_eq!(fields(&errors), ["focal_min_mm"]);
        let prime = RawSpecs {
            focal_min_mm: Some(50.0),
            focal_max_mm: Some(50.0),
            max_aperture: Some(1.4),
            ..RawSpecs::default()
        };
        assert!(SubjectSpecs::parse(SubjectKind::Lens, prime).is_ok());
    }

    #[test]
    fn spec_numbers_must_be_positive_and_bounded_after_rounding_to_a_tenth() {
        let raw = RawSpecs {
            megapixels: Some(0.04),
            release_year: Some(2020.5),
            mount: Some(" ".into()),
            sensor_format: Some("x".repeat(51)),
            ..RawSpecs::default()
        };
        let errors = SubjectSpecs::parse(SubjectKind::Camera, raw).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["mount", "sensor_format", "megapixels", "release_year"]
        );
        for (kind, raw) in [
            (
                SubjectKind::Camera,
                RawSpecs {
                    megapixels: Some(1000.04),
                    ..RawSpecs::default()
                },
            ),
            (
                SubjectKind::Lens,
                RawSpecs {
                    max_aperture: Some(64.0),
                    ..RawSpecs::default()
                },
            ),
            (
                SubjectKind::Lens,
                RawSpecs {
                    focal_max_mm: Some(5000.0),
                    ..RawSpecs::default()
                },
            ),
            (
                SubjectKind::Lens,
                RawSpecs {
                    release_year: Some(1800.0),
                    ..RawSpecs::default()
                },
            ),
        ] {
            assert!(SubjectSpecs::parse(kind, raw).is_ok());
        }
        let nan = RawSpecs {
            max_aperture: Some(f64::NAN),
            ..RawSpecs::default()
        };
        assert!(SubjectSpecs::parse(SubjectKind::Lens, nan).is_err());
    }

    #[test]
    fn each_kinds_schema_lists_exactly_the_specs_its_parser_accepts() {
        let values = [
            ("mount", serde_json::json!("E")),
            ("sensor_format", serde_json::json!("APS-C")),
            ("megapixels", serde_json::json!(24)),
            ("focal_min_mm", serde_json::json!(24)),
            ("focal_max_mm", serde_json::json!(70)),
            ("max_aperture", serde_json::json!(2.8)),
            ("release_year", serde_json::json!(2020)),
        ];
        for kind in SubjectKind::ALL {
            let schema = specs_input(*kind);
            assert!(
                schema
                    .properties
                    .keys()
                    .all(|name| values.iter().any(|(n, _)| n == name)),
                "a spec this test does not know"
            );
            for (name, value) in &values {
                let raw: RawSpecs =
                    serde_json::from_value(serde_json::json!({ *name: value })).unwrap();
                let accepted = SubjectSpecs::parse(*kind, raw).is_ok();
                assert_eq!(
                    schema.properties.contains_key(*name),
                    accepted,
                    "{kind} {name}"
                );
            }
        }
    }

    #[test]
    fn specs_refuse_unknown_fields() {
        assert!(serde_json::from_str::<RawSpecs>(r#"{"iso": 100}"#).is_err());
    }

    #[test]
    fn a_subject_reports_every_missing_part_and_bad_spec_with_its_path() {
        let raw: RawSubject =
            serde_json::from_str(r#"{"kind":"drone","specs":{"megapixels":-1}}"#).unwrap();
        let errors = NewSubject::parse(raw).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["kind", "brand", "model", "specs.megapixels"]
        );
    }

    #[test]
    fn a_subject_slug_comes_from_brand_and_model() {
        let raw: RawSubject =
            serde_json::from_str(r#"{"kind":"lens","brand":"Sigma","model":"35mm F1.4 DG"}"#)
                .unwrap();
        let subject = NewSubject::parse(raw).unwrap();
        assert_eq!(subject.slug().as_str(), "sigma-35mm-f1-4-dg");
        assert!(subject.specs().is_empty());
    }

    proptest! {
        #[test]
        fn accepted_megapixels_are_in_range_at_one_decimal(mp in -10.0f64..2000.0) {
            let raw = RawSpecs { megapixels: Some(mp), ..RawSpecs::default() };
            match SubjectSpecs::parse(SubjectKind::Camera, raw) {
                Ok(specs) => {
                    let value = specs.megapixels().unwrap();
                    prop_assert!(value > 0.0 && value <= 1000.0);
                    prop_assert!((value * 10.0 - (value * 10.0).round()).abs() < 1e-9);
                }
                Err(errors) => prop_assert_eq!(fields(&errors), ["megapixels"]),
            }
        }

        #[test]
        fn a_release_year_is_accepted_exactly_in_1800_to_2200(y in 0i32..4000) {
            let raw = RawSpecs { release_year: Some(f64::from(y)), ..RawSpecs::default() };
            let parsed = SubjectSpecs::parse(SubjectKind::Lens, raw);
            prop_assert_eq!(parsed.is_ok(), (1800..=2200).contains(&y));
        }

        #[test]
        fn focal_lengths_are_accepted_exactly_when_ordered(a in 1u16..5000, b in 1u16..5000) {
            let raw = RawSpecs {
                focal_min_mm: Some(f64::from(a)),
                focal_max_mm: Some(f64::from(b)),
                ..RawSpecs::default()
            };
            prop_assert_eq!(SubjectSpecs::parse(SubjectKind::Lens, raw).is_ok(), a <= b);
        }
    }
}
