//! Write mode `append`: every revision of a batch (live or tombstone) becomes a row of a
//! table keyed by `(_id, _ts)`, with `_deleted`.
//!
//! A revision whose `(_id, _ts)` is already in the table is skipped (`ON CONFLICT DO
//! NOTHING`), so replaying a batch after a crash never duplicates a row; two revisions of one
//! `(_id, _ts)` within a batch keep the last in batch order. The latest version of each
//! document is `SELECT DISTINCT ON (_id) * … ORDER BY _id, _ts DESC`, deleted when
//! `_deleted`.

use spillway_core::ColumnType;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};

use crate::ddl::quote;
use crate::merge::{SEQ, STAGE};

/// The insert statement of `append` from the staging table into `table` (quoted,
/// qualified), for the staged user `columns`. Returns one row `(tombstones appended, live
/// revisions appended)`.
pub(crate) fn append_sql(table: &str, columns: &[(String, ColumnType)]) -> String {
    let (id, ts, del, seq) = (quote(ID), quote(TS), quote(DELETED), quote(SEQ));
    let mut cols = vec![id.clone(), quote(CREATION_TIME), ts.clone(), del.clone()];
    cols.extend(columns.iter().map(|(n, _)| quote(n)));
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            if *c == del {
                format!("coalesce(l.{c}, false)")
            } else {
                format!("l.{c}")
            }
        })
        .collect();
    format!(
        "WITH revs AS (\
           SELECT DISTINCT ON ({id}, {ts}) * FROM {STAGE} ORDER BY {id}, {ts}, {seq} DESC), \
         ins AS (\
           INSERT INTO {table} AS t ({cols}) SELECT {select} FROM revs AS l \
           ON CONFLICT ({id}, {ts}) DO NOTHING RETURNING t.{del}) \
         SELECT (SELECT count(*) FROM ins WHERE {del}), \
           (SELECT count(*) FROM ins WHERE NOT {del})",
        cols = cols.join(", "),
        select = select.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_skips_known_revisions() {
        let sql = append_sql("\"s\".\"t\"", &[("x".to_string(), ColumnType::Int64)]);
        assert!(
            sql.contains("ON CONFLICT (\"_id\", \"_ts\") DO NOTHING"),
            "{sql}"
        );
        assert!(sql.contains("DISTINCT ON (\"_id\", \"_ts\")"), "{sql}");
        assert!(sql.contains("l.\"x\""), "{sql}");
    }
}
