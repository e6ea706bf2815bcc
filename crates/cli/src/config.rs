//! The TOML config file (DESIGN.md): `[source]` and one or more `[[destination]]`.
//!
//! Unknown keys are rejected; errors name the file, line and key. `${VAR}` in string values
//! expands environment variables (an unset variable is an error naming it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use spillway_core::{WriteMode, WriteModes};
use spillway_dest_duckdb::DuckDbConfig;
use spillway_dest_files::FilesConfig;
use spillway_dest_postgres::PostgresConfig;
use spillway_source_convex::{ConvexConfig, Secret};

use crate::config_errors::{Section, one_line_toml_error};
use crate::config_modes::{StreamSection, full_read_required, write_modes};
use crate::memory::{DEFAULT_MEMORY_LIMIT, parse_memory_limit};

/// The whole file.
#[derive(Debug)]
pub struct Config {
    /// Where data comes from.
    pub source: SourceConfig,
    /// Where it goes (one or more).
    pub destination: Vec<DestinationConfig>,
    /// Every run must read everything again (the destinations use `replace`).
    pub full_read: bool,
    /// `commit_interval` (default 10 s): the least time between two commits of a destination;
    /// `"0s"` commits every page.
    pub commit_interval: std::time::Duration,
    /// `memory_limit` in bytes (default 256 MB): a quarter of it bounds the data in flight
    /// between source and destinations.
    pub memory_limit: u64,
}

/// `[source]`, by `kind`.
#[derive(Debug)]
pub enum SourceConfig {
    /// A Convex deployment.
    Convex(ConvexConfig),
}

/// One `[[destination]]`, by `kind`; each config carries its write modes (`write_mode`,
/// `soft_delete`, `[destination.streams.*]`).
#[derive(Debug)]
pub enum DestinationConfig {
    /// A DuckDB file.
    Duckdb(DuckDbConfig),
    /// A Postgres schema (its `Debug` hides the password).
    Postgres(PostgresConfig),
    /// Parquet/NDJSON/CSV files in a directory or under `s3://bucket/prefix` (its `Debug`
    /// hides the secret key).
    Files(FilesConfig),
}

impl DestinationConfig {
    /// How each stream is written.
    pub fn modes(&self) -> &WriteModes {
        match self {
            DestinationConfig::Duckdb(c) => &c.modes,
            DestinationConfig::Postgres(c) => &c.modes,
            DestinationConfig::Files(c) => &c.modes,
        }
    }
}

/// `kind = "duckdb"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuckDbSection {
    /// The database file (created if missing). Relative paths are relative to the config file.
    path: String,
    /// DuckDB's own memory limit (a size as for the top-level `memory_limit`); default: half of
    /// the top-level `memory_limit`.
    memory_limit: Option<toml::Value>,
    /// DuckDB's threads (default 1, see `spillway_dest_duckdb::DEFAULT_THREADS`).
    threads: Option<u32>,
}

/// `kind = "postgres"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresSection {
    /// The connection URL (password via `${VAR}` or `PGPASSWORD`).
    url: String,
    /// The schema (default `public`).
    schema: Option<String>,
}

/// The write-mode keys every destination kind has; taken out of the section before the rest
/// is typed by its kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeKeys {
    #[serde(default)]
    write_mode: WriteMode,
    #[serde(default)]
    soft_delete: bool,
    #[serde(default)]
    streams: BTreeMap<String, StreamSection>,
}

impl ModeKeys {
    /// Moves the mode keys of `table` into a table of their own.
    fn split(table: &mut toml::Table) -> toml::Table {
        ["write_mode", "soft_delete", "streams"]
            .into_iter()
            .filter_map(|k| table.remove(k).map(|v| (k.to_string(), v)))
            .collect()
    }
}

/// The destination kinds, for messages.
const DESTINATION_KINDS: &[&str] = &["duckdb", "postgres", "files"];

