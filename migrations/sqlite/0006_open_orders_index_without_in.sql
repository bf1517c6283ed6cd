-- The partial index over open orders, its predicate written as equalities joined by OR
-- instead of an IN list. SQLite evaluates an IN list in an index predicate through a
-- temporary b-tree that it builds every time a statement writing an order runs: once per
-- row, now that the writer binds rows one by one. Equalities are plain comparisons. The
-- open-orders query spells its filter the same way (same names, same order), so the planner
-- still matches the index. (Number 0005 is Postgres's; SQLite has no 0005.)
DROP INDEX idx_orders_open;
CREATE INDEX idx_orders_open ON orders (ts_init, cid)
    WHERE (status = 'pending' OR status = 'submitted' OR status = 'open' OR status = 'partially_filled'
           OR status = 'cancelling');
