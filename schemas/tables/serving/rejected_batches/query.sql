SELECT b.court_id, coalesce(c.name, b.court_id) AS court_name, c.province_code,
       coalesce(c.province_name, c.name) AS province_name, sl.name AS source_name, b.business_date, b.batch_id,
       coalesce(rl.name, b.reason) AS reason_name, b.detail, b.ingested_at
FROM ops.batches b
LEFT JOIN silver.courts c ON c.court_id = b.court_id
LEFT JOIN labels sl ON sl.kind = 'source' AND sl.code = b.source
LEFT JOIN labels rl ON rl.kind = 'reason' AND rl.code = b.reason
WHERE b.status = 'rejected'
ORDER BY b.business_date, c.province_code, b.court_id
