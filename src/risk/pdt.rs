//! The pattern-day-trader rule for US stocks: an account under the equity minimum may make
//! at most N day trades (default 3) in a window of business days (default 5, today included).
//!
//! A day trade is a reduction of a position on the same New York calendar day as an opening
//! fill in that symbol; several fills of one closing order count once. Exchange holidays are
//! not modelled (every weekday is a business day), as in `model::calendar`.

use crate::collections::{FastMap, FastSet};
use crate::model::{AccountId, ClientOrderId, Side, Symbol, Timestamp};
use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::America::New_York;
use rust_decimal::Decimal;
use std::collections::VecDeque;

/// The New York calendar date of an instant.
#[must_use]
pub fn ny_date(ts: Timestamp) -> NaiveDate {
    ts.to_datetime().with_timezone(&New_York).date_naive()
}

/// Weekdays in `(from, to]` (zero when `to <= from`).
#[must_use]
pub fn business_days_after(from: NaiveDate, to: NaiveDate) -> u32 {
    let mut n = 0;
    let mut d = from;
    while d < to {
        d = d.succ_opt().unwrap_or(to);
        n += u32::from(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun));
    }
    n
}

/// Day trades per account and the last opening day per (account, symbol).
#[derive(Debug, Clone, Default)]
pub struct PdtTracker {
    opened: FastMap<(AccountId, Symbol), NaiveDate>,
    /// Per account: the day trades in order, and the closing orders already counted (so a
    /// closing order's several fills count once, in O(1)).
    day_trades: FastMap<AccountId, DayTrades>,
}

/// One account's day trades in order, and the closing orders already counted.
type DayTrades = (VecDeque<(NaiveDate, ClientOrderId)>, FastSet<ClientOrderId>);

impl PdtTracker {
    /// Records a stock fill. `position_before` is the account's signed quantity in the symbol
    /// before the fill.
    pub fn on_fill(
        &mut self,
        account: &AccountId,
        symbol: &Symbol,
        cid: &ClientOrderId,
        side: Side,
        position_before: Decimal,
        ts: Timestamp,
    ) {
        let day = ny_date(ts);
        let reduces = position_before * side.sign() < Decimal::ZERO;
        let key = (account.clone(), symbol.clone());
        if reduces && self.opened.get(&key) == Some(&day) {
            let (trades, counted) = self.day_trades.entry(account.clone()).or_default();
            if counted.insert(cid.clone()) {
                trades.push_back((day, cid.clone()));
            }
        }
        if !reduces {
            self.opened.insert(key, day);
        }
    }

    /// Whether reducing `symbol` now would be a day trade.
    #[must_use]
    pub fn would_day_trade(&self, account: &AccountId, symbol: &Symbol, now: Timestamp) -> bool {
        self.opened.get(&(account.clone(), symbol.clone())) == Some(&ny_date(now))
    }

    /// Day trades in the `window_days` business days ending today (today included).
    pub fn count(&mut self, account: &AccountId, now: Timestamp, window_days: u32) -> usize {
        let today = ny_date(now);
        let Some((trades, counted)) = self.day_trades.get_mut(account) else { return 0 };
        while trades.front().is_some_and(|(d, _)| business_days_after(*d, today) >= window_days) {
            if let Some((_, cid)) = trades.pop_front() {
                counted.remove(&cid);
            }
        }
        trades.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }
    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn business_day_cases() {
        // 2024-03-08 is a Friday.
        let cases = [
            ("2024-03-08", "2024-03-08", 0),
            ("2024-03-08", "2024-03-11", 1), // Fri -> Mon
            ("2024-03-04", "2024-03-08", 4), // Mon -> Fri
            ("2024-03-04", "2024-03-11", 5),
            ("2024-03-11", "2024-03-08", 0),
        ];
        for (from, to, want) in cases {
            assert_eq!(business_days_after(date(from), date(to)), want, "{from} -> {to}");
        }
        // 23:30 UTC on Friday 2024-03-08 is still Friday in New York (18:30 EST).
        assert_eq!(ny_date(t("2024-03-08T23:30:00Z")), date("2024-03-08"));
        assert_eq!(ny_date(t("2024-03-09T05:30:00Z")), date("2024-03-09"));
    }

    #[test]
    fn counts_same_day_round_trips_once_per_closing_order_within_the_window() {
        let acct = AccountId::try_new("a").unwrap();
        let sym = Symbol::try_new("AAPL").unwrap();
        let cid = |s: &str| ClientOrderId::try_new(s).unwrap();
        let mut p = PdtTracker::default();
        let mon = t("2024-03-04T15:00:00Z");
        p.on_fill(&acct, &sym, &cid("o1"), Side::Buy, Decimal::ZERO, mon);
        assert!(p.would_day_trade(&acct, &sym, mon.plus_secs(60)));
        // Two partial fills of one closing order: one day trade.
        p.on_fill(&acct, &sym, &cid("c1"), Side::Sell, Decimal::TEN, mon.plus_secs(60));
        p.on_fill(&acct, &sym, &cid("c1"), Side::Sell, Decimal::from(5), mon.plus_secs(61));
        assert_eq!(p.count(&acct, mon, 5), 1);
        // Opened Monday, closed Tuesday: not a day trade.
        p.on_fill(&acct, &sym, &cid("o2"), Side::Buy, Decimal::ZERO, mon.plus_secs(120));
        let tue = t("2024-03-05T15:00:00Z");
        assert!(!p.would_day_trade(&acct, &sym, tue));
        p.on_fill(&acct, &sym, &cid("c2"), Side::Sell, Decimal::TEN, tue);
        assert_eq!(p.count(&acct, tue, 5), 1);
        // Monday's trade is in the window through Friday, out of it the next Monday.
        assert_eq!(p.count(&acct, t("2024-03-08T15:00:00Z"), 5), 1);
        assert_eq!(p.count(&acct, t("2024-03-11T15:00:00Z"), 5), 0);
    }
}
