//! Pre-trade risk: checks, trading state, limits, alerts (placeholder).
