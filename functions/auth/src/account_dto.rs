//! Bodies of the account routes: verification, recovery, one-time codes and
//! deletion.

use serde::{Deserialize, Serialize};
use shared::{auth::opaque, ApiError};
use utoipa::{
    openapi::{RefOr, Schema},
    ToSchema,
};

fn email_schema() -> RefOr<Schema> {
    shared::auth::email::schema()
}

/// What a request that sends email answers, whatever the address: it never
/// says whether an account exists.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    #[schema(example = "If the address can receive it, an email is on its way.")]
    pub message: String,
}

impl Accepted {
    pub fn email_on_its_way() -> Self {
        Self {
            message: "If the address can receive it, an email is on its way.".into(),
        }
    }
}

/// A single-use link's token (the part after `#token=`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}))]
pub struct LinkToken {
    /// 64 lowercase hex characters.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")]
    pub token: String,
}

impl LinkToken {
    pub fn parse(&self) -> Result<&str, ApiError> {
        if opaque::is_token(&self.token) {
            Ok(&self.token)
        } else {
            Err(ApiError::field(
                "token",
                "must be the 64-character token from the link",
            ))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct ForgotPassword {
    #[schema(schema_with = email_schema)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "password": "a new horse 42"}))]
pub struct ResetPassword {
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")]
    pub token: String,
    /// The new password (the same rules as at sign-up).
    #[schema(schema_with = crate::dto::password_schema)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"currentPassword": "correct horse 9", "newPassword": "a new horse 42"}))]
pub struct ChangePassword {
    pub current_password: String,
    /// The same rules as at sign-up.
    #[schema(schema_with = crate::dto::password_schema)]
    pub new_password: String,
}

/// What a one-time code is asked for; either way the code signs in, and
/// makes the account if there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OtpPurpose {
    Login,
    Signup,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "purpose": "login"}))]
pub struct RequestOtp {
    #[schema(schema_with = email_schema)]
    pub email: String,
    pub purpose: Option<OtpPurpose>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpSent {
    #[schema(example = "If the address can receive it, a code is on its way.")]
    pub message: String,
    /// Seconds the code works for.
    #[schema(example = 300)]
    pub expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "code": "042917"}))]
pub struct VerifyOtp {
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// The six digits from the email.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub code: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse 9"}))]
pub struct DeleteAccount {
    /// The account's password; an account without one must have signed in
    /// within the last ten minutes instead.
    pub password: Option<String>,
}
