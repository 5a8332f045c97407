//! What a running executor reports, through the internal callback routes
//! (opened by its execution-scoped token; see `executor/src/callback.rs`).
//! Bodies are the run protocol's types. Every step is idempotent: events
//! apply once per sequence number, a heartbeat only refreshes, the result
//! enters a terminal state once. The token dies with the run: once it has
//! ended, every step answers 409 `RUN_ENDED`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{end::EndedBy, run_time, start::INTERRUPTED, Runs};
use crate::{
    activity::{self, Action, Activity, Origin},
    analytics::usd,
    db::{
        agents, budgets,
        executions::{self, Artifact, Ending, ModelUsage, NewEvent, Recorded},
        mcp_servers,
    },
    error::ErrorCode,
    mcp::McpStatus,
    protocol::mcp::McpServerDef,
    protocol::{
        AgentDef, Event, EventBatch, EventKind, LlmCredential, LlmVendor, RunResult, RunSpec,
        RunStatus,
    },
    realtime::deliver::event_message,
    settings::PriceTable,
    workflow::{agent_references, secret_references, Graph},
    ApiError, ApiResult,
};

/// A `usage` event's call and its price (`None` for other events).
fn priced<'a>(prices: &PriceTable, kind: &'a EventKind) -> Option<ModelUsage<'a>> {
    let EventKind::Usage {
        provider,
        model,
        input_tokens,
        output_tokens,
        ..
    } = kind
    else {
        return None;
    };
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Some(ModelUsage {
        provider,
        model,
        input_tokens: tokens(*input_tokens),
        output_tokens: tokens(*output_tokens),
        cost_micros: prices.cost_micros(model, *input_tokens, *output_tokens),
    })
}

/// What a heartbeat tells the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatAnswer {
    /// The run was cancelled: stop.
    pub cancel: bool,
    /// The workspace's monthly budget is spent: end the run `failed`,
    /// reason `budget_exceeded`.
    pub budget_exceeded: bool,
}

/// An artifact the executor is about to upload.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// Where to upload it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub artifact_id: Uuid,
    pub upload_url: String,
}

/// The vault names of a workspace's own provider keys (Anthropic first).
pub const PROVIDER_SECRETS: [&str; 3] = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"];

/// The workspace's own provider key among resolved vault values (Anthropic
/// first; an OpenAI-compatible key with its optional base URL).
pub fn own_credential(values: &BTreeMap<String, String>) -> Option<LlmCredential> {
    match (
        values.get("ANTHROPIC_API_KEY"),
        values.get("OPENAI_API_KEY"),
    ) {
        (Some(api_key), _) => Some(LlmCredential {
            vendor: LlmVendor::Anthropic,
            api_key: api_key.clone(),
            base_url: None,
        }),
        (None, Some(api_key)) => Some(LlmCredential {
            vendor: LlmVendor::OpenAi,
            api_key: api_key.clone(),
            base_url: values.get("OPENAI_BASE_URL").cloned(),
        }),
        (None, None) => None,
    }
}

/// Takes the workspace's provider key out of the resolved values (the
/// ones the run names itself — the graph's `{{secrets.…}}`, its MCP
/// servers' headers — stay).
fn provider_key(
    values: &mut BTreeMap<String, String>,
    named: &std::collections::BTreeSet<String>,
) -> Option<LlmCredential> {
    let credential = own_credential(values);
    for name in PROVIDER_SECRETS {
        if !named.contains(name) {
            values.remove(name);
        }
    }
    credential
}

fn run_ended() -> ApiError {
    ApiError::new(
        ErrorCode::RunEnded,
        "the run has ended; its callback token accepts nothing more",
    )
}

impl Runs {
    /// The run, while it has not ended.
    pub(crate) async fn live(&self, id: Uuid) -> ApiResult<executions::Execution> {
        let e = executions::get(&self.db, id)
            .await?
            .ok_or_else(|| ApiError::not_found("execution"))?;
        if e.status.is_terminal() {
            return Err(run_ended());
        }
        Ok(e)
    }

