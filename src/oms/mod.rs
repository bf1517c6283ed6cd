//! The order management system (placeholder).
