//! Config errors that name the key and its line: toml's own errors for the file's syntax and
//! top level, and key paths (via `serde_path_to_error`) for each `kind`-typed section, located
//! back in the text.

use serde::de::DeserializeOwned;

/// A `kind`-typed section of the config file.
#[derive(Clone, Copy, Debug)]
pub enum Section {
    /// `[source]`.
    Source,
    /// The `i`-th `[[destination]]` (0-based).
    Destination(usize),
}

impl Section {
    /// The key prefix used in messages (`source`, `destination[1]`).
    fn name(self) -> String {
        match self {
            Section::Source => "source".into(),
            Section::Destination(i) => format!("destination[{i}]"),
        }
    }

    /// The TOML table name (`source`, `destination`).
    fn table_name(self) -> String {
        match self {
            Section::Source => "source".into(),
            Section::Destination(_) => "destination".into(),
        }
    }

    /// Checks the section's `kind` against the known ones.
    pub fn expect_kind(
        self,
        text: &str,
        table: &toml::Table,
        known: &[&str],
    ) -> Result<(), String> {
        let expected = known
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        match table.get("kind") {
            None => Err(format!(
                "{}{}.kind is missing; add kind = {expected}",
                self.at(text, None),
                self.name()
            )),
            Some(toml::Value::String(k)) if known.contains(&k.as_str()) => Ok(()),
            Some(other) => Err(format!(
                "{}{}.kind = {other} is unknown; expected one of {expected}",
                self.at(text, Some("kind")),
                self.name()
            )),
        }
    }

    /// Deserializes the section (without its `kind`) as `T`; an error names the key path and
    /// its line.
    pub fn typed<T: DeserializeOwned>(
        self,
        text: &str,
        mut table: toml::Table,
    ) -> Result<T, String> {
        table.remove("kind");
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().message().trim().to_string();
            // An unknown key is reported at the section; name the key itself.
            let key = match unknown_field(&message) {
                Some(k) if path == "." => k.to_string(),
                // serde_path_to_error's path already ends with the unknown key.
                Some(_) => path,
                None if path != "." => path,
                None => String::new(),
            };
            let full = if key.is_empty() {
                self.name()
            } else {
                format!("{}.{key}", self.name())
            };
            format!(
                "{}{full}: {message}",
                self.at(text, (!key.is_empty()).then_some(key.as_str()))
            )
        })
    }

    /// `line L, column C: ` of `key` (a path such as `retry_for` or `streams.x.write_mode`) in
    /// this section (or of the section's header), or nothing when it cannot be found.
    fn at(self, text: &str, key: Option<&str>) -> String {
        match self.locate(text, key) {
            Some(offset) => {
                let (line, column) = line_column(text, offset);
                format!("line {line}, column {column}: ")
            }
            None => String::new(),
        }
    }

    fn locate(self, text: &str, key: Option<&str>) -> Option<usize> {
        let mut offset = 0;
        let mut header = None;
        let mut destinations = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim();
            let this = match self {
                Section::Source => trimmed.starts_with("[source]"),
                Section::Destination(i) => {
                    let is = trimmed.starts_with("[[destination]]");
                    destinations += usize::from(is);
                    is && destinations == i + 1
                }
            };
            if this {
                header = Some(offset + line.len() - line.trim_start().len());
                break;
            }
            offset += line.len();
        }
        let header = header?;
        let Some(key) = key else {
            return Some(header);
        };
        // `streams.x.write_mode` lives under a `[destination.streams.x]` header of its own.
        let segments: Vec<&str> = key.split(['.', '[']).collect();
        let top = segments.first().copied().unwrap_or_default();
        if segments.len() >= 3
            && let Some(sub) = sub_table(text, header, &self.table_name(), &segments[..2])
        {
            return key_in_section(text, sub, segments[2]).or(Some(sub));
        }
        key_in_section(text, header, top).or(Some(header))
    }
}

/// The offset of the `[<section>.<a>.<b>]` header belonging to the section at `header`.
fn sub_table(text: &str, header: usize, section: &str, path: &[&str]) -> Option<usize> {
    let wanted = format!("[{section}.{}]", path.join("."));
    let body = header + text[header..].find('\n')? + 1;
    let mut offset = body;
    for line in text[body..].split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with("[[") || trimmed == "[source]" {
            return None;
        }
        if trimmed.replace(['"', '\'', ' '], "") == wanted {
            return Some(offset + line.len() - line.trim_start().len());
        }
        offset += line.len();
    }
    None
}

/// The key of serde's "unknown field `x`, expected …" message.
fn unknown_field(message: &str) -> Option<&str> {
    message.split("unknown field `").nth(1)?.split('`').next()
}

/// The offset of `key = …` in the section whose header starts at `header`.
fn key_in_section(text: &str, header: usize, key: &str) -> Option<usize> {
    let body = header + text[header..].find('\n')? + 1;
    let mut offset = body;
    for line in text[body..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            return None;
        }
        if let Some((name, _)) = trimmed.split_once('=')
            && name.trim().trim_matches('"') == key
        {
            return Some(offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    None
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `line L, column C: message` — toml's own rendering spans several lines (a source excerpt
/// with a caret), but errors are one line.
pub fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match e.span() {
        Some(span) if span.start <= text.len() && text.is_char_boundary(span.start) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        _ => message,
    }
}
