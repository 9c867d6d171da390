//! Editor accounts: who may write reviews, and what auth accepts about them.
//!
//! Only auth handles passwords, and only as `Password`, whose `Debug` hides
//! it and which has no `Display` or `Serialize`: a password cannot reach a
//! log line or a response body by accident.

use std::fmt;

use serde::Deserialize;

use crate::error::{Invalid, ValidationErrors};
use crate::fields::{optional, required};
use crate::nullable::Nullable;
use crate::text::{check_length, single_line, string_newtype, word_enum};

fn validate_email(value: &str) -> Result<String, Invalid> {
    // Lowercased here so that the unique index on lower(email) and every
    // comparison in code agree on what "the same address" means.
    let email = value.trim().to_lowercase();
    check_length(&email, 3, 254)?;
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(
            "must not contain spaces or control characters",
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(Invalid::new("must contain an @"));
    };
    if domain.contains('@') {
        return Err(Invalid::new("must contain exactly one @"));
    }
    if local.is_empty() {
        return Err(Invalid::new("must have a name before the @"));
    }
    if local.chars().count() > 64 {
        return Err(Invalid::new("must have at most 64 characters before the @"));
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(Invalid::new(
            "must have a domain such as example.com after the @",
        ));
    }
    Ok(email)
}

string_newtype!(
    /// An editor's login, normalised to lowercase.
    Email,
    validate_email
);

fn validate_editor_name(value: &str) -> Result<String, Invalid> {
    single_line(value, 100)
}

string_newtype!(
    /// The name shown on an editor's reviews.
    #[derive(utoipa::ToSchema)]
    #[schema(
        description = "1 to 100 characters once surrounding whitespace is trimmed; no control characters",
        // What `validate_editor_name` accepts, for clients and fuzzers:
        // optional surrounding whitespace, then 1 to 100 characters without
        // controls that start and end with a non-space.
        pattern = r"^[^\S\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?[^\S\x00-\x1f\x7f-\x9f]*$"
    )]
    EditorName,
    validate_editor_name
);

word_enum!(
    /// What an editor may do: admins also manage accounts and any review.
    Role, "editor, admin",
    {
        Editor => "editor",
        Admin => "admin",
    }
);

impl Default for Role {
    /// New accounts get the least privilege.
    fn default() -> Self {
        Self::Editor
    }
}

/// A password as typed, 12–256 characters.
///
/// Not trimmed: spaces are legitimate password characters, and trimming
/// would let two different passwords hash alike.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::validate(value)?;
        Ok(Self(value.to_owned()))
    }

    fn validate(value: &str) -> Result<(), Invalid> {
        // The length limit is also the defence against hashing megabytes:
        // argon2 cost grows with input.
        check_length(value, Self::MIN_CHARS, Self::MAX_CHARS)
    }

    /// The secret itself, for hashing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = Invalid;

    /// Takes the string as is, so the secret is not copied around.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::validate(&value)?;
        Ok(Self(value))
    }
}

/// The documents state the length rule from the constants that enforce it.
impl utoipa::PartialSchema for Password {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(Self::MIN_CHARS))
            .max_length(Some(Self::MAX_CHARS))
            .into()
    }
}

impl utoipa::ToSchema for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The body of `POST /auth/editors` as received: every field optional so that
/// a missing one is reported as a violation of that field, with the others.
///
/// Its schema (`NewEditor`) is the body a client must send, not this
/// leniency: email, name and password required.
#[derive(Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEditor, description = "An account to create")]
pub struct RawNewEditor {
    /// Unique, case-insensitive; stored lowercased
    #[serde(default)]
    #[schema(value_type = String, format = Email, min_length = 3, max_length = 254, required = true)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(value_type = EditorName, inline, required = true)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Password, inline, required = true)]
    pub password: Option<String>,
    #[serde(default)]
    #[schema(schema_with = new_editor_role)]
    pub role: Option<String>,
}

/// The schema of [`RawNewEditor::role`]: a role, or null for the default.
/// (utoipa would write `Option<Role>` as a `oneOf`; either of two schemas
/// that cannot both match is the `anyOf` the documents have always said.)
fn new_editor_role() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .item(utoipa::openapi::Ref::from_schema_name(
            <Role as utoipa::ToSchema>::name(),
        ))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("editor when absent or null"))
        .into()
}

impl fmt::Debug for RawNewEditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNewEditor")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("role", &self.role)
            .finish()
    }
}

