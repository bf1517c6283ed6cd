-- Bracket entry: when the close is above the 50-bar EMA and volatility is known, buy with a
-- stop-loss 2 ATR below and a take-profit 3 ATR above the close (children cancel each other).
local params = { ema = 50, atr = 14, stop_atr = 2, target_atr = 3, risk_cash = 1000 }
local ema, atr = ta.ema(params.ema), ta.atr(params.atr)

return {
  params = params,

  on_bar = function(ctx, bar)
    local e = ema:update(bar.close)
    local a = atr:update(bar.high, bar.low, bar.close)
    if e == nil or a == nil or a <= 0 or ctx.state.in_trade then
      return
    end
    if bar.close > e then
      local qty = math.floor(params.risk_cash / (params.stop_atr * a))
      -- Size inside the risk limits: halve until risk would accept the entry.
      while qty >= 1 and not ctx:check{ side = "buy", symbol = bar.symbol, qty = qty }.ok do
        qty = math.floor(qty / 2)
      end
      if qty >= 1 then
        ctx:buy{ symbol = bar.symbol, qty = qty,
                 stop_loss = bar.close - params.stop_atr * a,
                 take_profit = bar.close + params.target_atr * a }
        ctx.state.in_trade = true
      end
    end
  end,

  on_order = function(ctx, order)
    -- The trade is over when an exit child fills or the entry dies unfilled.
    if order.status == "filled" and order.side == "sell" then
      ctx.state.in_trade = false
    elseif (order.status == "cancelled" or order.status == "rejected") and order.side == "buy" then
      ctx.state.in_trade = false
    end
  end,
}
