SELECT b.court_id, c.name AS court_name, c.province_code, coalesce(c.province_name, c.name) AS province_name,
       b.date, b.breakdown, coalesce(l.name, b.member, '未填') AS member, b.measure, b.value
FROM work.daily_breakdowns b
JOIN silver.courts c ON c.court_id = b.court_id
LEFT JOIN labels l ON l.kind = b.breakdown AND l.code = b.member
ORDER BY b.breakdown, b.date, c.province_code, b.court_id
