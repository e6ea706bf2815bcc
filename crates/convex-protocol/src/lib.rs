//! Convex streaming export protocol: the types both spillway's client and its emulator speak.
//!
//! Everything here follows `spec/convex-streaming-export.md` (sections 4–14; data sync in [`data_sync`]). Keeping the wire
//! types in one crate that the HTTP source and the emulator both depend on means they cannot
//! drift apart.
//!
//! ```
//! use spillway_convex_protocol::value::{Value, Format};
//! let v = Value::Int64(1);
//! assert_eq!(v.to_json_string(Format::ConvexEncodedJson), r#"{"$integer":"AQAAAAAAAAA="}"#);
//! ```

pub mod data_sync;
pub mod id;
pub mod json_text;
pub mod names;
pub mod selection;
pub mod value;
pub mod value_de;
pub mod wire;

pub use value::{Format, Value};
