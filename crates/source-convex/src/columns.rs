//! Rows decoded straight into per-table Arrow column builders: no map per document.
//!
//! A [`TableColumns`] takes rows one at a time — the system fields, then the user fields as
//! [`Cell`]s — and keeps one builder per user field. A column starts typed by its first
//! non-null value and changes representation only when a value of another type arrives: Int64
//! and Float64 together are kept apart until the end (a Float64 column, or exact JSON when an
//! integer a DOUBLE would round is among them), anything else mixed becomes JSON text in
//! `export_json` form. The result is the least upper bound of the batch's values
//! ([`spillway_core::schema`]), the same batch whatever order the types arrived in. Columns
//! come out sorted by name after the system columns.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, NullArray, RecordBatch};
use arrow_schema::Schema;
use spillway_convex_protocol::{Format, Value};
use spillway_core::batch::{cast_column, float_json};
use spillway_core::schema::{int_fits_f64, system_fields};
use spillway_core::{Batch, ColumnType, ErrorKind, SourceError, StreamId};

/// One user field's value, borrowed from the page text where it can be.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An Int64.
    Int(i64),
    /// A Float64.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// Bytes.
    Bytes(Cow<'a, [u8]>),
    /// An array or object, as its `export_json` text (what a JSON column holds).
    Json(Cow<'a, str>),
}

impl<'a> Cell<'a> {
    /// The cell of a decoded value.
    pub fn of(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Null => Cell::Null,
            Value::Boolean(b) => Cell::Bool(*b),
            Value::Int64(i) => Cell::Int(*i),
            Value::Float64(f) => Cell::Float(*f),
            Value::String(s) => Cell::Str(Cow::Borrowed(s)),
            Value::Bytes(b) => Cell::Bytes(Cow::Borrowed(b)),
            Value::Array(_) | Value::Object(_) => {
                Cell::Json(Cow::Owned(v.to_json_string(Format::ExportJson)))
            }
        }
    }

    /// Writes the cell's `export_json` text (what a JSON column holds).
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Cell::Null => out.extend_from_slice(b"null"),
            Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Cell::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Cell::Float(f) => out.extend_from_slice(float_json(*f).as_bytes()),
            // Serializing a &str into a Vec cannot fail.
            Cell::Str(s) => {
                let _ = serde_json::to_writer(&mut *out, s.as_ref());
            }
            Cell::Bytes(b) => out.extend_from_slice(spillway_core::batch::bytes_json(b).as_bytes()),
            Cell::Json(text) => out.extend_from_slice(text.as_bytes()),
        }
    }
}

/// The column type of a single value (a nested value is JSON).
pub fn value_type(v: &Value) -> ColumnType {
    match v {
        Value::Null => ColumnType::Null,
        Value::Int64(_) => ColumnType::Int64,
        Value::Float64(_) => ColumnType::Float64,
        Value::Boolean(_) => ColumnType::Boolean,
        Value::String(_) => ColumnType::Utf8,
        Value::Bytes(_) => ColumnType::Binary,
        Value::Array(_) | Value::Object(_) => ColumnType::Json,
    }
}

/// Int64 and Float64 values of one column, kept apart until the batch is built.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

/// A column's values so far.
enum Data {
    /// Only nulls so far.
    Null,
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    /// Int64 and Float64 mixed.
    Num(Vec<Option<Num>>),
    /// JSON text.
    Json(StringBuilder),
}

/// One user field's column.
struct Column {
    name: String,
    data: Data,
    /// Rows filled so far (values and nulls).
    len: usize,
}

impl Column {
    fn new(name: &str) -> Self {
        Column {
            name: name.to_string(),
            data: Data::Null,
            len: 0,
        }
    }

    /// Appends `n` nulls.
    fn nulls(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        match &mut self.data {
            Data::Null => {}
            Data::Bool(b) => b.append_nulls(n),
            Data::Int(b) => b.append_nulls(n),
            Data::Float(b) => b.append_nulls(n),
            Data::Str(b) | Data::Json(b) => b.append_nulls(n),
            Data::Bin(b) => b.append_nulls(n),
            Data::Num(v) => v.resize(v.len() + n, None),
        }
        self.len += n;
    }

