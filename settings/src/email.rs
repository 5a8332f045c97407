//! Email: who sends it, where its links point, and (locally) where it goes.

use std::path::PathBuf;

use crate::lookup::{Lookup, SettingsError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// `EMAIL_FROM`: the sender, an SES-verified identity on AWS
    /// (`"SaasIt <no-reply@example.com>"` or a bare address).
    pub from: String,
    /// `APP_URL` (`http://127.0.0.1:3000`): the web app links in emails open;
    /// no trailing slash.
    pub app_url: String,
    /// `EMAIL_OUTBOX_DIR`: a directory to write emails to instead of sending
    /// them (the local stack and tests). Unset and not on AWS: no mail is sent,
    /// and routes that must send answer 503.
    pub outbox_dir: Option<PathBuf>,
}

impl EmailSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let app_url = l.or("APP_URL", "http://127.0.0.1:3000");
        if !(app_url.starts_with("https://") || app_url.starts_with("http://"))
            || app_url.contains(['?', '#'])
            || app_url.contains(char::is_whitespace)
        {
            return Err(SettingsError::Invalid {
                name: "APP_URL",
                reason: "must be an http(s) URL without a query or fragment".into(),
            });
        }
        Ok(Self {
            from: l.get("EMAIL_FROM").unwrap_or_default(),
            app_url: app_url.trim_end_matches('/').to_owned(),
            outbox_dir: l.get("EMAIL_OUTBOX_DIR").map(PathBuf::from),
        })
    }
}
