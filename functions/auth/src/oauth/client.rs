//! The token exchange, through the `oauth2` crate: the code, the PKCE
//! verifier and the client's secret for an access token (and, from an
//! OpenID provider, an ID token).

use std::time::Duration;

use oauth2::{
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use shared::settings::{Provider, ProviderSettings};

use super::OAuthError;

/// The longest a call to a provider may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The ID token an OpenID provider adds to its token response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdToken {
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdToken {}

type Tokens = StandardTokenResponse<IdToken, BasicTokenType>;

type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn client(p: &ProviderSettings, redirect_uri: &str) -> Result<Client, OAuthError> {
    let bad = |e: oauth2::url::ParseError| OAuthError::Unavailable(format!("a provider URL: {e}"));
    Ok(oauth2::Client::new(ClientId::new(p.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            p.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(AuthUrl::new(p.auth_url.clone()).map_err(bad)?)
        .set_token_uri(TokenUrl::new(p.token_url.clone()).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(bad)?))
}

/// An HTTP client for provider calls: bounded, and never following
/// redirects (which would open it to SSRF).
pub fn http() -> Result<reqwest::Client, OAuthError> {
    reqwest::Client::builder()
        .timeout(PROVIDER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("saasit-auth")
        .build()
        .map_err(|e| OAuthError::Unavailable(format!("cannot build the HTTP client: {e}")))
}

/// Where to send the person: the provider's authorization URL, its `state`
/// and the PKCE verifier to keep.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub verifier: String,
}

pub fn authorize(
    p: &ProviderSettings,
    redirect_uri: &str,
    nonce: &str,
) -> Result<Authorization, OAuthError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = client(p, redirect_uri)?;
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    request = match p.provider {
        Provider::Google => request
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_extra_param("nonce", nonce.to_owned()),
        Provider::GitHub => request
            .add_scope(Scope::new("read:user".into()))
            .add_scope(Scope::new("user:email".into())),
    };
    let (url, state) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
    })
}

/// What the token endpoint gave.
pub struct Exchanged {
    pub access_token: String,
    pub id_token: Option<String>,
}

pub async fn exchange(
    p: &ProviderSettings,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Result<Exchanged, OAuthError> {
    let http = http()?;
    let tokens = client(p, redirect_uri)?
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                OAuthError::Refused(format!("token endpoint: {}", r.error()))
            }
            RequestTokenError::Request(e) => {
                OAuthError::Unavailable(format!("token endpoint: {e}"))
            }
            // GitHub answers a refused code with 200 and an `error` field.
            RequestTokenError::Parse(e, body) => {
                match serde_json::from_slice::<BasicErrorResponse>(&body) {
                    Ok(r) => OAuthError::Refused(format!("token endpoint: {}", r.error())),
                    Err(_) => OAuthError::Unavailable(format!("token endpoint answer: {e}")),
                }
            }
            RequestTokenError::Other(e) => OAuthError::Unavailable(format!("token endpoint: {e}")),
        })?;
    Ok(Exchanged {
        access_token: tokens.access_token().secret().clone(),
        id_token: tokens.extra_fields().id_token.clone(),
    })
}
