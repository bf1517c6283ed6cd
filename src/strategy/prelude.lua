-- luatrade host prelude: trusted code, run once per strategy state BEFORE sandbox(true)
-- freezes the libraries. It (1) replaces every unsafe library with a stub that fails with a
-- clear message, (2) installs the `ta` indicator library, and (3) returns `make`, which
-- builds a strategy's `ctx` and its dispatcher coroutine body.

local function deny_table(name)
  return setmetatable({}, {
    __index = function(_, k)
      error("sandbox: " .. name .. "." .. tostring(k) .. " is not available to strategies", 2)
    end,
    __newindex = function()
      error("sandbox: " .. name .. " is not available to strategies", 2)
    end,
    __metatable = false,
  })
end

local function deny_fn(name)
  return function()
    error("sandbox: " .. name .. " is not available to strategies", 2)
  end
end

io = deny_table("io")
package = deny_table("package")
debug = deny_table("debug")
require = deny_fn("require")
dofile = deny_fn("dofile")
loadfile = deny_fn("loadfile")
load = deny_fn("load")
loadstring = deny_fn("loadstring (no runtime code loading, no binary chunks)")
getfenv = deny_fn("getfenv")
setfenv = deny_fn("setfenv")
string.dump = deny_fn("string.dump")

local real_os = os
os = setmetatable({
  time = real_os.time,
  clock = real_os.clock,
  date = real_os.date,
  difftime = real_os.difftime,
}, {
  __index = function(_, k)
    error("sandbox: os." .. tostring(k) .. " is not available to strategies (only os.time, os.clock, os.date, os.difftime)", 2)
  end,
  __metatable = false,
})

---------------------------------------------------------------------------------------------
-- Indicators: incremental, O(1) or O(n) per update, all state in plain fields (so an
-- indicator kept in ctx.state survives a reload; re-attach its methods with ta.attach).
---------------------------------------------------------------------------------------------
local ta = {}
local methods = {}

-- The annotations below only let the native code generator skip type checks: a call with other
-- types runs the same code in the interpreter, with the same results and errors.
type Indicator = { [string]: any }

local function new(kind, n, extra)
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
    error("ta." .. kind .. ": period must be a whole number >= 1, got " .. tostring(n), 3)
  end
  local o = extra or {}
  o.kind = kind
  o.n = n
  o.count = 0
  return setmetatable(o, methods[kind])
end

-- Ring buffer helpers: buf[1..n], pos = next slot.
local function push(o, x)
  local pos = o.pos or 0
  pos = if pos >= o.n then 1 else pos + 1
  local old = o.buf[pos]
  o.buf[pos] = x
  o.pos = pos
  return old
end

-- The ring buffer is inlined (not `push`): every Lua call costs an interrupt check, and
-- `update` runs on every bar. The next slot follows from `count` (`count % n + 1`: the same
-- slots, in the same order, as the `pos` that `push` keeps), so no position is read or stored:
-- the division costs less than the two field accesses. (`math.min` keeps a period of
-- `math.huge`, which never wraps, at `count + 1`: `count % math.huge` is NaN.) An sma saved with
-- the former `pos` field resumes at the same slot (that `pos` was always `count` wrapped into 1..n).
methods.sma = {
  __index = {
    update = function(o: Indicator, x: number)
      local n, buf, count = o.n, o.buf, o.count
      local pos = math.min(count + 1, count % n + 1)
      local old = buf[pos]
      buf[pos] = x
      local sum = o.sum + x - (old or 0)
      o.sum = sum
      count += 1
      o.count = count
      if count >= n then
        local v = sum / n
        o.value = v
        return v
      end
      return o.value
    end,
  },
}
function ta.sma(n)
  return new("sma", n, { buf = {}, sum = 0 })
end

methods.ema = {
  __index = {
    update = function(o: Indicator, x: number)
      o.count = o.count + 1
      if o.count <= o.n then
        o.seed = o.seed + x
        if o.count == o.n then
          o.value = o.seed / o.n
        end
      else
        o.value = o.value + o.alpha * (x - o.value)
      end
      return o.value
    end,
  },
}
function ta.ema(n)
  return new("ema", n, { seed = 0, alpha = 2 / (n + 1) })
