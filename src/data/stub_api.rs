//! TEMPORARY stand-in for the loader API being written on the `data` branch (replaced at merge).
#![allow(missing_docs, clippy::missing_errors_doc, clippy::pedantic, clippy::all)]
use super::{csv::read_bars, DataError, MarketEvent};
use crate::model::{Symbol, Timestamp};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataFormat {
    #[default]
    Auto,
}
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BadRowPolicy {
    #[default]
    Reject,
    Skip,
}
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub on_bad: BadRowPolicy,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}
#[derive(Debug, Clone)]
pub struct DataSpec {
    pub path: PathBuf,
    pub symbol: Option<Symbol>,
    pub format: DataFormat,
}
impl std::str::FromStr for DataSpec {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        let (sym, path) = match s.split_once('=') {
            Some((a, b)) => (Some(Symbol::try_new(a).expect("symbol")), b),
            None => (None, s),
        };
        Ok(Self { path: path.into(), symbol: sym, format: DataFormat::Auto })
    }
}
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DataReport {
    pub rows: u64,
}
pub trait EventSource: Send {
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError>;
    fn symbol(&self) -> &Symbol;
}
struct VecSource(Symbol, std::vec::IntoIter<MarketEvent>);
impl EventSource for VecSource {
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        Ok(self.1.next())
    }
    fn symbol(&self) -> &Symbol {
        &self.0
    }
}
pub fn open(spec: &DataSpec, opts: &LoadOptions) -> Result<Box<dyn EventSource>, DataError> {
    let sym = spec.symbol.clone().unwrap_or_else(|| {
        let stem = spec.path.file_stem().unwrap().to_string_lossy();
        Symbol::try_new(stem.split(['_', '-']).next().unwrap().to_uppercase()).unwrap()
    });
    let bars = read_bars(&spec.path)?;
    let ev: Vec<_> = bars
        .into_iter()
        .filter(|b| opts.from.is_none_or(|f| b.ts >= f) && opts.to.is_none_or(|t| b.ts < t))
        .map(|b| MarketEvent::Bar(sym.clone(), b))
        .collect();
    Ok(Box::new(VecSource(sym, ev.into_iter())))
}
pub struct MergedStream {
    heads: Vec<(Option<MarketEvent>, Box<dyn EventSource>)>,
    rows: u64,
}
impl std::fmt::Debug for MergedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MergedStream")
    }
}
impl MergedStream {
    pub fn new(sources: Vec<Box<dyn EventSource>>) -> Result<Self, DataError> {
        let mut heads = Vec::new();
        for mut s in sources {
            heads.push((s.next_event()?, s));
        }
        Ok(Self { heads, rows: 0 })
    }
    pub fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        let best = self.heads.iter().enumerate().filter_map(|(i, (h, _))| h.as_ref().map(|e| (e.ts(), i))).min();
        let Some((_, i)) = best else { return Ok(None) };
        let next = self.heads[i].1.next_event()?;
        self.rows += 1;
        Ok(std::mem::replace(&mut self.heads[i].0, next))
    }
    pub fn report(&self) -> DataReport {
        DataReport { rows: self.rows }
    }
}
