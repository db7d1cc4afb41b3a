SELECT c.court_id, c.name AS court_name, lv.name AS court_level, c.level, c.province_code,
       coalesce(c.province_name, c.name) AS province_name, c.high_court_id
FROM silver.courts c
LEFT JOIN labels lv ON lv.kind = 'court_level' AND lv.code = c.level
ORDER BY c.court_id
