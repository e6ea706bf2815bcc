//! The data sync cursor (spec §12.2, §12.3): the sync's whole state, sealed into an opaque,
//! tamper-evident lowercase hex string.
//!
//! Layout: `version ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag`, like the backend's
//! AES-GCM-SIV cursors. The emulator seals with encrypt-then-MAC built on HMAC-SHA256: the
//! keystream is `HMAC(enc_key, nonce ‖ block counter)` and the tag is the first 16 bytes of
//! `HMAC(mac_key, version ‖ nonce ‖ ciphertext)`. Both keys derive from the emulator seed, so
//! the cursor is only as secret as the seed (this is a test double), but any flipped bit or
//! forged string fails the tag check. A fresh nonce per page (from the seeded generator, never
//! the wall clock) makes every page's cursor a different string even at the same position.
//!
//! ```text
//! 01 5f1c…(12 bytes) 9a03…(sealed JSON state) 77e1…(16-byte tag)
//! ```

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::rng::SplitMix64;
use crate::store::{InternalId, TabletId};

type HmacSha256 = Hmac<Sha256>;

/// What a sealed string carries; a cursor of one kind never opens as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A `/api/v1/data/sync` cursor (version byte 1, as the backend's).
    DataSync = 1,
    /// A `list_active_syncs` page cursor.
    ActiveSyncs = 2,
}

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals and opens cursors with keys derived from the emulator seed.
#[derive(Clone, Debug)]
pub(crate) struct Sealer {
    enc_key: [u8; 32],
    mac_key: [u8; 32],
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl Sealer {
    /// Keys derived from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let seed = seed.to_be_bytes();
        Sealer {
            enc_key: hmac(&seed, &[b"spillway-emulator data sync cursor encryption"]),
            mac_key: hmac(
                &seed,
                &[b"spillway-emulator data sync cursor authentication"],
            ),
        }
    }

    fn keystream_xor(&self, nonce: &[u8], data: &mut [u8]) {
        for (block, chunk) in data.chunks_mut(32).enumerate() {
            let counter = (block as u32).to_be_bytes();
            let pad = hmac(&self.enc_key, &[nonce, &counter]);
            for (b, p) in chunk.iter_mut().zip(pad) {
                *b ^= p;
            }
        }
    }

    /// Seals `plaintext` under a fresh nonce drawn from `rng`; returns lowercase hex.
    pub(crate) fn seal(&self, purpose: Purpose, rng: &mut SplitMix64, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        nonce[8..].copy_from_slice(&rng.next_u64().to_be_bytes()[..4]);
        let mut body = plaintext.to_vec();
        self.keystream_xor(&nonce, &mut body);
        let version = [purpose as u8];
        let tag = hmac(&self.mac_key, &[&version, &nonce, &body]);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len() + TAG_LEN);
        out.extend_from_slice(&version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag[..TAG_LEN]);
        to_hex(&out)
    }

    /// Opens a string made by [`Sealer::seal`] for `purpose`; `None` if it is not lowercase
    /// hex, too short, of another purpose, or fails the tag check.
    pub(crate) fn open(&self, purpose: Purpose, s: &str) -> Option<Vec<u8>> {
        let raw = from_hex(s)?;
        if raw.len() < 1 + NONCE_LEN + TAG_LEN || raw[0] != purpose as u8 {
            return None;
        }
        let (head, tag) = raw.split_at(raw.len() - TAG_LEN);
        let mut mac = HmacSha256::new_from_slice(&self.mac_key).expect("HMAC takes any key");
        mac.update(head);
        mac.verify_truncated_left(tag).ok()?;
        let nonce = &head[1..1 + NONCE_LEN];
        let mut body = head[1 + NONCE_LEN..].to_vec();
        self.keystream_xor(nonce, &mut body);
        Some(body)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// A tablet the cursor has captured (fully or in part), with the name it had then: the name is
/// what a truncate must carry once the tablet no longer exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CapturedTablet {
    pub(crate) tablet: TabletId,
    pub(crate) component: String,
    pub(crate) table: String,
}

/// The tablet being walked by id, and the last id walked (`None`: nothing yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InProgress {
    pub(crate) captured: CapturedTablet,
    pub(crate) last_id: Option<InternalId>,
}

/// Everything a data sync cursor carries (spec §12.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncState {
    pub(crate) sync_id: String,
    /// The consumer's replica is consistent at this ts for every fully traversed tablet.
    pub(crate) synced_ts: i64,
    /// Fully traversed tablets, in tablet-id order.
    pub(crate) done: Vec<CapturedTablet>,
    pub(crate) in_progress: Option<InProgress>,
    /// Values emitted over the whole sync (tombstones and re-emitted revisions included).
    pub(crate) documents_synced: u64,
    /// Values emitted by by_id pages of the tablet in progress.
    pub(crate) documents_in_current_table: u64,
}

impl SyncState {
    /// A sync that starts at `synced_ts` with nothing traversed.
    pub(crate) fn new(sync_id: String, synced_ts: i64) -> Self {
        SyncState {
            sync_id,
            synced_ts,
            done: Vec::new(),
            in_progress: None,
            documents_synced: 0,
            documents_in_current_table: 0,
        }
    }

    /// Seals the state into a `nextCursor`.
    pub(crate) fn seal(&self, sealer: &Sealer, rng: &mut SplitMix64) -> String {
        // Serializing plain data (strings, integers, byte arrays) to JSON cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        sealer.seal(Purpose::DataSync, rng, &json)
    }

    /// Opens a cursor string; `None` for anything not sealed by this emulator's seed.
    pub(crate) fn open(sealer: &Sealer, cursor: &str) -> Option<SyncState> {
        let json = sealer.open(Purpose::DataSync, cursor)?;
        serde_json::from_slice(&json).ok()
    }
}

/// A uuid v4 (RFC 4122 variant) from the seeded generator, lowercase hyphenated.
pub(crate) fn uuid_v4(rng: &mut SplitMix64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = to_hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_detects_tampering() {
        let sealer = Sealer::new(7);
        let mut rng = SplitMix64::new(1);
        let a = sealer.seal(Purpose::DataSync, &mut rng, b"hello world");
        let b = sealer.seal(Purpose::DataSync, &mut rng, b"hello world");
        assert_ne!(a, b, "fresh nonce per seal");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(sealer.open(Purpose::DataSync, &a).unwrap(), b"hello world");
        assert!(!a.contains("hello"));
        // Any flipped nibble fails, as do other purposes, other seeds and junk.
        for i in 0..a.len() {
            let mut t = a.clone().into_bytes();
            t[i] = if t[i] == b'0' { b'1' } else { b'0' };
            let t = String::from_utf8(t).unwrap();
            assert_eq!(sealer.open(Purpose::DataSync, &t), None, "flip at {i}");
        }
        assert_eq!(sealer.open(Purpose::ActiveSyncs, &a), None);
        assert_eq!(Sealer::new(8).open(Purpose::DataSync, &a), None);
        assert_eq!(sealer.open(Purpose::DataSync, "zz"), None);
        assert_eq!(sealer.open(Purpose::DataSync, &a.to_uppercase()), None);
        assert_eq!(sealer.open(Purpose::DataSync, &a[..a.len() - 2]), None);
    }

    #[test]
    fn uuid_is_v4() {
        let u = uuid_v4(&mut SplitMix64::new(3));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(u.matches('-').count(), 4);
    }
}
