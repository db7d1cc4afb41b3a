SELECT b.court_id, coalesce(c.name, b.court_id) AS court_name, c.province_code,
       coalesce(c.province_name, c.name) AS province_name, b.source, sl.name AS source_name, b.business_date,
       b.status, st.name AS status_name, b.reason, rl.name AS reason_name,
       count(*) AS batches, sum(coalesce(b.record_count, 0)) AS records
FROM ops.batches b
LEFT JOIN silver.courts c ON c.court_id = b.court_id
LEFT JOIN labels sl ON sl.kind = 'source' AND sl.code = b.source
LEFT JOIN labels st ON st.kind = 'batch_status' AND st.code = b.status
LEFT JOIN labels rl ON rl.kind = 'reason' AND rl.code = b.reason
GROUP BY ALL
ORDER BY b.business_date, c.province_code, b.court_id, b.source