    /// The run spec: graph snapshot, inputs, outputs to reuse, the agents it
    /// names, and the tier's runtime (what is left of it once the run started).
    pub async fn spec(&self, id: Uuid) -> ApiResult<RunSpec> {
        let e = self.live(id).await?;
        let graph = Graph::from_canvas(&e.graph.0).unwrap_or_default();
        let ids: Vec<Uuid> = agent_references(&graph)
            .iter()
            .filter_map(|(_, _, a)| a.parse().ok())
            .collect();
        let rows = agents::find_visible_many(&self.db, e.workspace_id, &ids).await?;
        let agent_tools: HashMap<String, Vec<String>> = rows
            .iter()
            .map(|a| (a.id.to_string(), a.tools.clone()))
            .collect();
        let agents = rows
            .into_iter()
            .map(|a| {
                (
                    a.id.to_string(),
                    AgentDef {
                        system_prompt: a.system_prompt,
                        model: a.model,
                        name: Some(a.display_name),
                        tools: a.tools,
                    },
                )
            })
            .collect();
        let mcp_servers = self
            .run_mcp_servers(e.workspace_id, &graph, &agent_tools)
            .await?;
        // Not the row's deadline: while `dispatching` that is the queue's.
        let elapsed = e
            .started_at
            .map_or(0, |s| (Utc::now() - s).num_seconds().max(0) as u64);
        let timeout = run_time(e.tier).as_secs().saturating_sub(elapsed).max(1);
        let header_secrets: Vec<String> = mcp_servers
            .values()
            .flat_map(McpServerDef::secret_names)
            .collect();
        let (secrets, llm) = self.run_secrets(&e, &graph, header_secrets).await?;
        // The per-run budget, less what the run used before it resumed.
        let token_budget = budgets::standing(&self.db, e.workspace_id)
            .await?
            .budget
            .run_token_budget
            .map(|b| u64::try_from(b.saturating_sub(e.llm_tokens)).unwrap_or(0));
        let prior_outputs = serde_json::from_value(e.prior_outputs.0).unwrap_or_default();
        Ok(RunSpec {
            execution_id: Some(e.id.to_string()),
            graph,
            inputs: e.inputs.0,
            prior_outputs,
            agents,
            mcp_servers,
            secrets,
            llm,
            platform_llm: e.tier.limits().platform_llm,
            timeout_seconds: Some(timeout),
            token_budget,
            ..RunSpec::default()
        })
    }

    /// The MCP servers the run's agent nodes use (by name), as registered
    /// now; one disconnected or deleted since the run started is left out,
    /// and the nodes that use it fail, naming it.
    async fn run_mcp_servers(
        &self,
        workspace_id: Uuid,
        graph: &Graph,
        agent_tools: &HashMap<String, Vec<String>>,
    ) -> ApiResult<BTreeMap<String, McpServerDef>> {
        let mut names: Vec<String> = crate::mcp::node_servers(graph, agent_tools)
            .into_iter()
            .map(|(_, _, s)| s)
            .collect();
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        names.sort();
        names.dedup();
        Ok(mcp_servers::by_names(&self.db, workspace_id, &names)
            .await?
            .into_iter()
            .filter(|s| s.status != McpStatus::Disabled)
            .map(|s| {
                (
                    s.name,
                    McpServerDef {
                        url: s.url,
                        headers: s.headers.0,
                    },
                )
            })
            .collect())
    }

