//! Parquet parts: one file per part, row groups of [`super::ROW_GROUP_ROWS`] rows, the
//! configured codec. JSON columns are plain UTF-8 (`BYTE_ARRAY`/`STRING`) columns; the
//! embedded Arrow schema keeps their `arrow.json` extension name for Arrow readers.

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::WriterProperties;
use spillway_core::table::TableSchema;

use crate::config::Compression;
use crate::conform::arrow_schema;

pub(super) fn encode(
    compression: Compression,
    columns: &TableSchema,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, String> {
    let codec = match compression {
        Compression::Zstd => Codec::ZSTD(ZstdLevel::default()),
        Compression::Snappy => Codec::SNAPPY,
        Compression::Gzip | Compression::None => Codec::UNCOMPRESSED,
    };
    let props = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(super::ROW_GROUP_ROWS))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, arrow_schema(columns), Some(props))
        .map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;
    Ok(out)
}

pub(super) fn decode(columns: &TableSchema, data: Bytes) -> Result<Vec<RecordBatch>, String> {
    let schema = arrow_schema(columns);
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| e.to_string())?;
        let mut arrays = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let a = b
                .column_by_name(f.name())
                .ok_or_else(|| format!("column {:?} is missing", f.name()))?;
            if a.data_type() != f.data_type() {
                return Err(format!(
                    "column {:?} is {} where {} was written",
                    f.name(),
                    a.data_type(),
                    f.data_type()
                ));
            }
            arrays.push(a.clone());
        }
        out.push(RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?);
    }
    Ok(out)
}
