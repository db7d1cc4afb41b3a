SELECT a.alert_id, a.kind, kl.name AS kind_name, a.rule_id, a.court_id, coalesce(c.name, a.court_id) AS court_name,
       a.high_court_id, h.name AS high_court_name, h.province_code, coalesce(h.province_name, h.name) AS province_name,
       a.metric_id, k.name AS metric_name, a.source, sl.name AS source_name,
       a.window_start, a.window_end, CAST(a.window_end - a.window_start + 1 AS INTEGER) AS age_days,
       a.status, st.name AS status_name, a.severity, sv.name AS severity_name,
       a.observed, a.expected, a.message, a.first_detected_at, a.updated_at, a.inhibited_by,
       coalesce(f.state, 'new') AS followup_state, fs.name AS followup_state_name, coalesce(f.overdue, false) AS overdue,
       f.overdue_reason, coalesce(f.escalated, false) AS escalated, f.due_date, fl.name AS label_name,
       f.working_days_to_close,
       CASE WHEN g.url IS NOT NULL
            THEN '<a href="' || g.url || '/alerts/' || a.alert_id || '" target="_blank">' || fs.name || '</a>'
       END AS page_link
FROM gold.alerts a
LEFT JOIN gold.alert_followup f ON f.alert_id = a.alert_id
CROSS JOIN guidance_loop g
LEFT JOIN silver.courts c ON c.court_id = a.court_id
LEFT JOIN silver.courts h ON h.court_id = a.high_court_id
LEFT JOIN metric_names k ON k.metric_id = a.metric_id
LEFT JOIN labels kl ON kl.kind = 'alert_kind' AND kl.code = a.kind
LEFT JOIN labels sl ON sl.kind = 'source' AND sl.code = a.source
LEFT JOIN labels st ON st.kind = 'alert_status' AND st.code = a.status
LEFT JOIN labels sv ON sv.kind = 'severity' AND sv.code = a.severity
LEFT JOIN labels fs ON fs.kind = 'followup_state' AND fs.code = coalesce(f.state, 'new')
LEFT JOIN labels fl ON fl.kind = 'followup_label' AND fl.code = f.label
ORDER BY h.province_code, a.window_start, a.alert_id
