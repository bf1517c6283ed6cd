//! The Lua strategy host (placeholder).
