//! Bringing rows to a stream's columns: the Arrow schema of a stream, and batches (or old
//! parts) cast up to it.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, Schema, SchemaRef};
use spillway_core::ColumnType;
use spillway_core::batch::cast_column;
use spillway_core::schema::{SYSTEM_COLUMNS, system_fields};
use spillway_core::table::TableSchema;

/// The Arrow schema of rows with `columns`: the system fields, then one field per column.
pub(crate) fn arrow_schema(columns: &TableSchema) -> SchemaRef {
    let mut fields = system_fields();
    fields.extend(columns.columns.iter().map(|(n, t)| t.field(n)));
    Arc::new(Schema::new(fields))
}

/// `rows` (system columns first, user columns of any narrower type, in any order, possibly
/// missing) as rows of exactly `columns`: narrower columns cast up, missing ones null,
/// columns `columns` lacks (only-null fields) left out.
pub(crate) fn conform(rows: &RecordBatch, columns: &TableSchema) -> Result<RecordBatch, String> {
    let schema = rows.schema();
    let n = rows.num_rows();
    let mut arrays: Vec<ArrayRef> =
        Vec::with_capacity(SYSTEM_COLUMNS.len() + columns.columns.len());
    for i in 0..SYSTEM_COLUMNS.len() {
        let a = rows.column(i);
        if a.data_type() == &DataType::Null {
            arrays.push(new_null_array(&DataType::Float64, n));
        } else {
            arrays.push(a.clone());
        }
    }
    for (name, to) in &columns.columns {
        match schema.index_of(name) {
            Ok(i) if i >= SYSTEM_COLUMNS.len() => {
                let field = schema.field(i);
                let from = ColumnType::of_field(field).ok_or_else(|| {
                    format!(
                        "column {name:?} has the unsupported Arrow type {}",
                        field.data_type()
                    )
                })?;
                let a = cast_column(rows.column(i), from, *to)
                    .map_err(|e| format!("column {name:?}: {e}"))?;
                arrays.push(a);
            }
            _ => arrays.push(new_null_array(&to.arrow_type(), n)),
        }
    }
    RecordBatch::try_new(arrow_schema(columns), arrays).map_err(|e| e.to_string())
}
