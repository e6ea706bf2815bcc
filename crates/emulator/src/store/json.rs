//! Writes stored (binary-encoded, see [`super::codec`]) values straight to JSON text in any
//! export `format`, byte for byte what `Value::write_json` writes for the decoded value, without
//! building a `Value` first.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use spillway_convex_protocol::value::{Format, float_needs_tag};

use super::codec::{Reader, tag};

/// Appends `s` as a JSON string with `serde_json`'s escaping: `"`, `\` and the C0 controls
/// (`\b \t \n \f \r`, the rest as `\u00xx`), everything else verbatim.
pub(super) fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => {
                out.extend_from_slice(&s[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Appends standard padded base64 of `b` (never needs JSON escaping).
fn write_b64(out: &mut Vec<u8>, b: &[u8]) {
    let start = out.len();
    out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
    let n = B64.encode_slice(b, &mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

/// `{"<tag>":"<base64 of b>"}`.
fn write_tagged(out: &mut Vec<u8>, tag: &[u8], b: &[u8]) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(tag);
    out.extend_from_slice(b"\":\"");
    write_b64(out, b);
    out.extend_from_slice(b"\"}");
}

fn write_int64(out: &mut Vec<u8>, i: i64, format: Format) {
    match format {
        Format::CleanJson => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            out.push(b'"');
        }
        Format::ConvexEncodedJson => write_tagged(out, b"$integer", &i.to_le_bytes()),
        Format::ExportJson => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
    }
}

pub(super) fn write_float64(out: &mut Vec<u8>, f: f64, format: Format) {
    match format {
        Format::CleanJson if f.is_nan() => out.extend_from_slice(b"\"NaN\""),
        Format::CleanJson if f == f64::INFINITY => out.extend_from_slice(b"\"Infinity\""),
        Format::CleanJson if f == f64::NEG_INFINITY => out.extend_from_slice(b"\"-Infinity\""),
        Format::ConvexEncodedJson | Format::ExportJson if float_needs_tag(f) => {
            write_tagged(out, b"$float", &f.to_le_bytes());
        }
        _ => out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes()),
    }
}

/// Reads one value from `r` and appends it as JSON in `format`.
pub(super) fn write_value(r: &mut Reader<'_>, format: Format, out: &mut Vec<u8>) {
    match r.byte() {
        tag::INT64 => write_int64(out, r.int64(), format),
        tag::FLOAT64 => write_float64(out, r.float64(), format),
        tag::FALSE => out.extend_from_slice(b"false"),
        tag::TRUE => out.extend_from_slice(b"true"),
        tag::STRING => write_str(out, r.bytes()),
        tag::BYTES => {
            let b = r.bytes();
            match format {
                Format::CleanJson => {
                    out.push(b'"');
                    write_b64(out, b);
                    out.push(b'"');
                }
                Format::ConvexEncodedJson | Format::ExportJson => write_tagged(out, b"$bytes", b),
            }
        }
        tag::ARRAY => {
            out.push(b'[');
            for i in 0..r.count() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(r, format, out);
            }
            out.push(b']');
        }
        tag::OBJECT => {
            out.push(b'{');
            for i in 0..r.count() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, r.bytes());
                out.push(b':');
                write_value(r, format, out);
            }
            out.push(b'}');
        }
        _ => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::encode_value;
    use super::super::codec::tests::{random_text, random_value};
    use super::*;
    use crate::rng::SplitMix64;
    use spillway_convex_protocol::Value;

    const FORMATS: [Format; 3] = [
        Format::CleanJson,
        Format::ConvexEncodedJson,
        Format::ExportJson,
    ];

    fn check(v: &Value) {
        let mut buf = Vec::new();
        encode_value(v, &mut buf);
        for format in FORMATS {
            let mut ours = Vec::new();
            write_value(&mut Reader::new(&buf), format, &mut ours);
            let mut theirs = Vec::new();
            v.write_json(format, &mut theirs);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{v:?} in {format}"
            );
        }
    }

    #[test]
    fn every_single_character_is_escaped_like_serde_json() {
        for c in (0u32..0x800).filter_map(char::from_u32) {
            check(&Value::String(c.to_string()));
        }
    }

    #[test]
    fn random_values_are_written_exactly_like_value_write_json() {
        let mut rng = SplitMix64::new(42);
        for _ in 0..5000 {
            check(&random_value(&mut rng, 3));
        }
        for _ in 0..500 {
            check(&Value::String(random_text(&mut rng)));
        }
        for f in [0.1, 5.0, 1e20, 1e-7, f64::MIN_POSITIVE, f64::MAX, -1.5e300] {
            check(&Value::Float64(f));
        }
    }
}
