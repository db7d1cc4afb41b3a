SELECT b.court_id, c.name AS court_name, c.province_code, coalesce(c.province_name, c.name) AS province_name,
       b.date, b.breakdown, bl.name AS breakdown_name, coalesce(l.name, b.member, '未填') AS member,
       sum(b.value) FILTER (WHERE b.measure = 'filed') AS filed,
       sum(b.value) FILTER (WHERE b.measure = 'closed') AS closed,
       sum(b.value) FILTER (WHERE b.measure = 'filed_efile_synced') AS filed_efile_synced,
       sum(b.value) FILTER (WHERE b.measure = 'calls') AS calls,
       sum(b.value) FILTER (WHERE b.measure = 'calls_answered') AS calls_answered,
       sum(b.value) FILTER (WHERE b.measure = 'wait_seconds') AS wait_seconds,
       sum(b.value) FILTER (WHERE b.measure = 'calls_rated') AS calls_rated,
       sum(b.value) FILTER (WHERE b.measure = 'satisfaction') AS satisfaction,
       sum(b.value) FILTER (WHERE b.measure = 'mediations_applied') AS mediations_applied,
       sum(b.value) FILTER (WHERE b.measure = 'mediations_closed') AS mediations_closed,
       sum(b.value) FILTER (WHERE b.measure = 'mediations_succeeded') AS mediations_succeeded,
       sum(b.value) FILTER (WHERE b.measure = 'mediations_confirmed') AS mediations_confirmed
FROM work.daily_breakdowns b
JOIN silver.courts c ON c.court_id = b.court_id
LEFT JOIN labels l ON l.kind = b.breakdown AND l.code = b.member
LEFT JOIN labels bl ON bl.kind = 'breakdown' AND bl.code = b.breakdown
GROUP BY ALL
ORDER BY b.breakdown, b.date, c.province_code, b.court_id