end

-- Wilder's RSI: seeded with the simple mean of the first n changes.
methods.rsi = {
  __index = {
    update = function(o: Indicator, x: number)
      local prev = o.prev
      o.prev = x
      if prev == nil then
        return nil
      end
      local ch = x - prev
      local up = ch > 0 and ch or 0
      local down = ch < 0 and -ch or 0
      o.count = o.count + 1
      if o.count <= o.n then
        o.up = o.up + up
        o.down = o.down + down
        if o.count < o.n then
          return nil
        end
        o.up = o.up / o.n
        o.down = o.down / o.n
      else
        o.up = (o.up * (o.n - 1) + up) / o.n
        o.down = (o.down * (o.n - 1) + down) / o.n
      end
      if o.down == 0 then
        o.value = 100
      else
        o.value = 100 - 100 / (1 + o.up / o.down)
      end
      return o.value
    end,
  },
}
function ta.rsi(n)
  return new("rsi", n, { up = 0, down = 0 })
end

-- Wilder's ATR over the true range; seeded with the simple mean of the first n ranges.
methods.atr = {
  __index = {
    update = function(o: Indicator, high: number, low: number, close: number)
      local tr = high - low
      if o.prev_close ~= nil then
        tr = math.max(tr, math.abs(high - o.prev_close), math.abs(low - o.prev_close))
      end
      o.prev_close = close
      o.count = o.count + 1
      if o.count <= o.n then
        o.seed = o.seed + tr
        if o.count == o.n then
          o.value = o.seed / o.n
        end
      else
        o.value = (o.value * (o.n - 1) + tr) / o.n
      end
      return o.value
    end,
  },
}
function ta.atr(n)
  return new("atr", n, { seed = 0 })
end

-- Bollinger bands: middle = SMA(n), upper/lower = middle +- k * population stddev.
methods.bollinger = {
  __index = {
    update = function(o: Indicator, x: number)
      local old = push(o, x) or 0
      o.sum = o.sum + x - old
      o.sumsq = o.sumsq + x * x - old * old
      o.count = o.count + 1
      if o.count < o.n then
        return nil
      end
      local mid = o.sum / o.n
      local var = o.sumsq / o.n - mid * mid
      local sd = var > 0 and math.sqrt(var) or 0
      o.middle, o.upper, o.lower = mid, mid + o.k * sd, mid - o.k * sd
      o.value = mid
      return mid, o.upper, o.lower
    end,
  },
}
function ta.bollinger(n, k)
  return new("bollinger", n, { buf = {}, sum = 0, sumsq = 0, k = k or 2 })
end

local function extreme(better)
  return {
    __index = {
      update = function(o: Indicator, x: number)
        push(o, x)
        o.count = o.count + 1
        local m = nil
        local filled = math.min(o.count, o.n)
        for i = 1, filled do
          local v = o.buf[i]
          if m == nil or better(v, m) then
            m = v
          end
        end
        if o.count >= o.n then
          o.value = m
        end
        return o.value
      end,
    },
  }
end
methods.highest = extreme(function(a, b) return a > b end)
methods.lowest = extreme(function(a, b) return a < b end)
function ta.highest(n)
  return new("highest", n, { buf = {} })
end
function ta.lowest(n)
  return new("lowest", n, { buf = {} })
end

-- Re-attaches the methods of an indicator restored from ctx.state (plain data after a reload).
function ta.attach(o)
  if type(o) == "table" and methods[o.kind] then
    return setmetatable(o, methods[o.kind])
  end
  return o
end

_G.ta = ta

---------------------------------------------------------------------------------------------
-- ctx and the dispatcher. Every ctx call that needs the host yields a request
-- op (its arguments a, b in `pending`) to Rust, which answers (ok, x, y); on refusal the error is raised at the
-- strategy's own line (level 3: req <- ctx method <- strategy code).
---------------------------------------------------------------------------------------------
local yield = coroutine.yield
local running = coroutine.running
local select, tostring, concat = select, tostring, table.concat
local readf64, readu32 = buffer.readf64, buffer.readu32