/// The file's top level, with each section still a table: sections are typed by their `kind`
/// afterwards, so that errors inside them keep the key's name and line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    source: toml::Table,
    #[serde(default)]
    destination: Vec<toml::Table>,
    #[serde(default)]
    commit_interval: Option<String>,
    memory_limit: Option<toml::Value>,
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
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let where_ = |key: &str| format!("{}: {key}", path.display());
    let mut destination = Vec::new();
    for (i, mut table) in raw.destination.into_iter().enumerate() {
        let at = Section::Destination(i);
        at.expect_kind(text, &table, DESTINATION_KINDS)
            .map_err(file)?;
        let key = |k: &str| where_(&format!("destination[{i}].{k}"));
        let kind = table
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let mode_keys: ModeKeys = at.typed(text, ModeKeys::split(&mut table)).map_err(file)?;
        let modes = write_modes(
            mode_keys.write_mode,
            mode_keys.soft_delete,
            &mode_keys.streams,
        )
        .map_err(|e| anyhow::anyhow!("{}", key(&e)))?;
        let expand_opt = |v: &mut Option<String>, k: &str| -> Result<()> {
            if let Some(x) = v {
                *x = expand(x, env).with_context(|| key(k))?;
            }
            Ok(())
        };
        let config = match kind.as_str() {
            "postgres" => {
                let s: PostgresSection = at.typed(text, table).map_err(file)?;
                let url = expand(&s.url, env).with_context(|| key("url"))?;
                let mut pg = PostgresConfig::new(url);
                if let Some(schema) = s.schema {
                    pg = pg.with_schema(expand(&schema, env).with_context(|| key("schema"))?);
                }
                DestinationConfig::Postgres(pg.with_modes(modes))
            }
            "files" => {
                let mut f: FilesConfig = at.typed(text, table).map_err(file)?;
                f.path = expand(&f.path, env).with_context(|| key("path"))?;
                if !f.path.contains("://") && Path::new(&f.path).is_relative() {
                    f.path = base.join(&f.path).to_string_lossy().into_owned();
                }
                expand_opt(&mut f.endpoint, "endpoint")?;
                expand_opt(&mut f.region, "region")?;
                expand_opt(&mut f.access_key_id, "access_key_id")?;
                expand_opt(&mut f.secret_access_key, "secret_access_key")?;
                expand_opt(&mut f.session_token, "session_token")?;
                f.validate().map_err(|e| {
                    anyhow::anyhow!("{}: {}", where_(&format!("destination[{i}]")), e.message)
                })?;
                DestinationConfig::Files(f.with_modes(modes))
            }
            _ => {
                let s: DuckDbSection = at.typed(text, table).map_err(file)?;
                let p = PathBuf::from(expand(&s.path, env).with_context(|| key("path"))?);
                let p = if p.is_relative() { base.join(p) } else { p };
                let mut d = DuckDbConfig::new(p).with_modes(modes);
                if let Some(v) = &s.memory_limit {
                    d = d.with_memory_limit(
                        parse_memory_limit(v)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", key("memory_limit")))?,
                    );
                }
                match s.threads {
                    Some(0) => anyhow::bail!("{}: must be at least 1", key("threads")),
                    Some(t) => d = d.with_threads(t),
                    None => {}
                }
                DestinationConfig::Duckdb(d)
            }
        };
        destination.push(config);
    }
    let mut config = Config {
        source,
        destination,
        full_read: false,
        commit_interval: match &raw.commit_interval {
            None => spillway_engine::SyncOptions::default().commit_interval,
            Some(v) => spillway_source_convex::config::parse_duration(v)
                .map_err(|e| file(format!("commit_interval: {e}")))?,
        },
        memory_limit: match &raw.memory_limit {
            None => DEFAULT_MEMORY_LIMIT,
            Some(v) => parse_memory_limit(v).map_err(|e| file(format!("memory_limit: {e}")))?,
        },
    };
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
    config.full_read =
        full_read_required(config.destination.iter().enumerate().flat_map(|(i, d)| {
            std::iter::once((format!("destination[{i}]"), d.modes().default)).chain(
                d.modes()
                    .per_stream
                    .iter()
                    .map(move |(s, m)| (format!("destination[{i}] stream {s:?}"), *m)),
            )
        }))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
    use spillway_core::StreamMode;

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
        let DestinationConfig::Duckdb(d) = &c.destination[0] else {
            panic!("{c:?}")
        };
        assert_eq!(d.path, PathBuf::from("/etc/sp/convex.duckdb"));
        assert_eq!(c.destination[0].modes(), &WriteModes::default());
        assert!(!c.full_read);
    }

    #[test]
    fn duckdb_threads_parse_and_zero_is_refused() {
        let with = |v: &str| {
            p(&GOOD.replace(
                "path = \"convex.duckdb\"",
                &format!("path = \"convex.duckdb\"\nthreads = {v}"),
            ))
        };
        let DestinationConfig::Duckdb(d) = &with("4").unwrap().destination[0] else {
            panic!("not duckdb")
        };
        assert_eq!(d.threads, Some(4));
        let e = with("0").unwrap_err().to_string();
        assert!(
            e.contains("destination[0].threads: must be at least 1"),
            "{e}"
        );
        let e = with("\"many\"").unwrap_err().to_string();
        assert!(e.contains("threads"), "{e}");
    }

    #[test]
    fn duckdb_memory_limit_parses_sizes() {
        let c = p(&GOOD.replace(
            "path = \"convex.duckdb\"",
            "path = \"convex.duckdb\"\nmemory_limit = \"64 MB\"",
        ))
        .unwrap();
        let DestinationConfig::Duckdb(d) = &c.destination[0] else {
            panic!("not duckdb")
        };
        assert_eq!(d.memory_limit, Some(64 << 20));
        let DestinationConfig::Duckdb(d) = &p(GOOD).unwrap().destination[0] else {
            panic!("not duckdb")
        };
        assert_eq!(d.memory_limit, None, "the default comes from the top level");
        let e = p(&GOOD.replace(
            "path = \"convex.duckdb\"",
            "path = \"convex.duckdb\"\nmemory_limit = \"lots\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("destination[0].memory_limit:"), "{e}");
    }

    #[test]
    fn memory_limit_defaults_to_256_mb_and_parses_sizes() {
        assert_eq!(p(GOOD).unwrap().memory_limit, 256 << 20);
        let c = p(&format!("memory_limit = \"1 GB\"\n{GOOD}")).unwrap();
        assert_eq!(c.memory_limit, 1 << 30);
        let e = format!(
            "{:#}",
            p(&format!("memory_limit = \"huge\"\n{GOOD}")).unwrap_err()
        );
        assert!(e.contains("spillway.toml: memory_limit:"), "{e}");
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
                "path = \"x\"\nwrite_mode = \"merge\""
            ))
            .unwrap_err()
        );
        assert!(
            e.contains(
                "line 11, column 1: destination[0].write_mode: write_mode = \"merge\" is unknown"
            ),
            "{e}"
        );
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

    const PG: &str = r#"
