//! Categories of the agent and template catalogues (the same list as the
//! CHECK constraints of migration 0003).

pub const CATEGORIES: [&str; 7] = [
    "engineering",
    "research",
    "writing",
    "data",
    "operations",
    "support",
    "other",
];

pub fn parse_category(raw: &str) -> Result<&'static str, String> {
    CATEGORIES
        .iter()
        .find(|c| **c == raw)
        .copied()
        .ok_or_else(|| format!("must be one of {}", CATEGORIES.join(", ")))
}
