SELECT x.alert_id, a.court_id, coalesce(c.name, a.court_id) AS court_name, h.province_code, k.name AS metric_name,
       a.window_start, x.rank, coalesce(bl.name, x.breakdown) AS breakdown_name,
       coalesce(l.name, x.member, '未填') AS member, x.observed, x.expected, x.change, x.share
FROM gold.alert_causes x
JOIN gold.alerts a ON a.alert_id = x.alert_id
LEFT JOIN silver.courts c ON c.court_id = a.court_id
LEFT JOIN silver.courts h ON h.court_id = a.high_court_id
LEFT JOIN metric_names k ON k.metric_id = a.metric_id
LEFT JOIN labels bl ON bl.kind = 'breakdown' AND bl.code = x.breakdown
LEFT JOIN labels l ON l.kind = x.breakdown AND l.code = x.member
ORDER BY h.province_code, x.alert_id, x.rank
