//! Request bodies: read within [`BODY_TIMEOUT`] and [`MAX_BODY`], parsed
//! as one JSON object, and its fields taken with their types checked, each
//! failure a 400 that names the field.

use std::time::Duration;

use axum::body::Body;
use serde_json::{Map, Value};

use super::api::{error, Reply};
use super::guard::MAX_BODY;

/// How long a request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request's body as a JSON object.
pub async fn object(body: Body) -> Result<Fields, Reply> {
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(error(413, "unreadable body, or larger than 64 KiB")),
        Err(_) => return Err(error(408, "the request body took too long")),
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Fields(map)),
        Ok(_) => Err(error(400, "the body must be a JSON object")),
        Err(e) => Err(error(400, &format!("the body is not JSON: {e}"))),
    }
}

/// The fields of a JSON object body.
#[derive(Debug)]
pub struct Fields(pub Map<String, Value>);

impl Fields {
    /// A string field that must be there.
    pub fn string(&self, name: &str) -> Result<&str, Reply> {
        match self.0.get(name) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(error(400, &format!("{name} must be a string"))),
            None => Err(error(400, &format!("{name} is missing"))),
        }
    }

    /// A string field that may be absent (or null).
    pub fn optional_string(&self, name: &str) -> Result<Option<&str>, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(error(400, &format!("{name} must be a string"))),
        }
    }

    /// A whole number field from `range`, `default` when absent.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
                error(
                    400,
                    &format!(
                        "{name} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
        }
    }

    /// A boolean field, `default` when absent.
    pub fn boolean(&self, name: &str, default: bool) -> Result<bool, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(error(400, &format!("{name} must be true or false"))),
        }
    }
}
