//! The rows readers see: the latest version per `_id` (highest `_ts`; on a tie the one
//! written last), without tombstones.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use spillway_core::schema::SYSTEM_COLUMNS;
use spillway_core::write_mode::{StreamMode, WriteMode};

/// Which versions a stream's compacted form keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The latest version per `_id`, unless it is a tombstone (`upsert`, `replace`, …).
    Live,
    /// The latest version per `_id`, tombstones included (`upsert` + `soft_delete`).
    LatestWithTombstones,
    /// Every distinct `(_id, _ts)` version (`append`).
    AllVersions,
}

impl Keep {
    /// What compaction keeps for a stream in `mode`.
    pub(crate) fn for_mode(mode: StreamMode) -> Keep {
        match mode.mode {
            WriteMode::Append => Keep::AllVersions,
            _ if mode.soft_delete => Keep::LatestWithTombstones,
            _ => Keep::Live,
        }
    }
}

/// A version: `(_ts, row)`.
type Version = (i64, usize);
/// A kept row: `(row, the row its user columns come from)`.
type Kept = (usize, usize);

/// The rows of `batches` (all of `schema`, in write order) that `keep` keeps, sorted by
/// `_id` (then `_ts`). A tombstone kept by [`Keep::LatestWithTombstones`] carries the user
/// columns of the latest live version before it (as `upsert` + `soft_delete` keeps them in
/// a database), or nulls if there was none.
pub(crate) fn select(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keep: Keep,
) -> Result<RecordBatch, String> {
    let all = concat_batches(schema, batches).map_err(|e| e.to_string())?;
    let ids = all.column(0).as_string::<i32>();
    let ts = all.column(2).as_primitive::<Int64Type>();
    let deleted = all.column(3).as_boolean();
    // (id, ts) → the row it keeps, and the row its user columns come from.
    let mut chosen: HashMap<(&str, i64), Kept> = HashMap::new();
    // id → (ts, row) of the latest version, and of the latest live version.
    let mut latest: HashMap<&str, (Version, Option<Version>)> = HashMap::new();
    for i in 0..all.num_rows() {
        let (id, t) = (ids.value(i), ts.value(i));
        if keep == Keep::AllVersions {
            chosen.insert((id, t), (i, i));
            continue;
        }
        let (last, live) = latest.entry(id).or_insert(((t, i), None));
        if t >= last.0 {
            *last = (t, i);
        }
        if !deleted.value(i) && live.is_none_or(|(lt, _)| t >= lt) {
            *live = Some((t, i));
        }
    }
    if keep != Keep::AllVersions {
        chosen = latest
            .into_iter()
            .filter(|(_, ((_, i), _))| keep == Keep::LatestWithTombstones || !deleted.value(*i))
            .map(|(id, ((t, i), live))| {
                let values = match live {
                    Some((_, l)) if deleted.value(i) => l,
                    _ => i,
                };
                ((id, t), (i, values))
            })
            .collect();
    }
    let mut order: Vec<((&str, i64), Kept)> = chosen.into_iter().collect();
    order.sort_unstable();
    let index = |f: fn(&Kept) -> usize| {
        UInt32Array::from_iter_values(
            order
                .iter()
                .map(|(_, rows)| u32::try_from(f(rows)).unwrap_or(u32::MAX)),
        )
    };
    let rows = take_record_batch(&all, &index(|r| r.0)).map_err(|e| e.to_string())?;
    if order.iter().all(|(_, (r, v))| r == v) {
        return Ok(rows);
    }
    let values = take_record_batch(&all, &index(|r| r.1)).map_err(|e| e.to_string())?;
    let columns = rows.columns()[..SYSTEM_COLUMNS.len()]
        .iter()
        .chain(&values.columns()[SYSTEM_COLUMNS.len()..])
        .cloned()
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}
