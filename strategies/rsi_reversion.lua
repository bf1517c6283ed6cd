-- RSI mean reversion: buy a limit at the close when RSI(14) < 30, exit when RSI > 55.
local params = { period = 14, oversold = 30, exit = 55, qty = 50 }
local rsi = ta.rsi(params.period)

return {
  params = params,

  on_bar = function(ctx, bar)
    local r = rsi:update(bar.close)
    if r == nil then
      return
    end
    if r < params.oversold and not ctx.state.long then
      ctx:buy{ symbol = bar.symbol, qty = params.qty, type = "limit", limit_price = bar.close, tif = "day" }
      ctx.state.long = true
    elseif r > params.exit and ctx.state.long then
      ctx:sell{ symbol = bar.symbol, qty = params.qty, reduce_only = true }
      ctx.state.long = false
    end
  end,
}
