//! One strategy in its own sandboxed Luau state: loading, callbacks, the request loop that
//! answers `ctx` calls, and state export/restore.
//!
//! A callback runs inside a long-lived coroutine (the prelude's dispatcher). Every `ctx`
//! call that needs the host yields a request; the Rust loop here answers it with the view it
//! was given for this callback, so no Lua closure ever holds a reference to engine data.

use super::convert::{self, f, OrderContext};
use super::error::{ErrorKind, StrategyError};
use super::luau::{self, Answer, BarBuffer};
use super::meter;
use super::signal::Signal;
use super::{script_hash, Callback, Command, HostConfig, Provenance, SignalRef, StrategyView};
use crate::data::Bar;
use crate::model::{AccountId, ClientOrderId, Fill, Order, Side, StrategyId, Symbol};
use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, LuaSerdeExt, Table, Thread, Value, VmState};
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

const PRELUDE: &str = include_str!("prelude.lua");

/// Bytes of the buffer a bar's seven numbers cross in (now, ts, open, high, low, close,
/// volume as little-endian f64).
const BAR_NUMS: usize = 7 * 8 + 4;

/// Callback kinds, in the dispatcher's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bar = 1,
    Tick = 2,
    Signal = 3,
    Fill = 4,
    Order = 5,
    Start = 6,
    Stop = 7,
    Reload = 8,
}

impl Kind {
    const ALL: [Kind; 8] =
        [Kind::Bar, Kind::Tick, Kind::Signal, Kind::Fill, Kind::Order, Kind::Start, Kind::Stop, Kind::Reload];

    pub(crate) fn callback(self) -> Callback {
        match self {
            Kind::Bar => Callback::Bar,
            Kind::Tick => Callback::Tick,
            Kind::Signal => Callback::Signal,
            Kind::Fill => Callback::Fill,
            Kind::Order => Callback::Order,
            Kind::Start => Callback::Start,
            Kind::Stop => Callback::Stop,
            Kind::Reload => Callback::Reload,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.callback().as_str()
    }
}

/// What `check_file` learned about a strategy without trading.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The strategy id (file stem).
    pub strategy: StrategyId,
    /// The file.
    pub file: String,
    /// SHA-256 of the file's bytes, hex.
    pub script_hash: String,
    /// The callbacks it defines, in dispatcher order.
    pub callbacks: Vec<&'static str>,
    /// Its `params` table as JSON.
    pub params: serde_json::Value,
}

/// Compiles a strategy file in the sandbox (running its top level under the default budget
/// and memory limit) and reports what it defines, without trading.
///
/// # Errors
/// A [`StrategyError`] with the file and line: unreadable file, syntax error, binary chunk,
/// error at load time, or a returned value that is not a valid strategy table.
pub fn check_file(path: &Path) -> Result<CheckReport, StrategyError> {
    let s = LuaStrategy::load(path, &HostConfig::default(), 0)?;
    let params = s.params_json()?;
    Ok(CheckReport {
        strategy: s.id.clone(),
        file: s.file.clone(),
        script_hash: s.script_hash.to_string(),
        callbacks: Kind::ALL.iter().filter(|k| s.has(**k)).map(|k| k.name()).collect(),
        params,
    })
}

/// A loaded strategy. See the module docs.
#[derive(Debug)]
pub struct LuaStrategy {
    id: StrategyId,
    file: String,
    account: AccountId,
    lua: Lua,
    ctx: Table,
    dispatch: Function,
    thread: Thread,
    /// Where a bar's numbers go for the dispatcher (see the prelude's `make`).
    bar_nums: BarBuffer,
    callbacks: [bool; 9],
    symbols: Option<Vec<Symbol>>,
    budget: u64,
    budget_line: Rc<Cell<u32>>,
    logs: Vec<String>,
    script_hash: Arc<str>,
    generation: u32,
    /// One shared provenance per callback kind (built on first use).
    provenance: [Option<Arc<Provenance>>; 9],
    /// The provenance of orders placed by the `on_signal` call that is running.
    signal_provenance: Option<Arc<Provenance>>,
    /// Symbols given an index in the prelude's `names` table (the bar buffer carries the index).
    names: Vec<Symbol>,
    names_table: Table,
    /// Where the prelude leaves a request's two arguments (the second is read only by the
    /// request that takes one).
    pending: Table,
    last_price: Vec<(Symbol, f64)>,
}

