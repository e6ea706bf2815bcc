//! Convex document ids (spec §4.2).
//!
//! An id is the lowercase Crockford base32 (no padding, MSB-first) of
//! `VInt(table number) ‖ 16-byte internal id ‖ 2-byte Fletcher-16 footer`. User table numbers
//! are above 10000, so ids are 32 characters long. Because the alphabet is in ASCII order and
//! the table prefix is shared, string order of ids within one table equals `by_id` order.
//!
//! ```
//! use spillway_convex_protocol::id::DocumentId;
//! let id = DocumentId::new(10001, [7; 16]);
//! let text = id.encode();
//! assert_eq!(text.len(), 32);
//! assert_eq!(DocumentId::decode(&text).unwrap(), id);
//! ```

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A decoded document id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId {
    /// The table number (≥ 10001 for user tables).
    pub table_number: u32,
    /// The 16-byte internal id.
    pub internal: [u8; 16],
}

/// Why a string is not a valid document id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Length outside 31..=37.
    #[error("document id has length {0}, expected 31 to 37 characters")]
    Length(usize),
    /// A character outside the base32 alphabet.
    #[error("document id contains {0:?}, which is not in the Crockford base32 alphabet")]
    Character(char),
    /// The footer does not match.
    #[error("document id checksum does not match")]
    Checksum,
    /// The table number prefix is malformed.
    #[error("document id has a malformed table number")]
    TableNumber,
}

impl DocumentId {
    /// Builds an id from a table number and internal id.
    pub fn new(table_number: u32, internal: [u8; 16]) -> Self {
        DocumentId {
            table_number,
            internal,
        }
    }

    /// The canonical string form.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(24);
        let mut n = self.table_number;
        loop {
            let group = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                bytes.push(group);
                break;
            }
            bytes.push(group | 0x80);
        }
        bytes.extend_from_slice(&self.internal);
        let (c0, c1) = fletcher16(&bytes);
        bytes.push(c0);
        bytes.push(c1);
        base32_encode(&bytes)
    }

    /// Parses and checks a string id.
    pub fn decode(s: &str) -> Result<Self, IdError> {
        if !(31..=37).contains(&s.len()) {
            return Err(IdError::Length(s.len()));
        }
        let bytes = base32_decode(s)?;
        if bytes.len() < 3 + 16 {
            return Err(IdError::Length(s.len()));
        }
        let (body, footer) = bytes.split_at(bytes.len() - 2);
        let (c0, c1) = fletcher16(body);
        if footer != [c0, c1] {
            return Err(IdError::Checksum);
        }
        let mut table_number: u32 = 0;
        let mut shift = 0;
        let mut pos = 0;
        loop {
            let b = *body.get(pos).ok_or(IdError::TableNumber)?;
            table_number |= u32::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or(IdError::TableNumber)?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err(IdError::TableNumber);
            }
        }
        let internal: [u8; 16] = body[pos..].try_into().map_err(|_| IdError::TableNumber)?;
        Ok(DocumentId {
            table_number,
            internal,
        })
    }
}

fn fletcher16(bytes: &[u8]) -> (u8, u8) {
    let (mut c0, mut c1) = (0u8, 0u8);
    for b in bytes {
        c0 = c0.wrapping_add(*b);
        c1 = c1.wrapping_add(c0);
    }
    (c0, c1)
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(s: &str) -> Result<Vec<u8>, IdError> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.chars() {
        let v = ALPHABET
            .iter()
            .position(|a| *a as char == c)
            .ok_or(IdError::Character(c))? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_like_internal_ids() {
        let mut ids: Vec<(String, [u8; 16])> = (0u8..=255)
            .map(|i| {
                let mut internal = [0u8; 16];
                internal[0] = i.wrapping_mul(37);
                internal[15] = i;
                (DocumentId::new(10042, internal).encode(), internal)
            })
            .collect();
        for (s, internal) in &ids {
            assert_eq!(s.len(), 32);
            assert_eq!(DocumentId::decode(s).unwrap().internal, *internal);
        }
        let mut by_string = ids.clone();
        by_string.sort_by_key(|a| a.0.clone());
        ids.sort_by_key(|a| a.1);
        assert_eq!(by_string, ids);
    }

    #[test]
    fn corrupted_ids_are_rejected() {
        let s = DocumentId::new(10001, [9; 16]).encode();
        let mut bad = s.clone().into_bytes();
        bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
        assert!(DocumentId::decode(std::str::from_utf8(&bad).unwrap()).is_err());
        assert_eq!(DocumentId::decode("short"), Err(IdError::Length(5)));
        assert!(matches!(
            DocumentId::decode(&s.replace(&s[0..1], "u")),
            Err(IdError::Character('u')) | Err(IdError::Checksum)
        ));
    }
}
