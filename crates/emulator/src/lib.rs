//! A protocol-faithful emulator of Convex's streaming export API, for tests, demos and benchmarks.
