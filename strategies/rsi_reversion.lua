-- RSI mean reversion: buy a limit at the close (good till cancelled) when RSI(14) < 30; when
-- RSI > 55, cancel an entry still resting and sell.
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
      ctx:buy{ symbol = bar.symbol, qty = params.qty, type = "limit", limit_price = bar.close, tif = "gtc" }
      ctx.state.long = true
    elseif r > params.exit and ctx.state.long then
      -- An entry still resting is not wanted any more; what did fill is sold.
      for _, o in ipairs(ctx:orders{ symbol = bar.symbol }) do
        ctx:cancel(o.id)
      end
      ctx:sell{ symbol = bar.symbol, qty = params.qty, reduce_only = true }
      ctx.state.long = false
    end
  end,
}
