"""Rewrites shipped CSV bars in other loaders' layouts (our own script, standard library only).

python3 convert.py kline SRC DST FROM TO   # Binance kline CSV, rows with FROM <= time < TO (ISO dates)
python3 convert.py alpaca SRC DST SYMBOL   # Alpaca bars JSON, {"bars":[...],"symbol":...}

Numbers are copied as text, unchanged. Binance columns the source does not have (quote
volume, trade count, taker volumes) are written as 0.
"""
import csv
import datetime as dt
import sys


def rows(path):
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            yield r


def epoch_ms(ts):
    return int(dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()) * 1000


def kline(src, dst, start, end):
    with open(dst, "w", newline="") as out:
        for r in rows(src):
            if not (start <= r["timestamp"][:10] < end):
                continue
            ms = epoch_ms(r["timestamp"])
            out.write(f"{ms},{r['open']},{r['high']},{r['low']},{r['close']},{r['volume']},{ms + 59999},0,0,0,0,0\n")


def alpaca(src, dst, symbol):
    bars = [
        f'{{"t":"{r["timestamp"]}","o":{r["open"]},"h":{r["high"]},"l":{r["low"]},"c":{r["close"]},"v":{r["volume"]}}}'
        for r in rows(src)
    ]
    with open(dst, "w") as out:
        out.write('{"bars":[\n' + ",\n".join(bars) + f'\n],"symbol":"{symbol}","next_page_token":null}}\n')


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    {"kline": kline, "alpaca": alpaca}[kind](*args)
