-- Donchian breakout with a trailing stop: buy when the close breaks the highest high of the
-- previous 20 bars; once filled, protect the position with a 5 % trailing stop.
local params = { lookback = 20, trail_percent = 5, qty = 100 }
local highest = ta.highest(params.lookback)

return {
  params = params,

  on_bar = function(ctx, bar)
    local prior = highest.value -- the highest high of the previous `lookback` bars
    highest:update(bar.high)
    if prior ~= nil and bar.close > prior and not ctx.state.long then
      ctx:buy{ symbol = bar.symbol, qty = params.qty }
      ctx.state.long = true
    end
  end,

  on_fill = function(ctx, fill)
    if fill.side == "buy" then
      ctx:sell{ symbol = fill.symbol, qty = fill.qty, type = "trailing_stop",
                trailing_percent = params.trail_percent, reduce_only = true }
    else
      ctx.state.long = false
    end
  end,
}
