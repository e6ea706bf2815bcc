//! The TOML config file (DESIGN.md): `[source]` and one or more `[[destination]]`.
//!
//! Unknown keys are rejected; errors name the file, line and key. `${VAR}` in string values
//! expands environment variables (an unset variable is an error naming it).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use spillway_source_convex::{ConvexConfig, Secret};

use crate::config_errors::{Section, one_line_toml_error};

/// The whole file.
#[derive(Debug)]
pub struct Config {
    /// Where data comes from.
    pub source: SourceConfig,
    /// Where it goes (one or more).
    pub destination: Vec<DestinationConfig>,
}

/// `[source]`, by `kind`.
#[derive(Debug)]
pub enum SourceConfig {
    /// A Convex deployment.
    Convex(ConvexConfig),
}

/// `[[destination]]`, by `kind`.
#[derive(Debug)]
pub enum DestinationConfig {
    /// A DuckDB file.
    Duckdb(DuckDbSection),
}

/// `kind = "duckdb"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuckDbSection {
    /// The database file (created if missing). Relative paths are relative to the config file.
    pub path: String,
    /// `upsert` (default; `overwrite` is an alias).
    #[serde(default = "default_write_mode")]
    pub write_mode: String,
}

fn default_write_mode() -> String {
    "upsert".into()
}

/// The file's top level, with each section still a table: sections are typed by their `kind`
/// afterwards, so that errors inside them keep the key's name and line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    source: toml::Table,
    #[serde(default)]
    destination: Vec<toml::Table>,
}

/// Reads, parses, expands and validates a config file.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read config file {} (create one as shown in the README, or pass -c PATH)",
            path.display()
        )
    })?;
    parse(&text, path, &|k| std::env::var(k).ok())
}

/// Parses config text; `env` looks variables up (injected for tests).
pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    let file = |m: String| anyhow::anyhow!("{}: {m}", path.display());
    let raw: RawConfig = toml::from_str(text).map_err(|e| file(one_line_toml_error(text, &e)))?;
    let at = Section::Source;
    at.expect_kind(text, &raw.source, &["convex"])
        .map_err(file)?;
    let source = SourceConfig::Convex(at.typed(text, raw.source).map_err(file)?);
    let mut destination = Vec::new();
    for (i, table) in raw.destination.into_iter().enumerate() {
        let at = Section::Destination(i);
        at.expect_kind(text, &table, &["duckdb"]).map_err(file)?;
        destination.push(DestinationConfig::Duckdb(
            at.typed(text, table).map_err(file)?,
        ));
    }
    let mut config = Config {
        source,
        destination,
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let where_ = |key: &str| format!("{}: {key}", path.display());
    match &mut config.source {
        SourceConfig::Convex(c) => {
            c.url = expand(&c.url, env).with_context(|| where_("source.url"))?;
            c.deploy_key = match &c.deploy_key {
                Some(k) => Some(Secret::new(
                    expand(k.expose(), env).with_context(|| where_("source.deploy_key"))?,
                )),
                None => env("CONVEX_DEPLOY_KEY").map(Secret::new),
            };
            if let Some(tables) = &mut c.tables {
                for (i, t) in tables.iter_mut().enumerate() {
                    *t = expand(t, env).with_context(|| where_(&format!("source.tables[{i}]")))?;
                }
            }
        }
    }
    if config.destination.is_empty() {
        bail!(
            "{}: no [[destination]] block; add one, e.g.\n[[destination]]\nkind = \"duckdb\"\npath = \"convex.duckdb\"",
            path.display()
        );
    }
    for (i, d) in config.destination.iter_mut().enumerate() {
        match d {
            DestinationConfig::Duckdb(s) => {
                s.path = expand(&s.path, env)
                    .with_context(|| where_(&format!("destination[{i}].path")))?;
                let p = PathBuf::from(&s.path);
                if p.is_relative() {
                    s.path = base.join(p).to_string_lossy().into_owned();
                }
                match s.write_mode.as_str() {
                    "upsert" | "overwrite" => {}
                    "append" | "replace" | "overwrite-delete-stale" => bail!(
                        "{}: destination[{i}].write_mode = {:?} is not supported by this version's duckdb destination; use \"upsert\"",
                        path.display(),
                        s.write_mode
                    ),
                    other => bail!(
                        "{}: destination[{i}].write_mode = {other:?} is unknown; expected one of upsert, overwrite, append, replace, overwrite-delete-stale",
                        path.display()
                    ),
                }
            }
        }
    }
    Ok(config)
}

/// Expands `${VAR}` occurrences.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // The text is not echoed: it may be the deploy key.
            bail!("unterminated `${{`: write ${{NAME}} to use an environment variable");
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!(
                "a `${{…}}` reference must hold an environment variable name (letters, digits, _)"
            );
        }
        match env(name) {
            Some(v) => out.push_str(&v),
            None => bail!("environment variable {name} is not set"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "CONVEX_DEPLOY_KEY").then(|| "prod:x|secret".to_string())
    }

    fn p(text: &str) -> Result<Config> {
        parse(text, Path::new("/etc/sp/spillway.toml"), &env)
    }

    const GOOD: &str = r#"
