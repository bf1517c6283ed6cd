-- Acts on LLM signals: buys on a confident "buy", closes on a confident "sell", ignores
-- "hold". Reasoning, confidence, provider and model travel into the order.
local params = { min_confidence = 0.7, notional = 3000 }

return {
  params = params,

  on_signal = function(ctx, sig)
    if sig.confidence < params.min_confidence then
      ctx:log("ignoring low-confidence signal", sig.symbol, sig.confidence)
      return
    end
    local qty = ctx:position(sig.symbol)
    if sig.side == "buy" and qty <= 0 then
      ctx:buy{ symbol = sig.symbol, notional = params.notional,
               reasoning = sig.reasoning, confidence = sig.confidence,
               provider = sig.provider, model = sig.model }
    elseif sig.side == "sell" and qty > 0 then
      ctx:sell{ symbol = sig.symbol, qty = qty, reduce_only = true,
                reasoning = sig.reasoning, confidence = sig.confidence,
                provider = sig.provider, model = sig.model }
    end
  end,
}
