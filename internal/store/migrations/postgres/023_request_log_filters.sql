-- The Logs page and the CLI filter an organisation's request log by error
-- code. Read through the organisation's index, a rare code walks every
-- entry of the range (up to 90 days of partitions) to find a page. This
-- index holds the entries with a code in the page's order, with the status
-- for the chart as in 010, and is made on each partition like those;
-- logQuery writes the condition so that the planner can choose it. Only
-- refused and failed requests carry a code, so it costs the writer little.
-- (No index of addresses: it would be written with every entry; see the
-- SQLite migration.)
CREATE INDEX request_log_code ON request_log (org_id, code, at DESC, request_id DESC) INCLUDE (status) WHERE code <> '';
