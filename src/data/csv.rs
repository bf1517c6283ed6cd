//! CSV loaders (placeholder).
