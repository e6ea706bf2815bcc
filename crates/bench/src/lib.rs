//! Benchmark helpers for `bench/convex.sh`. The `convex-limit` binary pages through
//! `POST /api/list_snapshot` exactly as spillway asks for it (`convex_encoded_json`, every
//! table, one keep-alive connection) and discards the documents: the fastest any client can
//! read a deployment, and so the limit spillway's full sync is compared with.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The parts of a list_snapshot page the loop needs; the documents are skipped unparsed
/// (only counted).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// One zero-sized placeholder per document.
    pub values: Vec<IgnoredAny>,
    /// The snapshot ts to echo on the next request.
    pub snapshot: i64,
    /// The resume cursor.
    pub cursor: Option<String>,
    /// Whether more pages follow.
    pub has_more: bool,
}

/// What one full read moved.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Documents received.
    pub docs: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Pages requested.
    pub pages: u64,
}

/// Reads every table of the deployment at `base` once, page by page, discarding documents.
pub async fn read_all(base: &str, key: &str) -> Result<Totals, String> {
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;
    let url = format!("{}/api/list_snapshot", base.trim_end_matches('/'));
    let selection = spillway_convex_protocol::selection::Selection::everything().to_json();
    let mut totals = Totals::default();
    let (mut snapshot, mut cursor): (Option<i64>, Option<String>) = (None, None);
    loop {
        let mut body = serde_json::json!({"format": "convex_encoded_json", "selection": selection});
        if let Some(s) = snapshot {
            body["snapshot"] = s.into();
        }
        if let Some(c) = &cursor {
            body["cursor"] = c.clone().into();
        }
        let resp = http
            .post(&url)
            .header("Authorization", format!("Convex {key}"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("list_snapshot: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("list_snapshot body: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "list_snapshot answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        let page: Page =
            serde_json::from_slice(&bytes).map_err(|e| format!("list_snapshot page: {e}"))?;
        totals.docs += page.values.len() as u64;
        totals.bytes += bytes.len() as u64;
        totals.pages += 1;
        if !page.has_more {
            return Ok(totals);
        }
        snapshot = Some(page.snapshot);
        cursor = page.cursor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_counts_values_without_keeping_them() {
        let p: Page = serde_json::from_str(
            r#"{"values":[{"_id":"a","x":{"$integer":"AQAAAAAAAAA="}},{"_id":"b"}],"snapshot":7,"cursor":"c","hasMore":true}"#,
        )
        .unwrap();
        assert_eq!((p.values.len(), p.snapshot, p.has_more), (2, 7, true));
        assert_eq!(p.cursor.as_deref(), Some("c"));
    }
}
