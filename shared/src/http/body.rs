//! Reading request bodies field by field, so every problem names its field without serde text.

use serde_json::{Map, Value};

use crate::domain::code::SixDigitCode;
use crate::domain::secret::SecretText;
use crate::http::ApiError;

/// A decoded JSON object body.
pub(crate) struct Body(Map<String, Value>);

impl Body {
    /// Parses `raw` as a JSON object.
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ApiError::MalformedJson),
        }
    }

    fn get(&self, field: &'static str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    /// A required string field.
    pub(crate) fn string(&self, field: &'static str) -> Result<&str, ApiError> {
        match self.get(field) {
            None => Err(ApiError::MissingField(field)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::InvalidField {
                field,
                expected: "a string",
            }),
        }
    }

    /// A required secret string field (password, token).
    pub(crate) fn secret(&self, field: &'static str) -> Result<SecretText, ApiError> {
        self.string(field).map(|s| SecretText::new(s.to_owned()))
    }

    /// The `challenge` token.
    pub(crate) fn challenge(&self) -> Result<SecretText, ApiError> {
        let token = self.string("challenge")?;
        if token.is_empty() || token.len() > 128 {
            return Err(ApiError::InvalidField {
                field: "challenge",
                expected: "the challenge token from the previous step",
            });
        }
        Ok(SecretText::new(token.to_owned()))
    }

    /// The `code`: a string (a JSON number would lose leading zeros) of six digits.
    pub(crate) fn code(&self) -> Result<SixDigitCode, ApiError> {
        match self.get("code") {
            None => Err(ApiError::MissingField("code")),
            Some(Value::String(s)) => {
                SixDigitCode::parse(s).map_err(|_| ApiError::InvalidCodeFormat)
            }
            Some(_) => Err(ApiError::InvalidField {
                field: "code",
                expected: "a JSON string like \"012345\" (a number would lose leading zeros)",
            }),
        }
    }

    /// An optional object field.
    pub(crate) fn object(&self, field: &'static str) -> Result<Option<Body>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Body(map.clone()))),
            Some(_) => Err(ApiError::InvalidField {
                field,
                expected: "an object",
            }),
        }
    }

    /// A required boolean field.
    pub(crate) fn bool(&self, field: &'static str) -> Result<bool, ApiError> {
        match self.get(field) {
            None => Err(ApiError::MissingField(field)),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::InvalidField {
                field,
                expected: "true or false",
            }),
        }
    }

    /// An optional string field (absent and null alike).
    pub(crate) fn opt_string(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::InvalidField {
                field,
                expected: "a string or null",
            }),
        }
    }

    /// An optional non-negative integer field.
    pub(crate) fn opt_u32(&self, field: &'static str) -> Result<Option<u32>, ApiError> {
        if self.get(field).is_none() {
            return Ok(None);
        }
        self.u32(field).map(Some)
    }

    /// A required non-negative integer field.
    pub(crate) fn u32(&self, field: &'static str) -> Result<u32, ApiError> {
        match self.get(field) {
            None => Err(ApiError::MissingField(field)),
            Some(v) => {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(ApiError::InvalidField {
                        field,
                        expected: "a whole number",
                    })
            }
        }
    }
}

/// The bearer token from an `Authorization` header.
pub(crate) fn bearer(header: Option<&str>) -> Result<SecretText, ApiError> {
    let value = header.ok_or(ApiError::MissingBearer)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::MissingBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 128 {
        return Err(ApiError::MissingBearer);
    }
    Ok(SecretText::new(token.to_owned()))
}

/// The value of `name` in a query string (no percent-decoding: the values used are URL-safe).
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}
