//! Flat JSON objects read field by field: request bodies and database rows.
//!
//! Both are flat objects of a few scalar fields. Reading them through serde's derived
//! `Deserialize` instantiates a visitor, a field enum, a sequence form and serde_json's
//! value deserializer for every type; reading each field by name with one small reader
//! per field type costs a call per field (issue 14: the bundle). A reader also knows which
//! field it is reading, so a 422 names it without any search.

use serde_json::{Map, Value};

/// The field a reader could not read, and why (a 422's item for a body, a store error for
/// a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: String,
    pub message: String,
}

impl Mismatch {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The fields of one JSON object.
#[derive(Clone, Copy)]
pub struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self(object)
    }

    /// The field `name`: required unless `T` is an `Option` (missing or `null` is `None`).
    pub fn get<T: FieldValue>(&self, name: &str) -> Result<T, Mismatch> {
        match self.0.get(name) {
            Some(value) => T::from_json(value).map_err(|message| Mismatch::new(name, message)),
            None => T::missing().ok_or_else(|| Mismatch::new(name, "field required")),
        }
    }

    /// The field `name`, or `T`'s default when it is missing or `null`.
    pub fn or_default<T: FieldValue + Default>(&self, name: &str) -> Result<T, Mismatch> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(T::default()),
            Some(_) => self.get(name),
        }
    }
}

/// A type made from the fields of one object.
pub trait FromFields: Sized {
    fn from_fields(fields: Fields<'_>) -> Result<Self, Mismatch>;
}

/// `FromFields` for a struct whose fields are read under their own names; those after
/// `default:` read as their type's default when missing or `null`:
/// `from_fields!(UserRow { id, email; default: passkey_count })`.
macro_rules! from_fields {
    ($type:ident { $($field:ident),* $(,)? $(; default: $($defaulted:ident),+ $(,)?)? }) => {
        impl $crate::kernel::fields::FromFields for $type {
            fn from_fields(
                fields: $crate::kernel::fields::Fields<'_>,
            ) -> Result<Self, $crate::kernel::fields::Mismatch> {
                Ok(Self {
                    $($field: fields.get(stringify!($field))?,)*
                    $($($defaulted: fields.or_default(stringify!($defaulted))?,)+)?
                })
            }
        }
    };
}
pub(crate) use from_fields;

/// The object as it is.
impl FromFields for Map<String, Value> {
    fn from_fields(fields: Fields<'_>) -> Result<Self, Mismatch> {
        Ok(fields.0.clone())
    }
}

/// JSON bytes as a `Value`. Everything the Worker parses goes through serde_json's reader
/// of `&str`: `from_slice` would link a second copy of the whole parser, for bytes.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Reads `value` (an object) as `T`.
pub fn read<T: FromFields>(value: &Value) -> Result<T, Mismatch> {
    match value {
        Value::Object(object) => T::from_fields(Fields::new(object)),
        other => Err(Mismatch::new(
            "body",
            format!("invalid type: {}, expected an object", kind(other)),
        )),
    }
}

/// A type one field can hold. The message of an error reads like serde's
/// ("invalid type: integer `5`, expected a string").
pub trait FieldValue: Sized {
    fn from_json(value: &Value) -> Result<Self, String>;

    /// What a missing field reads as: nothing (it is required) unless the type is optional.
    fn missing() -> Option<Self> {
        None
    }
}

fn invalid(value: &Value, expected: &str) -> String {
    format!("invalid type: {}, expected {expected}", kind(value))
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_owned(),
        Value::Object(_) => "map".to_owned(),
    }
}

impl FieldValue for String {
    fn from_json(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| invalid(value, "a string"))
    }
}

impl FieldValue for i64 {
    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) if !n.is_f64() => n
                .as_i64()
                .ok_or_else(|| format!("invalid value: integer `{n}`, expected i64")),
            other => Err(invalid(other, "i64")),
        }
    }
}

/// `true`/`false`, or SQLite's booleans, which are the integers 0 and 1 (Postgres answers
/// booleans). Request bodies have no boolean fields.
impl FieldValue for bool {
    fn from_json(value: &Value) -> Result<Self, String> {
        match (value, value.as_i64()) {
            (Value::Bool(b), _) => Ok(*b),
            (_, Some(i)) => Ok(i != 0),
            (other, None) => Err(invalid(other, "a boolean")),
        }
    }
}

/// Any JSON (a passkey's credential, read by the ceremony itself).
impl FieldValue for Value {
    fn from_json(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }
}

impl FieldValue for Vec<String> {
    fn from_json(value: &Value) -> Result<Self, String> {
        let items = value.as_array().ok_or_else(|| invalid(value, "a sequence"))?;
        items.iter().map(String::from_json).collect()
    }
}

impl<T: FieldValue> FieldValue for Option<T> {
    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_json(other).map(Some),
        }
    }

    fn missing() -> Option<Self> {
        Some(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq)]
    struct Example {
        name: String,
        count: i64,
        note: Option<String>,
        active: bool,
        tags: Vec<String>,
    }

    from_fields!(Example { name, count, note; default: active, tags });

    fn example(value: Value) -> Result<Example, Mismatch> {
        read(&value)
    }

    #[test]
    fn fields_are_read_by_type() {
        let read = example(json!({"name": "a", "count": -3, "note": null, "active": 1, "tags": ["x"], "extra": []}));
        assert_eq!(
            read.unwrap(),
            Example {
                name: "a".into(),
                count: -3,
                note: None,
                active: true,
                tags: vec!["x".into()],
            }
        );
        let read = example(json!({"name": "a", "count": 0, "note": "n", "active": false})).unwrap();
        assert_eq!(
            (read.note.as_deref(), read.active, read.tags.len()),
            (Some("n"), false, 0)
        );
        assert!(!example(json!({"name": "a", "count": 0, "active": 0})).unwrap().active);
    }

    #[test]
    fn errors_name_the_field_and_what_was_wrong() {
        let cases = [
            (json!({"count": 1}), "name", "field required"),
            (
                json!({"name": null, "count": 1}),
                "name",
                "invalid type: null, expected a string",
            ),
            (
                json!({"name": [], "count": 1}),
                "name",
                "invalid type: sequence, expected a string",
            ),
            (
                json!({"name": "a", "count": 1.5}),
                "count",
                "invalid type: floating point `1.5`, expected i64",
            ),
            (
                json!({"name": "a", "count": "1"}),
                "count",
                "invalid type: string \"1\", expected i64",
            ),
            (
                json!({"name": "a", "count": 18446744073709551615u64}),
                "count",
                "invalid value: integer `18446744073709551615`, expected i64",
            ),
            (
                json!({"name": "a", "count": 1, "note": 5}),
                "note",
                "invalid type: integer `5`, expected a string",
            ),
            (
                json!({"name": "a", "count": 1, "active": "yes"}),
                "active",
                "invalid type: string \"yes\", expected a boolean",
            ),
            (
                json!({"name": "a", "count": 1, "tags": [1]}),
                "tags",
                "invalid type: integer `1`, expected a string",
            ),
            (json!([1]), "body", "invalid type: sequence, expected an object"),
        ];
        for (value, field, message) in cases {
            let error = example(value.clone()).unwrap_err();
            assert_eq!(
                (error.field.as_str(), error.message.as_str()),
                (field, message),
                "{value}"
            );
        }
    }
}
