//! Stream identifiers.

use std::fmt;

/// One table of a source. For Convex: a `(component path, table)` pair, root component `""`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct StreamId {
    /// Namespace (Convex component path; `""` for the root).
    pub namespace: String,
    /// Table name within the namespace.
    pub name: String,
}

impl StreamId {
    /// A stream of the root namespace.
    pub fn root(name: impl Into<String>) -> Self {
        StreamId {
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// A stream in a namespace.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StreamId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The collision-free qualified name: `name` for the root, `namespace/name` otherwise.
    ///
    /// Table names cannot contain `/`, so the last `/` always separates the namespace; this is
    /// also the destination table name.
    pub fn qualified(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// Parses a qualified name (inverse of [`StreamId::qualified`]).
    pub fn parse(qualified: &str) -> Self {
        match qualified.rsplit_once('/') {
            Some((ns, name)) => StreamId::new(ns, name),
            None => StreamId::root(qualified),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_round_trips() {
        for s in ["users", "waitlist/entries", "a/b/c"] {
            assert_eq!(StreamId::parse(s).qualified(), s);
        }
        assert_eq!(StreamId::parse("a/b/c").namespace, "a/b");
    }
}
