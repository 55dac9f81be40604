SELECT t.id, t.status FROM tickets t WHERE t.id IN (SELECT id FROM tickets WHERE status = 'solved') ORDER BY 1 DESC LIMIT 3
SELECT channel, count(*) FILTER (WHERE satisfaction >= 4) AS happy, avg(satisfaction) FROM tickets GROUP BY channel HAVING count(*) > 0
SELECT date_trunc('week', created_at) AS w, count(DISTINCT customer_id) FROM tickets GROUP BY 1 ORDER BY 1
SELECT quantile_cont(epoch(solved_at) - epoch(created_at), 0.9) FROM tickets WHERE solved_at IS NOT NULL
SELECT CASE WHEN priority = 'urgent' THEN 1 WHEN priority LIKE 'h%' THEN 2 ELSE 3 END AS p, subject ILIKE '%a_b%' FROM tickets
SELECT round(CAST(reopen_count AS DOUBLE) / 3, 2), -9223372036854775808, 1 / 0, CAST('2026-10-01' AS DATE) + INTERVAL '1 day' FROM tickets
WITH x AS (SELECT id, tags FROM tickets WHERE tags <> '') SELECT count(*) FROM x WHERE x.tags LIKE '%vip%'
SELECT id FROM tickets WHERE id BETWEEN 2 AND 5 AND NOT (status IN ('new', 'open')) OR agent_id IS NULL
EXPLAIN SELECT * FROM tickets WHERE id = 42
SELECT count(*) FROM ticket_events e WHERE e.status_after = 'solved'
SELECT metric, sum(value) FROM ticket_metrics GROUP BY metric ORDER BY 2 DESC NULLS LAST
