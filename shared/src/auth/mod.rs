//! Authentication building blocks shared by every function: parsed emails and
//! passwords, argon2id hashing, JWTs, and the extractors that read them.

pub mod api_key;
pub mod email;
pub mod extract;
pub mod jwt;
pub mod opaque;
pub mod password;

pub use email::Email;
pub use extract::{AuthUser, ClientIp};
pub use jwt::{Claims, TokenKeys, TokenKind};
pub use password::{Password, PasswordError};
