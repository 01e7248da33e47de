//! Schemas the derive cannot state with attributes alone, used with
//! `#[schema(schema_with = …)]`. Each one states exactly what the matching
//! validator in [`crate::validate`] accepts, so the API document and the
//! server agree (a document-driven fuzzer checks both directions).

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::corridor::{LAMBDA_MAX_NM, LAMBDA_MIN_NM, MAX_LANES};

/// `[A-Za-z0-9._:-]{1,63}`: [`crate::validate::Violations::identifier`].
pub const IDENTIFIER_PATTERN: &str = "^[A-Za-z0-9._:-]{1,63}$";
/// [`crate::validate::Violations::security_domain`].
pub const SECURITY_DOMAIN_PATTERN: &str = "^[A-Za-z0-9_-]{1,63}$";
/// Label keys, [`crate::validate::Violations::labels`].
pub const LABEL_KEY_PATTERN: &str = "^[A-Za-z0-9._/-]{1,63}$";
/// Label values.
pub const LABEL_VALUE_PATTERN: &str = "^[A-Za-z0-9._/-]{0,63}$";
/// Most labels on one object.
pub const MAX_LABELS: usize = 64;

fn string(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some(pattern))
}

/// A label map.
pub fn labels() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(
            "Labels: at most 64, keys 1-63 and values 0-63 characters of ASCII letters, digits, '.', '_', '/' and '-'",
        ))
        .max_properties(Some(MAX_LABELS))
        .property_names(Some(string(LABEL_KEY_PATTERN)))
        .additional_properties(Some(RefOr::T(Schema::Object(
            string(LABEL_VALUE_PATTERN).build(),
        ))))
        .into()
}

/// A list of resource ids.
pub fn identifiers() -> Schema {
    ArrayBuilder::new().items(string(IDENTIFIER_PATTERN)).into()
}

/// Two different optical port ids.
pub fn port_pair() -> Schema {
    ArrayBuilder::new()
        .items(string(IDENTIFIER_PATTERN))
        .min_items(Some(2))
        .max_items(Some(2))
        .unique_items(true)
        .into()
}

/// One wavelength per lane, in the C+L band.
pub fn wavelengths() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Number))
                .minimum(Some(LAMBDA_MIN_NM))
                .maximum(Some(LAMBDA_MAX_NM)),
        )
        .min_items(Some(1))
        .max_items(Some(MAX_LANES as usize))
        .into()
}

/// SPDM measurement block indices, 1..=254 each (0 asks for the count and
/// 255 for every block: requests of their own), each at most once.
pub fn measurement_indices() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Integer))
                .minimum(Some(1))
                .maximum(Some(254)),
        )
        .unique_items(true)
        .max_items(Some(254))
        .into()
}

/// Days of the week, each at most once.
pub fn weekdays() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .enum_values(Some(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])),
        )
        .unique_items(true)
        .max_items(Some(7))
        .into()
}

/// A policy target while only whole-domain policies are admitted: an object
/// whose selectors, if present, are empty.
pub fn empty_selector() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(
            "Reserved for per-bundle targets: only whole-domain policies are admitted, so match_labels and ids must be empty",
        ))
        .property(
            "match_labels",
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Object))
                .max_properties(Some(0)),
        )
        .property(
            "ids",
            ArrayBuilder::new()
                .items(string(IDENTIFIER_PATTERN))
                .max_items(Some(0)),
        )
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
        .into()
}
