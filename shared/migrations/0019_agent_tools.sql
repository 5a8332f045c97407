-- An agent's `tools` now name tools its model really calls (http_request,
-- web_read, web_search, read_file: workflow_graph::tools). Before, they were labels
-- nothing read; a label that names no tool becomes one of the agent's
-- skills (at most 20), so nothing a user wrote is lost and no run fails on it.
UPDATE agents
   SET skills = (SELECT coalesce(array_agg(s ORDER BY o), '{}')
                   FROM (SELECT s, min(o) AS o
                           FROM unnest(skills || ARRAY(SELECT t FROM unnest(tools) t
                                                        WHERE t NOT IN ('http_request', 'web_read', 'web_search', 'read_file')))
                                WITH ORDINALITY AS u (s, o)
                          GROUP BY s
                          ORDER BY min(o)
                          LIMIT 20) kept),
       tools = ARRAY(SELECT t FROM unnest(tools) t WHERE t IN ('http_request', 'web_read', 'web_search', 'read_file'))
 WHERE NOT tools <@ ARRAY['http_request', 'web_read', 'web_search', 'read_file'];
