WITH judged AS (
    SELECT '法院' AS level, m.court_id AS unit_id, c.name AS unit_name, c.province_code,
           coalesce(c.province_name, c.name) AS province_name, m.period_start, m.metric_id, m.value, m.denominator
    FROM gold.court_metrics m JOIN silver.courts c ON c.court_id = m.court_id
    WHERE m.period = 'month'
    UNION ALL
    SELECT '省份', r.region_id, coalesce(c.province_name, c.name), c.province_code,
           coalesce(c.province_name, c.name), r.period_start, r.metric_id, r.value, r.denominator
    FROM gold.region_metrics r JOIN silver.courts c ON c.court_id = r.region_id
    WHERE r.period = 'month' AND r.region_level = 'HIGH'
), verdict AS (
    SELECT j.*, i.low, i.high,
           CASE WHEN j.value IS NULL OR coalesce(j.denominator, 0) < i.min_denominator THEN 'too_few'
                WHEN j.value < i.low THEN 'below' WHEN j.value > i.high THEN 'above' ELSE 'inside' END AS status_code
    FROM judged j JOIN reference_intervals i ON i.metric_id = j.metric_id
)
SELECT v.level, v.unit_id, v.unit_name, v.province_code, v.province_name,
       CASE WHEN v.level = '省份' THEN iso.name END AS province_iso, v.period_start,
       strftime(v.period_start, '%Y-%m') AS month, v.period_start = max(v.period_start) OVER () AS latest,
       v.metric_id, k.name AS metric_name, v.value, v.low, v.high, v.status_code, s.name AS status,
       CASE v.status_code WHEN 'inside' THEN 1.0 WHEN 'too_few' THEN NULL ELSE 0.0 END AS inside
FROM verdict v
JOIN metric_names k ON k.metric_id = v.metric_id
JOIN labels s ON s.kind = 'interval_status' AND s.code = v.status_code
LEFT JOIN labels iso ON iso.kind = 'province_iso' AND iso.code = v.province_code
ORDER BY v.period_start, v.metric_id, v.level, v.province_code, v.unit_id
