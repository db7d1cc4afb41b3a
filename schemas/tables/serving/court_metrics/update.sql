-- The province's figures beside each court's, set again where a province's row changed: `_changed`
-- holds the changed rows' keys (a row deleted from gold: its figures become null, as query.sql's
-- LEFT JOIN makes them), the court's province is found as query.sql finds it (its high court).
UPDATE main.court_metrics t
SET region_value = s.value, region_numerator = s.numerator, region_denominator = s.denominator
FROM (SELECT h.province_code, k.period, k.period_start, k.metric_id, r.value, r.numerator, r.denominator
      FROM _changed k
      JOIN silver.courts h ON h.court_id = k.region_id AND h.level = 'HIGH'
      LEFT JOIN gold.region_metrics r
        ON r.region_id = k.region_id AND r.period = k.period AND r.period_start = k.period_start
       AND r.metric_id = k.metric_id) s
WHERE t.province_code = s.province_code AND t.period = s.period AND t.period_start = s.period_start
  AND t.metric_id = s.metric_id
