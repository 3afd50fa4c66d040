-- A day rollup beside the minute and hour ones: a month by day read from the hour rollup was
-- ~430k rows to sum per request on a 10M-transaction store (`make bench-api`); from this, ~18k.
-- depends: 0003.api

CREATE TABLE report_rollup_day (LIKE report_rollup_minute INCLUDING ALL);
INSERT INTO report_rollup_day
    SELECT date_trunc('day', bucket), currency, outcome, country, merchant_category,
           sum(tx_count), sum(amount_sum), sum(score_sum), sum(latency_ms_sum)
    FROM report_rollup_hour GROUP BY 1, 2, 3, 4, 5;
