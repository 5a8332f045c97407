//! The provider's sign-in page, for a person trying the local stack: which
//! address signs in, and whether the provider verified it.

use axum::{
    response::{Html, IntoResponse, Response},
    Router,
};

use super::{endpoints::AuthorizeQuery, OAuthDouble};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The form: the request's parameters ride along hidden.
pub fn choose(provider: &str, q: &AuthorizeQuery) -> Response {
    let hidden = [
        ("client_id", Some(&q.client_id)),
        ("redirect_uri", Some(&q.redirect_uri)),
        ("state", Some(&q.state)),
        ("code_challenge", q.code_challenge.as_ref()),
        ("code_challenge_method", q.code_challenge_method.as_ref()),
        ("nonce", q.nonce.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(v)
            )
        })
    })
    .collect::<String>();
    let name = if provider == "google" {
        "Google"
    } else {
        "GitHub"
    };
    Html(format!(
        "<!doctype html><title>Sign in with {name} (local double)</title>\
         <h1>Sign in with {name}</h1><p>The local OAuth double: no real account is used.</p>\
         <form method=\"post\" action=\"/{provider}/authorize\">{hidden}\
         <label>Email <input name=\"login_hint\" type=\"email\" required></label> \
         <label><input name=\"verified\" type=\"checkbox\" checked> {name} verified this address</label> \
         <button>Continue</button></form>"
    ))
    .into_response()
}

/// No routes of its own: the form posts to the authorization endpoint.
pub fn router(_d: OAuthDouble) -> Router {
    Router::new()
}
