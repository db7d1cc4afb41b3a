SELECT q.court_id, coalesce(c.name, q.court_id) AS court_name, c.province_code,
       coalesce(c.province_name, c.name) AS province_name, sl.name AS source_name, q.business_date, q.rule,
       count(*) AS records
FROM ops.quarantine q
LEFT JOIN silver.courts c ON c.court_id = q.court_id
LEFT JOIN labels sl ON sl.kind = 'source' AND sl.code = q.source
GROUP BY ALL
ORDER BY q.business_date, c.province_code, q.court_id