    /// Appends one value (the column is filled up to the current row).
    fn push(&mut self, cell: Cell<'_>, scratch: &mut Vec<u8>) {
        if matches!(cell, Cell::Null) {
            return self.nulls(1);
        }
        if matches!(self.data, Data::Null) {
            self.data = Data::empty_for(&cell, self.len);
        }
        match (&mut self.data, cell) {
            (Data::Bool(b), Cell::Bool(x)) => b.append_value(x),
            (Data::Int(b), Cell::Int(x)) => b.append_value(x),
            (Data::Float(b), Cell::Float(x)) => b.append_value(x),
            (Data::Str(b), Cell::Str(x)) => b.append_value(x),
            (Data::Bin(b), Cell::Bytes(x)) => b.append_value(x),
            (Data::Num(v), Cell::Int(x)) => v.push(Some(Num::Int(x))),
            (Data::Num(v), Cell::Float(x)) => v.push(Some(Num::Float(x))),
            (Data::Json(b), Cell::Json(text)) => b.append_value(text),
            (Data::Json(b), cell) => append_json(b, &cell, scratch),
            (Data::Int(_) | Data::Float(_), cell @ (Cell::Int(_) | Cell::Float(_))) => {
                self.data = Data::Num(self.data.take_nums());
                return self.push(cell, scratch);
            }
            (_, cell) => {
                self.data = Data::Json(self.data.take_json());
                return self.push(cell, scratch);
            }
        }
        self.len += 1;
    }

    /// The column's type and values.
    fn finish(self) -> (ColumnType, ArrayRef) {
        let n = self.len;
        match self.data {
            Data::Null => (ColumnType::Null, Arc::new(NullArray::new(n))),
            Data::Bool(mut b) => (ColumnType::Boolean, Arc::new(b.finish())),
            Data::Int(mut b) => (ColumnType::Int64, Arc::new(b.finish())),
            Data::Float(mut b) => (ColumnType::Float64, Arc::new(b.finish())),
            Data::Str(mut b) => (ColumnType::Utf8, Arc::new(b.finish())),
            Data::Bin(mut b) => (ColumnType::Binary, Arc::new(b.finish())),
            Data::Json(mut b) => (ColumnType::Json, Arc::new(b.finish())),
            Data::Num(v) => {
                let big = v
                    .iter()
                    .any(|x| matches!(x, Some(Num::Int(i)) if !int_fits_f64(*i)));
                if big {
                    // A DOUBLE would round it: keep every value exact as JSON.
                    let mut b = json_of_nums(&v, &mut Vec::new());
                    (ColumnType::Json, Arc::new(b.finish()))
                } else {
                    let mut b = Float64Builder::with_capacity(n);
                    for x in v {
                        b.append_option(x.map(|x| match x {
                            Num::Int(i) => i as f64,
                            Num::Float(f) => f,
                        }));
                    }
                    (ColumnType::Float64, Arc::new(b.finish()))
                }
            }
        }
    }
}

impl Data {
    /// An empty builder for the type of `cell`, holding `nulls` nulls.
    fn empty_for(cell: &Cell<'_>, nulls: usize) -> Data {
        let cap = nulls + 64;
        let mut data = match cell {
            Cell::Null => Data::Null,
            Cell::Bool(_) => Data::Bool(BooleanBuilder::with_capacity(cap)),
            Cell::Int(_) => Data::Int(Int64Builder::with_capacity(cap)),
            Cell::Float(_) => Data::Float(Float64Builder::with_capacity(cap)),
            Cell::Str(_) => Data::Str(StringBuilder::with_capacity(cap, cap * 16)),
            Cell::Bytes(_) => Data::Bin(BinaryBuilder::with_capacity(cap, cap * 16)),
            Cell::Json(_) => Data::Json(StringBuilder::with_capacity(cap, cap * 32)),
        };
        match &mut data {
            Data::Null | Data::Num(_) => {}
            Data::Bool(b) => b.append_nulls(nulls),
            Data::Int(b) => b.append_nulls(nulls),
            Data::Float(b) => b.append_nulls(nulls),
            Data::Str(b) | Data::Json(b) => b.append_nulls(nulls),
            Data::Bin(b) => b.append_nulls(nulls),
        }
        data
    }

