SELECT m.high_court_id, coalesce(h.name, m.high_court_id) AS high_court_name, h.province_code,
       coalesce(h.province_name, h.name, m.high_court_id) AS province_name, iso.name AS province_iso, m.month,
       strftime(m.month, '%Y-%m') AS month_label, m.month = max(m.month) OVER () AS latest, m.alerts_received,
       m.acknowledged_in_time_share, m.replied_by_due_date_share, m.median_working_days_to_close, m.overdue,
       m.recurrences, m.labelled, m.precision
FROM gold.guidance_metrics m
LEFT JOIN silver.courts h ON h.court_id = m.high_court_id
LEFT JOIN labels iso ON iso.kind = 'province_iso' AND iso.code = h.province_code
ORDER BY h.province_code, m.month
