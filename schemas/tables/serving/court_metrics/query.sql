SELECT m.court_id, c.name AS court_name, lv.name AS court_level, c.province_code,
       coalesce(c.province_name, c.name) AS province_name,
       m.period, m.period_start, m.metric_id, k.name AS metric_name, m.value, m.numerator, m.denominator,
       r.value AS region_value, r.numerator AS region_numerator, r.denominator AS region_denominator
FROM gold.court_metrics m
JOIN silver.courts c ON c.court_id = m.court_id
JOIN metric_names k ON k.metric_id = m.metric_id
LEFT JOIN labels lv ON lv.kind = 'court_level' AND lv.code = c.level
LEFT JOIN silver.courts h ON h.level = 'HIGH' AND h.province_code = c.province_code
LEFT JOIN gold.region_metrics r
  ON r.region_id = h.court_id AND r.period = m.period AND r.period_start = m.period_start AND r.metric_id = m.metric_id
ORDER BY m.period, m.period_start, c.province_code, m.court_id, m.metric_id
