//! Extractors whose rejections have the same JSON error shape as everything else.

use axum::{
    body::Bytes,
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, but malformed JSON, wrong types, missing or unknown fields,
/// a missing content type and oversize bodies become [`ApiError`]s; and the
/// body must be a JSON object, as every request body of this API is (serde
/// would also read a struct from an array: `[null, null]` would pass as an
/// object whose first two fields are `null`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(reject(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| reject(JsonRejection::BytesRejection(e)))?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(not_an_object());
        }
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(value)| Self(value))
            .map_err(reject)
    }
}

fn not_an_object() -> ApiError {
    ApiError::new(
        ErrorCode::ValidationError,
        "the request body must be a JSON object",
    )
    .with_details(json!({ "reason": "not_an_object" }))
}

/// `application/json` or any `application/*+json`, as axum's own check.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn reject(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            ErrorCode::ValidationError,
            "the request body has invalid or missing fields",
        )
        .with_details(json!({ "reason": "invalid_body", "detail": e.body_text() })),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            ErrorCode::ValidationError,
            "the request body is not valid JSON",
        )
        .with_details(json!({ "reason": "malformed_json", "detail": e.body_text() })),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected a request body with content-type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        other => ApiError::new(
            ErrorCode::ValidationError,
            "the request body could not be read",
        )
        .with_details(json!({ "reason": "unreadable_body", "detail": other.body_text() })),
    }
}

/// For `#[serde(default, deserialize_with = "shared::extract::present")]` on an
/// `Option<Option<T>>` field: absent is `None`, `null` is `Some(None)` (clear
/// the value), a value is `Some(Some(v))`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// For `#[serde(default, deserialize_with = "shared::extract::whole_number")]`
/// on an `Option<i32>`: JSON Schema's `integer` is any number without a
/// fraction, so `3.0` is the integer 3, as the document promises.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
            .map(|f| f as i64)
    });
    whole
        .and_then(|v| i32::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "{n} is not a whole number from -2147483648 to 2147483647"
            ))
        })
}

fn whole_of(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
            .map(|f| f as i64)
    })
}

/// For `#[serde(default, deserialize_with = "shared::extract::whole")]` on an
/// `Option` of an integer type: `3.0` is 3 (JSON Schema's `integer`), and a
/// number that does not fit the type is refused.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    whole_of(&n)
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

/// For `#[serde(deserialize_with = "shared::extract::whole_i64")]` on a
/// required `i64`: `3.0` is 3.
pub fn whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    whole_of(&n).ok_or_else(|| D::Error::custom(format!("{n} is not a whole number")))
}

/// A body that may be absent, empty or `null` (then `T::default()`), or else
/// a JSON object; the same errors as [`Json`].
pub fn optional_object<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = bytes.trim_ascii();
    if text.is_empty() || text == b"null" {
        return Ok(T::default());
    }
    if text.first() != Some(&b'{') {
        return Err(not_an_object());
    }
    axum::Json::<T>::from_bytes(text)
        .map(|axum::Json(value)| value)
        .map_err(reject)
}

/// Checks `limit` (1–100, `default` when absent) and `offset` (≥ 0, 0 when absent).
pub fn offset_page(
    limit: Option<i64>,
    offset: Option<i64>,
    default: i64,
) -> Result<(i64, i64), ApiError> {
    let (limit, offset) = (limit.unwrap_or(default), offset.unwrap_or(0));
    if !(1..=100).contains(&limit) || offset < 0 {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "limit must be 1–100 and offset at least 0",
        ));
    }
    Ok((limit, offset))
}
