//! The simulated exchange (placeholder until the matching engine lands).
