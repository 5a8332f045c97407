//! `http_request`: the `http` node's request, with its address guard, as a tool.

use serde_json::Value;

use super::{string_field, CALL_TIMEOUT, MAX_FETCH_BYTES};
use crate::{
    error::{ErrorKind, NodeError},
    http::{HttpCall, HttpRunner},
};

pub async fn call(http: &HttpRunner, input: &Value) -> Result<Value, NodeError> {
    let url = string_field(input, "url")?;
    let method = input
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return Err(NodeError::new(
            ErrorKind::Invalid,
            "method must be GET, POST, PUT, PATCH or DELETE",
        ));
    }
    let headers = match input.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Ok((k.clone(), other.to_string())),
            })
            .collect::<Result<Vec<_>, NodeError>>()?,
        Some(_) => {
            return Err(NodeError::new(
                ErrorKind::Invalid,
                "headers must be an object of strings",
            ))
        }
    };
    http.call(HttpCall {
        method,
        url: url.to_owned(),
        headers,
        body: input.get("body").filter(|b| !b.is_null()).cloned(),
        timeout: CALL_TIMEOUT,
        max_response_bytes: MAX_FETCH_BYTES,
    })
    .await
}
