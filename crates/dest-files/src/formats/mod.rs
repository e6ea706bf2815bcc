//! Part file formats: Parquet, NDJSON and CSV, each written from and read back into Arrow
//! rows of a known column list.

mod builder;
mod csv;
mod ndjson;
mod parquet;

use std::io::{Read, Write};

use arrow_array::RecordBatch;
use flate2::Compression as GzLevel;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use spillway_core::table::TableSchema;

use crate::config::{Compression, Format};

/// Rows per Parquet row group.
pub(crate) const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Encodes `batches` (all of the schema [`crate::conform::arrow_schema`] gives for `columns`)
/// as one file.
pub(crate) fn encode(
    format: Format,
    compression: Compression,
    columns: &TableSchema,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, String> {
    let plain = match format {
        Format::Parquet => return parquet::encode(compression, columns, batches),
        Format::Ndjson => ndjson::encode(columns, batches)?,
        Format::Csv => csv::encode(columns, batches)?,
    };
    if compression == Compression::Gzip {
        let mut gz = GzEncoder::new(Vec::with_capacity(plain.len() / 4), GzLevel::default());
        gz.write_all(&plain).map_err(|e| e.to_string())?;
        gz.finish().map_err(|e| e.to_string())
    } else {
        Ok(plain)
    }
}

/// Decodes a file written by [`encode`] in `format` (gunzipping it first when `gzip`) into
/// rows of `columns`.
pub(crate) fn decode(
    format: Format,
    gzip: bool,
    columns: &TableSchema,
    data: bytes::Bytes,
) -> Result<Vec<RecordBatch>, String> {
    if format == Format::Parquet {
        return parquet::decode(columns, data);
    }
    let text = if gzip {
        let mut out = String::new();
        GzDecoder::new(&data[..])
            .read_to_string(&mut out)
            .map_err(|e| format!("not valid gzip-compressed UTF-8: {e}"))?;
        out
    } else {
        String::from_utf8(data.to_vec()).map_err(|e| format!("not valid UTF-8: {e}"))?
    };
    match format {
        Format::Ndjson => ndjson::decode(columns, &text),
        _ => csv::decode(columns, &text),
    }
}