    /// The values of the secrets the run's graph names (only those), and the
    /// workspace's own provider key when the graph has agent nodes; each use
    /// in the activity log. A secret deleted since the run started is left
    /// out: the template that names it fails its node, naming it.
    async fn run_secrets(
        &self,
        e: &executions::Execution,
        graph: &Graph,
        header_secrets: Vec<String>,
    ) -> ApiResult<(BTreeMap<String, String>, Option<LlmCredential>)> {
        let mut named = secret_references(graph);
        named.extend(header_secrets);
        let mut names: Vec<String> = named.iter().cloned().collect();
        let agents = graph.nodes.iter().any(|n| n.kind == "agent");
        if agents {
            names.extend(PROVIDER_SECRETS.iter().map(|n| (*n).to_owned()));
        }
        if names.is_empty() {
            return Ok((BTreeMap::new(), None));
        }
        let mut values = self.vault.resolve(e.workspace_id, &names).await?;
        let llm = if agents {
            provider_key(&mut values, &named)
        } else {
            None
        };
        if values.is_empty() && llm.is_none() {
            return Ok((values, None));
        }
        let mut given: Vec<&str> = values.keys().map(String::as_str).collect();
        if let Some(l) = &llm {
            given.push(match l.vendor {
                LlmVendor::Anthropic => "ANTHROPIC_API_KEY",
                LlmVendor::OpenAi => "OPENAI_API_KEY",
            });
        }
        let entry = Activity::system(e.workspace_id, Action::SecretUsed)
            .details(serde_json::json!({ "names": given, "executionId": e.id, "workflowId": e.workflow_id }))
            .record(&self.db, &Origin::system())
            .await?;
        self.publisher.publish(activity::message(entry)).await;
        Ok((values, llm))
    }

