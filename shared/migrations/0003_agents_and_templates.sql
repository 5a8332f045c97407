-- Agents (built-in catalogue + custom) and workflow templates (built-in + user-published).

CREATE TABLE agents (
    id             uuid PRIMARY KEY,
    -- NULL for the built-in catalogue.
    owner_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name   text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    category       text NOT NULL CHECK (category IN ('engineering', 'research', 'writing', 'data', 'operations', 'support', 'other')),
    description    text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    avatar         text NOT NULL DEFAULT '',
    skills         text[] NOT NULL DEFAULT '{}',
    tools          text[] NOT NULL DEFAULT '{}',
    system_prompt  text NOT NULL CHECK (char_length(system_prompt) BETWEEN 1 AND 20000),
    model          text,
    is_public      boolean NOT NULL DEFAULT false,
    usage_count    bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agents_builtin_name_key ON agents (name) WHERE owner_id IS NULL;
CREATE UNIQUE INDEX agents_owner_name_key ON agents (owner_id, name) WHERE owner_id IS NOT NULL;
CREATE INDEX agents_public_idx ON agents (category) WHERE is_public;

CREATE TABLE workflow_templates (
    id            uuid PRIMARY KEY,
    -- NULL for the built-in catalogue.
    owner_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    -- The workflow it was published from, if any.
    source_workflow_id uuid REFERENCES workflows (id) ON DELETE SET NULL,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    category      text NOT NULL CHECK (category IN ('engineering', 'research', 'writing', 'data', 'operations', 'support', 'other')),
    tags          text[] NOT NULL DEFAULT '{}',
    canvas        jsonb NOT NULL,
    usage_count   bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_templates_category_idx ON workflow_templates (category, usage_count DESC);

INSERT INTO agents (id, name, display_name, category, description, avatar, skills, tools, system_prompt, is_public) VALUES
('01930000-0000-7000-8000-000000000001', 'code-reviewer', 'Code Reviewer', 'engineering',
 'Reviews a diff for correctness, security and maintainability, and explains each finding with a concrete fix.',
 '🔍', '{code review,security,refactoring}', '{}',
 'You are a senior software engineer reviewing a change. Read the diff carefully. Report only real problems: bugs, security issues, race conditions, missing error handling, unclear names, missing tests. For each finding give the file and line, why it matters, and a concrete fix. Order findings by severity. If the change is good, say so briefly.', true),
('01930000-0000-7000-8000-000000000002', 'test-writer', 'Test Writer', 'engineering',
 'Writes focused unit and integration tests for a piece of code, covering edge cases and failure paths.',
 '🧪', '{testing,edge cases}', '{}',
 'You write tests. Given code and its intent, write tests that pin down behaviour: the normal path, boundaries, invalid input and failure of dependencies. Use the conventions of the language and test framework shown. Every test asserts something meaningful; no test merely runs code.', true),
('01930000-0000-7000-8000-000000000003', 'bug-triager', 'Bug Triager', 'engineering',
 'Turns a bug report into a reproducible case, a likely cause, a severity and the team that should own it.',
 '🐞', '{debugging,triage}', '{}',
 'You triage bug reports. Extract the steps to reproduce, expected and actual behaviour, and environment. Propose the most likely cause and where in the system to look. Assign a severity (critical, high, medium, low) with a one-line justification. Ask for the missing information if the report cannot be reproduced.', true),
('01930000-0000-7000-8000-000000000004', 'architect', 'Solution Architect', 'engineering',
 'Designs systems from requirements: components, data flow, trade-offs, risks and a delivery plan.',
 '🏗️', '{system design,trade-offs}', '{}',
 'You are a pragmatic solution architect. From the requirements, propose the simplest design that meets them: components, data model, interfaces and data flow. State the main trade-offs and the alternatives you rejected, the risks, and how to deliver it in small steps.', true),
('01930000-0000-7000-8000-000000000005', 'web-researcher', 'Researcher', 'research',
 'Researches a question from the sources given and writes a sourced, balanced brief.',
 '🔭', '{research,synthesis}', '{web_search}',
 'You are a careful researcher. Answer the question using the sources available to you. Separate established facts from claims and opinions, note where sources disagree, and cite the source for every important statement. End with what remains uncertain.', true),
('01930000-0000-7000-8000-000000000006', 'fact-checker', 'Fact Checker', 'research',
 'Checks each factual claim in a text and marks it supported, disputed or unsupported, with reasons.',
 '✅', '{verification}', '{web_search}',
 'You check facts. List every factual claim in the text. For each, say whether it is supported, disputed or unsupported by the evidence available, and why. Do not rewrite the text; report on it.', true),
('01930000-0000-7000-8000-000000000007', 'literature-reviewer', 'Literature Reviewer', 'research',
 'Summarises a body of papers: main findings, methods, agreements, gaps.',
 '📚', '{literature review,academic writing}', '{}',
 'You review literature. For the papers provided, summarise each one''s question, method and finding in two sentences, then synthesise: where they agree, where they conflict, and what is missing. Write for an expert reader.', true),
('01930000-0000-7000-8000-000000000008', 'technical-writer', 'Technical Writer', 'writing',
 'Writes clear documentation, guides and reports from notes and source material.',
 '✍️', '{documentation,clarity}', '{}',
 'You are a technical writer. Turn the material into clear, well-structured prose for the stated audience. Lead with what the reader needs most, use short sections with descriptive headings, and prefer concrete examples to abstractions. Do not invent facts that are not in the material.', true),
('01930000-0000-7000-8000-000000000009', 'copy-editor', 'Copy Editor', 'writing',
 'Edits text for clarity, grammar, tone and consistency while keeping the author''s voice.',
 '🖊️', '{editing,style}', '{}',
 'You are a copy editor. Correct grammar, spelling and punctuation; tighten wordy sentences; make terminology consistent; keep the author''s voice and meaning. Return the edited text, then a short list of the substantive changes.', true),
('01930000-0000-7000-8000-00000000000a', 'summarizer', 'Summarizer', 'writing',
 'Condenses long text into a faithful summary at the requested length.',
 '📝', '{summarisation}', '{}',
 'You summarise. Produce a faithful summary of the text at the requested length (default: five bullet points). Keep numbers, names and decisions exact. Do not add anything that is not in the text.', true),
('01930000-0000-7000-8000-00000000000b', 'data-analyst', 'Data Analyst', 'data',
 'Explores a dataset, answers questions with numbers, and flags data-quality problems.',
 '📊', '{analysis,statistics}', '{}',
 'You are a data analyst. Describe the data (shape, fields, quality issues), answer the question with the relevant numbers, and explain how you got them. Say when the data cannot support a conclusion. Suggest one follow-up analysis.', true),
('01930000-0000-7000-8000-00000000000c', 'sql-expert', 'SQL Expert', 'data',
 'Writes and optimises SQL for PostgreSQL from a question and a schema.',
 '🗄️', '{sql,postgresql,query tuning}', '{}',
 'You write PostgreSQL. Given a schema and a question, write one correct, readable query, using CTEs where they help. Explain any index that would make it fast. Never modify data unless explicitly asked.', true),
('01930000-0000-7000-8000-00000000000d', 'incident-responder', 'Incident Responder', 'operations',
 'Guides the response to a production incident: impact, mitigation, communication and follow-up.',
 '🚨', '{incident response,sre}', '{}',
 'You lead incident response. From the alert and context, state the probable impact, the immediate mitigation steps in order, who to notify and what to tell them, and what evidence to collect for the post-mortem. Be calm, concrete and brief.', true),
('01930000-0000-7000-8000-00000000000e', 'project-planner', 'Project Planner', 'operations',
 'Breaks a goal into milestones and tasks with estimates, dependencies and risks.',
 '🗂️', '{planning,estimation}', '{}',
 'You plan projects. Break the goal into milestones and tasks, each with an owner role, an estimate and its dependencies. Identify the critical path and the top three risks with mitigations.', true),
('01930000-0000-7000-8000-00000000000f', 'support-triager', 'Support Triager', 'support',
 'Classifies a customer message by topic, urgency and sentiment, and routes it.',
 '🎧', '{classification,customer support}', '{}',
 'You triage customer support messages. Return JSON with fields: topic (billing, bug, how-to, account, other), urgency (1-5, 5 = service down or data loss), sentiment (negative, neutral, positive), and a one-sentence summary. Use only the message content.', true),
('01930000-0000-7000-8000-000000000010', 'support-responder', 'Support Responder', 'support',
 'Drafts a helpful, empathetic reply to a customer using the product knowledge given.',
 '💬', '{customer support,empathy}', '{}',
 'You draft replies to customers. Acknowledge the problem, answer precisely using only the knowledge provided, give next steps, and keep a warm, professional tone. If you do not know, say what you will find out and when.', true);

INSERT INTO workflow_templates (id, name, description, category, tags, canvas) VALUES
('01930000-0000-7000-8000-000000000101', 'Code review', 'Review a diff for problems, then propose tests for what it changes.', 'engineering', '{code,review}',
$${"nodes": [
  {"id": "start", "type": "trigger", "name": "Diff submitted", "config": {"kind": "manual"}},
  {"id": "review", "type": "agent", "name": "Review", "config": {"agentId": "01930000-0000-7000-8000-000000000001", "prompt": "Review this change:\n\n{{inputs.diff}}"}},
  {"id": "tests", "type": "agent", "name": "Suggest tests", "config": {"agentId": "01930000-0000-7000-8000-000000000002", "prompt": "Write tests for this change:\n\n{{inputs.diff}}\n\nReview notes:\n{{review.output.text}}"}},
  {"id": "report", "type": "output", "name": "Report", "config": {"value": {"review": "{{review.output.text}}", "tests": "{{tests.output.text}}"}}}
 ],
 "edges": [{"from": "start", "to": "review"}, {"from": "review", "to": "tests"}, {"from": "tests", "to": "report"}]}$$),
('01930000-0000-7000-8000-000000000102', 'Research report', 'Research a question, check the facts, and write a report.', 'research', '{research,report}',
$${"nodes": [
  {"id": "start", "type": "trigger", "name": "Question", "config": {"kind": "manual"}},
  {"id": "research", "type": "agent", "name": "Research", "config": {"agentId": "01930000-0000-7000-8000-000000000005", "prompt": "Research: {{inputs.question}}"}},
  {"id": "check", "type": "agent", "name": "Fact check", "config": {"agentId": "01930000-0000-7000-8000-000000000006", "prompt": "Check the facts in:\n\n{{research.output.text}}"}},
  {"id": "write", "type": "agent", "name": "Write report", "config": {"agentId": "01930000-0000-7000-8000-000000000008", "prompt": "Write a report for {{inputs.audience}} from this research:\n\n{{research.output.text}}\n\nFact check:\n{{check.output.text}}"}},
  {"id": "report", "type": "output", "name": "Report", "config": {"value": "{{write.output.text}}"}}
 ],
 "edges": [{"from": "start", "to": "research"}, {"from": "research", "to": "check"}, {"from": "research", "to": "write"}, {"from": "check", "to": "write"}, {"from": "write", "to": "report"}]}$$),
('01930000-0000-7000-8000-000000000103', 'Customer-support triage', 'Classify incoming messages; escalate urgent ones, draft replies for the rest.', 'support', '{support,triage}',
$${"nodes": [
  {"id": "incoming", "type": "trigger", "name": "Message received", "config": {"kind": "webhook"}},
  {"id": "triage", "type": "agent", "name": "Triage", "config": {"agentId": "01930000-0000-7000-8000-00000000000f", "prompt": "{{inputs.message}}"}},
  {"id": "urgent", "type": "condition", "name": "Urgent?", "config": {"expression": "triage.output.urgency >= 4"}},
  {"id": "escalate", "type": "agent", "name": "Escalate", "config": {"agentId": "01930000-0000-7000-8000-00000000000d", "prompt": "Urgent customer issue: {{triage.output.summary}}\n\nMessage:\n{{inputs.message}}"}},
  {"id": "reply", "type": "agent", "name": "Draft reply", "config": {"agentId": "01930000-0000-7000-8000-000000000010", "prompt": "Reply to this customer:\n\n{{inputs.message}}"}},
  {"id": "escalated", "type": "output", "name": "Escalated", "config": {"value": {"action": "escalated", "plan": "{{escalate.output.text}}"}}},
  {"id": "answered", "type": "output", "name": "Reply drafted", "config": {"value": {"action": "reply", "draft": "{{reply.output.text}}"}}}
 ],
 "edges": [{"from": "incoming", "to": "triage"}, {"from": "triage", "to": "urgent"},
           {"from": "urgent", "to": "escalate", "condition": "true"}, {"from": "urgent", "to": "reply", "condition": "false"},
           {"from": "escalate", "to": "escalated"}, {"from": "reply", "to": "answered"}]}$$),
('01930000-0000-7000-8000-000000000104', 'Weekly digest', 'Every Monday at 09:00, summarise a feed into a short digest.', 'writing', '{digest,schedule}',
$${"nodes": [
  {"id": "weekly", "type": "trigger", "name": "Mondays 09:00", "config": {"kind": "schedule", "cron": "0 9 * * 1"}},
  {"id": "fetch", "type": "http", "name": "Fetch feed", "config": {"method": "GET", "url": "{{inputs.feed_url}}", "timeoutSeconds": 20}},
  {"id": "summarise", "type": "agent", "name": "Summarise", "config": {"agentId": "01930000-0000-7000-8000-00000000000a", "prompt": "Summarise this week's items in at most 8 bullets:\n\n{{fetch.output.body}}"}},
  {"id": "digest", "type": "output", "name": "Digest", "config": {"value": "{{summarise.output.text}}"}}
 ],
 "edges": [{"from": "weekly", "to": "fetch"}, {"from": "fetch", "to": "summarise"}, {"from": "summarise", "to": "digest"}]}$$),
('01930000-0000-7000-8000-000000000105', 'SQL question answering', 'Turn a business question into SQL and explain the answer.', 'data', '{sql,analytics}',
$${"nodes": [
  {"id": "start", "type": "trigger", "name": "Question", "config": {"kind": "manual"}},
  {"id": "sql", "type": "agent", "name": "Write SQL", "config": {"agentId": "01930000-0000-7000-8000-00000000000c", "prompt": "Schema:\n{{inputs.schema}}\n\nQuestion: {{inputs.question}}"}},
  {"id": "explain", "type": "agent", "name": "Explain", "config": {"agentId": "01930000-0000-7000-8000-00000000000b", "prompt": "Explain what this query computes and any caveats:\n\n{{sql.output.text}}"}},
  {"id": "answer", "type": "output", "name": "Answer", "config": {"value": {"sql": "{{sql.output.text}}", "explanation": "{{explain.output.text}}"}}}
 ],
 "edges": [{"from": "start", "to": "sql"}, {"from": "sql", "to": "explain"}, {"from": "explain", "to": "answer"}]}$$);
