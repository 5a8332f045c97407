//! API keys: `sak_<public id>_<secret>`. The public id (16 hex) finds the
//! key and is what lists show; the secret (64 hex, 256 random bits) is shown
//! once and stored as its SHA-256, compared in constant time. The fixed
//! `sak_` prefix lets secret scanners recognise a leaked key.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::access::Permission;

pub const PREFIX: &str = "sak_";

/// What a key may do, on top of what its member's role allows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Read workflows, versions, agents and templates.
    #[serde(rename = "workflows:read")]
    WorkflowsRead,
    /// Create, edit and delete workflows, agents and templates.
    #[serde(rename = "workflows:write")]
    WorkflowsWrite,
    /// Read runs, their steps, events and logs.
    #[serde(rename = "executions:read")]
    ExecutionsRead,
    /// Start, cancel and retry runs.
    #[serde(rename = "executions:run")]
    ExecutionsRun,
    /// Read analytics.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// Read the plan, its limits and usage.
    #[serde(rename = "billing:read")]
    BillingRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::WorkflowsRead,
        Scope::WorkflowsWrite,
        Scope::ExecutionsRead,
        Scope::ExecutionsRun,
        Scope::AnalyticsRead,
        Scope::BillingRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WorkflowsRead => "workflows:read",
            Self::WorkflowsWrite => "workflows:write",
            Self::ExecutionsRead => "executions:read",
            Self::ExecutionsRun => "executions:run",
            Self::AnalyticsRead => "analytics:read",
            Self::BillingRead => "billing:read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The scope a permission needs from a key; `None`: no key may do it
    /// (managing members, billing, keys, the workspace itself needs a person
    /// signed in).
    pub const fn for_permission(p: Permission) -> Option<Self> {
        use Permission::*;
        match p {
            ViewWorkflows => Some(Self::WorkflowsRead),
            CreateWorkflows | EditWorkflows | DeleteWorkflows => Some(Self::WorkflowsWrite),
            ViewRuns => Some(Self::ExecutionsRead),
            ExecuteWorkflows => Some(Self::ExecutionsRun),
            ViewAnalytics => Some(Self::AnalyticsRead),
            ViewBilling => Some(Self::BillingRead),
            InviteMembers | RemoveMembers | ChangeRoles | WorkspaceSettings | ManageBilling
            | DeleteWorkspace | TransferOwnership => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key as presented: its public id and secret.
pub struct Presented<'a> {
    pub public_id: &'a str,
    secret: &'a str,
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("public_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a bearer credential is an API key (rather than a JWT).
pub fn looks_like_key(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

/// Splits a presented key; `None` when it is not shaped like one.
pub fn parse(raw: &str) -> Option<Presented<'_>> {
    let rest = raw.strip_prefix(PREFIX)?;
    let (public_id, secret) = rest.split_once('_')?;
    (is_hex(public_id, 16) && is_hex(secret, 64)).then_some(Presented { public_id, secret })
}

impl Presented<'_> {
    /// Whether the secret is the one stored as `hash`, in constant time.
    pub fn matches(&self, hash: &[u8]) -> bool {
        let mine = Sha256::digest(self.secret.as_bytes());
        hash.len() == mine.len()
            && mine.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// A new key: what to show once, its public id and the hash to store.
pub struct NewKey {
    pub key: String,
    pub public_id: String,
    pub secret_hash: Vec<u8>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("public_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn generate() -> NewKey {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let (public_id, secret) = (hex(&id), hex(&secret));
    NewKey {
        key: format!("{PREFIX}{public_id}_{secret}"),
        secret_hash: Sha256::digest(secret.as_bytes()).to_vec(),
        public_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_only_its_hash() {
        let k = generate();
        assert!(looks_like_key(&k.key));
        let p = parse(&k.key).expect("parses");
        assert_eq!(p.public_id, k.public_id);
        assert!(p.matches(&k.secret_hash));
        let other = generate();
        assert!(!p.matches(&other.secret_hash));
        assert!(!format!("{p:?}{k:?}").contains(&k.key[21..]));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let k = generate().key;
        for bad in [
            "",
            "sak_",
            &k[..k.len() - 1],
            &k.replace("sak_", "sk_"),
            &k.to_uppercase(),
            &format!("{k}0"),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scopes_round_trip_and_member_management_has_none() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(Scope::for_permission(Permission::InviteMembers), None);
        assert_eq!(
            Scope::for_permission(Permission::ExecuteWorkflows),
            Some(Scope::ExecutionsRun)
        );
    }
}