/// A valid account to create.
#[derive(Debug, Clone)]
pub struct NewEditor {
    email: Email,
    name: EditorName,
    password: Password,
    role: Role,
}

impl NewEditor {
    /// Collects every violation; `role` defaults to `editor` when absent.
    pub fn parse(raw: RawNewEditor) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = required(&mut errors, "email", raw.email.as_deref(), Email::parse);
        let name = required(&mut errors, "name", raw.name.as_deref(), EditorName::parse);
        let password = required(&mut errors, "password", raw.password, Password::try_from);
        let role = match raw.role.as_deref() {
            Some(role) => errors.check("role", Role::parse(role)),
            None => Some(Role::default()),
        };
        match (email, name, password, role) {
            (Some(email), Some(name), Some(password), Some(role)) if errors.is_empty() => {
                Ok(Self {
                    email,
                    name,
                    password,
                    role,
                })
            }
            _ => Err(errors),
        }
    }

    pub fn email(&self) -> &Email {
        &self.email
    }

    pub fn name(&self) -> &EditorName {
        &self.name
    }

    pub fn password(&self) -> &Password {
        &self.password
    }

    pub fn role(&self) -> Role {
        self.role
    }
}

/// The body of `PATCH /auth/editors/{id}` as received. `null` is refused:
/// none of these fields can be cleared.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EditorPatch, description = "Absent fields are unchanged; null is refused")]
pub struct RawEditorPatch {
    #[serde(default)]
    #[schema(value_type = EditorName, inline)]
    pub name: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Role)]
    pub role: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = bool)]
    pub disabled: Nullable<bool>,
}

/// A valid change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditorPatch {
    name: Option<EditorName>,
    role: Option<Role>,
    disabled: Option<bool>,
}

