//! Internal ids are UUIDv7: time-ordered, so inserts append to indexes and ids sort by
//! creation, and no global sequence is needed (which keeps a sharded PostgreSQL open).

use uuid::Uuid;

/// A new time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(a.get_version_num(), 7);
    }
}
