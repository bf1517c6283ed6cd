-- SMA crossover: buy when the fast SMA crosses above the slow one, sell when it crosses below.
local params = { fast = 10, slow = 30, qty = 100 }
local fast, slow = ta.sma(params.fast), ta.sma(params.slow)
local prev_diff = nil -- fast - slow on the previous bar (module local: rebuilt on reload)

return {
  params = params,

  on_bar = function(ctx, bar)
    local f = fast:update(bar.close)
    local s = slow:update(bar.close)
    if f == nil or s == nil then
      return
    end
    local diff = f - s
    if prev_diff ~= nil then
      if prev_diff <= 0 and diff > 0 and not ctx.state.long then
        ctx:buy{ symbol = bar.symbol, qty = params.qty }
        ctx.state.long = true
      elseif prev_diff >= 0 and diff < 0 and ctx.state.long then
        ctx:sell{ symbol = bar.symbol, qty = params.qty, reduce_only = true }
        ctx.state.long = false
      end
    end
    prev_diff = diff
  end,
}
