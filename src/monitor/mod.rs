//! Per-position protective monitors (placeholder).