impl EditorPatch {
    pub fn parse(raw: RawEditorPatch) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = optional(&mut errors, "name", raw.name, |s| EditorName::parse(&s));
        let role = optional(&mut errors, "role", raw.role, |s| Role::parse(&s));
        let disabled = optional(&mut errors, "disabled", raw.disabled, Ok);
        errors.into_result(|| Self {
            name,
            role,
            disabled,
        })
    }

    pub fn name(&self) -> Option<&EditorName> {
        self.name.as_ref()
    }

    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn disabled(&self) -> Option<bool> {
        self.disabled
    }

    /// True when the body changed nothing; whether that is an error is the
    /// service's call.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.role.is_none() && self.disabled.is_none()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lowercased() {
        let email = Email::parse("  Ana.Pérez@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ana.pérez@example.com");
    }

    #[test]
    fn an_email_needs_exactly_one_at_a_local_part_and_a_dotted_domain() {
        for bad in [
            "",
            "a@",
            "@example.com",
            "ana",
            "ana@example",
            "ana@@example.com",
            "ana@b@example.com",
            "ana@example..com",
            "ana@.example.com",
            "ana@example.com.",
            "ana maria@example.com",
            "ana\u{0}@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse("a@b.c").is_ok());
    }

    #[test]
    fn an_email_local_part_is_at_most_64_characters_and_the_whole_at_most_254() {
        let local = "a".repeat(64);
        assert!(Email::parse(&format!("{local}@example.com")).is_ok());
        assert!(Email::parse(&format!("a{local}@example.com")).is_err());
        let domain = format!("{}.com", "d".repeat(250));
        assert_eq!(
            Email::parse(&format!("a@{domain}")).unwrap_err().message(),
            "must be at most 254 characters"
        );
    }

    #[test]
    fn an_email_deserialises_only_when_valid() {
        let ok: Email = serde_json::from_str(r#""A@B.CO""#).unwrap();
        assert_eq!(ok.as_str(), "a@b.co");
        assert!(serde_json::from_str::<Email>(r#""nope""#).is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#""a@b.co""#);
    }

    #[test]
    fn a_password_is_12_to_256_characters_counted_as_characters() {
        assert!(Password::parse("elevenchars").is_err());
        assert!(Password::parse("twelve chars").is_ok());
        assert!(Password::parse(&"ñ".repeat(256)).is_ok());
        assert!(Password::parse(&"ñ".repeat(257)).is_err());
        assert!(Password::parse(&"ñ".repeat(12)).is_ok());
    }

    #[test]
    fn a_password_is_not_trimmed_and_never_shows_in_debug_output() {
        let password = Password::parse("  secret secret  ").unwrap();
        assert_eq!(password.expose(), "  secret secret  ");
        assert_eq!(format!("{password:?}"), "Password(***)");
        let raw = RawNewEditor {
            password: Some("hunter2hunter2".into()),
            ..RawNewEditor::default()
        };
        assert!(!format!("{raw:?}").contains("hunter2"));
    }

    #[test]
    fn a_refused_password_does_not_echo_the_secret() {
        let err = Password::parse("short").unwrap_err();
        assert!(!err.message().contains("short"));
    }

    #[test]
    fn an_editor_name_is_trimmed_single_line_and_at_most_100_characters() {
        assert_eq!(EditorName::parse(" Ana ").unwrap().as_str(), "Ana");
        assert!(EditorName::parse("  ").is_err());
        assert!(EditorName::parse("Ana\nMaría").is_err());
        assert!(EditorName::parse(&"a".repeat(100)).is_ok());
        assert!(EditorName::parse(&"a".repeat(101)).is_err());
    }

    #[test]
    fn a_role_is_editor_or_admin_in_lowercase() {
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert_eq!(Role::parse("editor").unwrap(), Role::Editor);
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("root").is_err());
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), r#""admin""#);
        assert_eq!(Role::default(), Role::Editor);
    }

    #[test]
    fn a_new_editor_defaults_to_the_editor_role() {
        let raw: RawNewEditor = serde_json::from_str(
            r#"{"email":"a@b.co","name":"Ana","password":"correct horse battery"}"#,
        )
        .unwrap();
        let editor = NewEditor::parse(raw).unwrap();
        assert_eq!(editor.role(), Role::Editor);
        assert_eq!(editor.email().as_str(), "a@b.co");
    }

    #[test]
    fn a_new_editor_reports_every_missing_or_invalid_field() {
        let raw: RawNewEditor = serde_json::from_str(r#"{"email":"x","role":"root"}"#).unwrap();
        let errors = NewEditor::parse(raw).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "name", "password", "role"]);
        assert_eq!(errors.iter().nth(1).unwrap().message, "is required");
    }

    #[test]
    fn a_new_editor_body_refuses_unknown_fields() {
        assert!(serde_json::from_str::<RawNewEditor>(r#"{"id": 1}"#).is_err());
    }

    #[test]
    fn an_editor_patch_refuses_null_and_keeps_absent_fields_unchanged() {
        let raw: RawEditorPatch = serde_json::from_str(r#"{"disabled": true}"#).unwrap();
        let patch = EditorPatch::parse(raw).unwrap();
        assert_eq!(patch.disabled(), Some(true));
        assert_eq!(patch.name(), None);
        assert!(!patch.is_empty());

        let raw: RawEditorPatch =
            serde_json::from_str(r#"{"name": null, "role": "king", "disabled": null}"#).unwrap();
        let errors = EditorPatch::parse(raw).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "role", "disabled"]);

        let empty = EditorPatch::parse(RawEditorPatch::default()).unwrap();
        assert!(empty.is_empty());
    }

    proptest! {
        #[test]
        fn any_accepted_email_is_lowercase_trimmed_and_has_one_at(s in "\\PC{0,30}@\\PC{0,30}|[ -~]{0,60}") {
            if let Ok(email) = Email::parse(&s) {
                let text = email.as_str();
                prop_assert_eq!(text.to_lowercase(), text);
                prop_assert_eq!(text.trim(), text);
                prop_assert_eq!(text.matches('@').count(), 1);
                prop_assert!((3..=254).contains(&text.chars().count()));
                // Parsing is idempotent: a stored email re-parses to itself.
                prop_assert_eq!(Email::parse(text).unwrap(), email.clone());
            }
        }

        #[test]
        fn a_password_is_accepted_exactly_when_it_has_12_to_256_characters(s in "\\PC{0,300}") {
            let len = s.chars().count();
            prop_assert_eq!(Password::parse(&s).is_ok(), (12..=256).contains(&len));
        }

        #[test]
        fn an_editor_name_never_keeps_surrounding_whitespace(s in "\\PC{0,120}") {
            if let Ok(name) = EditorName::parse(&s) {
                prop_assert_eq!(name.as_str().trim(), name.as_str());
                prop_assert!(name.as_str().chars().count() <= 100);
            }
        }
    }
}