[source]
kind = "convex"
url = "https://happy-animal-123.convex.cloud"
deploy_key = "${CONVEX_DEPLOY_KEY}"
tables = ["messages", "waitlist/entries"]

[[destination]]
kind = "duckdb"
path = "convex.duckdb"
"#;

    #[test]
    fn design_example_parses_and_expands() {
        let c = p(GOOD).unwrap();
        let SourceConfig::Convex(s) = &c.source;
        assert_eq!(s.deploy_key.as_ref().unwrap().expose(), "prod:x|secret");
        let DestinationConfig::Duckdb(d) = &c.destination[0];
        assert_eq!(d.path, "/etc/sp/convex.duckdb");
        assert_eq!(d.write_mode, "upsert");
    }

    #[test]
    fn env_fallback_for_missing_key() {
        let c = p(&GOOD.replace("deploy_key = \"${CONVEX_DEPLOY_KEY}\"\n", "")).unwrap();
        let SourceConfig::Convex(s) = &c.source;
        assert!(s.deploy_key.is_some());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = format!("{:#}", p(&GOOD.replace("tables", "tabels")).unwrap_err());
        assert!(
            e.contains("spillway.toml") && e.contains("tabels") && e.contains("line"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            p(&GOOD.replace("${CONVEX_DEPLOY_KEY}", "${NOPE}")).unwrap_err()
        );
        assert!(e.contains("source.deploy_key") && e.contains("NOPE"), "{e}");
        let e = format!(
            "{:#}",
            p(&GOOD.replace("kind = \"duckdb\"", "kind = \"oracle\"")).unwrap_err()
        );
        assert!(e.contains("oracle"), "{e}");
        let e = format!(
            "{:#}",
            p("[source]\nkind = \"convex\"\nurl = \"https://a.convex.cloud\"\n").unwrap_err()
        );
        assert!(e.contains("[[destination]]"), "{e}");
        let e = format!(
            "{:#}",
            p(&GOOD.replace(
                "path = \"convex.duckdb\"",
                "path = \"x\"\nwrite_mode = \"append\""
            ))
            .unwrap_err()
        );
        assert!(e.contains("write_mode"), "{e}");
        let e = format!("{:#}", p(&GOOD.replace("tables", "tabels")).unwrap_err());
        assert!(
            e.contains("line 6, column 1: source.tabels: unknown field"),
            "{e}"
        );
        let two =
            format!("{GOOD}  fsync = true\n[[destination]]\nkind = \"duckdb\"\npath = \"b\"\n");
        let e = format!("{:#}", p(&two).unwrap_err());
        assert!(e.contains("line 11, column 3: destination[0].fsync"), "{e}");
        let e = format!("{:#}", p("[source\n").unwrap_err());
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key_and_line() {
        let cases = [
            (
                "tables = [\"messages\", \"waitlist/entries\"]",
                "tables = \"messages\"",
                "line 6, column 1: source.tables: invalid type: string",
            ),
            (
                "tables = [\"messages\", \"waitlist/entries\"]",
                "tables = [\"messages\", 3]",
                "line 6, column 1: source.tables[1]: invalid type: integer",
            ),
            (
                "tables = [\"messages\", \"waitlist/entries\"]",
                "retry_for = 5",
                "line 6, column 1: source.retry_for: invalid type: integer",
            ),
            (
                "tables = [\"messages\", \"waitlist/entries\"]",
                "retry_for = \"soon\"",
                "line 6, column 1: source.retry_for",
            ),
            (
                "tables = [\"messages\", \"waitlist/entries\"]",
                "resnapshot_on_expiry = \"yes\"",
                "line 6, column 1: source.resnapshot_on_expiry: invalid type: string",
            ),
            (
                "path = \"convex.duckdb\"",
                "path = 7",
                "line 10, column 1: destination[0].path: invalid type: integer",
            ),
            (
                "kind = \"convex\"",
                "kind = \"mysql\"",
                "line 3, column 1: source.kind = \"mysql\" is unknown; expected one of \"convex\"",
            ),
            (
                "kind = \"convex\"\n",
                "",
                "line 2, column 1: source.kind is missing",
            ),
            (
                "url = \"https://happy-animal-123.convex.cloud\"\n",
                "",
                "line 2, column 1: source: missing field `url`",
            ),
        ];
        for (from, to, expected) in cases {
            let e = format!("{:#}", p(&GOOD.replace(from, to)).unwrap_err());
            assert!(e.starts_with("/etc/sp/spillway.toml: "), "{e}");
            assert!(e.contains(expected), "{to:?}: expected {expected:?} in {e}");
        }
        let e = format!("{:#}", p(&format!("{GOOD}\n[sink]\nx = 1\n")).unwrap_err());
        assert!(e.contains("line 12") && e.contains("sink"), "{e}");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let c = p(GOOD).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
