//! Request bodies: JSON (and the OAuth2 form for login) into typed requests, with the
//! contract's 400 / 413 / 415 / 422 answers.

use super::Request;
use crate::kernel::fields::{Fields, FromFields};
use crate::kernel::problem::{ApiError, FieldError, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE};

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn too_large() -> ApiError {
    ApiError::new(
        &PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

pub fn media_type(request: &Request) -> Option<String> {
    request
        .header("content-type")
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Parses a JSON object body into `T`: wrong content type 415, bad syntax 400, a body that
/// is not an object or does not fit `T` 422 naming the field.
pub fn json<T: FromFields>(request: &Request) -> Result<T, ApiError> {
    match media_type(request) {
        Some(m) if is_json(&m) => {}
        _ => return Err(unsupported_media_type("application/json")),
    }
    parse_json_bytes(&request.body)
}

/// A JSON body that may be left out: no body at all is `None`; anything sent is parsed
/// like `json` (so a wrong content type is still a 415).
pub fn optional_json<T: FromFields>(request: &Request) -> Result<Option<T>, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    json(request).map(Some)
}

pub fn unsupported_media_type(accepted: &str) -> ApiError {
    ApiError::new(&UNSUPPORTED_MEDIA_TYPE, format!("send the body as {accepted}"))
}

pub fn parse_json_bytes<T: FromFields>(body: &[u8]) -> Result<T, ApiError> {
    let value = crate::kernel::fields::parse(body)
        .map_err(|e| ApiError::malformed_body(format!("the body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(object) = &value else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    T::from_fields(Fields::new(object))
        .map_err(|error| ApiError::validation(vec![FieldError::new(&error.field, error.message)], false))
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
pub fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::malformed_body("the form body is not UTF-8"))?;
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::malformed_body("the form body has a bad percent-escape");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::malformed_body("the form body is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fields::Mismatch;

    #[derive(Debug)]
    struct Login {
        #[allow(dead_code)]
        email: String,
        #[allow(dead_code)]
        password: String,
    }

    impl FromFields for Login {
        fn from_fields(f: Fields<'_>) -> Result<Self, Mismatch> {
            Ok(Self {
                email: f.get("email")?,
                password: f.get("password")?,
            })
        }
    }

    fn request(content_type: &str, body: &str) -> Request {
        Request::new("POST", "/x")
            .with_header("content-type", content_type)
            .with_body(body)
    }

    #[test]
    fn bodies_get_the_contracts_statuses() {
        let cases: &[(&str, &str, u16, &str)] = &[
            (
                "text/plain",
                r#"{"email":"a","password":"b"}"#,
                415,
                "wrong content type",
            ),
            ("application/json", r#"{"email": "a", "#, 400, "truncated JSON"),
            ("application/json", "", 400, "empty body"),
            ("application/json", "[1, 2]", 422, "not an object"),
            ("application/json", r#"{"email":"a"}"#, 422, "missing field"),
            ("application/json", r#"{"email":"a","password":5}"#, 422, "wrong type"),
        ];
        for (content_type, body, status, why) in cases {
            let err = json::<Login>(&request(content_type, body)).unwrap_err();
            assert_eq!(err.status(), *status, "{why}");
        }
        assert!(json::<Login>(&request(
            "application/json; charset=utf-8",
            r#"{"email":"a","password":"b"}"#
        ))
        .is_ok());
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = json::<Login>(&request("application/json", r#"{"email":"a"}"#)).unwrap_err();
        assert_eq!(err.problem.errors, vec![FieldError::new("password", "field required")]);
        let err = json::<Login>(&request("application/json", r#"{"email":"a","password":[]}"#)).unwrap_err();
        assert_eq!(err.problem.errors[0].field, "password");
        assert!(err.problem.errors[0].message.starts_with("invalid type: sequence"));
        let err = json::<Login>(&request("application/json", r#"{"email":1,"password":"b"}"#)).unwrap_err();
        assert_eq!(err.problem.errors[0].field, "email");
        #[derive(Debug)]
        struct Optional {
            #[allow(dead_code)]
            name: Option<String>,
            #[allow(dead_code)]
            count: Option<i64>,
        }
        impl FromFields for Optional {
            fn from_fields(f: Fields<'_>) -> Result<Self, Mismatch> {
                Ok(Self {
                    name: f.get("name")?,
                    count: f.get("count")?,
                })
            }
        }
        let err = json::<Optional>(&request("application/json", r#"{"name":"a","count":"1"}"#)).unwrap_err();
        assert_eq!(err.problem.errors[0].field, "count");
        assert!(json::<Optional>(&request("application/json", r#"{"count":null}"#)).is_ok());
    }

    #[test]
    fn form_bodies_are_percent_decoded() {
        let pairs = form_pairs(b"username=ada%40example.com&password=a+b%26c").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("username".into(), "ada@example.com".into()),
                ("password".into(), "a b&c".into())
            ]
        );
        assert_eq!(form_pairs(b"x=%zz").unwrap_err().status(), 400);
    }
}
