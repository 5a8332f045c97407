//! Categories of the agent and template catalogues (the same list as the
//! CHECK constraints of migration 0003). The enum is the list: the parser and
//! the OpenAPI schema of every `category` field both come from it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Engineering,
    Research,
    Writing,
    Data,
    Operations,
    Support,
    Other,
}

impl Category {
    pub const ALL: [Self; 7] = [
        Self::Engineering,
        Self::Research,
        Self::Writing,
        Self::Data,
        Self::Operations,
        Self::Support,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Engineering => "engineering",
            Self::Research => "research",
            Self::Writing => "writing",
            Self::Data => "data",
            Self::Operations => "operations",
            Self::Support => "support",
            Self::Other => "other",
        }
    }
}

pub fn parse_category(raw: &str) -> Result<&'static str, String> {
    Category::ALL
        .iter()
        .map(|c| c.as_str())
        .find(|c| *c == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            format!("must be one of {}", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_names_are_the_parsed_names() {
        for c in Category::ALL {
            assert_eq!(serde_json::to_value(c).expect("serialises"), c.as_str());
            assert_eq!(parse_category(c.as_str()), Ok(c.as_str()));
        }
        assert!(parse_category("magic").is_err());
    }
}