    /// Stores a batch of events (once per `seq`) and publishes the new ones;
    /// the batch is the run's heartbeat too, and answers as one. Every event is read as the protocol's
    /// [`Event`] (an unknown type from a newer executor is kept as sent); the
    /// whole batch is refused if one is not.
    pub async fn record_events(
        &self,
        id: Uuid,
        batch: &EventBatch<Value>,
    ) -> ApiResult<BeatAnswer> {
        let mut parsed = Vec::with_capacity(batch.events.len());
        for (i, raw) in batch.events.iter().enumerate() {
            let ev: Event = serde_json::from_value(raw.clone()).map_err(|err| {
                ApiError::field(
                    "events",
                    format!("event {i} is not a protocol event: {err}"),
                )
            })?;
            let seq = i64::try_from(ev.seq)
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| ApiError::field("events", "every event needs a positive seq"))?;
            let ts = DateTime::parse_from_rfc3339(&ev.ts)
                .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc));
            parsed.push((seq, ev, ts));
        }
        let prices = &self.settings.prices;
        let rows: Vec<NewEvent<'_>> = parsed
            .iter()
            .zip(&batch.events)
            .map(|((seq, ev, ts), raw)| NewEvent {
                seq: *seq,
                kind: Event::type_of(raw),
                node: ev.kind.node(),
                payload: raw,
                ts: *ts,
                tokens: ev.kind.tokens(),
                usage: priced(prices, &ev.kind),
            })
            .collect();
        // The row lock in `insert_events` is the one check that the run is
        // live (no separate read of the whole run per batch). A batch with
        // no priced model call is one statement; one with them also adds the
        // usage and spend, and any budget notice, in one transaction.
        let priced = rows.iter().any(|r| r.usage.is_some());
        let mut tx = if priced {
            Some(self.db.begin().await?)
        } else {
            None
        };
        let every = self.settings.tracker_beat_every();
        let recorded = match tx.as_mut() {
            Some(tx) => executions::insert_events(&mut **tx, id, &rows, every).await?,
            None => executions::insert_events(&self.db, id, &rows, every).await?,
        };
        let (new, workspace_id, mut answer, beat) = match recorded {
            Recorded::Added {
                new,
                workspace_id,
                cancel,
                over_budget,
                task_token,
                forward,
                ..
            } => (
                new,
                workspace_id,
                BeatAnswer {
                    cancel,
                    budget_exceeded: over_budget && !cancel,
                },
                (!cancel && forward).then_some(task_token),
            ),
            Recorded::Ended => return Err(run_ended()),
            Recorded::Missing => return Err(ApiError::not_found("execution")),
        };
        let mut notices = Vec::new();
        let mut entries = Vec::new();
        if let Some(mut tx) = tx {
            notices = executions::add_model_usage(&mut tx, id, workspace_id, &rows, &new).await?;
            // A notice is recorded with the spend that made it due: it goes out once.
            for n in &notices {
                let entry = Activity::system(workspace_id, Action::BudgetReached)
                    .on(id)
                    .details(json!({
                        "percent": n.percent,
                        "spentUsd": usd(n.spent_micros),
                        "monthlyBudgetUsd": usd(n.budget_micros),
                    }))
                    .record(&mut *tx, &Origin::system())
                    .await?;
                entries.push(entry);
            }
            tx.commit().await?;
        }
        // The batch that spends the budget's last part says so at once.
        answer.budget_exceeded |= !answer.cancel && notices.iter().any(|n| n.percent >= 100);
        // A batch is the run's heartbeat: the tracker's backstop is fed by it too.
        if let Some(task_token) = beat {
            self.forward_beat(id, task_token).await;
        }
        for entry in entries {
            self.publisher.publish(activity::message(entry)).await;
        }
        for n in &notices {
            self.announce_budget(workspace_id, n).await;
        }
        // Only what is new (a retried batch publishes nothing again), at
        // once: one frame and one cursor move per subscriber.
        let mut published = std::collections::BTreeSet::new();
        let mut messages: Vec<(i64, Value)> = rows
            .iter()
            .filter(|r| new.contains(&r.seq) && published.insert(r.seq))
            .map(|row| (row.seq, event_message(id, row.seq, row.kind, row.payload)))
            .collect();
        messages.sort_by_key(|(seq, _)| *seq);
        self.publish_events(
            id,
            workspace_id,
            messages.into_iter().map(|(_, m)| m).collect(),
        )
        .await;
        Ok(answer)
    }

    /// A share of the monthly budget reached: a `notification` to each owner
    /// and admin (the activity entry went out with the spend).
    async fn announce_budget(&self, workspace_id: Uuid, n: &budgets::Notice) {
        tracing::info!(workspace_id = %workspace_id, percent = n.percent, spent_micros = n.spent_micros,
            budget_micros = n.budget_micros, "a workspace reached a share of its monthly budget");
        let fields = json!({
            "percent": n.percent,
            "spentUsd": usd(n.spent_micros),
            "monthlyBudgetUsd": usd(n.budget_micros),
        });
        self.notify_managers(workspace_id, "budget_reached", fields)
            .await;
    }

    /// Liveness, forwarded to the run tracker; the answer tells the executor
    /// to stop when the run was cancelled.
    pub async fn heartbeat(&self, id: Uuid) -> ApiResult<BeatAnswer> {
        let beat = executions::heartbeat(&self.db, id, self.settings.tracker_beat_every())
            .await?
            .ok_or_else(|| ApiError::not_found("execution"))?;
        if beat.ended {
            return Err(run_ended());
        }
        // Liveness is the beat recorded in Postgres, which the sweeper judges;
        // the tracker's window is a backstop, kept open by a beat now and then.
        if !beat.stop && beat.forward {
            self.forward_beat(id, beat.task_token).await;
        }
        Ok(BeatAnswer {
            cancel: beat.stop,
            budget_exceeded: beat.over_budget && !beat.stop,
        })
    }

    /// Forwards a beat (a heartbeat, or a batch of events) to the tracker. A
    /// tracker that cannot be reached now is not worth failing the executor
    /// for: the slot is given back, so the next beat forwards again.
    async fn forward_beat(&self, id: Uuid, task_token: Option<String>) {
        if let Err(e) = self.tracker.heartbeat(id, task_token).await {
            tracing::warn!(execution_id = %id, error = %e, "could not forward a heartbeat to the tracker");
            if let Err(e) = executions::forward_failed(&self.db, id).await {
                tracing::warn!(execution_id = %id, error = %e, "could not give a failed forward's slot back");
            }
        }
    }

    /// Registers an artifact of a live run and answers a presigned upload URL.
    pub async fn register_artifact(&self, id: Uuid, a: NewArtifact) -> ApiResult<Upload> {
        self.live(id).await?;
        let plain = !a.name.is_empty()
            && a.name.len() <= 200
            && !a.name.starts_with('.')
            && !a.name.contains('/')
            && !a.name.contains('\\');
        if !plain || !(0..=1 << 30).contains(&a.size) {
            return Err(ApiError::field(
                "name",
                "must be a plain file name; size at most 1 GiB",
            ));
        }
        let artifact_id = crate::ids::new_id();
        let key = format!("executions/{id}/{artifact_id}/{}", a.name);
        executions::insert_artifact(
            &self.db,
            id,
            &Artifact {
                id: artifact_id,
                name: a.name,
                content_type: a.content_type.clone(),
                size: a.size,
                blob_key: key.clone(),
                created_at: Utc::now(),
            },
        )
        .await?;
        let upload_url = self
            .blobs
            .upload_url(&key, &a.content_type, std::time::Duration::from_secs(900))
            .await
            .map_err(ApiError::unavailable)?;
        Ok(Upload {
            artifact_id,
            upload_url,
        })
    }

    /// The executor's result: the run enters its terminal state exactly once
    /// (which records its runtime and usage and appends its `execution_ended`
    /// event); then the tracker is told and the log bundle stored. A result
    /// for a run that has ended already (a retry, or a run cancelled
    /// meanwhile) is 409 `RUN_ENDED`, which the executor takes as final.
    ///
    /// A run the API cancels has ended before its executor hears of it, so a
    /// `cancelled` result for a live run means the executor was stopped from
    /// outside: its node drained or reclaimed (a spot interruption), its pod
    /// evicted. That run ends `failed` as [`INTERRUPTED`] and is resumed from
    /// its failed nodes ([`Runs::resume_interrupted`]): not lost, not shown as
    /// a cancel nobody asked for.
    pub async fn finish(&self, id: Uuid, r: &RunResult) -> ApiResult<()> {
        let why = format!(
            "{INTERRUPTED} the executor was stopped before the run ended (its node was \
             drained or reclaimed, e.g. a spot interruption); it resumes from its failed nodes"
        );
        let ending = |status, error| Ending {
            status,
            output: r.output.as_ref(),
            output_ref: r.output_ref.as_ref(),
            error,
            failed_node: r.failed_node.as_deref(),
            reason: r.reason,
        };
        let mut interrupted = false;
        let mut ended = None;
        if r.status == RunStatus::Cancelled {
            // Not if a cancel was asked for, even one still on its way.
            ended = executions::finish_interrupted(
                &self.db,
                id,
                ending(RunStatus::Failed, Some(why.as_str())),
            )
            .await?;
            interrupted = ended.is_some();
        }
        if ended.is_none() {
            ended = executions::finish(&self.db, id, ending(r.status, r.error.as_deref())).await?;
        }
        match ended {
            Some(_) => {
                self.after_end(id, EndedBy::Executor)
                    .await
                    .map_err(ApiError::unavailable)?;
                if interrupted {
                    self.resume(id).await?;
                }
                Ok(())
            }
            None => {
                let e = executions::get(&self.db, id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("execution"))?;
                // A report repeated after a failure to resume: resume now (idempotent).
                if r.status == RunStatus::Cancelled
                    && e.error
                        .as_deref()
                        .is_some_and(|m| m.starts_with(INTERRUPTED))
                {
                    self.resume(id).await?;
                }
                Err(run_ended())
            }
        }
    }

    async fn resume(&self, id: Uuid) -> ApiResult<()> {
        let resumed = self
            .resume_interrupted(id)
            .await
            .map_err(ApiError::unavailable)?;
        tracing::warn!(execution_id = %id, resumed_as = ?resumed, "the executor was interrupted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace's provider keys leave the run's values unless the run
    /// names them itself (a template, or an MCP server's header).
    #[test]
    fn provider_keys_the_run_names_stay_in_its_values() {
        let mut values = BTreeMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-1".to_owned()),
            ("OPENAI_API_KEY".to_owned(), "sk-oa-1".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ]);
        let named = std::collections::BTreeSet::from(["OPENAI_API_KEY".to_owned()]);
        let credential = provider_key(&mut values, &named).expect("a key");
        assert_eq!(credential.vendor, LlmVendor::Anthropic);
        assert_eq!(credential.api_key, "sk-ant-1");
        assert!(!values.contains_key("ANTHROPIC_API_KEY"));
        assert_eq!(
            values.get("OPENAI_API_KEY").map(String::as_str),
            Some("sk-oa-1")
        );
        assert!(values.contains_key("OTHER"));
    }
}
