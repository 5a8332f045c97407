//! Identifiers. Every row id is a UUIDv7: time-ordered, so indexes stay compact
//! and ids sort by creation.

use uuid::Uuid;

/// A new UUIDv7.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_v7_and_ordered() {
        let a = super::new_id();
        let b = super::new_id();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }
}
