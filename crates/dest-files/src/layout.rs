//! Names of things under the destination root: the manifest, stream directories, part files.

use crate::config::{Compression, Format};

/// The manifest's file name, at the root.
pub const MANIFEST: &str = "_spillway_manifest.json";

/// The object `check` writes and deletes, at the root.
pub const PROBE: &str = "_spillway_probe";

/// The directory of a stream: its qualified name (`users`, `waitlist/entries`) with every
/// byte other than ASCII letters, digits, `_`, `-` and a non-leading `.` written `%XX`
/// (upper-case hex), so `waitlist/entries` is `waitlist%2Fentries`, `a%b` is `a%25b`, and
/// two streams never share a directory.
pub fn stream_dir(qualified: &str) -> String {
    let mut out = String::with_capacity(qualified.len());
    for (i, b) in qualified.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file extension of parts in `format` with `compression`.
pub fn extension(format: Format, compression: Compression) -> &'static str {
    match (format, compression) {
        (Format::Parquet, _) => "parquet",
        (Format::Ndjson, Compression::Gzip) => "ndjson.gz",
        (Format::Ndjson, _) => "ndjson",
        (Format::Csv, Compression::Gzip) => "csv.gz",
        (Format::Csv, _) => "csv",
    }
}

/// The extensions a part file may have.
const EXTENSIONS: [&str; 5] = ["parquet", "ndjson.gz", "ndjson", "csv.gz", "csv"];

/// Digits of the commit sequence number in part names.
const SEQ_DIGITS: usize = 12;
/// Digits of the part number within one commit.
const N_DIGITS: usize = 4;

/// The name of part `n` of a stream written by the manifest of sequence number `seq`:
/// `part-<seq, 12 digits>-<n, 4 digits>.<ext>`.
pub fn part_name(seq: u64, n: usize, ext: &str) -> String {
    format!("part-{seq:0SEQ_DIGITS$}-{n:0N_DIGITS$}.{ext}")
}

/// Whether `name` has the form of [`part_name`] (only such files are ever deleted as
/// orphans).
pub fn is_part_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("part-") else {
        return false;
    };
    let Some((seq, rest)) = rest.split_once('-') else {
        return false;
    };
    let Some((n, ext)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    digits(seq, SEQ_DIGITS) && digits(n, N_DIGITS) && EXTENSIONS.contains(&ext)
}

/// The format and gzip flag of a part file, from its name.
pub fn format_of(name: &str) -> Option<(Format, bool)> {
    let ext = name.split_once('.')?.1;
    Some(match ext {
        "parquet" => (Format::Parquet, false),
        "ndjson" => (Format::Ndjson, false),
        "ndjson.gz" => (Format::Ndjson, true),
        "csv" => (Format::Csv, false),
        "csv.gz" => (Format::Csv, true),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_dirs_are_collision_free() {
        assert_eq!(stream_dir("users"), "users");
        assert_eq!(stream_dir("waitlist/entries"), "waitlist%2Fentries");
        assert_eq!(stream_dir("waitlist%2Fentries"), "waitlist%252Fentries");
        assert_eq!(stream_dir(".."), "%2E.");
        assert_eq!(stream_dir("é"), "%C3%A9");
    }

    #[test]
    fn part_names_round_trip() {
        let name = part_name(42, 3, "ndjson.gz");
        assert_eq!(name, "part-000000000042-0003.ndjson.gz");
        assert!(is_part_name(&name));
        assert_eq!(format_of(&name), Some((Format::Ndjson, true)));
        for bad in [
            "part-1-2.parquet",
            "part-000000000042-0003.txt",
            "_spillway_manifest.json",
            "part-000000000042-0003.parquet.tmp",
            "notes.parquet",
        ] {
            assert!(!is_part_name(bad), "{bad}");
        }
    }
}
