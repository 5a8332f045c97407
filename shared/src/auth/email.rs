//! Email addresses, normalised (trimmed, lower-cased) and validated at the edge.

use std::str::FromStr;

/// The OpenAPI schema of an email address field (what [`Email::parse`] takes).
pub fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::{KnownFormat, SchemaFormat};
    crate::text::string_schema(false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(Email::MAX_LEN))
        .examples(["ada@example.com"])
        .build()
        .into()
}

/// A syntactically valid, normalised email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err("email is required".into());
        }
        if normalised.len() > Self::MAX_LEN {
            return Err(format!(
                "email must be at most {} characters",
                Self::MAX_LEN
            ));
        }
        let parsed = email_address::EmailAddress::from_str(&normalised)
            .map_err(|_| "email is not a valid address".to_string())?;
        // Display names ("A <a@b>") and domains without a dot are not accepted for sign-up.
        if parsed.email() != normalised || !parsed.domain().contains('.') {
            return Err("email is not a valid address".into());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, used as a default display name.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises() {
        let e = Email::parse("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "ada.lovelace@example.com");
        assert_eq!(e.local_part(), "ada.lovelace");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "   ",
            "plain",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "Ada <ada@example.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
