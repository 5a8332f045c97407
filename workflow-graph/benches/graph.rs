//! Validating and ordering large workflow graphs.
//! Run with `cargo bench -p workflow-graph --bench graph`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::{json, Value};
use workflow_graph::{validate, Graph};

/// A layered DAG: one trigger, `n - 2` agent nodes in layers of `width`, each
/// depending on two nodes of the layer before and referring to one of them in
/// its prompt template, and one output node after the last layer.
fn layered(n: usize, width: usize) -> Graph {
    let mut nodes: Vec<Value> =
        vec![json!({"id": "start", "type": "trigger", "config": {"kind": "manual"}})];
    let mut edges: Vec<Value> = Vec::new();
    let inner = n - 2;
    for i in 0..inner {
        let layer = i / width;
        let (parent_a, parent_b) = if layer == 0 {
            ("start".to_owned(), "start".to_owned())
        } else {
            let base = (layer - 1) * width;
            (
                format!("n{}", base + i % width),
                format!("n{}", base + (i * 7 + 3) % width),
            )
        };
        nodes.push(json!({
            "id": format!("n{i}"), "type": "agent",
            "config": {"systemPrompt": "You summarise.", "prompt": format!("Summarise {{{{ {parent_a}.output.text }}}} for {{{{ inputs.audience }}}}")}
        }));
        edges.push(json!({"from": parent_a, "to": format!("n{i}")}));
        if parent_b != parent_a {
            edges.push(json!({"from": parent_b, "to": format!("n{i}")}));
        }
    }
    nodes.push(json!({"id": "out", "type": "output", "config": {}}));
    let last_layer = (inner - 1) / width;
    for i in last_layer * width..inner {
        edges.push(json!({"from": format!("n{i}"), "to": "out"}));
    }
    Graph::from_canvas(&json!({"nodes": nodes, "edges": edges})).expect("graph")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_and_order");
    group.sample_size(20);
    for n in [1_000usize, 10_000] {
        let g = layered(n, 100);
        assert!(validate(&g).is_ok(), "benchmark graph must be valid");
        group.bench_with_input(BenchmarkId::from_parameter(n), &g, |b, g| {
            b.iter(|| validate(black_box(g)).map(|v| v.plan.layers.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
