//! Convex source for spillway: reads a deployment through the streaming export API into Arrow batches.
