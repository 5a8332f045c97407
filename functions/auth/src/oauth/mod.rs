//! Sign-in with Google (OpenID Connect) and GitHub (OAuth 2.0): the
//! authorization code flow with PKCE and `state` (and a `nonce` in Google's
//! ID token), through the `oauth2` crate; Google's ID token is verified with
//! its published keys (`jsonwebtoken`), GitHub's user and verified emails are
//! read from its API. The web app receives the provider's redirect on its
//! own page and hands the code and state to the callback route, so no token
//! ever travels in a URL.

mod client;
mod github;
mod google;
pub mod routes;

use shared::settings::{Provider, ProviderSettings};

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The provider's stable id for the person.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider verified that address.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a provider did not give an identity.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the code or gave something that does not verify.
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The provider could not be reached or answered with an error of its own.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

/// The identity behind an authorization code.
pub async fn identity(
    p: &ProviderSettings,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<Identity, OAuthError> {
    let tokens = client::exchange(p, redirect_uri, code, verifier).await?;
    match p.provider {
        Provider::Google => google::identity(p, &tokens, nonce).await,
        Provider::GitHub => github::identity(p, &tokens).await,
    }
}
