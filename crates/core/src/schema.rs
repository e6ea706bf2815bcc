//! Column types and their widening lattice, shared by every destination.
//!
//! Every stream's rows carry four system columns ([`ID`], [`CREATION_TIME`], [`TS`],
//! [`DELETED`]) followed by one column per top-level user field. A user column's type is the
//! least upper bound of the values seen so far:
//!
//! ```text
//!   Null ─▶ anything;  Int64 ⊔ Float64 = Float64;  any other mix = Json
//! ```
//! except that Int64 ⊔ Float64 is Json when an integer beyond ±2^53 is involved
//! ([`ColumnType::widen_exact`]): a DOUBLE would round it.
//! A destination whose column type is narrower than a batch's widens the column (never drops a
//! value); a batch narrower than the column is cast up with [`crate::batch::cast_column`].
//!
//! ```
//! use spillway_core::ColumnType;
//! assert_eq!(ColumnType::Int64.widen(ColumnType::Float64), ColumnType::Float64);
//! assert_eq!(ColumnType::Utf8.widen(ColumnType::Int64), ColumnType::Json);
//! assert_eq!(ColumnType::Null.widen(ColumnType::Binary), ColumnType::Binary);
//! ```

use std::collections::HashMap;

use arrow_schema::{DataType, Field};

/// Document id column (text, primary key).
pub const ID: &str = "_id";
/// Convex creation time column (double, milliseconds since the epoch).
pub const CREATION_TIME: &str = "_creationTime";
/// Commit timestamp column (bigint, nanoseconds since the epoch).
pub const TS: &str = "_ts";
/// Tombstone flag column (boolean).
pub const DELETED: &str = "_deleted";
/// The system columns in the order every batch starts with.
pub const SYSTEM_COLUMNS: [&str; 4] = [ID, CREATION_TIME, TS, DELETED];

/// Arrow field metadata key naming an extension type.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// The canonical Arrow extension name of JSON text columns.
pub const JSON_EXTENSION: &str = "arrow.json";

/// Every column type.
const ALL_TYPES: [ColumnType; 7] = [
    ColumnType::Null,
    ColumnType::Boolean,
    ColumnType::Int64,
    ColumnType::Float64,
    ColumnType::Utf8,
    ColumnType::Binary,
    ColumnType::Json,
];

/// The logical type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Only nulls seen so far: no column is created for it yet.
    Null,
    /// Boolean.
    Boolean,
    /// 64-bit signed integer.
    Int64,
    /// IEEE double (NaN, ±∞ and −0.0 kept).
    Float64,
    /// UTF-8 text.
    Utf8,
    /// Raw bytes.
    Binary,
    /// Nested or mixed values as JSON text (the export_json form, see `batch`).
    Json,
}

/// Whether a DOUBLE holds `i` exactly (|i| ≤ 2^53).
///
/// Int64 ⊔ Float64 is Float64 only while every integer of the column passes this test; a
/// column holding a larger integer widens to JSON instead, so no digit is ever rounded away.
pub fn int_fits_f64(i: i64) -> bool {
    const EXACT: i64 = 1 << 53;
    (-EXACT..=EXACT).contains(&i)
}

impl ColumnType {
    /// [`ColumnType::widen`], where `big_ints` says whether the Int64 side holds an integer a
    /// DOUBLE cannot represent exactly (see [`int_fits_f64`]): then Int64 ⊔ Float64 is JSON.
    pub fn widen_exact(self, other: ColumnType, big_ints: bool) -> ColumnType {
        match self.widen(other) {
            ColumnType::Float64
                if big_ints && (self == ColumnType::Int64 || other == ColumnType::Int64) =>
            {
                ColumnType::Json
            }
            t => t,
        }
    }

    /// The least upper bound of two types (see the module docs).
    pub fn widen(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, x) | (x, Null) => x,
            (Int64, Float64) | (Float64, Int64) => Float64,
            _ => Json,
        }
    }

    /// The Arrow type used to carry this column.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Null => DataType::Null,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Utf8 | ColumnType::Json => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
        }
    }

    /// An Arrow field of this type (nullable; JSON carries the `arrow.json` extension name).
    pub fn field(self, name: &str) -> Field {
        let field = Field::new(name, self.arrow_type(), true);
        if self == ColumnType::Json {
            field.with_metadata(HashMap::from([(
                EXTENSION_NAME_KEY.to_string(),
                JSON_EXTENSION.to_string(),
            )]))
        } else {
            field
        }
    }

    /// Reads the logical type of an Arrow field produced by [`ColumnType::field`].
    pub fn of_field(field: &Field) -> Option<ColumnType> {
        let is_json = field
            .metadata()
            .get(EXTENSION_NAME_KEY)
            .is_some_and(|v| v == JSON_EXTENSION);
        Some(match field.data_type() {
            DataType::Null => ColumnType::Null,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Int64 => ColumnType::Int64,
            DataType::Float64 => ColumnType::Float64,
            DataType::Utf8 if is_json => ColumnType::Json,
            DataType::Utf8 => ColumnType::Utf8,
            DataType::Binary => ColumnType::Binary,
            _ => return None,
        })
    }

    /// The type whose [`ColumnType::name`] is `name`.
    pub fn from_name(name: &str) -> Option<ColumnType> {
        ALL_TYPES.into_iter().find(|t| t.name() == name)
    }

    /// A lowercase name for messages and schemas.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Null => "null",
            ColumnType::Boolean => "boolean",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Utf8 => "string",
            ColumnType::Binary => "bytes",
            ColumnType::Json => "json",
        }
    }
}

/// The four system fields every batch starts with.
pub fn system_fields() -> Vec<Field> {
    vec![
        Field::new(ID, DataType::Utf8, false),
        Field::new(CREATION_TIME, DataType::Float64, true),
        Field::new(TS, DataType::Int64, false),
        Field::new(DELETED, DataType::Boolean, false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    #[test]
    fn exact_widening_keeps_big_integers() {
        assert_eq!(Int64.widen_exact(Float64, false), Float64);
        assert_eq!(Float64.widen_exact(Int64, true), Json);
        assert_eq!(Int64.widen_exact(Int64, true), Int64);
        assert!(int_fits_f64(1 << 53) && int_fits_f64(-(1 << 53)));
        assert!(!int_fits_f64((1 << 53) + 1) && !int_fits_f64(i64::MIN));
    }

    #[test]
    fn widening_is_commutative_and_idempotent() {
        let all = [Null, Boolean, Int64, Float64, Utf8, Binary, Json];
        for a in all {
            assert_eq!(a.widen(a), a);
            for b in all {
                assert_eq!(a.widen(b), b.widen(a));
                let w = a.widen(b);
                assert_eq!(w.widen(a), w, "{a:?} {b:?}");
            }
        }
        assert_eq!(Boolean.widen(Int64), Json);
        assert_eq!(Float64.widen(Json), Json);
    }

    #[test]
    fn fields_round_trip() {
        for t in [Null, Boolean, Int64, Float64, Utf8, Binary, Json] {
            assert_eq!(ColumnType::of_field(&t.field("x")), Some(t));
            assert_eq!(ColumnType::from_name(t.name()), Some(t));
        }
    }
}