-- The dispatchers' coroutines (weak keys). Only the host may yield them: a strategy's own
-- `coroutine.yield` there would be taken for a request or the end of the callback.
local dispatchers = setmetatable({}, { __mode = "k" })
coroutine.yield = function(...)
  if dispatchers[running()] then
    error("coroutine.yield: a callback cannot yield to the host (use your own coroutine.wrap)", 2)
  end
  return yield(...)
end

-- `nums` is a buffer the host writes a bar's numbers into before resuming the dispatcher
-- (one memory copy instead of pushed arguments): now, ts, open, high, low, close, volume as
-- little-endian f64 at offsets 0, 8, ..., 48, then the symbol's index in `names` as a u32 at
-- 56. A request's two arguments go through `pending` (the yield carries only its op) and the
-- end of a callback yields nothing, so a bar crosses with no values either way. Only this
-- closure holds them.
local function make(strategy, nums: buffer, names, pending)
  local ctx = { params = strategy.params or {}, state = {} }
  local now = 0

  local function req(op, a, b)
    pending[1], pending[2] = a, b
    local ok, x, y = yield(op)
    pending[1], pending[2] = nil, nil
    if not ok then
      error(x, 3)
    end
    return x, y
  end
  -- Accepts both ctx:buy{...} and ctx.buy{...}.
  local function one(self, t)
    if self ~= ctx then
      return self
    end
    return t
  end

  function ctx.buy(self, t) return req(1, one(self, t)) end
  function ctx.sell(self, t) return req(2, one(self, t)) end
  function ctx.close(self, s) return req(3, one(self, s)) end
  function ctx.cancel(self, id) return req(4, one(self, id)) end
  function ctx.modify(self, id, t)
    if self ~= ctx then
      id, t = self, id
    end
    return req(5, id, t)
  end
  function ctx.position(self, s) return req(6, one(self, s)) end
  function ctx.cash() return req(7) end
  function ctx.equity() return req(8) end
  function ctx.orders(self, t) return req(9, one(self, t)) end
  function ctx.check(self, t) return req(10, one(self, t)) end
  function ctx.log(self, ...)
    local parts = {}
    if self ~= ctx then
      parts[1] = tostring(self)
    end
    for i = 1, select("#", ...) do
      parts[#parts + 1] = tostring((select(i, ...)))
    end
    return req(11, concat(parts, " "))
  end
  function ctx.now() return now end

  local on_bar, on_tick, on_signal = strategy.on_bar, strategy.on_tick, strategy.on_signal
  local on_fill, on_order, on_start = strategy.on_fill, strategy.on_order, strategy.on_start
  local on_stop, on_reload = strategy.on_stop, strategy.on_reload
  local bar = {}

  -- Resumed with nothing for a bar (all of it in `nums`), else with (kind, t, a): the time
  -- as `t` and the callback's argument as `a`.
  local function dispatch(kind, t, a)
    dispatchers[running()] = true
    -- The bar path's values in locals: in the loop a register is cheaper to read than an upvalue.
    local nums: buffer, names, bar, ctx, on_bar, yield = nums, names, bar, ctx, on_bar, yield
    while true do
      if kind == nil then
        now = readf64(nums, 0)
        -- One store per field (a multiple assignment would first copy `bar` once per target).
        bar.symbol = names[readu32(nums, 56)]
        bar.ts = readf64(nums, 8)
        bar.open = readf64(nums, 16)
        bar.high = readf64(nums, 24)
        bar.low = readf64(nums, 32)
        bar.close = readf64(nums, 40)
        bar.volume = readf64(nums, 48)
        on_bar(ctx, bar)
      else
        now = t
        if kind == 2 then
          on_tick(ctx, a)
        elseif kind == 3 then
          on_signal(ctx, a)
        elseif kind == 4 then
          on_fill(ctx, a)
        elseif kind == 5 then
          on_order(ctx, a)
        elseif kind == 6 then
          on_start(ctx)
        elseif kind == 7 then
          on_stop(ctx)
        elseif kind == 8 then
          on_reload(ctx, a)
        end
      end
      kind, t, a = yield()
    end
  end
  return ctx, dispatch
end

return make
