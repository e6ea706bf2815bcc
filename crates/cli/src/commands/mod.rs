//! One module per subcommand.

pub mod check;
pub mod compact;
pub mod demo;
pub mod emulator;
pub mod state;
pub mod streams;
pub mod sync;
