//! The top-level scalar members of a page body, found without decoding its documents.
//!
//! A page's continuation (`snapshot`, `cursor`, `hasMore`) comes after its `values`, so the
//! reader would have to decode every document before it could ask for the next page. These
//! scans walk the body's structure only, so the next request can start while the documents are
//! still being decoded (the `prefetch` module): `trailing_scalars` reads the members after the
//! last nested value backwards from the end (a few hundred bytes), `top_level_scalars` the
//! whole body forwards (strings skipped with `memchr`, nested values by depth) for a server
//! that puts them elsewhere. Neither validates the body: the full decode does, and checks that
//! it reads the same continuation.

use serde::de::DeserializeOwned;

/// The `(snapshot, cursor, hasMore)` of a `list_snapshot` body, if the scans find them.
pub fn snapshot_continuation(body: &[u8]) -> Option<(i64, Option<String>, bool)> {
    scan(body, |m| {
        Some((
            scalar::<i64>(m, "snapshot")?,
            scalar::<Option<String>>(m, "cursor")?,
            scalar::<bool>(m, "hasMore")?,
        ))
    })
}

/// The `(cursor, hasMore)` of a `document_deltas` body, if the scans find them.
pub fn deltas_continuation(body: &[u8]) -> Option<(i64, bool)> {
    scan(body, |m| {
        Some((scalar::<i64>(m, "cursor")?, scalar::<bool>(m, "hasMore")?))
    })
}

/// What `read` finds in the members after the body's documents (read from the end), or else in
/// all its top-level members.
fn scan<T>(body: &[u8], read: impl Fn(&[(&[u8], &[u8])]) -> Option<T>) -> Option<T> {
    trailing_scalars(body)
        .and_then(|m| read(&m))
        .or_else(|| top_level_scalars(body).and_then(|m| read(&m)))
}

/// The top-level member `key` of scanned members, parsed as `T`.
fn scalar<T: DeserializeOwned>(members: &[(&[u8], &[u8])], key: &str) -> Option<T> {
    serde_json::from_slice(member(members, key)?).ok()
}

/// The members of the body's top-level object whose values are scalars or strings, as raw JSON
/// text (`"…"` with its quotes, numbers, `true`, `null`), in order; `None` if the body is not
/// shaped like a JSON object. Keys are returned as written (escapes not resolved).
pub(crate) fn top_level_scalars(body: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut s = Scanner { body, at: 0 };
    let mut members = Vec::new();
    s.skip_ws();
    s.expect(b'{')?;
    s.skip_ws();
    if s.peek()? == b'}' {
        return Some(members);
    }
    loop {
        s.skip_ws();
        let key = s.string()?;
        let key = &key[1..key.len() - 1];
        s.skip_ws();
        s.expect(b':')?;
        s.skip_ws();
        match s.peek()? {
            b'{' | b'[' => s.nested()?,
            b'"' => members.push((key, s.string()?)),
            _ => members.push((key, s.scalar()?)),
        }
        s.skip_ws();
        match s.next()? {
            b',' => continue,
            b'}' => return Some(members),
            _ => return None,
        }
    }
}

/// The scalar members after the body's last nested top-level value, read backwards from the
/// end, in reverse order; `None` if the end of the body is not shaped like the end of a JSON
/// object. Every member of an object without nested values, or only those after the last one.
pub(crate) fn trailing_scalars(body: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut at = body.len();
    let back_ws = |at: &mut usize| {
        while *at > 0 && matches!(body[*at - 1], b' ' | b'\t' | b'\n' | b'\r') {
            *at -= 1;
        }
    };
    // The string ending at `end` (its closing quote is `body[end - 1]`): an unescaped quote is
    // one preceded by an even number of backslashes.
    let string_back = |end: usize| -> Option<usize> {
        let mut i = end - 1;
        loop {
            i = memchr::memrchr(b'"', &body[..i])?;
            let backslashes = body[..i].iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 0 {
                return Some(i);
            }
        }
    };
    let mut members = Vec::new();
    back_ws(&mut at);
    if at == 0 || body[at - 1] != b'}' {
        return None;
    }
    at -= 1;
    loop {
        back_ws(&mut at);
        let end = at;
        match *body.get(at.checked_sub(1)?)? {
            b'}' | b']' => return Some(members),
            b'{' if members.is_empty() => return Some(members),
            b'"' => at = string_back(at)?,
            _ => {
                while at > 0 && !matches!(body[at - 1], b':' | b' ' | b'\t' | b'\n' | b'\r') {
                    at -= 1;
                }
            }
        }
        let value = &body[at..end];
        back_ws(&mut at);
        if at == 0 || body[at - 1] != b':' {
            return None;
        }
        at -= 1;
        back_ws(&mut at);
        if at == 0 || body[at - 1] != b'"' {
            return None;
        }
        let key_end = at - 1;
        at = string_back(at)?;
        members.push((&body[at + 1..key_end], value));
        back_ws(&mut at);
        match *body.get(at.checked_sub(1)?)? {
            b',' => at -= 1,
            b'{' => return Some(members),
            _ => return None,
        }
    }
}

/// The raw value of top-level member `key` of `members`.
pub(crate) fn member<'a>(members: &[(&[u8], &'a [u8])], key: &str) -> Option<&'a [u8]> {
    members
        .iter()
        .find(|(k, _)| *k == key.as_bytes())
        .map(|(_, v)| *v)
}

