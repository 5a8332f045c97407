//! Engine overhead with no I/O: a 1,000-node chain and a 1,000-node fan-out of
//! `transform` nodes. Divide the time by 1,000 for the per-node overhead.
//! Run with `cargo bench -p executor --bench engine`.

use std::{collections::HashMap, sync::Arc};

use criterion::{criterion_group, criterion_main, Criterion};
use executor::{
    http_node::{AllowList, HttpRunner},
    providers::Provider,
    render::Renderer,
    ArtifactStore, EngineConfig, Redactor, Reporter, RunInput, RunStatus, Runtime,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use workflow_graph::{validate, Graph, ValidGraph};

const N: usize = 1_000;

fn chain() -> ValidGraph {
    let mut nodes = vec![json!({"id": "n0", "type": "trigger"})];
    let mut edges = Vec::new();
    for i in 1..N {
        nodes.push(json!({"id": format!("n{i}"), "type": "transform",
                          "config": {"template": {"step": i, "prev": format!("{{{{ n{}.output.step }}}}", i - 1)}}}));
        edges.push(json!({"from": format!("n{}", i - 1), "to": format!("n{i}")}));
    }
    valid(json!({"nodes": nodes, "edges": edges}))
}

fn fan_out() -> ValidGraph {
    let mut nodes = vec![json!({"id": "start", "type": "trigger"})];
    let mut edges = Vec::new();
    for i in 0..N - 2 {
        nodes.push(json!({"id": format!("t{i}"), "type": "transform", "config": {"template": {"i": i, "x": "{{ inputs.x }}"}}}));
        edges.push(json!({"from": "start", "to": format!("t{i}")}));
        edges.push(json!({"from": format!("t{i}"), "to": "out"}));
    }
    nodes.push(json!({"id": "out", "type": "output"}));
    valid(json!({"nodes": nodes, "edges": edges}))
}

fn valid(v: Value) -> ValidGraph {
    validate(&Graph::from_canvas(&v).expect("graph")).expect("valid benchmark graph")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runtime = Arc::new(Runtime {
        provider: Provider::Dev,
        http: HttpRunner::new(AllowList::default()),
        search: executor::tools::SearchProvider::None,
        files: None,
        artifacts: ArtifactStore::Memory(Arc::default()),
        renderer: Renderer::new(),
    });
    let config = EngineConfig {
        max_concurrency: 64,
        ..EngineConfig::default()
    };
    let mut group = c.benchmark_group("engine_1000_transform_nodes");
    group.sample_size(20);
    for (name, graph) in [("chain", chain()), ("fan_out", fan_out())] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (reporter, _events) = Reporter::memory(Redactor::default());
                    let input = RunInput {
                        graph: graph.clone(),
                        inputs: json!({"x": 42}),
                        secrets: Default::default(),
                        prior_outputs: HashMap::new(),
                        agents: HashMap::new(),
                        mcp_servers: Default::default(),
                        execution_id: None,
                        budget: Default::default(),
                    };
                    let outcome = executor::run(
                        runtime.clone(),
                        &config,
                        input,
                        reporter,
                        CancellationToken::new(),
                    )
                    .await;
                    assert_eq!(outcome.status, RunStatus::Completed);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