    /// The values of an Int64 or Float64 column as numbers kept apart.
    fn take_nums(&mut self) -> Vec<Option<Num>> {
        match std::mem::replace(self, Data::Null) {
            Data::Int(mut b) => b.finish().iter().map(|x| x.map(Num::Int)).collect(),
            Data::Float(mut b) => b.finish().iter().map(|x| x.map(Num::Float)).collect(),
            Data::Num(v) => v,
            _ => Vec::new(),
        }
    }

    /// The values so far as JSON text.
    fn take_json(&mut self) -> StringBuilder {
        let (ty, array): (ColumnType, ArrayRef) = match std::mem::replace(self, Data::Null) {
            Data::Json(b) => return b,
            Data::Num(v) => return json_of_nums(&v, &mut Vec::new()),
            Data::Null => return StringBuilder::new(),
            Data::Bool(mut b) => (ColumnType::Boolean, Arc::new(b.finish())),
            Data::Int(mut b) => (ColumnType::Int64, Arc::new(b.finish())),
            Data::Float(mut b) => (ColumnType::Float64, Arc::new(b.finish())),
            Data::Str(mut b) => (ColumnType::Utf8, Arc::new(b.finish())),
            Data::Bin(mut b) => (ColumnType::Binary, Arc::new(b.finish())),
        };
        let mut out = StringBuilder::with_capacity(array.len() + 64, array.len() * 32);
        // Casting to JSON is defined for every type (the same export_json text).
        if let Ok(json) = cast_column(&array, ty, ColumnType::Json) {
            for v in json.as_string::<i32>() {
                out.append_option(v);
            }
        }
        out
    }
}

/// Numbers kept apart, as JSON text (integers bare, floats in export_json form).
fn json_of_nums(v: &[Option<Num>], scratch: &mut Vec<u8>) -> StringBuilder {
    let mut b = StringBuilder::with_capacity(v.len() + 64, v.len() * 16);
    for x in v {
        match x {
            None => b.append_null(),
            Some(Num::Int(i)) => append_json(&mut b, &Cell::Int(*i), scratch),
            Some(Num::Float(f)) => append_json(&mut b, &Cell::Float(*f), scratch),
        }
    }
    b
}

fn append_json(b: &mut StringBuilder, cell: &Cell<'_>, scratch: &mut Vec<u8>) {
    scratch.clear();
    cell.write_json(scratch);
    // JSON written by serde_json and the writers above is always UTF-8.
    match std::str::from_utf8(scratch) {
        Ok(text) => b.append_value(text),
        Err(_) => b.append_null(),
    }
}

/// The system fields of one row.
#[derive(Clone, Copy, Debug)]
pub struct RowMeta<'a> {
    /// `_id`.
    pub id: &'a str,
    /// `_creationTime` (absent for tombstones or when excluded).
    pub creation_time: Option<f64>,
    /// `_ts`.
    pub ts: i64,
    /// `_deleted`.
    pub deleted: bool,
}

/// The rows of one table, column by column.
pub struct TableColumns {
    ids: StringBuilder,
    ctimes: Float64Builder,
    tss: Int64Builder,
    dels: BooleanBuilder,
    rows: usize,
    columns: Vec<Column>,
    index: HashMap<String, usize>,
    /// The column after the last one written: fields usually come in the same order.
    hint: usize,
    scratch: Vec<u8>,
}

impl Default for TableColumns {
    fn default() -> Self {
        TableColumns::new()
    }
}

