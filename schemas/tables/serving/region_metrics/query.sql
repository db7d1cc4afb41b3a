SELECT r.region_id, r.region_level,
       CASE WHEN r.region_level = 'NATIONAL' THEN '全国' ELSE coalesce(c.province_name, c.name) END AS region_name,
       c.province_code, CASE WHEN r.region_level = 'HIGH' THEN coalesce(c.province_name, c.name) END AS province_name,
       iso.name AS province_iso,
       r.period, r.period_start, r.metric_id, k.name AS metric_name, r.value, r.numerator, r.denominator
FROM gold.region_metrics r
JOIN metric_names k ON k.metric_id = r.metric_id
LEFT JOIN silver.courts c ON c.court_id = r.region_id
LEFT JOIN labels iso ON iso.kind = 'province_iso' AND iso.code = c.province_code
ORDER BY r.period, r.period_start, r.region_level, c.province_code, r.metric_id