fn lua_err<'a>(id: &'a str, file: &'a str, kind: ErrorKind) -> impl Fn(mlua::Error) -> StrategyError + 'a {
    move |e| StrategyError::from_lua(id, file, kind, &e)
}

impl LuaStrategy {
    /// Reads, compiles and runs a strategy file in a fresh sandboxed state.
    ///
    /// # Errors
    /// See [`check_file`].
    pub fn load(path: &Path, config: &HostConfig, generation: u32) -> Result<Self, StrategyError> {
        let file = path.display().to_string();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let id = StrategyId::try_new(stem)
            .map_err(|e| StrategyError::new(stem, &file, ErrorKind::Shape, format!("bad file name: {e}")))?;
        let source = std::fs::read(path).map_err(|e| StrategyError::new(stem, &file, ErrorKind::Io, e.to_string()))?;
        Self::from_source(id, &file, &source, config, generation)
    }

    /// Compiles and runs a strategy from source text (`file` names it in errors).
    ///
    /// # Errors
    /// See [`check_file`].
    pub fn from_source(
        id: StrategyId,
        file: &str,
        source: &[u8],
        config: &HostConfig,
        generation: u32,
    ) -> Result<Self, StrategyError> {
        let sid = id.as_str().to_owned();
        let internal = |e: mlua::Error| StrategyError::new(&sid, file, ErrorKind::Runtime, format!("host setup: {e}"));
        let lua = Lua::new();
        // Type info lets the native code skip the tag checks of the prelude's annotated
        // (hot) functions; the strategy's own chunk compiles as before.
        let make: Function = lua
            .load(PRELUDE)
            .set_name("=luatrade_prelude")
            .set_compiler(mlua::chunk::Compiler::new().set_type_info_level(1))
            .eval()
            .map_err(internal)?;
        lua.sandbox(true).map_err(internal)?;

        let budget_line = Rc::new(Cell::new(0u32));
        {
            let (line, budget) = (budget_line.clone(), config.instruction_budget);
            // Called only once the budget is spent: `meter` counts the safepoints in front.
            lua.set_interrupt(move |lua| {
                if !meter::over() {
                    return Ok(VmState::Continue);
                }
                let at = (0..3).find_map(|lvl| lua.inspect_stack(lvl, |d| d.current_line()).flatten());
                line.set(at.and_then(|l| u32::try_from(l).ok()).unwrap_or(0));
                Err(mlua::Error::RuntimeError(format!("instruction budget of {budget} exceeded (runaway loop?)")))
            });
            meter::install(&lua).map_err(internal)?;
        }
        lua.set_memory_limit(config.memory_limit).map_err(internal)?;

        meter::start(config.instruction_budget);
        let chunk = lua.load(source).set_name(format!("@{file}")).set_mode(ChunkMode::Text);
        let module: Value = chunk.eval().map_err(|e| {
            let kind =
                if matches!(e, mlua::Error::SyntaxError { .. }) { ErrorKind::Syntax } else { ErrorKind::Runtime };
            classify(&sid, file, kind, &e, meter::over(), budget_line.get())
        })?;
        let Value::Table(module) = module else {
            return Err(StrategyError::new(
                &sid,
                file,
                ErrorKind::Shape,
                format!("the file must return a table of callbacks, it returned a {}", lua_type(&module)),
            ));
        };
        let mut callbacks = [false; 9];
        let mut symbols = None;
        for pair in module.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(lua_err(&sid, file, ErrorKind::Shape))?;
            let key = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(StrategyError::new(
                        &sid,
                        file,
                        ErrorKind::Shape,
                        format!("unexpected {} key in the strategy table", other.type_name()),
                    ))
                }
            };
            if let Some(kind) = Kind::ALL.iter().find(|k| k.name() == key) {
                if !matches!(v, Value::Function(_)) {
                    return Err(StrategyError::new(
                        &sid,
                        file,
                        ErrorKind::Shape,
                        format!("'{key}' must be a function, got {}", v.type_name()),
                    ));
                }
                callbacks[*kind as usize] = true;
            } else if key == "params" {
                if !matches!(v, Value::Table(_)) {
                    return Err(StrategyError::new(
                        &sid,
                        file,
                        ErrorKind::Shape,
                        format!("'params' must be a table, got {}", v.type_name()),
                    ));
                }
            } else if key == "symbols" {
                let Value::Table(t) = v else {
                    return Err(StrategyError::new(
                        &sid,
                        file,
                        ErrorKind::Shape,
                        "'symbols' must be a list of symbol names",
                    ));
                };
                let mut list = Vec::new();
                for s in t.sequence_values::<String>() {
                    let s = s.map_err(lua_err(&sid, file, ErrorKind::Shape))?;
                    list.push(
                        Symbol::try_new(s)
                            .map_err(|e| StrategyError::new(&sid, file, ErrorKind::Shape, e.to_string()))?,
                    );
                }
                symbols = Some(list);
            } else {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                return Err(StrategyError::new(
                    &sid,
                    file,
                    ErrorKind::Shape,
                    format!(
                        "unknown key '{key}' in the strategy table; allowed: params, symbols, {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        let bar_nums = BarBuffer::new(&lua, BAR_NUMS).map_err(internal)?;
        let (names_table, pending) = (lua.create_table().map_err(internal)?, lua.create_table().map_err(internal)?);
        let (ctx, dispatch): (Table, Function) =
            make.call((module, bar_nums.buffer().clone(), names_table.clone(), pending.clone())).map_err(internal)?;
        apply_param_overrides(&lua, &ctx, &config.params)
            .map_err(|m| StrategyError::new(&sid, file, ErrorKind::Shape, m))?;
        let thread = lua.create_thread(dispatch.clone()).map_err(internal)?;
        Ok(Self {
            id,
            file: file.to_owned(),
            account: config.account.clone(),
            lua,
            ctx,
            dispatch,
            thread,
            bar_nums,
            callbacks,
            symbols,
            budget: config.instruction_budget,
            budget_line,
            logs: Vec::new(),
            script_hash: script_hash(source).into(),
            generation,
            provenance: Default::default(),
            signal_provenance: None,
            names: Vec::new(),
            names_table,
            pending,
            last_price: Vec::new(),
        })
    }

    /// The strategy id.
    #[must_use]
    pub fn id(&self) -> &StrategyId {
        &self.id
    }

    /// The file it was loaded from.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// SHA-256 of its file's bytes, hex.
    #[must_use]
    pub fn script_hash(&self) -> &str {
        &self.script_hash
    }

    /// Its reload generation.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Whether it wants events for `symbol` (no `symbols` list means all).
    #[must_use]
    pub fn wants(&self, symbol: &Symbol) -> bool {
        self.symbols.as_ref().is_none_or(|l| l.contains(symbol))
    }

    pub(crate) fn has(&self, kind: Kind) -> bool {
        self.callbacks[kind as usize]
    }

    /// Whether it defines `on_fill` or `on_order` (so fills and order updates are worth
    /// gathering for it).
    #[must_use]
    pub fn wants_updates(&self) -> bool {
        self.has(Kind::Fill) || self.has(Kind::Order)
    }

    /// Takes over the last prices `old` saw (a reloaded version sizes notional orders at
    /// once, before its first bar).
    pub(crate) fn inherit_prices(&mut self, old: &LuaStrategy) {
        self.last_price.clone_from(&old.last_price);
    }

    /// Takes the lines `ctx:log` wrote since the last call.
    pub fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    /// Bytes the state uses now.
    #[must_use]
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    pub(crate) fn params_json(&self) -> Result<serde_json::Value, StrategyError> {
        let p: Value = self.ctx.raw_get("params").map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))?;
        self.lua.from_value(p).map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))
    }

    /// `ctx.state` as JSON (plain data only: numbers, strings, booleans, tables).
    ///
    /// # Errors
    /// [`ErrorKind::State`] naming the key path when the state holds a function, userdata,
    /// a thread, NaN/inf, mixed or sparse numeric keys, or a cycle.
    pub fn export_state(&self) -> Result<serde_json::Value, StrategyError> {
        let s: Value = self.ctx.raw_get("state").map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))?;
        super::state::to_json(&s).map_err(|m| StrategyError::new(self.id.as_str(), &self.file, ErrorKind::State, m))
    }

    /// Replaces `ctx.state` with `state` (JSON `null` becomes `nil`).
    ///
    /// # Errors
    /// [`ErrorKind::State`] when the value cannot be built in the state.
    pub fn restore_state(&self, state: &serde_json::Value) -> Result<(), StrategyError> {
        let opts = mlua::serde::SerializeOptions::new()
            .set_array_metatable(false)
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false);
        let v = self.lua.to_value_with(state, opts).map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))?;
        let v = if matches!(v, Value::Nil) {
            Value::Table(self.lua.create_table().map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))?)
        } else {
            v
        };
        self.ctx.raw_set("state", v).map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))
    }

    /// The symbol's index in the prelude's `names` table (given one on first sight).
    fn name_index(&mut self, symbol: &Symbol) -> mlua::Result<u32> {
        let at = match self.names.iter().position(|k| k == symbol) {
            Some(i) => i,
            None => {
                self.names_table.raw_set(self.names.len() + 1, symbol.as_str())?;
                self.names.push(symbol.clone());
                self.names.len() - 1
            }
        };
        Ok(u32::try_from(at + 1).unwrap_or(u32::MAX))
    }

    fn remember_price(&mut self, symbol: &Symbol, px: f64) {
        match self.last_price.iter_mut().find(|(k, _)| k == symbol) {
            Some(e) => e.1 = px,
            None => self.last_price.push((symbol.clone(), px)),
        }
    }

    /// Runs `on_bar(ctx, bar)`; `bar` fields are numbers, `bar.ts` in epoch seconds.
    ///
    /// # Errors
    /// The callback's error (runtime, budget, memory), with file and line.
    pub fn on_bar(
        &mut self,
        view: &dyn StrategyView,
        symbol: &Symbol,
        bar: &Bar,
    ) -> Result<Vec<Command>, StrategyError> {
        let close = f(bar.close);
        self.remember_price(symbol, close);
        if !self.has(Kind::Bar) {
            return Ok(Vec::new());
        }
        let name = self.name_index(symbol).map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::Runtime))?;
        let nums = [
            secs(view.now().nanos()),
            secs(bar.ts.nanos()),
            f(bar.open),
            f(bar.high),
            f(bar.low),
            close,
            f(bar.volume),
        ];
        let mut bytes = [0u8; BAR_NUMS];
        for (chunk, x) in bytes.chunks_exact_mut(8).zip(nums) {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        bytes[BAR_NUMS - 4..].copy_from_slice(&name.to_le_bytes());
        self.bar_nums.write(&bytes);
        meter::start(self.budget);
        let first = luau::resume(&self.lua, &self.thread, Answer::Nothing);
        self.serve(view, Kind::Bar, first, false)
    }

    /// Runs `on_tick(ctx, tick)` for a trade, with `tick = {kind = "trade", symbol, ts, price, size}`.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_tick(
        &mut self,
        view: &dyn StrategyView,
        symbol: &Symbol,
        tick: &crate::data::bar::TradeTick,
    ) -> Result<Vec<Command>, StrategyError> {
        self.remember_price(symbol, f(tick.price));
        if !self.has(Kind::Tick) {
            return Ok(Vec::new());
        }
        let t = self.table(|t| {
            t.raw_set("kind", "trade")?;
            t.raw_set("symbol", symbol.as_str())?;
            t.raw_set("ts", secs(tick.ts.nanos()))?;
            t.raw_set("price", f(tick.price))?;
            t.raw_set("size", f(tick.size))
        })?;
        self.run(view, Kind::Tick, (Kind::Tick as u8, secs(view.now().nanos()), t), false)
    }

    /// Runs `on_tick(ctx, tick)` for a top-of-book quote, with
    /// `tick = {kind = "quote", symbol, ts, bid, ask, bid_size, ask_size}`. The mid price
    /// becomes the symbol's last price (what notional orders are sized at).
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_quote(
        &mut self,
        view: &dyn StrategyView,
        symbol: &Symbol,
        quote: &crate::data::QuoteTick,
    ) -> Result<Vec<Command>, StrategyError> {
        let (bid, ask) = (f(quote.bid), f(quote.ask));
        self.remember_price(symbol, (bid + ask) / 2.0);
        if !self.has(Kind::Tick) {
            return Ok(Vec::new());
        }
        let t = self.table(|t| {
            t.raw_set("kind", "quote")?;
            t.raw_set("symbol", symbol.as_str())?;
            t.raw_set("ts", secs(quote.ts.nanos()))?;
            t.raw_set("bid", bid)?;
            t.raw_set("ask", ask)?;
            t.raw_set("bid_size", f(quote.bid_size))?;
            t.raw_set("ask_size", f(quote.ask_size))
        })?;
        self.run(view, Kind::Tick, (Kind::Tick as u8, secs(view.now().nanos()), t), false)
    }

    /// Runs `on_signal(ctx, signal)`. A hold/neutral signal is delivered, but orders that are
    /// not reduce-only are refused while it is being handled: a hold approves nothing.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_signal(&mut self, view: &dyn StrategyView, signal: &Signal) -> Result<Vec<Command>, StrategyError> {
        if !self.has(Kind::Signal) {
            return Ok(Vec::new());
        }
        let t = self.table(|t| signal.fill_table(t))?;
        let hold = signal.is_hold();
        self.signal_provenance = Some(Arc::new(Provenance {
            script_hash: self.script_hash.clone(),
            generation: self.generation,
            callback: Callback::Signal,
            signal: Some(SignalRef { id: signal.id.clone(), provider: signal.provider.clone() }),
        }));
        let result = self.run(view, Kind::Signal, (Kind::Signal as u8, secs(view.now().nanos()), t), hold);
        self.signal_provenance = None;
        result
    }

    /// The provenance of an order emitted now by callback `kind` (shared per kind; per
    /// signal for `on_signal`).
    fn provenance_for(&mut self, kind: Kind) -> Arc<Provenance> {
        if kind == Kind::Signal {
            if let Some(p) = &self.signal_provenance {
                return p.clone();
            }
        }
        let (hash, generation) = (&self.script_hash, self.generation);
        self.provenance[kind as usize]
            .get_or_insert_with(|| {
                Arc::new(Provenance { script_hash: hash.clone(), generation, callback: kind.callback(), signal: None })
            })
            .clone()
    }

    /// Runs `on_fill(ctx, fill)` with `fill = {order_id, symbol, side, qty, price, fee, ts}`.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_fill(&mut self, view: &dyn StrategyView, fill: &Fill) -> Result<Vec<Command>, StrategyError> {
        if !self.has(Kind::Fill) {
            return Ok(Vec::new());
        }
        let t = self.table(|t| {
            t.raw_set("order_id", fill.cid.as_str())?;
            t.raw_set("symbol", fill.symbol.as_str())?;
            t.raw_set("side", fill.side.as_str())?;
            t.raw_set("qty", f(fill.qty))?;
            t.raw_set("price", f(fill.price))?;
            t.raw_set("fee", f(fill.fee))?;
            t.raw_set("ts", secs(fill.ts.nanos()))
        })?;
        self.run(view, Kind::Fill, (Kind::Fill as u8, secs(view.now().nanos()), t), false)
    }

    /// Runs `on_order(ctx, order)` with the order as `ctx:orders()` lists it.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_order(&mut self, view: &dyn StrategyView, order: &Order) -> Result<Vec<Command>, StrategyError> {
        if !self.has(Kind::Order) {
            return Ok(Vec::new());
        }
        let list = convert::orders_table(&self.lua, &[super::OpenOrder::from(order)])
            .and_then(|l| l.raw_get::<Table>(1))
            .map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::Runtime))?;
        self.run(view, Kind::Order, (Kind::Order as u8, secs(view.now().nanos()), list), false)
    }

    /// Runs `on_start(ctx)`.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_start(&mut self, view: &dyn StrategyView) -> Result<Vec<Command>, StrategyError> {
        self.simple(view, Kind::Start)
    }

    /// Runs `on_stop(ctx)`.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`].
    pub fn on_stop(&mut self, view: &dyn StrategyView) -> Result<Vec<Command>, StrategyError> {
        self.simple(view, Kind::Stop)
    }

    /// Hands over state from a previous version: sets `ctx.state` to `old`, then runs
    /// `on_reload(ctx, old)` (if defined) so the new code can migrate it.
    ///
    /// # Errors
    /// As [`LuaStrategy::on_bar`], or [`ErrorKind::State`].
    pub fn on_reload(
        &mut self,
        view: &dyn StrategyView,
        old: &serde_json::Value,
    ) -> Result<Vec<Command>, StrategyError> {
        self.restore_state(old)?;
        if !self.has(Kind::Reload) {
            return Ok(Vec::new());
        }
        let v: Value = self.ctx.raw_get("state").map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::State))?;
        self.run(view, Kind::Reload, (Kind::Reload as u8, secs(view.now().nanos()), v), false)
    }

    fn simple(&mut self, view: &dyn StrategyView, kind: Kind) -> Result<Vec<Command>, StrategyError> {
        if !self.has(kind) {
            return Ok(Vec::new());
        }
        self.run(view, kind, (kind as u8, secs(view.now().nanos())), false)
    }

    fn table(&self, fill: impl FnOnce(&Table) -> mlua::Result<()>) -> Result<Table, StrategyError> {
        let t = self.lua.create_table().map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::Runtime))?;
        fill(&t).map_err(lua_err(self.id.as_str(), &self.file, ErrorKind::Runtime))?;
        Ok(t)
    }

    /// Resumes the dispatcher with a callback and answers its requests until it is done.
    fn run(
        &mut self,
        view: &dyn StrategyView,
        kind: Kind,
        args: impl mlua::IntoLuaMulti,
        hold_signal: bool,
    ) -> Result<Vec<Command>, StrategyError> {
        meter::start(self.budget);
        let first = self.thread.resume::<Option<u8>>(args);
        self.serve(view, kind, first, hold_signal)
    }

    /// Answers the dispatcher's requests, starting from what its first resume (`res`, with
    /// the callback) returned, until the callback is done.
    fn serve(
        &mut self,
        view: &dyn StrategyView,
        kind: Kind,
        mut res: mlua::Result<Option<u8>>,
        hold_signal: bool,
    ) -> Result<Vec<Command>, StrategyError> {
        let mut out = Vec::new();
        let e = loop {
            match res {
                Ok(None) => return Ok(out),
                Ok(Some(op)) => {
                    let a = match self.pending.raw_get::<Value>(1) {
                        Ok(a) => a,
                        Err(e) => break e,
                    };
                    res = match self.request(view, kind, op, a, hold_signal, &mut out) {
                        Ok((Value::Nil, Value::Nil)) => luau::resume(&self.lua, &self.thread, Answer::Done),
                        Ok((x, y)) => self.thread.resume((true, x, y)),
                        Err(msg) => self.thread.resume((false, msg, Value::Nil)),
                    };
                }
                Err(e) => break e,
            }
        };
        let err = classify(self.id.as_str(), &self.file, ErrorKind::Runtime, &e, meter::over(), self.budget_line.get())
            .in_callback(kind.name());
        if err.kind == ErrorKind::Memory {
            let _ = self.lua.gc_collect();
        }
        // The coroutine died with the error; the next callback gets a fresh one.
        if let Ok(t) = self.lua.create_thread(self.dispatch.clone()) {
            self.thread = t;
        }
        Err(err)
    }

    /// Answers one `ctx` request whose first argument is `a` (only `ctx:modify` has a second
    /// one, read from `pending` there). `Err` is raised in Lua at the strategy's line.
    fn request(
        &mut self,
        view: &dyn StrategyView,
        kind: Kind,
        op: u8,
        a: Value,
        hold_signal: bool,
        out: &mut Vec<Command>,
    ) -> Result<(Value, Value), String> {
        let provenance = if matches!(op, 1 | 2) { Some(self.provenance_for(kind)) } else { None };
        let lua_e = |e: mlua::Error| e.to_string();
        let last = &self.last_price;
        let last_price = |s: &Symbol| last.iter().find(|(k, _)| k == s).map(|e| e.1);
        let cx = OrderContext { strategy: &self.id, account: &self.account, view, last_price: &last_price };
        let none = Ok((Value::Nil, Value::Nil));
        match op {
            1 | 2 => {
                let (side, verb) = if op == 1 { (Side::Buy, "buy") } else { (Side::Sell, "sell") };
                let Value::Table(t) = a else {
                    return Err(format!("ctx:{verb} takes a table, e.g. ctx:{verb}{{symbol = \"X\", qty = 1}}"));
                };
                let mut request =
                    convert::order_from_table(&t, Some(side), &cx).map_err(|m| format!("ctx:{verb}: {m}"))?;
                if hold_signal && !request.reduce_only {
                    return Err(format!("ctx:{verb}: a hold/neutral signal approves nothing; only reduce_only orders may be sent while handling it"));
                }
                request.provenance = provenance;
                out.push(Command::Submit { request });
                none
            }
            3 => {
                let s = symbol_arg("ctx:close", &a)?;
                out.push(Command::Close(s));
                none
            }
            4 => {
                let id = string_arg("ctx:cancel", &a)?;
                out.push(Command::Cancel(ClientOrderId::try_new(id).map_err(|e| format!("ctx:cancel: {e}"))?));
                none
            }
            5 => {
                let id =
                    ClientOrderId::try_new(string_arg("ctx:modify", &a)?).map_err(|e| format!("ctx:modify: {e}"))?;
                let Value::Table(t) = self.pending.raw_get::<Value>(2).map_err(lua_e)? else {
                    return Err("ctx:modify takes (order_id, {qty=, limit_price=, stop_price=})".into());
                };
                let order = view
                    .open_orders(&self.id)
                    .into_iter()
                    .find(|o| o.cid == id)
                    .ok_or_else(|| format!("ctx:modify: no open order '{id}' of this strategy"))?;
                let inst = view
                    .instrument(&order.symbol)
                    .ok_or_else(|| format!("ctx:modify: unknown instrument '{}'", order.symbol))?;
                let m = convert::modification_from_table(&t, &inst).map_err(|m| format!("ctx:modify: {m}"))?;
                out.push(Command::Modify(id, m));
                none
            }
            6 => {
                let s = symbol_arg("ctx:position", &a)?;
                let (q, px) = view.position(&self.id, &s);
                Ok((Value::Number(f(q)), Value::Number(f(px))))
            }
            7 => Ok((Value::Number(f(view.cash(&self.id))), Value::Nil)),
            8 => Ok((Value::Number(f(view.equity(&self.id))), Value::Nil)),
            9 => {
                let mut orders = view.open_orders(&self.id);
                match &a {
                    Value::Nil => {}
                    Value::Table(t) => {
                        let s: Option<String> =
                            t.raw_get("symbol").map_err(|e| format!("ctx:orders: field 'symbol' {e}"))?;
                        if let Some(s) = s {
                            orders.retain(|o| o.symbol.as_str() == s);
                        }
                    }
                    other => {
                        return Err(format!("ctx:orders takes nothing or {{symbol = ...}}, got {}", other.type_name()))
                    }
                }
                Ok((Value::Table(convert::orders_table(&self.lua, &orders).map_err(lua_e)?), Value::Nil))
            }
            10 => {
                let Value::Table(t) = a else { return Err("ctx:check takes an order table with a 'side'".into()) };
                let request = convert::order_from_table(&t, None, &cx);
                let r = self.lua.create_table().map_err(lua_e)?;
                let (ok, code, msg) = match request {
                    Err(m) => (false, "INVALID_ORDER".to_owned(), m),
                    Ok(req) => match view.check(&req) {
                        Ok(()) => (true, String::new(), String::new()),
                        Err((c, m)) => (false, c, m),
                    },
                };
                r.raw_set("ok", ok).map_err(lua_e)?;
                if !ok {
                    r.raw_set("code", code).map_err(lua_e)?;
                    r.raw_set("message", msg).map_err(lua_e)?;
                }
                Ok((Value::Table(r), Value::Nil))
            }
            11 => {
                let text = match a {
                    Value::String(s) => s.to_string_lossy(),
                    _ => String::new(),
                };
                tracing::info!(strategy = %self.id, "{text}");
                self.logs.push(text);
                none
            }
            other => Err(format!("unknown host request {other}")),
        }
    }
}