[[destination]]
kind = "postgres"
url = "postgres://app:${PGPASS}@127.0.0.1:5432/analytics"
schema = "convex"
write_mode = "upsert"
soft_delete = true

[destination.streams.messages]
write_mode = "append"

[destination.streams."waitlist/entries"]
write_mode = "overwrite-delete-stale"
"#;

    fn env_pg(k: &str) -> Option<String> {
        (k == "PGPASS")
            .then(|| "hunter2".to_string())
            .or_else(|| env(k))
    }

    #[test]
    fn postgres_with_modes_per_stream() {
        let text = format!("{GOOD}{PG}");
        let c = parse(&text, Path::new("/etc/sp/spillway.toml"), &env_pg).unwrap();
        assert_eq!(c.destination.len(), 2);
        let d = &c.destination[1];
        let DestinationConfig::Postgres(pg) = d else {
            panic!("{c:?}")
        };
        assert_eq!(pg.url, "postgres://app:hunter2@127.0.0.1:5432/analytics");
        assert_eq!(pg.schema, "convex");
        assert_eq!(d.modes().of_table("users"), StreamMode::soft_delete());
        assert_eq!(
            d.modes().of_table("messages"),
            StreamMode::new(WriteMode::Append)
        );
        assert_eq!(
            d.modes().of_table("waitlist/entries"),
            StreamMode::new(WriteMode::OverwriteDeleteStale)
        );
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
    }

    #[test]
    fn impossible_mode_combinations_say_why() {
        let bad = format!(
            "{GOOD}{}",
            PG.replace(
                "write_mode = \"append\"",
                "write_mode = \"append\"\nsoft_delete = true"
            )
        );
        let e = format!(
            "{:#}",
            parse(&bad, Path::new("/etc/sp/spillway.toml"), &env_pg).unwrap_err()
        );
        assert!(
            e.contains("destination[1].streams.\"messages\": soft_delete = true applies to write_mode = \"upsert\" only"),
            "{e}"
        );
        let mixed = format!("{GOOD}write_mode = \"replace\"\n{PG}");
        let e = format!(
            "{:#}",
            parse(&mixed, Path::new("/etc/sp/spillway.toml"), &env_pg).unwrap_err()
        );
        assert!(
            e.contains("destination[0] uses write_mode = \"replace\"")
                && e.contains("destination[1] uses upsert (soft_delete)")
                && e.contains("one read cannot be both"),
            "{e}"
        );
        let c = p(&format!("{GOOD}write_mode = \"replace\"\n")).unwrap();
        assert!(c.full_read);
        let e = format!(
            "{:#}",
            p(&format!("{GOOD}\n[destination.streams.x]\nmode = 1\n")).unwrap_err()
        );
        assert!(
            e.contains("destination[0].streams.x.mode: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let c = p(GOOD).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
