//! The write-mode keys of a `[[destination]]`: `write_mode`, `soft_delete` and per-stream
//! overrides under `[destination.streams."<stream>"]`.

use std::collections::BTreeMap;

use serde::Deserialize;
use spillway_core::{StreamMode, WriteMode, WriteModes};

/// `[destination.streams."<stream>"]`: one stream's override.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSection {
    /// The stream's write mode (default: the destination's).
    pub write_mode: Option<WriteMode>,
    /// The stream's `soft_delete` (default: the destination's, unless `write_mode` is set).
    pub soft_delete: Option<bool>,
}

/// The write modes of a destination from its keys; the error names the key that is wrong
/// (without the `destination[i].` prefix, which the caller adds).
pub fn write_modes(
    write_mode: WriteMode,
    soft_delete: bool,
    streams: &BTreeMap<String, StreamSection>,
) -> Result<WriteModes, String> {
    let default = StreamMode {
        mode: write_mode,
        soft_delete,
    };
    default
        .validate()
        .map_err(|e| format!("write_mode/soft_delete: {e}"))?;
    let mut modes = WriteModes::all(default);
    for (stream, s) in streams {
        let mode = StreamMode {
            mode: s.write_mode.unwrap_or(write_mode),
            // An overridden mode does not inherit soft_delete: it may not allow it.
            soft_delete: s
                .soft_delete
                .unwrap_or(s.write_mode.is_none() && soft_delete),
        };
        mode.validate()
            .map_err(|e| format!("streams.{stream:?}: {e}"))?;
        modes = modes.with_stream(stream, mode);
    }
    Ok(modes)
}

/// Whether the modes reload every stream on each run (`replace`), and the error when only
/// some do: one read cannot be both a full reload and an incremental sync.
pub fn full_read_required<'a>(
    all: impl IntoIterator<Item = (String, StreamMode)> + 'a,
) -> Result<bool, String> {
    let mut replace = None;
    let mut incremental = None;
    for (at, mode) in all {
        if mode.mode.needs_full_read() {
            replace.get_or_insert(at);
        } else {
            incremental.get_or_insert((at, mode));
        }
    }
    match (replace, incremental) {
        (Some(r), Some((i, mode))) => Err(format!(
            "{r} uses write_mode = \"replace\", which reloads every table on each run, but {i} \
             uses {mode}, which syncs incrementally: one read cannot be both. Use replace for \
             every destination and stream of this config, or put the replace destination in a \
             config file of its own"
        )),
        (Some(_), None) => Ok(true),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_inherit_soft_delete_only_without_their_own_mode() {
        let streams = BTreeMap::from([
            ("a".to_string(), StreamSection::default()),
            (
                "b".to_string(),
                StreamSection {
                    write_mode: Some(WriteMode::Append),
                    soft_delete: None,
                },
            ),
        ]);
        let m = write_modes(WriteMode::Upsert, true, &streams).unwrap();
        assert_eq!(m.of_table("a"), StreamMode::soft_delete());
        assert_eq!(m.of_table("b"), StreamMode::new(WriteMode::Append));
        let bad = BTreeMap::from([(
            "b".to_string(),
            StreamSection {
                write_mode: Some(WriteMode::Append),
                soft_delete: Some(true),
            },
        )]);
        let e = write_modes(WriteMode::Upsert, false, &bad).unwrap_err();
        assert!(e.starts_with("streams.\"b\": soft_delete"), "{e}");
    }

    #[test]
    fn replace_cannot_mix_with_incremental_modes() {
        let r = StreamMode::new(WriteMode::Replace);
        let u = StreamMode::new(WriteMode::Upsert);
        assert_eq!(full_read_required([("x".to_string(), r)]), Ok(true));
        assert_eq!(full_read_required([("x".to_string(), u)]), Ok(false));
        let e = full_read_required([
            ("destination[0]".to_string(), r),
            ("destination[1] stream \"m\"".to_string(), u),
        ])
        .unwrap_err();
        assert!(
            e.contains("destination[0] uses write_mode = \"replace\"")
                && e.contains("destination[1] stream \"m\" uses upsert"),
            "{e}"
        );
    }
}
