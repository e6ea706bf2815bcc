//! Test helpers for spillway: emulator fixtures, temp DuckDB files, table comparisons.
