//! Sign-in with Google and GitHub: each provider is on when its client id
//! and secret are set. The endpoint URLs default to the providers' own and
//! can point elsewhere (the local OAuth double, a proxy).

use secrecy::SecretString;

use crate::lookup::{Lookup, SettingsError};

/// Which provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Google,
    GitHub,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Google, Provider::GitHub];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::GitHub => "github",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// One provider's client and endpoints.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_url: String,
    pub token_url: String,
    /// Google: the JWKS that signs ID tokens. GitHub: the REST API base.
    pub keys_or_api_url: String,
    /// Google: the ID tokens' `iss` (Google writes it with and without `https://`).
    pub issuer: String,
}

#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// `OAUTH_GOOGLE_CLIENT_ID` and `OAUTH_GOOGLE_CLIENT_SECRET`; endpoints
    /// `OAUTH_GOOGLE_AUTH_URL`, `OAUTH_GOOGLE_TOKEN_URL`, `OAUTH_GOOGLE_JWKS_URL`,
    /// `OAUTH_GOOGLE_ISSUER`.
    pub google: Option<ProviderSettings>,
    /// `OAUTH_GITHUB_CLIENT_ID` and `OAUTH_GITHUB_CLIENT_SECRET`; endpoints
    /// `OAUTH_GITHUB_AUTH_URL`, `OAUTH_GITHUB_TOKEN_URL`, `OAUTH_GITHUB_API_URL`.
    pub github: Option<ProviderSettings>,
}

impl OAuthSettings {
    pub fn provider(&self, p: Provider) -> Option<&ProviderSettings> {
        match p {
            Provider::Google => self.google.as_ref(),
            Provider::GitHub => self.github.as_ref(),
        }
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            google: provider(
                l,
                Provider::Google,
                [
                    ("OAUTH_GOOGLE_CLIENT_ID", ""),
                    ("OAUTH_GOOGLE_CLIENT_SECRET", ""),
                    (
                        "OAUTH_GOOGLE_AUTH_URL",
                        "https://accounts.google.com/o/oauth2/v2/auth",
                    ),
                    (
                        "OAUTH_GOOGLE_TOKEN_URL",
                        "https://oauth2.googleapis.com/token",
                    ),
                    (
                        "OAUTH_GOOGLE_JWKS_URL",
                        "https://www.googleapis.com/oauth2/v3/certs",
                    ),
                    ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
                ],
            )?,
            github: provider(
                l,
                Provider::GitHub,
                [
                    ("OAUTH_GITHUB_CLIENT_ID", ""),
                    ("OAUTH_GITHUB_CLIENT_SECRET", ""),
                    (
                        "OAUTH_GITHUB_AUTH_URL",
                        "https://github.com/login/oauth/authorize",
                    ),
                    (
                        "OAUTH_GITHUB_TOKEN_URL",
                        "https://github.com/login/oauth/access_token",
                    ),
                    ("OAUTH_GITHUB_API_URL", "https://api.github.com"),
                    ("OAUTH_GITHUB_ISSUER", "https://github.com"),
                ],
            )?,
        })
    }
}

fn provider(
    l: &Lookup<'_>,
    provider: Provider,
    names: [(&'static str, &'static str); 6],
) -> Result<Option<ProviderSettings>, SettingsError> {
    let [(id, _), (secret, _), auth, token, keys, issuer] = names;
    let (Some(client_id), client_secret) = (l.get(id), l.get(secret)) else {
        return Ok(None);
    };
    let client_secret = client_secret.ok_or(SettingsError::Invalid {
        name: secret,
        reason: format!("is needed with {id}"),
    })?;
    let url = |(name, default): (&'static str, &'static str)| {
        let v = l.or(name, default);
        if v.starts_with("https://") || v.starts_with("http://") {
            Ok(v.trim_end_matches('/').to_owned())
        } else {
            Err(SettingsError::Invalid {
                name,
                reason: "must be an http(s) URL".into(),
            })
        }
    };
    Ok(Some(ProviderSettings {
        provider,
        client_id,
        client_secret: SecretString::from(client_secret),
        auth_url: url(auth)?,
        token_url: url(token)?,
        keys_or_api_url: url(keys)?,
        issuer: l.or(issuer.0, issuer.1),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<OAuthSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let read = OAuthSettings::from_lookup(&Lookup::map(&map));
        read
    }

    #[test]
    fn a_provider_is_on_with_id_and_secret_and_its_secret_never_prints() {
        let off = read(&[]).expect("valid");
        assert!(off.google.is_none() && off.github.is_none());
        let on = read(&[
            ("OAUTH_GITHUB_CLIENT_ID", "abc"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "very-secret-value"),
        ])
        .expect("valid");
        let gh = on.provider(Provider::GitHub).expect("github on");
        assert_eq!(gh.keys_or_api_url, "https://api.github.com");
        assert!(!format!("{on:?}").contains("very-secret-value"));
        assert!(read(&[("OAUTH_GOOGLE_CLIENT_ID", "abc")]).is_err());
        assert!(read(&[
            ("OAUTH_GOOGLE_CLIENT_ID", "abc"),
            ("OAUTH_GOOGLE_CLIENT_SECRET", "s"),
            ("OAUTH_GOOGLE_TOKEN_URL", "ftp://x"),
        ])
        .is_err());
        assert_eq!(Provider::parse("github"), Some(Provider::GitHub));
        assert_eq!(Provider::parse("GitHub"), None);
    }
}
