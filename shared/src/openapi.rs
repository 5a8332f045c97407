//! The answers every route can give because of how it is built, declared in
//! the OpenAPI document from that shape rather than by hand per route:
//! - a route that takes the bearer token answers 401 when it is missing,
//!   expired or revoked;
//! - a route with parameters or a body answers 400 when they do not parse;
//! - a route with a body answers 413 (too large) and 415 (not JSON);
//! - every route that reads the database answers 503 while it is down.
//!
//! Each is declared with the error envelope, unless the route declares that
//! status itself (with its own wording).

use utoipa::openapi::{
    path::{Operation, ParameterIn, PathItem},
    schema::{Schema, SchemaType, Type},
    OpenApi, Ref, RefOr, Response, ResponseBuilder,
};

/// Operations that never touch a dependency (no 503): the document itself.
const NO_DEPENDENCY: &[&str] = &["health_openapi_json", "health_api_docs"];

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build(),
    )
}

fn declare(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description));
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A header or query value is text, never JSON `null`: an optional one is
/// absent, so its schema drops the `null` that `Option<T>` gives it.
fn not_null(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if !matches!(p.parameter_in, ParameterIn::Header | ParameterIn::Query) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() {
            if let SchemaType::Array(types) = &o.schema_type {
                let kept: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                if let [only] = kept.as_slice() {
                    o.schema_type = SchemaType::Type(only.clone());
                }
            }
        }
    }
}

/// Adds the shape-given responses to every operation of `doc`, and makes
/// optional header and query parameters non-nullable (see [`not_null`]).
pub fn declare_common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            not_null(op);
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_body = op.request_body.is_some();
            if secured {
                declare(
                    op,
                    "401",
                    "No valid access token: missing, expired, invalid or revoked \
                     (UNAUTHORIZED, TOKEN_EXPIRED, TOKEN_INVALID, TOKEN_REVOKED)",
                );
            }
            let in_workspace = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p.name
                        .eq_ignore_ascii_case(crate::access::WORKSPACE_HEADER.as_str())
                })
            });
            if in_workspace {
                declare(
                    op,
                    "403",
                    "Your role in the workspace does not allow this (FORBIDDEN, details.role and \
                     details.permission), or the workspace's plan does not (TIER_LIMIT)",
                );
                declare(
                    op,
                    "404",
                    "Not found in this workspace, or you are not a member of the workspace (NOT_FOUND)",
                );
            }
            if has_params || has_body {
                declare(
                    op,
                    "400",
                    "A parameter or the body is malformed or invalid (VALIDATION_ERROR)",
                );
            }
            if has_body {
                declare(op, "413", "The body is too large (PAYLOAD_TOO_LARGE)");
                declare(
                    op,
                    "415",
                    "The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)",
                );
            }
            let independent = op
                .operation_id
                .as_deref()
                .is_some_and(|id| NO_DEPENDENCY.contains(&id));
            if !independent {
                declare(
                    op,
                    "503",
                    "A dependency (the database) is unavailable; retry later (SERVICE_UNAVAILABLE)",
                );
            }
        }
    }
}

/// Whether a schema is an object that says nothing of its properties (which
/// client generators read as holding none).
pub fn is_closed_free_form(schema: &serde_json::Map<String, serde_json::Value>) -> bool {
    let is_object = match schema.get("type") {
        Some(serde_json::Value::String(t)) => t == "object",
        Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    };
    let shaped = [
        "properties",
        "additionalProperties",
        "$ref",
        "allOf",
        "oneOf",
        "anyOf",
    ]
    .iter()
    .any(|k| schema.contains_key(*k));
    is_object && !shaped
}

/// A free-form JSON object (a canvas, settings, a run's inputs) is declared
/// `{"type": "object"}`; JSON Schema lets it hold any property, but client
/// generators read it as an object with none (TypeScript's
/// `Record<string, never>`). Saying `additionalProperties: true` makes the
/// document mean, for them too, what it means.
pub fn open_free_form_objects(doc: &mut OpenApi) {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if is_closed_free_form(map) {
                    map.insert("additionalProperties".into(), serde_json::Value::Bool(true));
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&*doc) else {
        return;
    };
    walk(&mut value);
    if let Ok(open) = serde_json::from_value(value) {
        *doc = open;
    }
}
