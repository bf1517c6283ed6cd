-- SMA crossover: buy when the fast SMA crosses above the slow one, sell when it crosses below.
-- One set of indicators per symbol, built on the first bar from ctx.params, so a sweep
-- (`--param fast=5..20:5`) or a config file can change the lengths.
local params = { fast = 10, slow = 30, qty = 100 }
local books = {} -- per symbol: { fast = sma, slow = sma, prev = fast - slow on the previous bar }

local function new_book(ctx, symbol)
  local b = { fast = ta.sma(ctx.params.fast), slow = ta.sma(ctx.params.slow), prev = nil }
  books[symbol] = b
  return b
end

return {
  params = params,

  on_bar = function(ctx, bar)
    local symbol, close = bar.symbol, bar.close
    local b = books[symbol] or new_book(ctx, symbol)
    local f = b.fast:update(close)
    local s = b.slow:update(close)
    if f == nil or s == nil then
      return
    end
    local diff = f - s
    local prev = b.prev
    b.prev = diff
    if prev == nil then
      return
    end
    -- ctx.state (whether we are long) is only read when the averages cross.
    if prev <= 0 and diff > 0 then
      local state = ctx.state
      if not state[symbol] then
        ctx:buy{ symbol = symbol, qty = ctx.params.qty }
        state[symbol] = true
      end
    elseif prev >= 0 and diff < 0 then
      local state = ctx.state
      if state[symbol] then
        ctx:sell{ symbol = symbol, qty = ctx.params.qty, reduce_only = true }
        state[symbol] = false
      end
    end
  end,
}