/// A value's Lua type name (Luau has one number type; mlua may report `integer`).
fn lua_type(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "number",
        other => other.type_name(),
    }
}

fn string_arg(what: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        other => Err(format!("{what} takes a string, got {}", other.type_name())),
    }
}

fn symbol_arg(what: &str, v: &Value) -> Result<Symbol, String> {
    Symbol::try_new(string_arg(what, v)?).map_err(|e| format!("{what}: {e}"))
}

/// Epoch nanoseconds as epoch seconds (a Lua number; exact to the microsecond).
fn secs(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

fn classify(
    id: &str,
    file: &str,
    kind: ErrorKind,
    e: &mlua::Error,
    over_budget: bool,
    budget_line: u32,
) -> StrategyError {
    let mut err = StrategyError::from_lua(id, file, kind, e);
    if over_budget {
        err.kind = ErrorKind::Budget;
        if err.line.is_none() && budget_line > 0 {
            err.line = Some(budget_line);
        }
    } else if is_memory(e) {
        err.kind = ErrorKind::Memory;
    }
    err
}

fn is_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => is_memory(cause),
        _ => false,
    }
}

/// Replaces entries of the strategy's `params` table with the configured overrides (sweeps,
/// config files). Only names the strategy declares are replaced, and only by a value of the
/// same Lua type: a sweep cannot turn a number into a string.
fn apply_param_overrides(
    lua: &Lua,
    ctx: &Table,
    overrides: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<(), String> {
    if overrides.is_empty() {
        return Ok(());
    }
    let params: Table = ctx.raw_get("params").map_err(|e| format!("params: {e}"))?;
    for (name, value) in overrides {
        let current: Value = params.raw_get(name.as_str()).map_err(|e| format!("params.{name}: {e}"))?;
        if current.is_nil() {
            continue;
        }
        let new: Value = lua.to_value(value).map_err(|e| format!("params.{name} = {value}: {e}"))?;
        let kind = |v: &Value| if matches!(v, Value::Integer(_)) { "number" } else { v.type_name() };
        if kind(&current) != kind(&new) {
            return Err(format!(
                "params.{name} is a {} in the strategy; the override {value} is a {}",
                kind(&current),
                kind(&new)
            ));
        }
        params.raw_set(name.as_str(), new).map_err(|e| format!("params.{name}: {e}"))?;
    }
    Ok(())
}
