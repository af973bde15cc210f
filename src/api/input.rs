//! Request bodies: read with a size cap, parsed as a JSON object, and fields extracted one by
//! one so every error names the field and says what is wrong. (A derived serde struct would
//! answer "invalid type: integer, expected a string at line 1 column 20" without the field.)
use super::error::ApiError;
use actix_web::web;
use futures_util::StreamExt;
use serde_json::{Map, Value};

/// Largest body accepted on any endpoint.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn read_object(mut payload: web::Payload) -> Result<Object, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request("invalid_body", format!("could not read request body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "request body is empty; send a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(Object {
            map,
            prefix: String::new(),
        }),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_body",
            "request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )),
    }
}

/// A JSON object being taken apart; `prefix` names nested objects in errors (`options.code_size`).
pub struct Object {
    map: Map<String, Value>,
    prefix: String,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Object {
    pub fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> ApiError {
        let path = self.path(key);
        ApiError::field(
            path.clone(),
            "invalid_type",
            format!("{path} must be {expected}, not {}", type_name(got)),
        )
    }

    /// Absent and `null` both mean "not given".
    fn present(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn required_str(&self, key: &str) -> Result<&str, ApiError> {
        self.optional_str(key)?.ok_or_else(|| {
            let path = self.path(key);
            ApiError::field(path.clone(), "required", format!("{path} is required"))
        })
    }

    pub fn optional_str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub fn optional_u32(&self, key: &str) -> Result<Option<u32>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| {
                let path = self.path(key);
                ApiError::field(path.clone(), "invalid_value", format!("{path} must be a whole number"))
            }),
            Some(other) => Err(self.wrong_type(key, "a whole number", other)),
        }
    }

    pub fn optional_object(&self, key: &str) -> Result<Option<Object>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Object {
                map: map.clone(),
                prefix: format!("{}.", self.path(key)),
            })),
            Some(other) => Err(self.wrong_type(key, "an object", other)),
        }
    }

    /// Any JSON value, kept as given (e.g. `metadata`).
    pub fn optional_value(&self, key: &str) -> Option<Value> {
        self.present(key).cloned()
    }

    /// An array of objects, each named `key[i].` in errors.
    pub fn optional_objects(&self, key: &str) -> Result<Option<Vec<Object>>, ApiError> {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.wrong_type(key, "an array", value));
        };
        let path = self.path(key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Object {
                    map: map.clone(),
                    prefix: format!("{path}[{i}]."),
                }),
                other => Err(ApiError::field(
                    format!("{path}[{i}]"),
                    "invalid_type",
                    format!("{path}[{i}] must be an object, not {}", type_name(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of strings.
    pub fn optional_strings(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.wrong_type(key, "an array of strings", value));
        };
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| self.wrong_type(key, "an array of strings", value))
    }

    /// The object's keys, as given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// 400 naming the first key that is not in `known` (for strict objects).
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.keys().find(|k| !known.contains(k)) {
            None => Ok(()),
            Some(key) => {
                let path = self.path(key);
                Err(ApiError::field(
                    path.clone(),
                    "unknown_field",
                    format!("{path} is not a known field; known: {}", known.join(", ")),
                ))
            }
        }
    }
}
