//! The per-agent request sequence of the customer profile's sequence header: persisted in
//! the state database, increasing across restarts, never reused (committed before sending).

use rusqlite::Connection;

/// The next request number (1, 2, ...), committed.
pub fn next(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("UPDATE request_sequence SET last = last + 1 WHERE id = 1 RETURNING last", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_increase_across_reopening() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.sqlite");
        let (conn, _) = crate::statedb::open(&path).expect("open");
        assert_eq!(super::next(&conn).expect("1"), 1);
        assert_eq!(super::next(&conn).expect("2"), 2);
        drop(conn);
        let conn = crate::statedb::open_existing(&path).expect("reopen");
        assert_eq!(super::next(&conn).expect("3"), 3);
    }
}
