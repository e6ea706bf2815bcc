//! Arbitrary bytes as JSON, decoded as a `convex_encoded_json` value: it must survive both
//! lossless encodings (`spillway_fuzz::check_value`) and, as the field of a one-row document,
//! the source's row → Arrow path. A top-level array also becomes one document per element, so
//! a column sees every mix of types (widening). The other two formats must not panic.
//! In every format, the export_json transcoder must agree with the tree path
//! (`spillway_fuzz::check_transcoder`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use spillway_convex_protocol::{Format, Value};
use spillway_fuzz::{check_rows, check_transcoder, check_value, document};

fuzz_target!(|data: &[u8]| {
    check_transcoder(data);
    let Ok(json) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    let decoded = Value::from_json(&json, Format::ConvexEncodedJson);
    if let Ok(v) = &decoded {
        check_value(v);
    }
    // export_json is lossless too (an integer literal is an Int64 there).
    if let Ok(v) = Value::from_json(&json, Format::ExportJson) {
        check_value(&v);
    }
    let _ = Value::from_json(&json, Format::CleanJson);

    let mut rows = vec![document(0, json.clone())];
    let mut want = usize::from(decoded.is_ok());
    if let Json::Array(items) = &json {
        for (i, item) in items.iter().enumerate() {
            want += usize::from(Value::from_json(item, Format::ConvexEncodedJson).is_ok());
            rows.push(document(i + 1, item.clone()));
        }
    }
    assert_eq!(check_rows(&rows), want, "documents decoded");
});