struct Scanner<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string from its opening quote to its closing one (both included).
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.expect(b'"')?;
        self.skip_string_rest()?;
        Some(&self.body[start..self.at])
    }

    /// Moves past the closing quote of a string whose opening quote was consumed.
    fn skip_string_rest(&mut self) -> Option<()> {
        loop {
            let i = memchr::memchr2(b'"', b'\\', self.body.get(self.at..)?)?;
            self.at += i + 1;
            if self.body[self.at - 1] == b'"' {
                return Some(());
            }
            // A backslash escapes the next byte (in `\uXXXX` the rest are hex digits).
            self.at += 1;
        }
    }

    /// A number or literal: up to the next delimiter.
    fn scalar(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| &self.body[start..self.at])
    }

    /// Moves past an object or array (its brackets balanced outside strings).
    fn nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                b'"' => self.skip_string_rest()?,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    /// Scanned members as text.
    fn owned(members: Vec<(&[u8], &[u8])>) -> Vec<(String, String)> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        members
            .into_iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect()
    }

    fn scalars(body: &str) -> Option<Vec<(String, String)>> {
        top_level_scalars(body.as_bytes()).map(owned)
    }

    #[test]
    fn finds_the_members_after_the_values() {
        let body = r#"{"values":[{"_id":"a","s":"x\"}]{[","n":{"$integer":"AQ=="},"a":[[],{}]}],
            "snapshot":17, "cursor" : "{\"tablet\":\"t\",\"id\":\"j\\\\\"}","hasMore":true}"#;
        let m = scalars(body).unwrap();
        assert_eq!(
            m,
            vec![
                ("snapshot".into(), "17".into()),
                (
                    "cursor".into(),
                    r#""{\"tablet\":\"t\",\"id\":\"j\\\\\"}""#.into()
                ),
                ("hasMore".into(), "true".into()),
            ]
        );
        let raw = top_level_scalars(body.as_bytes()).unwrap();
        let cursor: String = serde_json::from_slice(member(&raw, "cursor").unwrap()).unwrap();
        assert_eq!(cursor, r#"{"tablet":"t","id":"j\\"}"#);
        assert!(
            member(&raw, "values").is_none(),
            "nested values are skipped"
        );
    }

    fn trailing(body: &str) -> Option<Vec<(String, String)>> {
        trailing_scalars(body.as_bytes()).map(|mut m| {
            m.reverse();
            owned(m)
        })
    }

    #[test]
    fn the_trailing_scan_reads_what_the_forward_scan_reads_after_the_values() {
        for body in [
            r#"{"values":[{"_id":"a","s":"x\"}]{["}],"snapshot":17, "cursor" : "{\"id\":\"j\\\\\"}","hasMore":true}"#,
            r#"{"values":[],"cursor":null,"hasMore":false}"#,
            r#"{"values":[],"cursor":1700000000008000000,"hasMore":true}  "#,
            r#"{"cursor":"c\\","hasMore":false}"#,
            r#"{"a":"\"","b":"\\\"\\"}"#,
            "{ }",
        ] {
            let forward = scalars(body).unwrap();
            assert_eq!(trailing(body).unwrap(), forward, "{body}");
        }
        // Only what follows the last nested value.
        let m = trailing(r#"{"snapshot":1,"values":[{}],"hasMore":true}"#).unwrap();
        assert_eq!(m, vec![("hasMore".into(), "true".into())]);
    }

    #[test]
    fn the_trailing_scan_refuses_a_body_that_does_not_end_like_an_object() {
        for bad in [
            "",
            "}",
            "{\"values\":[1,2",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":\"x\"\"b\":2}",
            "{:1}",
            "<html>",
        ] {
            assert!(trailing(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn continuations_in_either_key_order() {
        let end = r#"{"values":[{"_id":"a"}],"snapshot":5,"cursor":"c","hasMore":true}"#;
        let start = r#"{"hasMore":true,"cursor":"c","snapshot":5,"values":[{"_id":"a"}]}"#;
        for body in [end, start] {
            assert_eq!(
                snapshot_continuation(body.as_bytes()),
                Some((5, Some("c".to_string()), true)),
                "{body}"
            );
        }
        let deltas = r#"{"cursor":9,"values":[],"hasMore":false}"#;
        assert_eq!(deltas_continuation(deltas.as_bytes()), Some((9, false)));
        assert_eq!(
            snapshot_continuation(deltas.as_bytes()),
            None,
            "no snapshot member"
        );
        assert_eq!(
            deltas_continuation(br#"{"cursor":"9","hasMore":false}"#),
            None
        );
    }

    #[test]
    fn null_cursor_and_empty_object() {
        let m = scalars(r#"{"values":[],"cursor":null,"hasMore":false}"#).unwrap();
        assert_eq!(m[0], ("cursor".into(), "null".into()));
        assert_eq!(scalars(" { } ").unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        for bad in [
            "",
            "[]",
            "{\"values\":[1,2",
            "{\"cursor\":\"open",
            "{\"cursor\":\"open\\",
            "{\"values\":[\"\\",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":}",
            "<html>",
        ] {
            assert!(scalars(bad).is_none(), "{bad:?}");
        }
    }
}
