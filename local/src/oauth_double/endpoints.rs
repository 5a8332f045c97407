//! The providers' endpoints as the API calls them, and the double's controls.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Faults, Grant, OAuthDouble, Person, KID};

/// The provider a path names.
fn provider(raw: &str) -> Option<&'static str> {
    match raw {
        "google" => Some("google"),
        "github" => Some("github"),
        _ => None,
    }
}

/// What an authorization request carries.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizeQuery {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub login_hint: Option<String>,
    /// From the form: whether the address counts as verified.
    pub verified: Option<String>,
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

/// Issues a code for `email` and sends the browser back.
pub(super) fn grant(d: &OAuthDouble, p: &'static str, q: &AuthorizeQuery, email: &str) -> Response {
    if q.client_id != d.inner.client_id {
        return bad("unknown client_id");
    }
    let (Some(challenge), Some("S256")) = (&q.code_challenge, q.code_challenge_method.as_deref())
    else {
        return bad("PKCE with S256 is required");
    };
    if p == "google" && q.nonce.is_none() {
        return bad("a nonce is required");
    }
    let verified = q.verified.as_deref().map(|v| v == "on" || v == "true");
    let person = d.person(email, verified);
    let code = format!("code-{}", uuid::Uuid::now_v7().simple());
    d.world().codes.insert(
        code.clone(),
        Grant {
            provider: p,
            person,
            redirect_uri: q.redirect_uri.clone(),
            challenge: challenge.clone(),
            nonce: q.nonce.clone().unwrap_or_default(),
            used: false,
        },
    );
    let sep = if q.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let to = format!(
        "{}{sep}code={}&state={}",
        q.redirect_uri,
        url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(q.state.as_bytes()).collect::<String>()
    );
    Redirect::to(&to).into_response()
}

async fn authorize(
    State(d): State<OAuthDouble>,
    Path(p): Path<String>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let Some(p) = provider(&p) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match q.login_hint.as_deref() {
        Some(email) => grant(&d, p, &q, email),
        None => super::pages::choose(p, &q),
    }
}

/// A form body's fields.
fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn authorize_form(
    State(d): State<OAuthDouble>,
    Path(p): Path<String>,
    body: Bytes,
) -> Response {
    let Some(p) = provider(&p) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(q) = serde_json::from_value::<AuthorizeQuery>(json!(form(&body))) else {
        return bad("the form is missing fields");
    };
    match q.login_hint.as_deref().filter(|e| e.contains('@')) {
        Some(email) => grant(&d, p, &q, email),
        None => bad("an email address is needed"),
    }
}

/// The client's credentials: HTTP Basic, or in the form.
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((dec(id)?, dec(secret)?));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

fn token_error(p: &str, error: &str) -> Response {
    // GitHub answers 200 with an `error` field; OpenID providers 400.
    let status = if p == "github" {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(d): State<OAuthDouble>,
    Path(p): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(p) = provider(&p) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let form = form(&body);
    let faults = d.world().faults.clone();
    if faults.token_down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down (double fault)").into_response();
    }
    match client_of(&headers, &form) {
        Some((id, secret)) if id == d.inner.client_id && secret == d.inner.client_secret => {}
        _ => return token_error(p, "invalid_client"),
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error(p, "unsupported_grant_type");
    }
    let (Some(code), Some(verifier)) = (form.get("code"), form.get("code_verifier")) else {
        return token_error(p, "invalid_request");
    };
    let grant = {
        let mut w = d.world();
        let Some(g) = w.codes.get_mut(code) else {
            return token_error(
                p,
                if p == "github" {
                    "bad_verification_code"
                } else {
                    "invalid_grant"
                },
            );
        };
        if g.used || g.provider != p || form.get("redirect_uri") != Some(&g.redirect_uri) {
            return token_error(
                p,
                if p == "github" {
                    "bad_verification_code"
                } else {
                    "invalid_grant"
                },
            );
        }
        g.used = true;
        g.clone()
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return token_error(p, "invalid_grant");
    }
    let access = format!("at-{}", uuid::Uuid::now_v7().simple());
    d.world()
        .tokens
        .insert(access.clone(), grant.person.clone());
    if p == "github" {
        return Json(json!({ "access_token": access, "token_type": "bearer", "scope": "read:user,user:email" }))
            .into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let nonce = if faults.wrong_nonce {
        "not-the-nonce".to_owned()
    } else {
        grant.nonce.clone()
    };
    let claims = json!({
        "iss": format!("{}/google", d.inner.base), "aud": d.inner.client_id, "sub": grant.person.subject,
        "email": grant.person.email, "email_verified": grant.person.verified, "name": grant.person.name,
        "nonce": nonce, "iat": now, "exp": now + 3600,
    });
    let mut head = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    head.kid = Some(KID.to_owned());
    let key = jsonwebtoken::EncodingKey::from_ed_der(&d.inner.key);
    let Ok(id_token) = jsonwebtoken::encode(&head, &claims, &key) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response();
    };
    Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "scope": "openid email profile", "id_token": id_token,
    }))
    .into_response()
}

async fn jwks(State(d): State<OAuthDouble>) -> Json<serde_json::Value> {
    Json(d.jwks())
}

fn bearer_person(d: &OAuthDouble, headers: &HeaderMap) -> Option<Person> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    d.world().tokens.get(token).cloned()
}

async fn github_user(State(d): State<OAuthDouble>, headers: HeaderMap) -> Response {
    match bearer_person(&d, &headers) {
        Some(p) => Json(json!({
            "id": p.subject.parse::<u64>().unwrap_or(1), "login": p.name, "name": p.name,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response(),
    }
}

async fn github_emails(State(d): State<OAuthDouble>, headers: HeaderMap) -> Response {
    match bearer_person(&d, &headers) {
        Some(p) => Json(json!([{ "email": p.email, "primary": true, "verified": p.verified }]))
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewPerson {
    email: String,
    verified: bool,
    subject: Option<String>,
    name: Option<String>,
}

async fn add_person(State(d): State<OAuthDouble>, Json(p): Json<NewPerson>) -> StatusCode {
    let email = p.email.trim().to_lowercase();
    d.add_person(Person {
        subject: p
            .subject
            .unwrap_or_else(|| format!("{}", 100_000 + super::w_len(&email))),
        name: p
            .name
            .unwrap_or_else(|| email.split('@').next().unwrap_or("someone").to_owned()),
        verified: p.verified,
        email,
    });
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultSwitches {
    #[serde(default)]
    wrong_nonce: bool,
    #[serde(default)]
    token_down: bool,
}

async fn faults(State(d): State<OAuthDouble>, Json(f): Json<FaultSwitches>) -> StatusCode {
    d.set_faults(Faults {
        wrong_nonce: f.wrong_nonce,
        token_down: f.token_down,
    });
    StatusCode::NO_CONTENT
}

pub fn router(d: OAuthDouble) -> Router {
    Router::new()
        .route("/{provider}/authorize", get(authorize).post(authorize_form))
        .route("/{provider}/token", post(token))
        .route("/google/jwks", get(jwks))
        .route("/github/api/user", get(github_user))
        .route("/github/api/user/emails", get(github_emails))
        .route("/_double/people", post(add_person))
        .route("/_double/faults", post(faults))
        .with_state(d)
}