impl fmt::Debug for TableColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableColumns")
            .field("rows", &self.rows)
            .field(
                "columns",
                &self.columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TableColumns {
    /// No rows.
    pub fn new() -> Self {
        TableColumns {
            ids: StringBuilder::with_capacity(64, 64 * 32),
            ctimes: Float64Builder::with_capacity(64),
            tss: Int64Builder::with_capacity(64),
            dels: BooleanBuilder::with_capacity(64),
            rows: 0,
            columns: Vec::new(),
            index: HashMap::new(),
            hint: 0,
            scratch: Vec::new(),
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a row; a tombstone's fields are ignored (spec §17.12). A field named twice is
    /// an error, after which this table's rows are unusable (the caller drops them).
    pub fn push_row<'c, K: AsRef<str>>(
        &mut self,
        meta: RowMeta<'_>,
        fields: impl IntoIterator<Item = (K, Cell<'c>)>,
    ) -> Result<(), String> {
        self.ids.append_value(meta.id);
        self.ctimes.append_option(meta.creation_time);
        self.tss.append_value(meta.ts);
        self.dels.append_value(meta.deleted);
        let row = self.rows;
        self.rows += 1;
        if meta.deleted {
            return Ok(());
        }
        for (key, cell) in fields {
            let key = key.as_ref();
            let i = self.column(key);
            let column = &mut self.columns[i];
            if column.len > row {
                return Err(format!("row {} names field `{key}` twice", meta.id));
            }
            column.nulls(row - column.len);
            column.push(cell, &mut self.scratch);
        }
        Ok(())
    }

    /// The index of the column `name`, added if new.
    fn column(&mut self, name: &str) -> usize {
        let i = match self.columns.get(self.hint) {
            Some(c) if c.name == name => self.hint,
            _ => match self.index.get(name) {
                Some(&i) => i,
                None => {
                    self.columns.push(Column::new(name));
                    self.index.insert(name.to_string(), self.columns.len() - 1);
                    self.columns.len() - 1
                }
            },
        };
        self.hint = i + 1;
        i
    }

    /// The batch: system columns, then the user columns sorted by name.
    pub fn finish(mut self, stream: &StreamId) -> Result<Batch, SourceError> {
        let mut fields = system_fields();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(4 + self.columns.len());
        columns.push(Arc::new(self.ids.finish()));
        columns.push(Arc::new(self.ctimes.finish()));
        columns.push(Arc::new(self.tss.finish()));
        columns.push(Arc::new(self.dels.finish()));
        self.columns.sort_by(|a, b| a.name.cmp(&b.name));
        for mut column in self.columns {
            column.nulls(self.rows - column.len);
            let name = std::mem::take(&mut column.name);
            let (ty, array) = column.finish();
            fields.push(ty.field(&name));
            columns.push(array);
        }
        // Builders grow by doubling: give back what the batch does not use, so the memory
        // the engine accounts for (and holds in flight) is the rows' own.
        for array in &mut columns {
            if let Some(array) = Arc::get_mut(array) {
                array.shrink_to_fit();
            }
        }
        let rb = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
            SourceError::new(
                ErrorKind::Internal,
                format!("stream {stream}: cannot build batch: {e}"),
            )
        })?;
        Batch::try_new(stream.clone(), rb)
            .map_err(|e| SourceError::new(ErrorKind::Internal, e.to_string()))
    }
}

/// The rows of a page, per table, in the order tables first appear.
#[derive(Debug, Default)]
pub struct PageColumns {
    tables: Vec<(StreamId, TableColumns)>,
    last: usize,
}

impl PageColumns {
    /// The rows of `(component, table)`, added if new (`new_stream` names and checks it).
    pub fn table(
        &mut self,
        component: &str,
        table: &str,
        new_stream: impl FnOnce() -> Result<StreamId, String>,
    ) -> Result<&mut TableColumns, String> {
        let is = |s: &StreamId| s.name == table && s.namespace == component;
        let i = match self.tables.get(self.last) {
            Some((s, _)) if is(s) => self.last,
            _ => match self.tables.iter().position(|(s, _)| is(s)) {
                Some(i) => i,
                None => {
                    self.tables.push((new_stream()?, TableColumns::new()));
                    self.tables.len() - 1
                }
            },
        };
        self.last = i;
        Ok(&mut self.tables[i].1)
    }

    /// The rows of `stream`, added if new.
    pub fn stream(&mut self, stream: &StreamId) -> &mut TableColumns {
        let i = match self.tables.iter().position(|(s, _)| s == stream) {
            Some(i) => i,
            None => {
                self.tables.push((stream.clone(), TableColumns::new()));
                self.tables.len() - 1
            }
        };
        &mut self.tables[i].1
    }

    /// The tables, sorted by stream.
    pub fn into_sorted(mut self) -> Vec<(StreamId, TableColumns)> {
        self.tables.sort_by(|a, b| a.0.cmp(&b.0));
        self.tables
    }
}

#[cfg(test)]
#[path = "columns_tests.rs"]
mod tests;
