//! Request and response bodies of the auth routes, and their parsing into
//! domain values. Unknown fields are refused so typos do not pass silently.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    auth::{Email, Password},
    db::users::{ProfileUpdate, User},
    error::FieldErrors,
    tier::Tier,
    ApiError,
};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 10–128 characters, with a letter and a digit or symbol.
    pub password: String,
    /// Display name; defaults to the part of the email before `@`.
    pub name: Option<String>,
}

/// A registration that passed validation.
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub name: String,
}

impl RegisterRequest {
    pub fn parse(self) -> Result<NewAccount, ApiError> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::parse(&self.password, email.as_ref()));
        let name = match &self.name {
            None => email.as_ref().map(|e| e.local_part().to_owned()),
            Some(n) => errors.check("name", parse_name(n)),
        };
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) if errors.is_empty() => Ok(NewAccount {
                email,
                password,
                name,
            }),
            _ => Err(ApiError::validation(errors)),
        }
    }
}

fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > 100 {
        return Err("name must be at most 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_owned())
}

fn parse_avatar_url(raw: &str) -> Result<String, String> {
    if raw.len() > 2048 {
        return Err("avatarUrl must be at most 2048 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|_| "avatarUrl must be an absolute URL".to_string())?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err("avatarUrl must be an http(s) URL".into());
    }
    Ok(url.into())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateMeRequest {
    pub name: Option<String>,
    /// An http(s) URL; `null` removes the avatar, absent leaves it.
    #[serde(default, deserialize_with = "shared::extract::present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
}

impl UpdateMeRequest {
    pub fn parse(self) -> Result<ProfileUpdate, ApiError> {
        let mut errors = FieldErrors::new();
        let name = self.name.and_then(|n| errors.check("name", parse_name(&n)));
        let avatar_url = match self.avatar_url {
            None => None,
            Some(None) => Some(None),
            Some(Some(u)) => errors.check("avatarUrl", parse_avatar_url(&u)).map(Some),
        };
        errors.finish()?;
        Ok(ProfileUpdate { name, avatar_url })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            avatar_url: u.avatar_url,
            tier: u.tier,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Exchange at `/api/v1/auth/refresh`; each one works once.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub user: UserView,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_collects_every_field_error() {
        let req = RegisterRequest {
            email: "nope".into(),
            password: "short".into(),
            name: Some("  ".into()),
        };
        let err = req.parse().err().expect("invalid");
        let fields = &err.details().expect("details")["fields"];
        let names: Vec<&str> = fields
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert_eq!(names, ["email", "password", "name"]);
    }

    #[test]
    fn name_defaults_to_local_part() {
        let ok = RegisterRequest {
            email: "Grace@Example.com".into(),
            password: "correct horse 9".into(),
            name: None,
        }
        .parse()
        .expect("valid");
        assert_eq!(ok.name, "grace");
        assert_eq!(ok.email.as_str(), "grace@example.com");
    }

    #[test]
    fn avatar_null_clears_and_absent_keeps() {
        let clear: UpdateMeRequest = serde_json::from_str(r#"{"avatarUrl":null}"#).expect("json");
        assert_eq!(clear.parse().expect("valid").avatar_url, Some(None));
        let keep: UpdateMeRequest = serde_json::from_str(r#"{"name":"Ada"}"#).expect("json");
        let keep = keep.parse().expect("valid");
        assert_eq!(keep.avatar_url, None);
        assert_eq!(keep.name.as_deref(), Some("Ada"));
        let bad: UpdateMeRequest =
            serde_json::from_str(r#"{"avatarUrl":"javascript:alert(1)"}"#).expect("json");
        assert!(bad.parse().is_err());
    }
}
