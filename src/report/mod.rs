//! TEMPORARY stand-in for the report API being written on the `report` branch (replaced at merge).
#![allow(missing_docs, clippy::missing_errors_doc, clippy::pedantic, clippy::all)]
use crate::model::{Currency, Fill, LlmMeta, StrategyId, Symbol, Timestamp, Trade};
use rust_decimal::Decimal;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub start_cash: Decimal,
    pub currency: Currency,
}
#[derive(Debug)]
pub struct Recorder {
    cfg: RecorderConfig,
    equity: Decimal,
    fills: Vec<String>,
    fees: Decimal,
    realized: Decimal,
}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(String);
impl Recorder {
    pub fn new(cfg: RecorderConfig) -> Self {
        Self { equity: cfg.start_cash, cfg, fills: Vec::new(), fees: Decimal::ZERO, realized: Decimal::ZERO }
    }
    pub fn on_price(&mut self, _symbol: &Symbol, _ts: Timestamp, _price: Decimal) {}
    pub fn on_equity(&mut self, _ts: Timestamp, equity: Decimal, _gross: Decimal) {
        self.equity = equity;
    }
    pub fn on_fill(&mut self, fill: &Fill, _strategy: &StrategyId, _llm: Option<&LlmMeta>) {
        self.fills.push(format!("{}|{}|{}|{}", fill.trade_id, fill.cid, fill.qty, fill.price));
        self.fees += fill.fee;
    }
    pub fn on_trade(&mut self, trade: &Trade, _llm: Option<&LlmMeta>) {
        self.realized += trade.realized_pnl;
    }
    pub fn finish(self, _end: Timestamp) -> Report {
        let ret = ((self.equity / self.cfg.start_cash) - Decimal::ONE).to_string().parse().unwrap_or(0.0);
        Report {
            fingerprint: format!("{:016x}", self.fills.len()),
            total_return: ret,
            extra: Default::default(),
            fills: self.fills.len(),
        }
    }
}
#[derive(Debug, serde::Serialize)]
pub struct Report {
    fingerprint: String,
    total_return: f64,
    fills: usize,
    extra: std::collections::BTreeMap<String, serde_json::Value>,
}
impl Report {
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    pub fn summary(&self) -> String {
        format!("total return {:.4}\nfills {}\nfingerprint {}\n", self.total_return, self.fills, self.fingerprint)
    }
    pub fn write_files(&self, dir: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(dir).map_err(|e| ReportError(e.to_string()))?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self).unwrap())
            .map_err(|e| ReportError(e.to_string()))
    }
    pub fn metric(&self, name: &str) -> Option<f64> {
        (name == "total_return").then_some(self.total_return)
    }
    pub fn set_extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_owned(), value);
    }
}
