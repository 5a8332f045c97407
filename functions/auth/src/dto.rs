//! Request and response bodies of the auth routes, and their parsing into
//! domain values. Unknown fields are refused so typos do not pass silently.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    auth::{Email, Password, PasswordError},
    db::users::{ProfileUpdate, User},
    error::FieldErrors,
    text::{self, string_schema, TextRule},
    tier::Tier,
    ApiError, ErrorCode,
};
use utoipa::{
    openapi::{RefOr, Schema},
    ToSchema,
};

/// A display name.
const NAME: TextRule = text::line(100);
const MAX_URL: usize = 2048;
/// What [`parse_avatar_url`] takes first; then the URL must parse with a host.
const AVATAR_URL_PATTERN: &str =
    "^[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\\x00-\\x20\\x7f-\\x9f]*)?$";

fn email_schema() -> RefOr<Schema> {
    shared::auth::email::schema()
}
pub(crate) fn password_schema() -> RefOr<Schema> {
    string_schema(false)
        .min_length(Some(Password::MIN_CHARS))
        .max_length(Some(Password::MAX_CHARS))
        .description(Some(
            "10–128 characters. A password of that length can still be refused as weak \
             (422 WEAK_PASSWORD): it needs a letter and a digit or symbol, at least 4 \
             different characters, and must not contain the email's local part.",
        ))
        .examples(["correct horse 9"])
        .build()
        .into()
}
fn name_schema() -> RefOr<Schema> {
    NAME.nullable_schema(
        "Display name, 1–100 characters on one line; defaults to the part of the email before `@`.",
    )
}
fn avatar_url_schema() -> RefOr<Schema> {
    string_schema(true)
        .max_length(Some(MAX_URL))
        .pattern(Some(AVATAR_URL_PATTERN))
        .description(Some("An http(s) URL whose host is a name or IPv4 address (letters, digits, `.` and `-`), without spaces; at most 2048 characters. `null` removes the avatar, absent leaves it."))
        .build()
        .into()
}
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse 9", "name": "Ada Lovelace"}))]
pub struct RegisterRequest {
    #[schema(schema_with = email_schema)]
    pub email: String,
    #[schema(schema_with = password_schema)]
    pub password: String,
    #[schema(schema_with = name_schema)]
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
        errors.check("password", Password::check_length(&self.password));
        let name = match &self.name {
            None => email.as_ref().map(|e| e.local_part().to_owned()),
            Some(n) => errors.check("name", NAME.parse(n)),
        };
        let (Some(email), Some(name)) = (email, name) else {
            return Err(ApiError::validation(errors));
        };
        errors.finish()?;
        let password = new_password("password", &self.password, &email)?;
        Ok(NewAccount {
            email,
            password,
            name,
        })
    }
}

/// A new password for `email`'s account: 400 for its length, 422
/// `WEAK_PASSWORD` for its strength (a rule no schema states).
pub fn new_password(field: &str, raw: &str, email: &Email) -> Result<Password, ApiError> {
    match Password::parse(raw, Some(email)) {
        Ok(password) => Ok(password),
        Err(PasswordError::Length(m)) => Err(ApiError::field(field, m)),
        Err(PasswordError::Weak(m)) => Err(ApiError::new(ErrorCode::WeakPassword, m.clone())
            .with_details(serde_json::json!({"fields": [{"field": field, "message": m}]}))),
    }
}

fn parse_avatar_url(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_URL {
        return Err("avatarUrl must be at most 2048 characters".into());
    }
    if is_avatar_url(raw) {
        Ok(raw.to_owned())
    } else {
        Err("avatarUrl must be an http(s) URL with a host name (letters, digits, . and -) and no spaces".into())
    }
}

/// Exactly [`AVATAR_URL_PATTERN`].
fn is_avatar_url(raw: &str) -> bool {
    let Some(rest) = ["https://", "http://"].iter().find_map(|scheme| {
        raw.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| &raw[scheme.len()..])
    }) else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let tail_ok = !tail
        .chars()
        .any(|c| c <= ' ' || ('\u{7f}'..='\u{9f}').contains(&c));
    host_ok && port_ok && tail_ok
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse 9"}))]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[schema(schema_with = email_schema)]
    pub email: String,
    pub password: String,
    /// The `deviceToken` an earlier sign-in to this account gave this client:
    /// its attempts are then limited on their own, so someone guessing the
    /// password elsewhere cannot lock it out.
    pub device_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"refreshToken": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkzIn0.c2lnbmF0dXJl"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Ada King", "avatarUrl": "https://example.com/ada.png"}))]
pub struct UpdateMeRequest {
    #[schema(schema_with = name_schema)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "shared::extract::present")]
    #[schema(schema_with = avatar_url_schema)]
    pub avatar_url: Option<Option<String>>,
}

impl UpdateMeRequest {
    pub fn parse(self) -> Result<ProfileUpdate, ApiError> {
        let mut errors = FieldErrors::new();
        let name = self.name.and_then(|n| errors.check("name", NAME.parse(&n)));
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
    /// Whether the address is proven. Until it is, the account cannot buy a
    /// plan, invite or join people, or make API keys (403 EMAIL_NOT_VERIFIED).
    pub email_verified: bool,
    /// Whether the account has a password (one made with a one-time code
    /// has none until it sets one through password reset).
    pub has_password: bool,
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
            email_verified: u.email_verified_at.is_some(),
            has_password: u.has_password,
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
    /// Keep it and send it with the next sign-in to this account (`deviceToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
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
