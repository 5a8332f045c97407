//! GitHub's identity: the user (`/user`: a numeric id that never changes)
//! and their emails (`/user/emails`): the primary address if GitHub verified
//! it, else another verified one.

use serde::Deserialize;
use shared::settings::ProviderSettings;

use super::{client::Exchanged, Identity, OAuthError};

#[derive(Debug, Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Address {
    email: String,
    primary: bool,
    verified: bool,
}

async fn get<T: serde::de::DeserializeOwned>(
    p: &ProviderSettings,
    token: &str,
    path: &str,
) -> Result<T, OAuthError> {
    let resp = super::client::http()?
        .get(format!("{}{path}", p.keys_or_api_url))
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(|e| OAuthError::Unavailable(format!("GitHub {path}: {}", e.without_url())))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(OAuthError::Refused(format!("GitHub {path}: {status}")));
    }
    if !status.is_success() {
        return Err(OAuthError::Unavailable(format!("GitHub {path}: {status}")));
    }
    resp.json()
        .await
        .map_err(|e| OAuthError::Unavailable(format!("GitHub {path}: {}", e.without_url())))
}

pub async fn identity(p: &ProviderSettings, tokens: &Exchanged) -> Result<Identity, OAuthError> {
    let user: User = get(p, &tokens.access_token, "/user").await?;
    let emails: Vec<Address> = get(p, &tokens.access_token, "/user/emails").await?;
    let chosen = emails
        .iter()
        .find(|a| a.primary && a.verified)
        .or_else(|| emails.iter().find(|a| a.verified));
    Ok(Identity {
        subject: user.id.to_string(),
        email: chosen
            .or_else(|| emails.iter().find(|a| a.primary))
            .map(|a| a.email.trim().to_lowercase()),
        email_verified: chosen.is_some(),
        name: user.name.or(Some(user.login)),
    })
}
